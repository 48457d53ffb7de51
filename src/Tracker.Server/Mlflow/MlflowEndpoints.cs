using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Tracker.Server.Api;
using Tracker.Server.Ingest;
using Tracker.Server.Storage;

namespace Tracker.Server.Mlflow;

/// <summary>
/// MLflow's tracking REST API (<c>/api/2.0/mlflow/</c>, as mlflow.org's REST API page and
/// mlflow/protos/service.proto give it) over Tracker's runs: an experiment is a project (its id
/// and name are the project's name), an MLflow run a Tracker run. Writes go through the ingest
/// path every record takes (<see cref="MlflowWriter"/>); keys and read access are the
/// <c>/api/v1</c> ones; errors are MLflow's <c>{"error_code", "message"}</c>.
/// </summary>
internal static class MlflowEndpoints
{
    public static void Map(WebApplication app)
    {
        var api = app.MapGroup("/api/2.0/mlflow");
        api.MapPost("/experiments/create", Handle(CreateExperimentAsync));
        api.MapGet("/experiments/get", Handle(GetExperimentAsync));
        api.MapGet("/experiments/get-by-name", Handle(GetExperimentByNameAsync));
        api.MapMethods("/experiments/search", [HttpMethods.Post, HttpMethods.Get], Handle(SearchExperimentsAsync));
        api.MapPost("/runs/create", Handle(CreateRunAsync));
        api.MapGet("/runs/get", Handle(GetRunAsync));
        api.MapPost("/runs/update", Handle(UpdateRunAsync));
        api.MapPost("/runs/delete", Handle(DeleteRunAsync));
        api.MapPost("/runs/search", Handle(SearchRunsAsync));
        api.MapPost("/runs/log-metric", Handle(LogMetricAsync));
        api.MapPost("/runs/log-parameter", Handle(LogParameterAsync));
        api.MapPost("/runs/set-tag", Handle(SetTagAsync));
        api.MapPost("/runs/log-batch", Handle(LogBatchAsync));
        api.MapGet("/metrics/get-history", Handle(GetHistoryAsync));
    }

    /// <summary>A route handler answering the call's object, or its error in MLflow's shape.</summary>
    private static Delegate Handle(Func<Call, Task<JsonObject>> handler) => (HttpContext context) => HandleAsync(context, handler);

    private static async Task<IResult> HandleAsync(HttpContext context, Func<Call, Task<JsonObject>> handler)
    {
        try
        {
            var request = await MlflowRequest.ReadAsync(context, context.RequestAborted);
            return Results.Json(await handler(new Call(context, request)));
        }
        catch (MlflowException ex)
        {
            return ex.ToResult();
        }
        catch (IngestException ex)
        {
            return MlflowException.From(ex).ToResult();
        }
    }

    private static async Task<JsonObject> CreateExperimentAsync(Call call)
    {
        var name = call.Request.Required("name");
        MlflowRules.CheckLength("Experiment name", MlflowRules.MaxExperimentNameLength, name);
        if (IngestService.NameProblem(name, "name") is { } problem)
        {
            throw MlflowException.Invalid($"Invalid experiment name '{name}': an experiment is a Tracker project, so its name is one: {problem}");
        }

        await call.CheckWriteAsync(name);
        return await call.Store.CreateExperimentAsync(name, call.Time.GetUtcNow(), call.Aborted)
            ? new JsonObject { ["experiment_id"] = name }
            : throw new MlflowException(MlflowException.ResourceAlreadyExists, $"Experiment '{name}' already exists.");
    }

    private static async Task<JsonObject> GetExperimentAsync(Call call)
    {
        var id = call.Request.Required("experiment_id");
        await call.CheckReadAsync(id);
        return new JsonObject { ["experiment"] = Experiment(await call.Store.GetExperimentAsync(id, call.Aborted)
            ?? throw new MlflowException(MlflowException.ResourceDoesNotExist, $"No Experiment with id={id} exists")) };
    }

    private static async Task<JsonObject> GetExperimentByNameAsync(Call call)
    {
        var name = call.Request.Required("experiment_name");
        await call.CheckReadAsync(name);
        return new JsonObject { ["experiment"] = Experiment(await call.Store.GetExperimentAsync(name, call.Aborted)
            ?? throw new MlflowException(MlflowException.ResourceDoesNotExist, $"Could not find experiment with name '{name}'")) };
    }

