using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.Format;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>
/// Which run the server is hearing from, against a real server process with a short
/// <c>Tracker:CrashedAfter</c>: a silent run reads as crashed until it is heard again, an idle SDK
/// run's heartbeats keep it running, and a new run reusing a stored run's id is refused (409)
/// rather than merged into it.
/// </summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class RunIdentityTests(string storage)
{
    private static readonly TimeSpan CrashedAfter = TimeSpan.FromSeconds(2);

    private ServerProcess _server = null!;
    private string _root = string.Empty;
    private readonly ConcurrentQueue<RunDiagnostic> _diagnostics = new();

    [OneTimeSetUp]
    public async Task StartServer() => _server = await ServerProcess.StartAsync(storage, $"--Tracker:CrashedAfter={CrashedAfter:c}");

    [OneTimeTearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "tracker-identity", Guid.NewGuid().ToString("N"));
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
    public async Task SilentRun_ReadsAsCrashed_AndAnAppendOrHeartbeatMakesItRunningAgain()
    {
        using var http = _server.Client();
        var url = "/api/v1/projects/liveness/runs/silent1";
        Assert.That((await http.PutAsync(url, Json("""{"name":"silent","start_time":"2026-01-01T00:00:00+00:00","state":"running"}"""))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        await AppendAsync(http, url, """{"seq":1,"type":"history","step":0,"ts":1767225600000,"values":{"loss":1.0}}""");
        Assert.That(await StateAsync(http, url), Is.EqualTo("running"));

        await Task.Delay(CrashedAfter + TimeSpan.FromSeconds(1));
        Assert.That(await StateAsync(http, url), Is.EqualTo("crashed"), "unheard for longer than Tracker:CrashedAfter");
        var crashed = (await http.GetFromJsonAsync<JsonArray>("/api/v1/projects/liveness/runs?state=crashed"))!;
        Assert.That(crashed.Select(r => (string?)r!["id"]), Does.Contain("silent1"), "the runs list filters by the state it shows");

        await AppendAsync(http, url, """{"seq":2,"type":"history","step":1,"ts":1767225601000,"values":{"loss":0.5}}""");
        Assert.That(await StateAsync(http, url), Is.EqualTo("running"), "a record brings it back");

        await Task.Delay(CrashedAfter + TimeSpan.FromSeconds(1));
        Assert.That(await StateAsync(http, url), Is.EqualTo("crashed"));
        var beat = await http.PostAsync($"{url}/heartbeat", null);
        Assert.That(beat.StatusCode, Is.EqualTo(HttpStatusCode.OK), await beat.Content.ReadAsStringAsync());
        Assert.That((long)(await beat.Content.ReadFromJsonAsync<JsonObject>())!["acked_seq"]!, Is.EqualTo(2));
        Assert.That(await StateAsync(http, url), Is.EqualTo("running"), "a heartbeat brings it back");

        using var anonymous = _server.Client(key: string.Empty);
        Assert.That((await anonymous.PostAsync($"{url}/heartbeat", null)).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "heartbeats need the key appends need");
        Assert.That((await http.PostAsync("/api/v1/projects/liveness/runs/nosuchrun/heartbeat", null)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task IdleSdkRun_SendsHeartbeats_AndStaysRunning()
    {
        var options = Options();
        options.HeartbeatInterval = TimeSpan.FromMilliseconds(300);
        var run = Run.Init(options);
        run.Log("loss", 1.0);
        using var http = _server.Client();

        // Idle for well over CrashedAfter: only heartbeats are heard.
        await Task.Delay(CrashedAfter * 3);

        Assert.That(await StateAsync(http, RunUrl(run)), Is.EqualTo("running"));
        await run.FinishAsync();
        Assert.That(await StateAsync(http, RunUrl(run)), Is.EqualTo("finished"));
        Assert.That(_diagnostics.Where(d => d.Level >= DiagnosticLevel.Warning), Is.Empty);
    }

    [Test]
    public async Task FreshRunReusingAStoredId_IsRefusedWith409_AndTheStoredRunIsUnchanged()
    {
        var first = await LoggedRunAsync(Path.Combine(_root, "a"), "reused1", points: 10, offset: 0);
        using var http = _server.Client();
        var before = await http.GetFromJsonAsync<JsonObject>(RunUrl(first));

        // Another machine, or a deleted run directory: same id, a new run.
        var second = await LoggedRunAsync(Path.Combine(_root, "b"), "reused1", points: 20, offset: 100);

        var error = _diagnostics.SingleOrDefault(d => d.Level == DiagnosticLevel.Error);
        Assert.That(error?.Message, Does.Contain("reused1").And.Contain("another run").And.Contain("pick another id"), string.Join("\n", _diagnostics.Select(d => d.Message)));
        var after = (await http.GetFromJsonAsync<JsonObject>(RunUrl(first)))!;
        Assert.That((long)after["acked_seq"]!, Is.EqualTo((long)before!["acked_seq"]!));
        Assert.That((string?)after["start_time"], Is.EqualTo((string?)before["start_time"]));
        Assert.That(await ExportAsync(http, RunUrl(first), "loss"), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (double)i)), "the first run's points, none of the second's");
        Assert.That(second.Statistics.LinesUnsynced, Is.GreaterThan(0), "the second run is not counted as synced");
        Assert.That(File.ReadAllText(Path.Combine(second.Directory!, "sync.json")), Does.Not.Contain("\"synced\": true").And.Not.Contain("\"synced\":true"));

        // The answer itself: a problem naming the id.
        var runJson = JsonNode.Parse(File.ReadAllText(Path.Combine(second.Directory!, "run.json")))!.ToJsonString();
        var refused = await http.PutAsync(RunUrl(first), Json(runJson));
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        Assert.That(refused.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        var problem = (await refused.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That((string?)problem["detail"], Does.Contain("'reused1'").And.Contain("pick another id"));
        Assert.That((string?)problem["field"], Is.EqualTo("id"));
    }

    [Test]
    public async Task TrackerSyncOfAFreshRunReusingAStoredId_FailsSayingToResumeOrPickAnotherId()
    {
        var first = await LoggedRunAsync(Path.Combine(_root, "a"), "reused2", points: 10, offset: 0);
        var offlineDir = Path.Combine(_root, "offline");
        var offline = Run.Init(new RunOptions { Project = "identity", Id = "reused2", Dir = offlineDir, Mode = RunMode.Offline, FinishOnProcessExit = false, Output = TextWriter.Null });
        for (var i = 0; i < 5; i++)
        {
            offline.Log("loss", 500.0 + i);
        }

        await offline.FinishAsync();
        using var http = _server.Client();

        var result = await CliProcess.RunAsync(["sync", offlineDir, "--server", _server.BaseUrl.ToString(), "--api-key", _server.ApiKey], timeout: TimeSpan.FromSeconds(90));

        Assert.That(result.ExitCode, Is.Not.Zero, result.ToString());
        Assert.That(result.Output + result.Error, Does.Contain("reused2").And.Contain("pick another id"), result.ToString());
        Assert.That(await ExportAsync(http, RunUrl(first), "loss"), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (double)i)));
    }

    [Test]
    public async Task ResumedRun_FromItsOwnDirectory_IsTheSameRunAndIsAccepted()
    {
        var dir = Path.Combine(_root, "a");
        await LoggedRunAsync(dir, "resumed1", points: 10, offset: 0);

        var resumed = await LoggedRunAsync(dir, "resumed1", points: 5, offset: 10, resume: ResumeMode.Allow);

        Assert.That(_diagnostics.Where(d => d.Level >= DiagnosticLevel.Warning), Is.Empty, string.Join("\n", _diagnostics.Select(d => d.Message)));
        Assert.That(resumed.Statistics.LinesUnsynced, Is.Zero);
        using var http = _server.Client();
        Assert.That(await ExportAsync(http, RunUrl(resumed), "loss"), Is.EqualTo(Enumerable.Range(0, 15).Select(i => (double)i)));
    }

    [Test]
    public async Task ResumedRun_WhoseLocalTailWasLostAfterTheServerHadIt_NumbersAfterTheServerAndLosesNothing()
    {
        var dir = Path.Combine(_root, "a");
        var first = await LoggedRunAsync(dir, "tail1", points: 20, offset: 0);
        Assert.That(first.Statistics.LinesUnsynced, Is.Zero);

        // The machine went down before the file's tail reached the disk: the server holds lines the file lost.
        var records = Path.Combine(first.Directory!, RunFiles.RecordsFile);
        var lines = File.ReadAllLines(records);
        File.WriteAllLines(records, lines[..(lines.Length / 2)]);

        var resumed = await LoggedRunAsync(dir, "tail1", points: 5, offset: 100, resume: ResumeMode.Allow);

        Assert.That(_diagnostics.Select(d => d.Message), Has.Some.Contains("tail was lost").And.Some.Contains("tail1"));
        Assert.That(resumed.Statistics.LinesUnsynced, Is.Zero);
        using var http = _server.Client();
        var stored = await ExportAsync(http, RunUrl(resumed), "loss");
        Assert.That(stored, Is.EqualTo(Enumerable.Range(0, 20).Select(i => (double)i).Concat(Enumerable.Range(100, 5).Select(i => (double)i))),
            "the server kept the first run's points and stored every new one: none was taken for a replay");
    }

    [Test]
    public async Task ResumedRun_WhoseTailAndSyncJsonWereLost_NumbersAfterTheServerOnceItAnswers()
    {
        var dir = Path.Combine(_root, "a");
        var first = await LoggedRunAsync(dir, "tail2", points: 20, offset: 0);
        var records = Path.Combine(first.Directory!, RunFiles.RecordsFile);
        File.WriteAllLines(records, File.ReadAllLines(records)[..1]);
        File.Delete(Path.Combine(first.Directory!, RunFiles.SyncFile));

        var options = Options();
        options.Dir = dir;
        options.Id = "tail2";
        options.Resume = ResumeMode.Allow;
        var resumed = Run.Init(options);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!_diagnostics.Any(d => d.Message.Contains("lost its tail", StringComparison.Ordinal)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50); // the sender connects; nothing is logged before the server answers
        }

        for (var i = 0; i < 5; i++)
        {
            resumed.Log("loss", 100 + i);
        }

        await resumed.FinishAsync();

        Assert.That(_diagnostics.Select(d => d.Message), Has.Some.Contains("lost its tail").And.Some.Contains("tail2"));
        Assert.That(resumed.Statistics.LinesUnsynced, Is.Zero);
        using var http = _server.Client();
        Assert.That(await ExportAsync(http, RunUrl(resumed), "loss"),
            Is.EqualTo(Enumerable.Range(0, 20).Select(i => (double)i).Concat(Enumerable.Range(100, 5).Select(i => (double)i))),
            "the points logged after the server answered are numbered after what it holds, so none is taken for a replay");
    }

    private async Task<Run> LoggedRunAsync(string dir, string id, int points, int offset, ResumeMode? resume = null)
    {
        var options = Options();
        options.Dir = dir;
        options.Id = id;
        options.Resume = resume;
        var run = Run.Init(options);
        for (var i = 0; i < points; i++)
        {
            run.Log("loss", offset + i);
        }

        await run.FinishAsync();
        return run;
    }

    private RunOptions Options() => new()
    {
        Project = "identity",
        Dir = _root,
        Mode = RunMode.Online,
        BaseUrl = _server.BaseUrl,
        ApiKey = _server.ApiKey,
        Output = TextWriter.Null,
        Diagnostics = _diagnostics.Enqueue,
        FinishOnProcessExit = false,
        FinishTimeout = TimeSpan.FromSeconds(30),
    };

    private static string RunUrl(Run run) => $"/api/v1/projects/{run.Project}/runs/{run.Id}";

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task AppendAsync(HttpClient http, string url, string line)
    {
        var response = await http.PostAsync($"{url}/records", new StringContent(line + "\n", Encoding.UTF8, "application/x-ndjson"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }

    private static async Task<string?> StateAsync(HttpClient http, string url) => (string?)(await http.GetFromJsonAsync<JsonObject>(url))!["state"];

    private static async Task<List<double>> ExportAsync(HttpClient http, string url, string key)
    {
        var page = (await http.GetFromJsonAsync<JsonObject>($"{url}/export?key={key}&limit=100000"))!;
        return page["points"]!.AsArray().Select(p => (double)p![2]!).ToList();
    }
}
