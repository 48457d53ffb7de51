using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests.Mlflow;

/// <summary>
/// The MLflow-compatible API (/api/2.0/mlflow) against a real server process: each endpoint and
/// error, runs logged through it read back through /api/v1 exactly, and SDK runs read through it.
/// </summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class MlflowApiTests(string storage) : ServerTestsBase(storage, "tracker-mlflow")
{
    private const long T0 = 1_795_736_598_000;

    [Test]
    public async Task Experiments_CreateGetSearch_AnswerAsMlflow()
    {
        var name = NewExperimentName();

        var (created, body) = await PostAsync("experiments/create", new { name });
        var (_, byId) = await GetAsync($"experiments/get?experiment_id={name}");
        var (_, byName) = await GetAsync($"experiments/get-by-name?experiment_name={name}");
        var (_, search) = await PostAsync("experiments/search", new { max_results = 50000 });

        Assert.That(created, Is.EqualTo(HttpStatusCode.OK), body.ToJsonString());
        Assert.That((string?)body["experiment_id"], Is.EqualTo(name), "an experiment's id is its project's name");
        Assert.That((string?)byId["experiment"]!["name"], Is.EqualTo(name));
        Assert.That((string?)byName["experiment"]!["experiment_id"], Is.EqualTo(name));
        Assert.That((string?)byName["experiment"]!["lifecycle_stage"], Is.EqualTo("active"));
        Assert.That(search["experiments"]!.AsArray().Select(e => (string?)e!["name"]), Does.Contain(name));
    }

    [Test]
    public async Task Experiments_Errors_AreMlflowErrors()
    {
        var name = NewExperimentName();
        await PostAsync("experiments/create", new { name });

        await AssertErrorAsync(PostAsync("experiments/create", new { name }), HttpStatusCode.BadRequest, "RESOURCE_ALREADY_EXISTS", "already exists");
        await AssertErrorAsync(PostAsync("experiments/create", new { }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'");
        await AssertErrorAsync(PostAsync("experiments/create", new { name = "has spaces" }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "project");
        await AssertErrorAsync(GetAsync("experiments/get?experiment_id=no-such-experiment"), HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", "no-such-experiment");
        await AssertErrorAsync(GetAsync("experiments/get-by-name?experiment_name=no-such-experiment"), HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", "no-such-experiment");
        await AssertErrorAsync(PostAsync("runs/create", new { experiment_id = "no-such-experiment" }), HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", "no-such-experiment");
    }

    [Test]
    public async Task MlflowRun_LoggedThroughEveryEndpoint_ReadsBackExactlyThroughBothApis()
    {
        var experiment = await NewExperimentAsync();
        var (_, created) = await PostAsync("runs/create", new
        {
            experiment_id = experiment,
            run_name = "baseline",
            start_time = T0,
            user_id = "ada",
            tags = new[] { new { key = "team", value = "vision" }, new { key = "mlflow.source.name", value = new string('s', 300) } },
        });
        var runId = (string)created["run"]!["info"]!["run_id"]!;

        await OkAsync("runs/log-batch", new
        {
            run_id = runId,
            metrics = new object[]
            {
                new { key = "loss", value = 0.9, timestamp = T0 + 10, step = 0 },
                new { key = "acc", value = 0.25, timestamp = T0 + 10, step = 0 },
                new { key = "loss", value = 0.5, timestamp = T0 + 20, step = 1 },
                new { key = "loss", value = "NaN", timestamp = (T0 + 25).ToString(System.Globalization.CultureInfo.InvariantCulture), step = "2" },
            },
            @params = new[] { new { key = "lr", value = "0.1" }, new { key = "optimizer", value = "NaN" } },
            tags = new[] { new { key = "stage", value = "" } },
        });
        await OkAsync("runs/log-metric", new { run_uuid = runId, key = "loss", value = 0.125, timestamp = T0 + 30, step = 3 });
        await OkAsync("runs/log-parameter", new { run_id = runId, key = "epochs", value = "10" });
        await OkAsync("runs/log-parameter", new { run_id = runId, key = "lr", value = "0.1" }); // the same value again is fine, as in MLflow
        await OkAsync("runs/set-tag", new { run_id = runId, key = "mlflow.note.content", value = "first try" });
        await OkAsync("runs/set-tag", new { run_id = runId, key = "team", value = "speech" });
        var (_, updated) = await PostAsync("runs/update", new { run_id = runId, status = "FINISHED", end_time = T0 + 60_000 });

        Assert.That((string?)updated["run_info"]!["status"], Is.EqualTo("FINISHED"));
        Assert.That((long?)updated["run_info"]!["end_time"], Is.EqualTo(T0 + 60_000));

        // Through Tracker's own read API.
        var run = (await Http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{experiment}/runs/{runId}"))!;
        Assert.That((string?)run["name"], Is.EqualTo("baseline"));
        Assert.That((string?)run["state"], Is.EqualTo("finished"));
        Assert.That((string?)run["notes"], Is.EqualTo("first try"));
        Assert.That(run["tags"]!.AsArray().Select(t => (string?)t), Is.EquivalentTo(new[] { "stage", "team:speech" }));
        Assert.That(run["config"]!.ToJsonString(), Is.EqualTo("""{"lr":"0.1","optimizer":{"_str":"NaN"},"epochs":"10"}"""), "params are strings; the text NaN as the record format keeps it apart from the number");
        Assert.That(DateTimeOffset.Parse((string)run["start_time"]!, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), Is.EqualTo(T0));
        var export = (await Http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{experiment}/runs/{runId}/export?key=loss"))!;
        Assert.That(export["points"]!.ToJsonString(), Is.EqualTo($"[[0,{T0 + 10},0.9],[1,{T0 + 20},0.5],[2,{T0 + 25},\"NaN\"],[3,{T0 + 30},0.125]]"), "steps, timestamps and values exact");

        // Through MLflow's.
        var (_, got) = await GetAsync($"runs/get?run_id={runId}");
        var info = got["run"]!["info"]!;
        var data = got["run"]!["data"]!;
        Assert.That((string?)info["experiment_id"], Is.EqualTo(experiment));
        Assert.That((string?)info["user_id"], Is.EqualTo("ada"));
        Assert.That((long?)info["start_time"], Is.EqualTo(T0));
        Assert.That(Pairs(data["params"]), Is.EqualTo(new Dictionary<string, string> { ["epochs"] = "10", ["lr"] = "0.1", ["optimizer"] = "NaN" }), data["params"]!.ToJsonString());
        var tags = Pairs(data["tags"]);
        Assert.That(tags["team"], Is.EqualTo("speech"));
        Assert.That(tags["stage"], Is.EqualTo(string.Empty));
        Assert.That(tags["mlflow.runName"], Is.EqualTo("baseline"));
        Assert.That(tags["mlflow.note.content"], Is.EqualTo("first try"));
        Assert.That(tags["mlflow.source.name"], Is.EqualTo(new string('s', 300)), "system tags kept whole");
        Assert.That(data["metrics"]!.ToJsonString(), Is.EqualTo($$"""[{"key":"acc","value":0.25,"timestamp":{{T0 + 10}},"step":0},{"key":"loss","value":0.125,"timestamp":{{T0 + 30}},"step":3}]"""));
        var (_, history) = await GetAsync($"metrics/get-history?run_id={runId}&metric_key=loss");
        Assert.That(history["metrics"]!.ToJsonString(), Is.EqualTo(
            $$"""[{"key":"loss","value":0.9,"timestamp":{{T0 + 10}},"step":0},{"key":"loss","value":0.5,"timestamp":{{T0 + 20}},"step":1},{"key":"loss","value":"NaN","timestamp":{{T0 + 25}},"step":2},{"key":"loss","value":0.125,"timestamp":{{T0 + 30}},"step":3}]"""));
        var (_, page) = await GetAsync($"metrics/get-history?run_id={runId}&metric_key=loss&max_results=3");
        var (_, rest) = await GetAsync($"metrics/get-history?run_id={runId}&metric_key=loss&max_results=3&page_token={Uri.EscapeDataString((string)page["next_page_token"]!)}");
        Assert.That(page["metrics"]!.AsArray(), Has.Count.EqualTo(3));
        Assert.That(rest["metrics"]!.AsArray().Select(m => (long)m!["step"]!), Is.EqualTo(new[] { 3L }));
        Assert.That(rest["next_page_token"], Is.Null);
    }

    [Test]
    public async Task SdkRun_ReadsThroughMlflow_Exactly()
    {
        var experiment = NewExperimentName();
        var run = Run.Init(new RunOptions
        {
            Project = experiment,
            Dir = Root,
            Mode = RunMode.Online,
            BaseUrl = Server.BaseUrl,
            ApiKey = Server.ApiKey,
            Output = TextWriter.Null,
            FinishOnProcessExit = false,
            Name = "sdk-run",
            Tags = ["baseline"],
            Config = new Dictionary<string, object?> { ["lr"] = 0.05, ["optimizer"] = "sgd", ["layers"] = 3 },
        });
        double[] values = [1.5, 0.75, 0.1 + 0.2, 1e-300];
        foreach (var value in values)
        {
            run.Log("train/loss", value);
        }

        await run.FinishAsync();

        var (status, got) = await GetAsync($"runs/get?run_id={run.Id}");
        var (_, history) = await GetAsync($"metrics/get-history?run_id={run.Id}&metric_key=train/loss");
        var export = (await Http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{experiment}/runs/{run.Id}/export?key=train/loss"))!;

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), got.ToJsonString());
        Assert.That((string?)got["run"]!["info"]!["status"], Is.EqualTo("FINISHED"));
        Assert.That((string?)got["run"]!["info"]!["run_name"], Is.EqualTo("sdk-run"));
        Assert.That(Pairs(got["run"]!["data"]!["params"]), Is.EqualTo(new Dictionary<string, string> { ["layers"] = "3", ["lr"] = "0.05", ["optimizer"] = "sgd" }));
        Assert.That(Pairs(got["run"]!["data"]!["tags"])["baseline"], Is.EqualTo(string.Empty));
        var points = history["metrics"]!.AsArray();
        Assert.That(points.Select(p => (double)p!["value"]!), Is.EqualTo(values), "values exact, 0.1 + 0.2 included");
        Assert.That(points.Select(p => (long)p!["step"]!), Is.EqualTo(new[] { 0L, 1, 2, 3 }));
        Assert.That(points.Select(p => (long)p!["timestamp"]!), Is.EqualTo(export["points"]!.AsArray().Select(p => (long)p![1]!)), "the record times");

        await AssertErrorAsync(PostAsync("runs/log-metric", new { run_id = run.Id, key = "x", value = 1, timestamp = T0 }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "Tracker SDK");
    }

    [Test]
    public async Task Writes_BadInput_RefusedWithMlflowErrorsAndNothingStored()
    {
        var experiment = await NewExperimentAsync();
        var runId = await NewRunAsync(experiment);
        await OkAsync("runs/log-parameter", new { run_id = runId, key = "lr", value = "0.1" });
        await OkAsync("runs/log-parameter", new { run_id = runId, key = "model/depth", value = "3" });
        var tooMany = Enumerable.Range(0, 1001).Select(i => new { key = "m", value = 1.0, timestamp = T0, step = i }).ToArray();

        await AssertErrorAsync(PostAsync("runs/log-batch", new { run_id = runId, metrics = tooMany }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "at most 1000 metrics");
        await AssertErrorAsync(PostAsync("runs/log-batch", new { run_id = runId, @params = Enumerable.Range(0, 101).Select(i => new { key = $"p{i}", value = "v" }) }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "at most 100 params");
        await AssertErrorAsync(PostAsync("runs/log-parameter", new { run_id = runId, key = "lr", value = "0.2" }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed");
        await AssertErrorAsync(PostAsync("runs/log-batch", new { run_id = runId, metrics = new[] { new { key = "ok", value = 1.0, timestamp = T0, step = 0 } }, @params = new[] { new { key = "lr", value = "0.3" } } }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "Changing param values");
        await AssertErrorAsync(PostAsync("runs/log-parameter", new { run_id = runId, key = "model/depth", value = "4" }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "Changing param values");
        await AssertErrorAsync(PostAsync("runs/log-batch", new { run_id = runId, @params = new[] { new { key = "a", value = "1" }, new { key = "a", value = "1" } } }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "Duplicate parameter keys");
        await AssertErrorAsync(PostAsync("runs/log-metric", new { run_id = runId, key = "_step", value = 1.0, timestamp = T0 }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "_");
        await AssertErrorAsync(PostAsync("runs/log-metric", new { run_id = runId, key = "loss", value = 1.0 }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "'timestamp'");
        await AssertErrorAsync(PostAsync("runs/log-metric", new { run_id = runId, key = "bad:name", value = 1.0, timestamp = T0 }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "Invalid metric name");
        await AssertErrorAsync(PostAsync("runs/log-metric", new { run_id = runId, key = "loss", value = 1.0, timestamp = T0, step = -1 }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "step");
        await AssertErrorAsync(PostAsync("runs/log-parameter", new { run_id = runId, key = "long", value = new string('v', 6001) }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "exceeded length limit of 6000");
        await AssertErrorAsync(PostAsync("runs/set-tag", new { run_id = runId, key = "t", value = new string('v', 70) }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "KEY:VALUE");
        await AssertErrorAsync(PostAsync("runs/log-metric", new { key = "loss", value = 1.0, timestamp = T0 }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "'run_id'");
        await AssertErrorAsync(PostAsync("runs/log-metric", new { run_id = "nosuchrun", key = "loss", value = 1.0, timestamp = T0 }), HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", "nosuchrun");
        await AssertErrorAsync(GetAsync("runs/get?run_id=nosuchrun"), HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", "nosuchrun");

        var (_, got) = await GetAsync($"runs/get?run_id={runId}");
        Assert.That(got["run"]!["data"]!["metrics"]!.AsArray(), Is.Empty, "a refused request stores nothing");
        Assert.That(Pairs(got["run"]!["data"]!["params"]), Is.EqualTo(new Dictionary<string, string> { ["lr"] = "0.1", ["model/depth"] = "3" }));
    }

    [Test]
    public async Task Keys_AsBearerTokens_CheckedAsInApiV1()
    {
        var experiment = await NewExperimentAsync();
        var runId = await NewRunAsync(experiment);
        using var anonymous = Server.Client(key: "");
        anonymous.DefaultRequestHeaders.Authorization = null;
        using var readOnly = Server.Client(await Server.CreateKeyAsync($"viewer-{Guid.NewGuid():N}", readOnly: true));
        using var other = Server.Client(await Server.CreateKeyAsync($"other-{Guid.NewGuid():N}", project: "another-project"));
        var body = new { run_id = runId, key = "loss", value = 1.0, timestamp = T0 };

        await AssertErrorAsync(PostAsync("runs/log-metric", body, anonymous), HttpStatusCode.Unauthorized, "UNAUTHENTICATED", "Bearer");
        await AssertErrorAsync(PostAsync("runs/log-metric", body, readOnly), HttpStatusCode.Forbidden, "PERMISSION_DENIED", "read-only");
        await AssertErrorAsync(PostAsync("runs/log-metric", body, other), HttpStatusCode.Forbidden, "PERMISSION_DENIED", "another-project");
        await AssertErrorAsync(PostAsync("experiments/create", new { name = NewExperimentName() }, anonymous), HttpStatusCode.Unauthorized, "UNAUTHENTICATED", "Bearer");
        Assert.That((await GetAsync($"runs/get?run_id={runId}", anonymous)).Status, Is.EqualTo(HttpStatusCode.OK), "reads follow Tracker:ReadAccess: open on loopback by default");
    }

    [Test]
    public async Task SearchRuns_FilterOrderAndPages()
    {
        var experiment = await NewExperimentAsync();
        var a = await LoggedRunAsync(experiment, "a", loss: 0.3, lr: "0.1", team: "vision", finish: true);
        var b = await LoggedRunAsync(experiment, "b", loss: 0.7, lr: "0.1", team: "speech", finish: true);
        var c = await LoggedRunAsync(experiment, "c", loss: 0.2, lr: "0.01", team: "vision", finish: false);

        Assert.That(await SearchAsync(experiment, "metrics.loss < 0.5 and params.lr = '0.1'"), Is.EqualTo(new[] { a }));
        Assert.That(await SearchAsync(experiment, "attributes.status = 'FINISHED'", "metrics.loss ASC"), Is.EqualTo(new[] { a, b }));
        Assert.That(await SearchAsync(experiment, "tags.team = 'vision'", "metrics.loss DESC"), Is.EqualTo(new[] { a, c }));
        Assert.That(await SearchAsync(experiment, "attributes.run_name = 'b'"), Is.EqualTo(new[] { b }));
        Assert.That(await SearchAsync(experiment, null, "attributes.start_time DESC"), Is.EqualTo(new[] { c, b, a }), "newest first");

        var (_, first) = await PostAsync("runs/search", new { experiment_ids = new[] { experiment }, max_results = 2, order_by = new[] { "metrics.loss ASC" } });
        var (_, second) = await PostAsync("runs/search", new { experiment_ids = new[] { experiment }, max_results = 2, order_by = new[] { "metrics.loss ASC" }, page_token = (string)first["next_page_token"]! });
        Assert.That(Ids(first).Concat(Ids(second)), Is.EqualTo(new[] { c, a, b }));
        Assert.That(second["next_page_token"], Is.Null);

        await AssertErrorAsync(PostAsync("runs/search", new { experiment_ids = new[] { experiment }, filter = "tags.team LIKE 'vis%'" }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "LIKE");
        await AssertErrorAsync(PostAsync("runs/search", new { experiment_ids = new[] { experiment }, filter = "attributes.status = 'DONE'" }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "FINISHED");
        await AssertErrorAsync(PostAsync("runs/search", new { experiment_ids = new[] { experiment }, max_results = 50001 }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "50000");
        await AssertErrorAsync(PostAsync("runs/search", new { }), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", "experiment_ids");
    }

    [Test]
    public async Task DeleteRun_IsTrackerDelete()
    {
        var experiment = await NewExperimentAsync();
        var runId = await NewRunAsync(experiment);

        await OkAsync("runs/delete", new { run_id = runId });

        await AssertErrorAsync(GetAsync($"runs/get?run_id={runId}"), HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", runId);
        await AssertErrorAsync(PostAsync("runs/log-metric", new { run_id = runId, key = "loss", value = 1.0, timestamp = T0 }), HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", runId);
        Assert.That((await Http.GetAsync($"/api/v1/projects/{experiment}/runs/{runId}")).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        var upsert = await Http.PutAsync($"/api/v1/projects/{experiment}/runs/{runId}", JsonContent.Create(new { id = runId }));
        Assert.That(upsert.StatusCode, Is.EqualTo(HttpStatusCode.Gone), "the id is not taken again");
    }

    private async Task<string> LoggedRunAsync(string experiment, string name, double loss, string lr, string team, bool finish)
    {
        var (_, created) = await PostAsync("runs/create", new { experiment_id = experiment, run_name = name, tags = new[] { new { key = "team", value = team } } });
        var runId = (string)created["run"]!["info"]!["run_id"]!;
        await OkAsync("runs/log-batch", new { run_id = runId, metrics = new[] { new { key = "loss", value = loss, timestamp = T0, step = 0 } }, @params = new[] { new { key = "lr", value = lr } } });
        if (finish)
        {
            await OkAsync("runs/update", new { run_id = runId, status = "FINISHED" });
        }

        await Task.Delay(5); // distinct start times
        return runId;
    }

    private async Task<List<string>> SearchAsync(string experiment, string? filter, string? orderBy = null)
    {
        var (status, body) = await PostAsync("runs/search", new { experiment_ids = new[] { experiment }, filter, order_by = orderBy is null ? Array.Empty<string>() : [orderBy] });
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), body.ToJsonString());
        return Ids(body);
    }

    private static List<string> Ids(JsonObject search) => [.. (search["runs"]?.AsArray() ?? []).Select(r => (string)r!["info"]!["run_id"]!)];

    private string NewExperimentName() => $"mlflow-{Storage}-{Guid.NewGuid():N}"[..40];

    private async Task<string> NewExperimentAsync()
    {
        var name = NewExperimentName();
        await OkAsync("experiments/create", new { name });
        return name;
    }

    private async Task<string> NewRunAsync(string experiment)
    {
        var (status, created) = await PostAsync("runs/create", new { experiment_id = experiment });
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), created.ToJsonString());
        return (string)created["run"]!["info"]!["run_id"]!;
    }

    [TestCase("runs/create", "{not json", "The body is not valid JSON: ")]
    [TestCase("runs/create", "[1,2]", "The body is a JSON array, not an object.")]
    [TestCase("runs/create", "\"run\"", "The body is a JSON string, not an object.")]
    [TestCase("experiments/create", """{"name":"a","name":"b"}""", "\"name\" is given twice.")]
    [TestCase("experiments/create", "", "Missing value for required parameter 'name'")] // MLflow reads an empty body as no parameters
    public async Task Request_BodyNotAnObject_IsInvalidParameterValueInMlflowsShape(string path, string body, string said)
    {
        var response = await Http.PostAsync($"/api/2.0/mlflow/{path}", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var error = (await response.Content.ReadFromJsonAsync<JsonObject>())!;

        await AssertErrorAsync(Task.FromResult((response.StatusCode, error)), HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", said);
        Assert.That(error.Select(p => p.Key), Is.EquivalentTo(new[] { "error_code", "message" }));
    }

    private async Task OkAsync(string path, object body)
    {
        var (status, answer) = await PostAsync(path, body);
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), $"{path}: {answer.ToJsonString()}");
    }

    private async Task<(HttpStatusCode Status, JsonObject Body)> PostAsync(string path, object body, HttpClient? client = null)
    {
        var response = await (client ?? Http).PostAsJsonAsync($"/api/2.0/mlflow/{path}", body);
        return (response.StatusCode, (await response.Content.ReadFromJsonAsync<JsonObject>())!);
    }

    private async Task<(HttpStatusCode Status, JsonObject Body)> GetAsync(string pathAndQuery, HttpClient? client = null)
    {
        var response = await (client ?? Http).GetAsync($"/api/2.0/mlflow/{pathAndQuery}");
        return (response.StatusCode, (await response.Content.ReadFromJsonAsync<JsonObject>())!);
    }

    private static async Task AssertErrorAsync(Task<(HttpStatusCode Status, JsonObject Body)> call, HttpStatusCode status, string errorCode, string message)
    {
        var (actual, body) = await call;
        Assert.That(actual, Is.EqualTo(status), body.ToJsonString());
        Assert.That((string?)body["error_code"], Is.EqualTo(errorCode), body.ToJsonString());
        Assert.That((string?)body["message"], Does.Contain(message));
    }

    private static Dictionary<string, string> Pairs(JsonNode? list) =>
        list!.AsArray().ToDictionary(p => (string)p!["key"]!, p => (string)p!["value"]!);
}
