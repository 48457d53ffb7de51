using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Tracker.Server.Storage;

namespace Tracker.Server.Api;

/// <summary>The read half of the protocol, for the web UI and the CLI.</summary>
internal static class ReadEndpoints
{
    private const int MaxExportPoints = 100_000;

    public static void Map(WebApplication app)
    {
        var api = app.MapGroup("/api/v1").AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var options = http.RequestServices.GetRequiredService<IOptions<ServerOptions>>().Value;
            if (ApiKeys.ReadNeedsKey(http, options.ReadAccess))
            {
                var project = http.Request.RouteValues["project"] as string ?? string.Empty;
                var keys = http.RequestServices.GetRequiredService<ApiKeyCache>();
                if (await ApiKeys.CheckAsync(http, keys, project, http.RequestAborted, write: false) is { } denied)
                {
                    return denied;
                }
            }

            return await next(context);
        });
        api.MapGet("/projects", ListProjectsAsync);
        api.MapGet("/projects/{project}/runs", ListRunsAsync);
        api.MapGet("/projects/{project}/metric-ranges", MetricRangesAsync);
        api.MapGet("/projects/{project}/runs/{runId}", GetRunAsync);
        api.MapGet("/projects/{project}/runs/{runId}/metrics", ListMetricsAsync);
        api.MapGet("/projects/{project}/runs/{runId}/export", ExportAsync);
        api.MapGet("/projects/{project}/runs/{runId}/output", OutputAsync);
        api.MapGet("/projects/{project}/runs/{runId}/media", MediaAsync);
        api.MapMethods("/projects/{project}/blobs/{sha256}", [HttpMethods.Get, HttpMethods.Head], BlobAsync);
        RunBatchEndpoints.MapReads(api);
        SeriesEndpoints.MapReads(api);
        ViewEndpoints.MapReads(api);
    }

    private static async Task<IResult> ListProjectsAsync(SqlRunStore store, CancellationToken cancellationToken) =>
        Results.Ok((await store.Runs.ListProjectsAsync(cancellationToken))
            .Select(p => new { name = p.Name, run_count = p.RunCount, last_update = p.LastUpdate }));

    /// <summary>
    /// A page of the project's runs, filtered and sorted by the database: <c>filter</c> (see
    /// <see cref="RunFilter"/>) and the older <c>state=</c>, <c>tag=</c>, <c>name=</c> (contains)
    /// and <c>config.K=</c> parameters, all joined by and. The body stays a JSON array; the offset of
    /// the next page, when more runs match, is in <c>Tracker-Next-Offset</c>; with <c>total=true</c>, the
    /// number of runs matching in all is in <c>X-Total-Count</c> (a count passes over every match, so
    /// only when asked); the keys no run has are in <c>Tracker-Unknown-Keys</c>.
    /// </summary>
    private static async Task<IResult> ListRunsAsync(string project, HttpContext context, SqlRunStore store, TimeProvider time, IOptions<ServerOptions> options, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        // Archived runs are left out unless asked for: archived=true lists only them, archived=all every run.
        bool? archived;
        switch (query["archived"].ToString())
        {
            case "" or "false": archived = false; break;
            case "true": archived = true; break;
            case "all": archived = null; break;
            default:
                return Problems.Create(HttpStatusCode.BadRequest, "Invalid archived", "archived must be false (the default: runs not archived), true (archived runs only) or all.", "archived");
        }

        var conditions = new List<RunCondition>();
        if (query["filter"].ToString() is { Length: > 0 } filter)
        {
            var (parsed, problem) = RunFilter.Parse(filter);
            if (problem is not null)
            {
                return Problems.Create(HttpStatusCode.BadRequest, "Invalid filter", problem, "filter");
            }

            conditions.AddRange(parsed);
        }

        if (query["state"].ToString() is { Length: > 0 } state)
        {
            conditions.Add(new RunCondition(RunField.State, null, "=", new RunLiteral(null, state)));
        }

        if (query["tag"].ToString() is { Length: > 0 } tag)
        {
            conditions.Add(new RunCondition(RunField.Tag, null, "=", new RunLiteral(null, tag)));
        }

        if (query["name"].ToString() is { Length: > 0 } name)
        {
            conditions.Add(new RunCondition(RunField.Name, null, "contains", new RunLiteral(null, name)));
        }

        foreach (var (parameter, values) in query.Where(q => q.Key.StartsWith("config.", StringComparison.Ordinal)))
        {
            conditions.Add(new RunCondition(RunField.Config, parameter["config.".Length..], "=", RunQuery.Literal(values.ToString(), quoted: false)));
        }

        RunSort? sort = null;
        if (query["sort"].ToString() is { Length: > 0 } sortText)
        {
            (sort, var problem) = RunFilter.ParseSort(sortText);
            if (problem is not null)
            {
                return Problems.Create(HttpStatusCode.BadRequest, "Invalid sort", problem, "sort");
            }
        }

        var offset = int.TryParse(query["offset"], CultureInfo.InvariantCulture, out var o) ? Math.Max(0, o) : 0;
        var limit = int.TryParse(query["limit"], CultureInfo.InvariantCulture, out var l) ? Math.Clamp(l, 1, 10_000) : 1_000;
        var now = time.GetUtcNow();
        var crashedAfter = options.Value.CrashedAfter;
        var withTotal = query["total"].ToString() is "true" or "1";
        var (page, total, more, unknown) = await store.Runs.QueryRunsAsync(new RunQuery(project, conditions, sort, offset, limit, now - crashedAfter, withTotal, archived), cancellationToken);
        if (total is { } matching)
        {
            context.Response.Headers["X-Total-Count"] = matching.ToString(CultureInfo.InvariantCulture);
        }

        if (more)
        {
            context.Response.Headers["Tracker-Next-Offset"] = (offset + page.Count).ToString(CultureInfo.InvariantCulture);
        }
        if (unknown.Count > 0)
        {
            context.Response.Headers["Tracker-Unknown-Keys"] = string.Join(", ", unknown.Select(Uri.EscapeDataString));
        }

        return Results.Ok(page.Select(r => RunJson(AsHeard(r, now, crashedAfter))));
    }

    /// <summary>Min and max of every metric of every run in the project: <c>{"run-id": {"key": {"min", "max"}}}</c>.</summary>
    private static async Task<IResult> MetricRangesAsync(string project, SqlRunStore store, CancellationToken cancellationToken)
    {
        var ranges = new Dictionary<string, Dictionary<string, object>>(StringComparer.Ordinal);
        foreach (var (runId, key, min, max) in await store.Metrics.GetMetricRangesAsync(project, cancellationToken))
        {
            if (!ranges.TryGetValue(runId, out var keys))
            {
                ranges[runId] = keys = new Dictionary<string, object>(StringComparer.Ordinal);
            }

            keys[key] = new { min = Json(min), max = Json(max) };
        }

        return Results.Ok(ranges);
    }

    private static async Task<IResult> GetRunAsync(string project, string runId, SqlRunStore store, TimeProvider time, IOptions<ServerOptions> options, CancellationToken cancellationToken) =>
        await store.Runs.GetRunAsync(project, runId, cancellationToken) is { } run
            ? Results.Ok(RunJson(AsHeard(run, time.GetUtcNow(), options.Value.CrashedAfter)))
            : NotFound(project, runId);

    private static async Task<IResult> ListMetricsAsync(string project, string runId, SqlRunStore store, CancellationToken cancellationToken)
    {
        if (await store.Runs.GetRunAsync(project, runId, cancellationToken) is not { } run)
        {
            return NotFound(project, runId);
        }

        var metrics = await store.Metrics.ListMetricsAsync(run.Pk, cancellationToken);
        return Results.Ok(metrics.Select(MetricJson));
    }

    /// <summary>One metric of a run's list: <c>{"key","count","first_step","last_step","min","max","last"}</c>.</summary>
    internal static object MetricJson(MetricInfo m) => new
    {
        key = m.Key, count = m.Count, first_step = m.FirstStep, last_step = m.LastStep, min = Json(m.Min), max = Json(m.Max), last = Json(m.Last),
    };

    private static async Task<IResult> ExportAsync(string project, string runId, HttpContext context, SqlRunStore store, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        if (query["key"].ToString() is not { Length: > 0 } key)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Missing key", "Name the metric with ?key=.", "key");
        }

        if (!TryLong(query["after_step"], out var afterStep))
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Invalid after_step", "after_step must be an integer.", "after_step");
        }

        var limit = int.TryParse(query["limit"], CultureInfo.InvariantCulture, out var l) ? Math.Clamp(l, 1, MaxExportPoints) : 10_000;
        if (await store.Runs.GetRunAsync(project, runId, cancellationToken) is not { } run)
        {
            return NotFound(project, runId);
        }

        var after = afterStep ?? long.MinValue;
        var chunks = (await store.Metrics.GetChunkSummariesAsync(run.Pk, key, cancellationToken))
            .Where(c => c.LastStep > after).ToList();

        // Chunks may overlap when points arrived out of order: take chunks in step order until they
        // hold a page, plus any chunk that starts before the last step taken so far.
        var points = new List<(long Step, long Time, double Value)>();
        var wanted = new List<long>();
        var pointsSoFar = 0L;
        var lastStepTaken = long.MinValue;
        foreach (var chunk in chunks.OrderBy(c => c.FirstStep))
        {
            if (pointsSoFar >= limit && chunk.FirstStep > lastStepTaken)
            {
                break;
            }

            wanted.Add(chunk.ChunkNo);
            pointsSoFar += chunk.FirstStep > after ? chunk.Count : 0; // a chunk begun on an earlier page adds only part of itself
            lastStepTaken = Math.Max(lastStepTaken, chunk.LastStep);
        }

        foreach (var block in await store.Metrics.ReadChunksAsync(run.Pk, key, wanted, cancellationToken))
        {
            for (var i = 0; i < block.Count; i++)
            {
                if (block.Steps[i] > after)
                {
                    points.Add((block.Steps[i], block.Times[i], block.Values[i]));
                }
            }
        }

        var page = points.OrderBy(p => p.Step).Take(limit).ToList();
        return Results.Ok(new
        {
            key,
            points = page.Select(p => new object?[] { p.Step, p.Time, Json(p.Value) }),
            next_after_step = page.Count == limit ? page[^1].Step : (long?)null,
        });
    }

    /// <summary>The run's captured console lines after <c>after_seq</c>, oldest first, a page at a time.</summary>
    private static async Task<IResult> OutputAsync(string project, string runId, HttpContext context, SqlRunStore store, CancellationToken cancellationToken)
    {
        var (run, afterSeq, limit, problem) = await PageAsync(project, runId, context, store, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var lines = await store.Output.ReadAsync(run!.Pk, afterSeq, limit, cancellationToken);
        return Results.Ok(new
        {
            lines = lines.Select(x => new { seq = x.Seq, ts = x.Time, stream = x.Stream, line = x.Line }),
            next_after_seq = lines.Count == limit ? lines[^1].Seq : (long?)null,
        });
    }

    /// <summary>
    /// Without <c>key</c>, the run's media keys; with it, a page of that key's items in step order,
    /// images and tables with the address of their file and whether the server has it.
    /// </summary>
    private static async Task<IResult> MediaAsync(string project, string runId, HttpContext context, SqlRunStore store, CancellationToken cancellationToken)
    {
        var (run, afterSeq, limit, problem) = await PageAsync(project, runId, context, store, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        if (context.Request.Query["key"].ToString() is not { Length: > 0 } key)
        {
            var keys = await store.Media.ListMediaKeysAsync(run!.Pk, cancellationToken);
            return Results.Ok(keys.Select(k => new { key = k.Key, kind = k.Kind, count = k.Count, first_step = k.FirstStep, last_step = k.LastStep }));
        }

        var items = await store.Media.ReadMediaAsync(run!.Project, run.Pk, key, afterSeq, limit, cancellationToken);
        return Results.Ok(new
        {
            key,
            items = items.Select(i => new { seq = i.Seq, step = i.Step, ts = i.Time, media = MediaJson(run.Project, i) }),
            next_after_seq = items.Count == limit ? items[^1].Seq : (long?)null,
        });
    }

    /// <summary>
    /// A project's media file. Its name is the hash of its bytes, so it never changes: clients
    /// and proxies may keep it for good. HEAD answers whether the server has it, without the bytes.
    /// </summary>
    private static async Task<IResult> BlobAsync(string project, string sha256, HttpContext context, SqlRunStore store, CancellationToken cancellationToken)
    {
        var head = HttpMethods.IsHead(context.Request.Method);
        var blob = RecordReader.IsSha256(sha256) ? await store.Media.GetBlobAsync(project, sha256, withContent: !head, cancellationToken) : null;
        if (blob is null)
        {
            return head
                ? Results.NotFound()
                : Problems.Create(HttpStatusCode.NotFound, "Unknown file", $"Project '{project}' has no file with SHA-256 '{sha256}'. Its run uploads it with PUT /api/v1/projects/{project}/blobs/{sha256}.");
        }

        var etag = new EntityTagHeaderValue($"\"{sha256}\"");
        context.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
        context.Response.Headers.XContentTypeOptions = "nosniff"; // served as stored, never sniffed into HTML or script
        if (head)
        {
            context.Response.Headers.ETag = etag.ToString();
            context.Response.ContentType = blob.ContentType;
            context.Response.ContentLength = blob.Bytes;
            return Results.Ok();
        }

        return Results.Bytes(blob.Content!, blob.ContentType, entityTag: etag);
    }

    /// <summary>The stored <c>media</c> object; images and tables gain their file's address and whether it is stored.</summary>
    private static JsonObject MediaJson(string project, Storage.MediaItem item)
    {
        var media = JsonNode.Parse(item.Body)!.AsObject();
        if (item.Sha256 is { } sha256)
        {
            media["url"] = $"/api/v1/projects/{project}/blobs/{sha256}";
            media["available"] = item.Available;
        }

        return media;
    }

    /// <summary>What paged reads after a sequence number share: the run, <c>after_seq</c> and <c>limit</c> (1 to 10,000, default 1,000).</summary>
    private static async Task<(StoredRun? Run, long AfterSeq, int Limit, IResult? Problem)> PageAsync(string project, string runId, HttpContext context, SqlRunStore store, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        if (!TryLong(query["after_seq"], out var afterSeq))
        {
            return (null, 0, 0, Problems.Create(HttpStatusCode.BadRequest, "Invalid after_seq", "after_seq must be an integer.", "after_seq"));
        }

        var limit = int.TryParse(query["limit"], CultureInfo.InvariantCulture, out var l) ? Math.Clamp(l, 1, 10_000) : 1_000;
        var run = await store.Runs.GetRunAsync(project, runId, cancellationToken);
        return (run, afterSeq ?? 0, limit, run is null ? NotFound(project, runId) : null);
    }

    internal static IResult NotFound(string project, string runId) =>
        Problems.Create(HttpStatusCode.NotFound, "Unknown run", $"Run '{runId}' of project '{project}' does not exist on this server.");

    /// <summary>
    /// The run as a reader should see it: a <c>running</c> run not heard from (upsert, append or
    /// heartbeat, all of which set <c>updated_at</c>) for <paramref name="crashedAfter"/> is
    /// <c>crashed</c>, as W&amp;B marks a run whose heartbeats stopped. Computed on read, so the next
    /// record or heartbeat makes it <c>running</c> again without any job or write.
    /// </summary>
    internal static StoredRun AsHeard(StoredRun run, DateTimeOffset now, TimeSpan crashedAfter) =>
        run.State == "running" && now - run.UpdatedAt > crashedAfter ? run with { State = "crashed" } : run;

    internal static object RunJson(StoredRun run)
    {
        var json = (JsonObject)run.Metadata.DeepClone();
        json["project"] = run.Project;
        json["id"] = run.RunId;
        json["name"] = run.Name;
        json["state"] = run.State;
        json["config"] = run.Config.DeepClone();
        json["summary"] = run.Summary.DeepClone();
        json["acked_seq"] = run.AckedSeq;
        json["archived"] = run.Archived;
        json["updated_at"] = run.UpdatedAt.ToString("O", CultureInfo.InvariantCulture);
        return json;
    }

    /// <summary>JSON has no NaN or infinities: they travel as strings, as in records.jsonl.</summary>
    internal static object Json(double value) => double.IsFinite(value) ? value : value.ToString(CultureInfo.InvariantCulture);

    internal static bool TryLong(Microsoft.Extensions.Primitives.StringValues text, out long? value)
    {
        value = null;
        if (text.Count == 0 || string.IsNullOrEmpty(text))
        {
            return true;
        }

        if (long.TryParse(text, CultureInfo.InvariantCulture, out var parsed))
        {
            value = parsed;
            return true;
        }

        return false;
    }
}