    private static async Task<JsonObject> SearchExperimentsAsync(Call call)
    {
        await call.CheckReadAsync(string.Empty);
        if (call.Request.Text("filter") is { Length: > 0 } filter)
        {
            throw MlflowException.Invalid($"Invalid filter '{filter}': experiments/search takes no filter here; list all experiments and pick by name, or use experiments/get-by-name.");
        }

        var descending = call.Request.Array("order_by").Select(o => o?.ToString().Trim()).ToList() switch
        {
            [] or ["name"] or ["name ASC"] => false,
            ["name DESC"] => true,
            var other => throw MlflowException.Invalid($"Invalid order_by '{string.Join(", ", other)}': experiments sort by name (name ASC or name DESC)."),
        };
        var max = call.Request.MaxResults(MlflowRules.DefaultSearchResults, MlflowRules.MaxSearchResults);
        var offset = call.Request.Offset();
        var all = call.Request.Text("view_type") == "DELETED_ONLY" ? [] : await call.Store.ListExperimentsAsync(call.Aborted);
        var ordered = descending ? all.Reverse().ToList() : all.ToList();
        var page = ordered.Skip(offset).Take(max).ToList();
        var answer = new JsonObject { ["experiments"] = new JsonArray([.. page.Select(Experiment)]) };
        if (offset + page.Count < ordered.Count)
        {
            answer["next_page_token"] = MlflowRequest.PageToken(offset + page.Count);
        }

        return answer;
    }

    private static async Task<JsonObject> CreateRunAsync(Call call)
    {
        var project = call.Request.Required("experiment_id");
        var tags = call.Request.Pairs("tags");
        MlflowRules.CheckBatch(0, 0, tags.Count);
        await call.CheckWriteAsync(project);
        if (await call.Store.GetExperimentAsync(project, call.Aborted) is null)
        {
            throw new MlflowException(MlflowException.ResourceDoesNotExist, $"No Experiment with id={project} exists");
        }

        var name = call.Request.Text("run_name");
        string? notes = null;
        var trackerTags = new JsonArray();
        var systemTags = new JsonObject();
        foreach (var (key, value) in tags)
        {
            CheckTag(key, value);
            switch (key)
            {
                case MlflowRunJson.RunNameTag:
                    name ??= value;
                    break;
                case MlflowRunJson.NoteTag:
                    notes = value;
                    break;
                case var system when system.StartsWith("mlflow.", StringComparison.Ordinal):
                    systemTags[key] = value; // kept as given: source paths and commits run past a tag's 64 characters
                    break;
                default:
                    trackerTags.Add(MlflowWriter.CheckTag(key, value));
                    break;
            }
        }

        if (call.Request.Text("user_id") is { Length: > 0 } user)
        {
            systemTags[MlflowRunJson.UserTag] ??= user;
        }

        var runId = Guid.NewGuid().ToString("N"); // as MLflow's run ids: 32 hex digits
        var start = call.Request.Int64("start_time") is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : call.Time.GetUtcNow();
        var runJson = new JsonObject
        {
            ["id"] = runId,
            ["project"] = project,
            ["name"] = string.IsNullOrEmpty(name) ? runId : name,
            ["tags"] = trackerTags,
            ["notes"] = notes,
            ["config"] = new JsonObject(),
            ["start_time"] = start.ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", CultureInfo.InvariantCulture),
            ["state"] = "running",
            [MlflowRunJson.ClientMember] = MlflowRunJson.ClientValue,
            [MlflowRunJson.SystemTagsMember] = systemTags,
        };
        await call.Ingest.UpsertRunAsync(project, runId, Encoding.UTF8.GetBytes(runJson.ToJsonString()), call.Aborted);
        var run = await call.Store.FindRunAsync(runId, call.Aborted) ?? throw MlflowException.NoRun(runId);
        return new JsonObject { ["run"] = await MlflowRunJson.RunAsync(run, call.Runs.Metrics, call.Aborted) };
    }

