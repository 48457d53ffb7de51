using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Tracker.Format;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Reading;

namespace Tracker.IntegrationTests;

/// <summary>
/// One record format and one meaning: the golden corpus folds to the same state in the run format,
/// the SDK's reader and resume, the server (SQLite and PostgreSQL) and the tracker command; values keep
/// their type through the server; system samples continue across resume; an oversized line is never an outage.
/// </summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class FormatAgreementTests(string storage)
{
    private static readonly Dictionary<string, object?> ExpectedSummary = new(StringComparer.Ordinal)
    {
        ["loss"] = 2.0, ["epoch"] = 3L, ["val/acc"] = 0.75, ["word"] = "NaN", ["flag"] = true, ["grad"] = 1.5,
        ["count"] = 11L, ["huge"] = 18446744073709551615UL, ["label"] = "cat", ["best_model"] = "v3",
    };

    private static readonly Dictionary<string, object?> ExpectedConfig = new(StringComparer.Ordinal)
    {
        ["lr"] = 0.0005, ["layers"] = new List<object?> { 64L, 32L }, ["seed"] = 9007199254740993L, ["max"] = 18446744073709551615UL,
        ["activation"] = "NaN", ["name"] = "resnet", ["pretrained"] = true,
    };

    private ServerProcess _server = null!;
    private string _root = string.Empty;
    private readonly ConcurrentQueue<RunDiagnostic> _diagnostics = new();

    [OneTimeSetUp]
    public async Task StartServer() => _server = await ServerProcess.StartAsync(storage);

    [OneTimeTearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "tracker-format", Guid.NewGuid().ToString("N"));
        _diagnostics.Clear();
    }

    [TearDown]
    public void DeleteRoot()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Test]
    public async Task Corpus_EveryConsumerReadsAndFoldsItTheSame()
    {
        var id = "corpus" + Guid.NewGuid().ToString("N")[..8];
        var directory = WriteCorpusRun(id);

        // The SDK's reader.
        var reader = RunReader.Open(directory);
        var state = reader.ReadState();
        Assert.That(state.Summary.Snapshot(), Is.EquivalentTo(ExpectedSummary), "RunReader");
        Assert.That(state.Config, Is.EquivalentTo(ExpectedConfig), "RunReader");
        Assert.That(reader.SkippedLines, Is.Zero);

        // The server, fed the same lines over HTTP.
        using var http = _server.Client(_server.ApiKey);
        var runUrl = $"/api/v1/projects/corpus/runs/{id}";
        (await http.PutAsync(runUrl, new ByteArrayContent(File.ReadAllBytes(Path.Combine(directory, "run.json"))) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } })).EnsureSuccessStatusCode();
        var records = new ByteArrayContent(File.ReadAllBytes(Path.Combine(directory, "records.jsonl")));
        records.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        var append = await http.PostAsync($"{runUrl}/records", records);
        Assert.That(append.IsSuccessStatusCode, Is.True, await append.Content.ReadAsStringAsync());
        var stored = (await http.GetFromJsonAsync<JsonObject>(runUrl))!;
        Assert.That(Plain(stored["summary"]!), Is.EquivalentTo(ExpectedSummary), "server");
        Assert.That(Plain(stored["config"]!), Is.EquivalentTo(ExpectedConfig), "server");
        Assert.That(stored["summary"]!.AsObject().Select(p => p.Key), Has.None.StartsWith("_"), "the fold's state is not part of the answer");
        Assert.That((string?)stored["state"], Is.EqualTo("finished"));

        // The SDK resuming the run.
        var resumed = Run.Init(new RunOptions { Project = "corpus", Id = id, Dir = _root, Resume = ResumeMode.Must, Output = TextWriter.Null, FinishOnProcessExit = false, Capture = EnvironmentCapture.None });
        Assert.That(resumed.Summary.ToDictionary(p => p.Key, p => p.Value), Is.EquivalentTo(ExpectedSummary), "resume");
        Assert.That(resumed.Config.ToDictionary(p => p.Key, p => p.Value), Is.EquivalentTo(ExpectedConfig), "resume");
        Assert.That(resumed.Step, Is.EqualTo(10), "steps holding only media count");
        await resumed.FinishAsync();

        // The tracker command.
        var show = await CliProcess.RunAsync(["show", id, "--dir", _root]);
        Assert.That(show.ExitCode, Is.Zero, show.ToString());
        Assert.That(show.Output, Does.Contain("[64, 32]").And.Contain("18446744073709551615").And.Contain("9007199254740993"));
        Assert.That(show.Output, Does.Not.Contain("System.Collections"));
    }

    [Test]
    public async Task ListsInConfig_PrintAsLists_InShowAndTheReport()
    {
        using (var run = Run.Init(new RunOptions { Project = "lists", Id = "layers", Dir = _root, Config = new { layers = new[] { 64, 32 } }, Output = TextWriter.Null, FinishOnProcessExit = false }))
        {
            run.Log("loss", 0.5);
        }

        var show = await CliProcess.RunAsync(["show", "layers", "--dir", _root]);
        Assert.That(show.Output, Does.Contain("[64, 32]"), show.ToString());
        var html = Path.Combine(_root, "report.html");
        var report = await CliProcess.RunAsync(["report", "layers", "--dir", _root, "-o", html]);
        Assert.That(report.ExitCode, Is.Zero, report.ToString());
        Assert.That(await File.ReadAllTextAsync(html), Does.Contain("<td>[64, 32]</td>").And.Not.Contain("System.Collections"));
    }

    [Test]
    public async Task TextNaNAndExactIntegers_KeepTheirTypeOnTheServer()
    {
        var options = Options("types");
        options.Config = new { activation = "NaN", max = ulong.MaxValue, seed = 9007199254740993L, layers = new[] { 64, 32 } };
        var run = Run.Init(options);
        run.Log(new Dictionary<string, object?> { ["word"] = "NaN", ["x"] = double.NaN, ["count"] = 9007199254740993L });
        await run.FinishAsync();

        var stored = (await _server.Client().GetFromJsonAsync<JsonObject>($"/api/v1/projects/agreement/runs/{run.Id}"))!;
        var summary = Plain(stored["summary"]!);
        var config = Plain(stored["config"]!);
        Assert.That(summary["word"], Is.EqualTo("NaN").And.TypeOf<string>());
        Assert.That((double)summary["x"]!, Is.NaN);
        Assert.That(summary["count"], Is.EqualTo(9007199254740993L));
        Assert.That(config["activation"], Is.EqualTo("NaN").And.TypeOf<string>());
        Assert.That(config["max"], Is.EqualTo(ulong.MaxValue));
        Assert.That(config["seed"], Is.EqualTo(9007199254740993L));
        Assert.That(config["layers"], Is.EqualTo(new List<object?> { 64L, 32L }));
    }

    [Test]
    public async Task SystemSamples_ContinueAcrossResume_AndAreAllReadableThroughThePagedExport()
    {
        var options = Options("system");
        options.SystemMetricsInterval = TimeSpan.FromMilliseconds(300);
        var run = Run.Init(options);
        await Task.Delay(1500);
        await run.FinishAsync();

        var again = Options("system");
        again.Id = run.Id;
        again.Resume = ResumeMode.Must;
        again.SystemMetricsInterval = TimeSpan.FromMilliseconds(300);
        var resumed = Run.Init(again);
        await Task.Delay(1500);
        await resumed.FinishAsync();

        var local = RunReader.Open(run.Directory!).ReadRecords().Where(r => r.Type == "system")
            .Select(r => (long)JsonNode.Parse(r.Json)!["step"]!).ToList();
        Assert.That(local, Has.Count.GreaterThanOrEqualTo(6), "about five samples in each 1.5 s");
        Assert.That(local, Is.EqualTo(Enumerable.Range(0, local.Count).Select(i => (long)i)), "numbered 0..N without repeats");

        var exported = await ExportStepsAsync(run.Id, "system/memory_rss_mb");
        Assert.That(exported, Is.EqualTo(local), "every sample readable through the server's paged export");
    }

    [Test]
    public async Task OneLineOverTheServersBodyLimit_IsSkippedThere_AndEverythingAfterItArrives()
    {
        await using var small = await ServerProcess.StartAsync(storage, "--Tracker:MaxBodyBytes=1048576");
        var options = Options("limits");
        options.BaseUrl = small.BaseUrl;
        options.ApiKey = small.ApiKey;
        var run = Run.Init(options);
        for (var i = 0; i < 100; i++)
        {
            run.Log("before", i);
        }

        run.Flush(TimeSpan.FromSeconds(30));
        run.Log(new Dictionary<string, object?> { ["dump"] = new string('x', 2 * 1024 * 1024) });
        for (var i = 0; i < 100; i++)
        {
            run.Log("after", i);
        }

        await run.FinishAsync();

        Assert.That(run.Statistics.LinesUnsynced, Is.Zero);
        var stored = (await small.Client().GetFromJsonAsync<JsonObject>($"/api/v1/projects/agreement/runs/{run.Id}"))!;
        Assert.That((string?)stored["state"], Is.EqualTo("finished"));
        Assert.That(await ExportStepsAsync(run.Id, "after", small), Has.Count.EqualTo(100));
        Assert.That(_diagnostics.Where(d => d.Level == DiagnosticLevel.Error).Select(d => d.Message), Has.Some.Contains("MaxBodyBytes"));
        Assert.That(RunReader.Open(run.Directory!).ReadHistory().Any(r => r.Values.ContainsKey("dump")), Is.True, "the line stays in the run directory");
    }

    private RunOptions Options(string _) => new()
    {
        Project = "agreement",
        Dir = _root,
        Mode = RunMode.Online,
        BaseUrl = _server.BaseUrl,
        ApiKey = _server.ApiKey,
        Output = TextWriter.Null,
        Diagnostics = _diagnostics.Enqueue,
        FinishOnProcessExit = false,
        FinishTimeout = TimeSpan.FromSeconds(60),
    };

    /// <summary>The valid corpus as a run directory: run.json and records.jsonl.</summary>
    private string WriteCorpusRun(string id)
    {
        var directory = Path.Combine(_root, "corpus", id);
        Directory.CreateDirectory(directory);
        var lines = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Corpus", "valid"), "*.jsonl").Order(StringComparer.Ordinal).Select(File.ReadAllText);
        File.WriteAllText(Path.Combine(directory, "records.jsonl"), string.Concat(lines));
        File.WriteAllText(Path.Combine(directory, "run.json"),
            $$"""{"id":"{{id}}","project":"corpus","name":"corpus","config":{},"start_time":"2026-11-29T00:00:00+00:00","state":"finished"}""");
        return directory;
    }

    /// <summary>A JSON answer's values as the format's plain values.</summary>
    private static Dictionary<string, object?> Plain(JsonNode node) =>
        (Dictionary<string, object?>)RecordValue.FromJson(System.Text.Json.JsonDocument.Parse(node.ToJsonString()).RootElement)!;

    private async Task<List<long>> ExportStepsAsync(string runId, string key, ServerProcess? server = null)
    {
        using var http = (server ?? _server).Client();
        var steps = new List<long>();
        var after = string.Empty;
        while (true)
        {
            var page = (await http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/agreement/runs/{runId}/export?key={Uri.EscapeDataString(key)}&limit=2{after}"))!;
            steps.AddRange(page["points"]!.AsArray().Select(p => (long)p![0]!));
            if (page["next_after_step"] is not { } next)
            {
                return steps;
            }

            after = $"&after_step={(long)next}";
        }
    }
}
