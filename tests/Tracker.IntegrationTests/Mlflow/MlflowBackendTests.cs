using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Tracker.Export;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Reading;

namespace Tracker.IntegrationTests.Mlflow;

/// <summary>
/// The SDK's <see cref="MlflowBackend"/> against a real server's MLflow-compatible API: offline runs
/// (the SDK's own upload is not involved) sent through the backend, read back through MLflow's API
/// and Tracker's own, with every request the backend made recorded by a handler in its HTTP path.
/// </summary>
[TestFixture("sqlite")]
public sealed class MlflowBackendTests(string storage) : ServerTestsBase(storage, "tracker-mlflow-backend")
{

    [Test]
    public async Task Run_SentThroughBackend_EveryPointOnce_RequestsWithinMlflowLimits()
    {
        var experiment = NewExperimentName();
        using var recorder = new Recorder();
        var backend = new MlflowBackend(Server.BaseUrl, Server.ApiKey, experiment, recorder);
        var config = Enumerable.Range(0, 150).ToDictionary(i => $"p{i:D3}", i => (object?)i);
        config["lr"] = 0.001;
        config["optimizer"] = "adam";
        config["nested"] = new Dictionary<string, object?> { ["depth"] = 3 };
        var run = Run.Init(Options(experiment, backend, config, tags: ["team:vision", "baseline"], notes: "from the SDK"));
        for (var step = 0; step < 2500; step++)
        {
            run.Log(new Dictionary<string, object?> { ["loss"] = 1.0 / (step + 1) + 0.1 });
        }

        run.Log(new Dictionary<string, object?> { ["flag"] = true, ["label"] = "text", ["odd"] = double.NaN, ["big"] = double.PositiveInfinity });
        await run.FinishAsync();

        var runId = backend.MlflowRunId!;
        var got = (await GetAsync($"runs/get?run_id={runId}"))["run"]!;
        var history = await HistoryAsync(runId, "loss");
        var logged = RunReader.Open(run.Directory!).ReadHistory().Where(r => r.Values.ContainsKey("loss")).ToList();
        var export = (await Http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{experiment}/runs/{runId}/export?key=loss"))!["points"]!.AsArray();

        Assert.That(await SearchAsync(experiment), Is.EqualTo(new[] { runId }), "one MLflow run in the experiment named by the backend");
        Assert.That((string?)got["info"]!["status"], Is.EqualTo("FINISHED"));
        Assert.That((string?)got["info"]!["run_name"], Is.EqualTo(run.Name));
        Assert.That((long?)got["info"]!["start_time"], Is.EqualTo(RunReader.Open(run.Directory!).Info.StartTime.ToUnixTimeMilliseconds()));
        Assert.That((long?)got["info"]!["end_time"], Is.GreaterThanOrEqualTo((long)got["info"]!["start_time"]!));

        // Every point once, as logged: value, step and the record's time.
        Assert.That(history.Select(p => (long)p["step"]!), Is.EqualTo(logged.Select(r => r.Step)));
        Assert.That(history.Select(p => (double)p["value"]!), Is.EqualTo(logged.Select(r => (double)r.Values["loss"]!)));
        Assert.That(history.Select(p => (long)p["timestamp"]!), Is.EqualTo(logged.Select(r => r.Timestamp.ToUnixTimeMilliseconds())));
        Assert.That(export.Select(p => (long)p![0]!), Is.EqualTo(Enumerable.Range(0, 2500).Select(i => (long)i)), "Tracker's own export of the MLflow run");
        Assert.That((await HistoryAsync(runId, "flag")).Select(p => (double)p["value"]!), Is.EqualTo(new[] { 1.0 }), "a bool is 1");
        Assert.That((await HistoryAsync(runId, "odd")).Select(p => p["value"]!.ToJsonString()), Is.EqualTo(new[] { "\"NaN\"" }));
        Assert.That((await HistoryAsync(runId, "big")).Select(p => p["value"]!.ToJsonString()), Is.EqualTo(new[] { "\"Infinity\"" }));
        Assert.That(await HistoryAsync(runId, "label"), Is.Empty, "text is not a metric");

        var parameters = Pairs(got["data"]!["params"]);
        Assert.That(parameters, Has.Count.EqualTo(153));
        Assert.That(parameters["p007"], Is.EqualTo("7"));
        Assert.That(parameters["lr"], Is.EqualTo("0.001"));
        Assert.That(parameters["optimizer"], Is.EqualTo("adam"));
        Assert.That(parameters["nested/depth"], Is.EqualTo("3"));
        var tags = Pairs(got["data"]!["tags"]);
        Assert.That(tags["team"], Is.EqualTo("vision"));
        Assert.That(tags["baseline"], Is.EqualTo(string.Empty));
        Assert.That(tags["mlflow.note.content"], Is.EqualTo("from the SDK"));
        Assert.That(tags["tracker.run_id"], Is.EqualTo(run.Id));

        // Split within MLflow's limits: 2,500 points take at least 3 requests, 153 params at least 2.
        var batches = recorder.Bodies("runs/log-batch");
        Assert.That(batches.Select(b => b["metrics"]!.AsArray().Count).Sum(), Is.EqualTo(2503), "each point sent once: 2,500 losses, the bool, NaN and infinity; not the text");
        Assert.That(batches.Count(b => b["metrics"]!.AsArray().Count > 0), Is.GreaterThanOrEqualTo(3));
        Assert.That(batches.Count(b => b["params"]!.AsArray().Count > 0), Is.GreaterThanOrEqualTo(2));
        Assert.That(batches, Has.All.Matches<JsonObject>(b => b["metrics"]!.AsArray().Count <= 1000 && b["params"]!.AsArray().Count <= 100 && b["tags"]!.AsArray().Count <= 100
            && b["metrics"]!.AsArray().Count + b["params"]!.AsArray().Count + b["tags"]!.AsArray().Count <= 1000));
        Assert.That(recorder.Failures, Is.Empty);
        Assert.That(DiagnosticsSeen.Where(d => d.Level != DiagnosticLevel.Info), Is.Empty, string.Join("\n", DiagnosticsSeen));
    }

    [Test]
    public async Task Batch_FailingAfterItsFirstRequest_ResumesAfterIt_NoPointTwice()
    {
        var experiment = NewExperimentName();
        var offline = Run.Init(Options(experiment, backend: null, id: $"r{Guid.NewGuid():N}"[..12]));
        for (var step = 0; step < 2500; step++)
        {
            offline.Log(new Dictionary<string, object?> { ["loss"] = step * 0.5 });
        }

        await offline.FinishAsync();

        // Resumed with the backend: the whole backlog comes as one batch, which takes three requests;
        // the second fails once before it reaches the server, and the batch comes again.
        using var recorder = new Recorder { FailMetricsRequest = 2 };
        var backend = new MlflowBackend(Server.BaseUrl, Server.ApiKey, experiment, recorder);
        var options = Options(experiment, backend, id: offline.Id);
        options.Resume = ResumeMode.Must;
        var resumed = Run.Init(options);
        await resumed.FinishAsync();

        var history = await HistoryAsync(backend.MlflowRunId!, "loss");
        Assert.That(recorder.Failures, Has.Count.EqualTo(1), "the injected failure happened");
        Assert.That(history.Select(p => (long)p["step"]!), Is.EqualTo(Enumerable.Range(0, 2500).Select(i => (long)i)), "every point once");
        Assert.That(history.Select(p => (double)p["value"]!), Is.EqualTo(Enumerable.Range(0, 2500).Select(i => i * 0.5)));
        Assert.That(recorder.Bodies("runs/log-batch").Select(b => b["metrics"]!.AsArray().Count).Sum(), Is.EqualTo(2500), "no request sent twice");
        Assert.That((string?)(await GetAsync($"runs/get?run_id={backend.MlflowRunId}"))["run"]!["info"]!["status"], Is.EqualTo("FINISHED"));
    }

    [Test]
    public async Task ResumedRun_LogsIntoTheSameMlflowRun()
    {
        var experiment = NewExperimentName();
        var id = $"r{Guid.NewGuid():N}"[..12];
        var first = new MlflowBackend(Server.BaseUrl, Server.ApiKey, experiment);
        var run = Run.Init(Options(experiment, first, new Dictionary<string, object?> { ["lr"] = 0.1 }, id: id));
        for (var step = 0; step < 10; step++)
        {
            run.Log(new Dictionary<string, object?> { ["loss"] = step });
        }

        await run.FinishAsync();

        var second = new MlflowBackend(Server.BaseUrl, Server.ApiKey, experiment);
        var options = Options(experiment, second, id: id);
        options.Resume = ResumeMode.Must;
        var resumed = Run.Init(options);
        for (var step = 10; step < 20; step++)
        {
            resumed.Log(new Dictionary<string, object?> { ["loss"] = step });
        }

        await resumed.FinishAsync();

        Assert.That(second.MlflowRunId, Is.EqualTo(first.MlflowRunId));
        Assert.That(await SearchAsync(experiment), Is.EqualTo(new[] { first.MlflowRunId }), "no second MLflow run");
        var history = await HistoryAsync(first.MlflowRunId!, "loss");
        Assert.That(history.Select(p => (long)p["step"]!), Is.EqualTo(Enumerable.Range(0, 20).Select(i => (long)i)));
        var got = (await GetAsync($"runs/get?run_id={first.MlflowRunId}"))["run"]!;
        Assert.That((string?)got["info"]!["status"], Is.EqualTo("FINISHED"));
        Assert.That(Pairs(got["data"]!["params"])["lr"], Is.EqualTo("0.1"));
        Assert.That(DiagnosticsSeen.Where(d => d.Level != DiagnosticLevel.Info), Is.Empty, string.Join("\n", DiagnosticsSeen));
    }

    [Test]
    public async Task RefusedAndChangedValues_ReportedOnceAndLeftOut_TheRestArrives()
    {
        var experiment = NewExperimentName();
        using var recorder = new Recorder();
        var backend = new MlflowBackend(Server.BaseUrl, Server.ApiKey, experiment, recorder);
        var run = Run.Init(Options(experiment, backend, new Dictionary<string, object?> { ["long"] = new string('x', 7000), ["ok"] = "1", ["lr"] = 0.1 }));
        for (var step = 0; step < 10; step++)
        {
            run.Log(new Dictionary<string, object?> { ["loss"] = step, ["acc@1"] = 0.5 });
        }

        run.Config["lr"] = 0.2;
        run.Config["new"] = "later";
        run.Log(new Dictionary<string, object?> { ["loss"] = 10 });
        await run.FinishAsync();

        var runId = backend.MlflowRunId!;
        var got = (await GetAsync($"runs/get?run_id={runId}"))["run"]!;
        var warnings = DiagnosticsSeen.Where(d => d.Level == DiagnosticLevel.Warning).Select(d => d.Message).ToList();

        Assert.That(Pairs(got["data"]!["params"]), Is.EqualTo(new Dictionary<string, string> { ["ok"] = "1", ["lr"] = "0.1", ["new"] = "later" }), "the refused param left out, the first lr kept");
        Assert.That((await HistoryAsync(runId, "loss")).Select(p => (long)p["step"]!), Is.EqualTo(Enumerable.Range(0, 11).Select(i => (long)i)));
        Assert.That(await HistoryAsync(runId, "acc@1"), Is.Empty);
        Assert.That((string?)got["info"]!["status"], Is.EqualTo("FINISHED"));
        Assert.That(warnings.Where(m => m.Contains("param 'long'", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(1).And.All.Contains("length limit of 6000"), string.Join("\n", warnings));
        Assert.That(warnings.Where(m => m.Contains("metric 'acc@1'", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(1).And.All.Contains("INVALID_PARAMETER_VALUE"), "reported once, then left out without asking again");
        Assert.That(warnings.Where(m => m.Contains("'lr'", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(1).And.All.Contains("cannot change"));
        Assert.That(recorder.Bodies("runs/log-batch").SelectMany(b => b["metrics"]!.AsArray()).Count(m => (string?)m!["key"] == "loss"), Is.EqualTo(11), "the points refused with acc@1 were sent again without it");
    }

    [Test]
    public void TrackingUri_NotHttp_Refused_PathPrefixKept()
    {
        Assert.That(() => new MlflowBackend(new Uri("file:///tmp/mlruns")), Throws.ArgumentException.With.Message.Contains("not an http or https URL"));
        var backend = new MlflowBackend(new Uri("http://127.0.0.1:5000/prefix/"), "token");
        Assert.That(backend.Name, Is.EqualTo("mlflow"));
        Assert.That(backend.TrackingUri.AbsoluteUri, Is.EqualTo("http://127.0.0.1:5000/prefix/"));
        Assert.That(backend.MlflowRunId, Is.Null);
    }

    internal RunOptions Options(string experiment, IRecordBackend? backend, Dictionary<string, object?>? config = null, string[]? tags = null, string? notes = null, string? id = null)
    {
        var options = new RunOptions
        {
            Project = experiment,
            Dir = Root,
            Mode = RunMode.Offline,
            Id = id,
            Output = TextWriter.Null,
            FinishOnProcessExit = false,
            Config = config,
            Tags = tags,
            Notes = notes,
            Diagnostics = DiagnosticsSeen.Enqueue,
        };
        if (backend is not null)
        {
            options.Backends.Add(backend);
        }

        return options;
    }

    private string NewExperimentName() => $"mlout-{Storage}-{Guid.NewGuid():N}"[..32];

    private async Task<List<string>> SearchAsync(string experiment)
    {
        var response = await Http.PostAsJsonAsync("/api/2.0/mlflow/runs/search", new { experiment_ids = new[] { experiment } });
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        return [.. (body["runs"]?.AsArray() ?? []).Select(r => (string)r!["info"]!["run_id"]!)];
    }

    private async Task<List<JsonNode>> HistoryAsync(string runId, string key) =>
        [.. (await GetAsync($"metrics/get-history?run_id={runId}&metric_key={Uri.EscapeDataString(key)}"))["metrics"]!.AsArray().Select(p => p!)];

    private async Task<JsonObject> GetAsync(string pathAndQuery)
    {
        var response = await Http.GetAsync($"/api/2.0/mlflow/{pathAndQuery}");
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That(response.IsSuccessStatusCode, body.ToJsonString());
        return body;
    }

    private static Dictionary<string, string> Pairs(JsonNode? list) =>
        list!.AsArray().ToDictionary(p => (string)p!["key"]!, p => (string)p!["value"]!);

    /// <summary>Records each request the backend sends (path and JSON body); can fail one log-batch that carries metrics before it is sent.</summary>
    private sealed class Recorder() : DelegatingHandler(new SocketsHttpHandler())
    {
        private readonly ConcurrentQueue<(string Path, JsonObject? Body)> _sent = new();
        private int _metricsRequests;

        /// <summary>The n-th log-batch with metrics (1-based) fails once with a network error, before it reaches the server.</summary>
        public int FailMetricsRequest { get; init; }

        public ConcurrentQueue<string> Failures { get; } = new();

        public List<JsonObject> Bodies(string path) => [.. _sent.Where(s => s.Path.EndsWith(path, StringComparison.Ordinal)).Select(s => s.Body!)];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? null : JsonNode.Parse(await request.Content.ReadAsStringAsync(cancellationToken)) as JsonObject;
            var path = request.RequestUri!.AbsolutePath;
            if (body?["metrics"] is JsonArray { Count: > 0 } && Interlocked.Increment(ref _metricsRequests) == FailMetricsRequest)
            {
                Failures.Enqueue(path);
                throw new HttpRequestException("injected: connection reset");
            }

            var response = await base.SendAsync(request, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                _sent.Enqueue((path, body)); // what the server stored
            }

            return response;
        }
    }
}