    private static async Task<JsonObject> GetRunAsync(Call call)
    {
        var run = await call.ReadableRunAsync();
        return new JsonObject { ["run"] = await MlflowRunJson.RunAsync(run, call.Runs.Metrics, call.Aborted) };
    }

    private static async Task<JsonObject> UpdateRunAsync(Call call)
    {
        var runId = call.Request.RunId;
        var run = await call.Writer.WritableRunAsync(runId, call.Aborted);
        await call.CheckWriteAsync(run.Project);
        if (call.Request.Text("run_name") is { Length: > 0 } name && name != run.Name)
        {
            throw MlflowException.Invalid($"Tracker names a run when it is created; rename run '{runId}' in the web UI or with PATCH /api/v1/projects/{run.Project}/runs/{runId}.");
        }

        var end = call.Request.Int64("end_time") is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : (DateTimeOffset?)null;
        switch (call.Request.Text("status"))
        {
            case null or "" or "RUNNING" or "SCHEDULED" when run.State == "running":
                break;
            case null or "":
                break;
            case "FINISHED":
                await call.Ingest.FinishRunAsync(run.Project, runId, "finished", 0, end, call.Aborted);
                break;
            case "FAILED":
                await call.Ingest.FinishRunAsync(run.Project, runId, "failed", null, end, call.Aborted);
                break;
            case "KILLED":
                await call.Ingest.FinishRunAsync(run.Project, runId, "killed", null, end, call.Aborted);
                break;
            case "RUNNING" or "SCHEDULED":
                throw MlflowException.Invalid($"Run '{runId}' has ended ({MlflowRunJson.Status(run.State)}); a Tracker run does not start again.");
            case var other:
                throw MlflowException.Invalid($"Invalid value '{other}' for parameter 'status': use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.");
        }

        var updated = await call.Store.FindRunAsync(runId, call.Aborted) ?? throw MlflowException.NoRun(runId);
        return new JsonObject { ["run_info"] = MlflowRunJson.Info(ReadEndpoints.AsHeard(updated, call.Time.GetUtcNow(), call.Options.CrashedAfter)) };
    }

    /// <summary>Tracker's delete: the run and its points go, and its id answers as unknown from then on.</summary>
    private static async Task<JsonObject> DeleteRunAsync(Call call)
    {
        var runId = call.Request.RunId;
        var run = await call.Store.FindRunAsync(runId, call.Aborted) ?? throw MlflowException.NoRun(runId);
        await call.CheckWriteAsync(run.Project);
        using (await call.Runs.Dialect.EnterWriteAsync(call.Aborted))
        {
            await call.Runs.Runs.DeleteRunAsync(run.Project, runId, call.Time.GetUtcNow(), call.Aborted);
        }

        return [];
    }

    private static async Task<JsonObject> SearchRunsAsync(Call call)
    {
        var experiments = call.Request.Array("experiment_ids").Select(e => e?.ToString() ?? string.Empty).ToList();
        if (experiments is not [var project])
        {
            throw experiments.Count == 0
                ? MlflowRequest.Missing("experiment_ids")
                : MlflowException.Invalid($"Search one experiment at a time: got {experiments.Count} experiment_ids ({string.Join(", ", experiments)}).");
        }

        await call.CheckReadAsync(project);
        var conditions = MlflowSearch.Filter(call.Request.Text("filter"));
        var sort = MlflowSearch.OrderBy([.. call.Request.Array("order_by").Select(o => o?.ToString() ?? string.Empty)]);
        var max = call.Request.MaxResults(MlflowRules.DefaultSearchResults, MlflowRules.MaxSearchResults);
        var offset = call.Request.Offset();
        var view = call.Request.Text("run_view_type");
        if (view is not (null or "" or "ACTIVE_ONLY" or "DELETED_ONLY" or "ALL"))
        {
            throw MlflowException.Invalid($"Invalid run_view_type '{view}': use ACTIVE_ONLY, DELETED_ONLY or ALL.");
        }

        var answer = new JsonObject { ["runs"] = new JsonArray() };
        if (view == "DELETED_ONLY")
        {
            return answer; // a deleted Tracker run keeps nothing but its id
        }

        var now = call.Time.GetUtcNow();
        var limit = Math.Min(max, 10_000); // the listing's page; MLflow clients follow next_page_token
        var page = await call.Runs.Runs.QueryRunsAsync(new RunQuery(project, conditions, sort, offset, limit, now - call.Options.CrashedAfter, WithTotal: false, Archived: null), call.Aborted);
        var runs = (JsonArray)answer["runs"]!;
        var metrics = await call.Runs.Metrics.ListMetricsAsync([.. page.Page.Select(r => r.Pk)], call.Aborted);
        foreach (var run in page.Page)
        {
            runs.Add(MlflowRunJson.Run(ReadEndpoints.AsHeard(run, now, call.Options.CrashedAfter), metrics[run.Pk]));
        }

        if (page.More)
        {
            answer["next_page_token"] = MlflowRequest.PageToken(offset + page.Page.Count);
        }

        return answer;
    }

    private static async Task<JsonObject> LogMetricAsync(Call call)
    {
        var key = call.Request.Required("key");
        var metric = Metric(key, call.Request.Double("value"), call.Request.Int64("timestamp"), call.Request.Int64("step"));
        return await WriteAsync(call, new MlflowBatch([metric], [], []));
    }

    private static async Task<JsonObject> LogParameterAsync(Call call)
    {
        var key = call.Request.Required("key");
        var value = call.Request.Text("value") ?? throw MlflowRequest.Missing("value");
        CheckParam(key, value);
        return await WriteAsync(call, new MlflowBatch([], [(key, value)], []));
    }

    private static async Task<JsonObject> SetTagAsync(Call call)
    {
        var key = call.Request.Required("key");
        var value = call.Request.Text("value") ?? throw MlflowRequest.Missing("value");
        CheckTag(key, value);
        return await WriteAsync(call, new MlflowBatch([], [], [(key, value)]));
    }

    private static async Task<JsonObject> LogBatchAsync(Call call)
    {
        var metricItems = call.Request.Array("metrics");
        var parameters = call.Request.Pairs("params");
        var tags = call.Request.Pairs("tags");
        MlflowRules.CheckBatch(metricItems.Count, parameters.Count, tags.Count);
        var metrics = metricItems.Select((item, i) => item is JsonObject m
            ? Metric((string?)(m["key"] as JsonValue) ?? string.Empty, MlflowRequest.Double($"metrics[{i}].value", m["value"]), MlflowRequest.Int64($"metrics[{i}].timestamp", m["timestamp"]), MlflowRequest.Int64($"metrics[{i}].step", m["step"]))
            : throw MlflowException.Invalid($"Invalid value for parameter 'metrics': item {i} is not a metric object.")).ToList();
        if (parameters.GroupBy(p => p.Key).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw MlflowException.Invalid($"Duplicate parameter keys have been submitted: ['{twice.Key}']. Please ensure the request contains only one param value per param key.");
        }

        parameters.ForEach(p => CheckParam(p.Key, p.Value));
        tags.ForEach(t => CheckTag(t.Key, t.Value));
        return await WriteAsync(call, new MlflowBatch(metrics, parameters, tags));
    }

    private static async Task<JsonObject> GetHistoryAsync(Call call)
    {
        var key = call.Request.Required("metric_key");
        var run = await call.ReadableRunAsync();
        var max = call.Request.MaxResults(MlflowRules.MaxHistoryResults, MlflowRules.MaxHistoryResults);
        var offset = call.Request.Offset();
        var chunks = await call.Runs.Metrics.GetChunkSummariesAsync(run.Pk, key, call.Aborted);
        var points = new List<(long Step, long Time, double Value)>();
        foreach (var block in await call.Runs.Metrics.ReadChunksAsync(run.Pk, key, [.. chunks.Select(c => c.ChunkNo)], call.Aborted))
        {
            for (var i = 0; i < block.Count; i++)
            {
                points.Add((block.Steps[i], block.Times[i], block.Values[i]));
            }
        }

        var ordered = points.OrderBy(p => p.Step).ThenBy(p => p.Time).ToList(); // stable: points of one step keep their order
        var page = ordered.Skip(offset).Take(max).ToList();
        var answer = new JsonObject { ["metrics"] = new JsonArray([.. page.Select(p => (JsonNode)MlflowRunJson.Metric(key, p.Value, p.Time, p.Step))]) };
        if (offset + page.Count < ordered.Count)
        {
            answer["next_page_token"] = MlflowRequest.PageToken(offset + page.Count);
        }

        return answer;
    }

    private static async Task<JsonObject> WriteAsync(Call call, MlflowBatch batch)
    {
        var runId = call.Request.RunId;
        var run = await call.Writer.WritableRunAsync(runId, call.Aborted);
        await call.CheckWriteAsync(run.Project);
        await call.Writer.WriteAsync(runId, batch, call.Context.Items[ApiKeys.HashItem] as string, call.Aborted);
        return [];
    }

    private static MlflowMetric Metric(string key, double? value, long? timestamp, long? step)
    {
        MlflowRules.CheckKey(key, "metric");
        if (value is null)
        {
            throw MlflowRequest.Missing("value");
        }

        return timestamp switch
        {
            null => throw MlflowRequest.Missing("timestamp"),
            < 0 => throw MlflowException.Invalid($"Got invalid timestamp {timestamp} for metric '{key}' (value={value}). Timestamp must be a nonnegative long (64-bit integer) "),
            _ => new MlflowMetric(key, value.Value, timestamp.Value, step ?? 0),
        };
    }

    private static void CheckParam(string key, string value)
    {
        MlflowRules.CheckKey(key, "param");
        MlflowRules.CheckLength("Param value", MlflowRules.MaxParamValueLength, value);
    }

    private static void CheckTag(string key, string value)
    {
        MlflowRules.CheckKey(key, "tag");
        MlflowRules.CheckLength("Tag value", MlflowRules.MaxTagValueLength, value);
    }

    private static JsonObject Experiment(MlflowExperiment experiment) => new()
    {
        ["experiment_id"] = experiment.Project,
        ["name"] = experiment.Project,
        ["artifact_location"] = string.Empty,
        ["lifecycle_stage"] = "active",
        ["creation_time"] = experiment.Created.ToUnixTimeMilliseconds(),
        ["last_update_time"] = experiment.LastUpdate.ToUnixTimeMilliseconds(),
        ["tags"] = new JsonArray(),
    };

    /// <summary>One request: its parameters and the server's services.</summary>
    private sealed class Call(HttpContext context, MlflowRequest request)
    {
        public HttpContext Context { get; } = context;

        public MlflowRequest Request { get; } = request;

        public CancellationToken Aborted => Context.RequestAborted;

        public MlflowStore Store => Context.RequestServices.GetRequiredService<MlflowStore>();

        public MlflowWriter Writer => Context.RequestServices.GetRequiredService<MlflowWriter>();

        public SqlRunStore Runs => Context.RequestServices.GetRequiredService<SqlRunStore>();

        public IngestService Ingest => Context.RequestServices.GetRequiredService<IngestService>();

        public TimeProvider Time => Context.RequestServices.GetRequiredService<TimeProvider>();

        public ServerOptions Options => Context.RequestServices.GetRequiredService<IOptions<ServerOptions>>().Value;

        private ApiKeyCache Keys => Context.RequestServices.GetRequiredService<ApiKeyCache>();

        /// <summary>Writes need a key that may write to the project, as every /api/v1 write does.</summary>
        public async Task CheckWriteAsync(string project)
        {
            if (await ApiKeys.DenialAsync(Context, Keys, project, Aborted) is { } denied)
            {
                throw MlflowException.From(denied);
            }
        }

        /// <summary>Reads follow Tracker:ReadAccess, as /api/v1's do.</summary>
        public async Task CheckReadAsync(string project)
        {
            if (ApiKeys.ReadNeedsKey(Context, Options.ReadAccess) && await ApiKeys.DenialAsync(Context, Keys, project, Aborted, write: false) is { } denied)
            {
                throw MlflowException.From(denied);
            }
        }

        public async Task<StoredRun> ReadableRunAsync()
        {
            var runId = Request.RunId;
            var run = await Store.FindRunAsync(runId, Aborted) ?? throw MlflowException.NoRun(runId);
            await CheckReadAsync(run.Project);
            return ReadEndpoints.AsHeard(run, Time.GetUtcNow(), Options.CrashedAfter);
        }
    }
}
