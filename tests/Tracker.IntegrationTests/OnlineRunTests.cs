using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Reading;

namespace Tracker.IntegrationTests;

/// <summary>SDK → real server process → real SQLite or PostgreSQL, including outages and faults.</summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class OnlineRunTests(string storage)
{
    private ServerProcess _server = null!;
    private string _root = string.Empty;
    private readonly ConcurrentQueue<RunDiagnostic> _diagnostics = new();
    private StringWriter _output = new();

    [OneTimeSetUp]
    public async Task StartServer() => _server = await ServerProcess.StartAsync(storage);

    [OneTimeTearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "tracker-online", Guid.NewGuid().ToString("N"));
        _diagnostics.Clear();
        _output = new StringWriter();
    }

    [TearDown]
    public void DeleteRoot()
    {
        _output.Dispose();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [TestCase(RequestCompression.Auto, Description = "plain bodies: the server is on loopback")]
    [TestCase(RequestCompression.Gzip)]
    public async Task Online_EveryPointIsReadBackThroughTheApiExactlyOnce(RequestCompression compression)
    {
        var options = Options(_server.BaseUrl);
        options.Compression = compression;
        var run = Run.Init(options);
        for (var i = 0; i < 100_000; i++)
        {
            run.Log("train/loss", 1.0 / (i + 3));
            if (i % 1000 == 0)
            {
                run.Log(new Dictionary<string, object?> { ["val/loss"] = i * 0.5, ["val/note"] = "x" }, commit: false);
            }
        }

        run.Config["lr"] = 0.25;
        await run.FinishAsync();

        Assert.That(run.Statistics.LinesUnsynced, Is.Zero);
        var loss = await ExportAsync(run, "train/loss");
        Assert.That(loss.Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, 100_000).Select(i => (long)i)));
        Assert.That(loss.Select(p => p.Value), Is.EqualTo(Enumerable.Range(0, 100_000).Select(i => 1.0 / (i + 3))));
        Assert.That(await ExportAsync(run, "val/loss"), Has.Count.EqualTo(100));
        var stored = await GetRunAsync(run);
        Assert.That((string?)stored["state"], Is.EqualTo("finished"));
        Assert.That((double)stored["config"]!["lr"]!, Is.EqualTo(0.25));
        Assert.That((string?)stored["summary"]!["val/note"], Is.EqualTo("x"));
        Assert.That((long)stored["acked_seq"]!, Is.EqualTo(RunReader.Open(run.Directory!).ReadRecords().Last().Seq));
        Assert.That(SyncJson(run)["synced"]!.GetValue<bool>(), Is.True);
    }

    [Test]
    public async Task Online_MediaReachTheServerByteForByte_AndReadBackInStepOrder()
    {
        var run = Run.Init(Options(_server.BaseUrl));
        var pixels = Enumerable.Range(0, 16 * 8 * 3).Select(i => (byte)(i * 5)).ToArray();
        var same = Image.FromPixels(pixels, 16, 8, 3, caption: "the same image each step");
        for (var step = 0; step < 5; step++)
        {
            pixels[0] = (byte)step;
            run.Log(new Dictionary<string, object?>
            {
                ["loss"] = 1.0 / (step + 1),
                ["samples"] = Image.FromPixels(pixels, 16, 8, 3, caption: $"step {step}"),
                ["fixed"] = same,
                ["weights"] = Histogram.FromValues([step, step + 1.0, step + 2.0, double.NaN], bins: 2),
            });
        }

        run.Log("predictions", new Table(["id", "label"], [[1, "cat"], [2, "dog"]]));
        run.Log("note", new Text("done </script>"));
        await run.FinishAsync();
        Assert.That(run.Statistics.LinesUnsynced, Is.Zero);

        using var http = _server.Client();
        var keys = (await http.GetFromJsonAsync<JsonArray>($"{RunUrl(run)}/media"))!;
        Assert.That(keys.Select(k => ((string?)k!["key"], (string?)k["kind"], (long)k["count"]!)), Is.EquivalentTo(new[]
        {
            ("fixed", "image", 5L), ("note", "text", 1L), ("predictions", "table", 1L), ("samples", "image", 5L), ("weights", "histogram", 5L),
        }));

        var local = RunReader.Open(run.Directory!).ReadMedia().ToList();
        foreach (var key in new[] { "samples", "fixed", "predictions" })
        {
            var items = (await http.GetFromJsonAsync<JsonObject>($"{RunUrl(run)}/media?key={key}"))!["items"]!.AsArray();
            var expected = local.Where(m => m.Key == key).OrderBy(m => m.Step).ToList();
            Assert.That(items.Select(i => (long)i!["step"]!), Is.EqualTo(expected.Select(m => m.Step)), key);
            for (var i = 0; i < items.Count; i++)
            {
                var media = items[i]!["media"]!;
                Assert.That((bool)media["available"]!, Is.True, key);
                using var blob = await http.GetAsync(new Uri(_server.BaseUrl, (string)media["url"]!));
                Assert.That(blob.Content.Headers.ContentType?.MediaType, Is.EqualTo(key == "predictions" ? "application/json" : "image/png"));
                Assert.That(await blob.Content.ReadAsByteArrayAsync(), Is.EqualTo(await File.ReadAllBytesAsync(expected[i].FilePath!)), $"{key} at step {expected[i].Step}");
            }
        }

        var histograms = (await http.GetFromJsonAsync<JsonObject>($"{RunUrl(run)}/media?key=weights"))!["items"]!.AsArray();
        Assert.That(histograms[4]!["media"]!["bins"]!.AsArray().Select(b => (double)b!), Is.EqualTo(new[] { 4.0, 5, 6 }));
        Assert.That(histograms[4]!["media"]!["counts"]!.AsArray().Select(c => (long)c!), Is.EqualTo(new[] { 1L, 2 }));
        Assert.That((long)histograms[4]!["media"]!["nan"]!, Is.EqualTo(1));
        var text = (await http.GetFromJsonAsync<JsonObject>($"{RunUrl(run)}/media?key=note"))!["items"]!.AsArray();
        Assert.That((string?)text[0]!["media"]!["text"], Is.EqualTo("done </script>"));
        Assert.That(_diagnostics.Where(d => d.Level == DiagnosticLevel.Error), Is.Empty);
    }

    [Test]
    public async Task ServerKilledMidRun_RestartedFiveSecondsLater_EveryPointStoredOnceWithBoundedMemory()
    {
        var server = await ServerProcess.StartAsync(storage);
        await using var _ = server;
        var options = Options(server.BaseUrl, server.ApiKey);
        options.FinishTimeout = TimeSpan.FromMinutes(3);
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var run = Run.Init(options);
        const int Points = 1_000_000;
        long peakLive = 0;
        var logging = Task.Run(() =>
        {
            for (var i = 0; i < Points; i++)
            {
                run.Log("loss", i * 0.25);
                if (i % 10_000 == 0)
                {
                    Thread.Sleep(1); // spread the run over the outage
                }

                if (i % 100_000 == 99_999)
                {
                    // What the process holds, not garbage a busy machine has not collected yet.
                    peakLive = Math.Max(peakLive, GC.GetTotalMemory(forceFullCollection: true));
                }
            }
        });

        await WaitForAsync(async () => await AckedAsync(server, run) > 0, "the server acknowledged some records");
        server.Kill();
        await Task.Delay(TimeSpan.FromSeconds(5));
        await server.StartAsync();
        await logging;
        await run.FinishAsync();

        Assert.That(run.Statistics.LinesUnsynced, Is.Zero);
        var metrics = await server.Client().GetFromJsonAsync<JsonArray>($"{RunUrl(run)}/metrics");
        Assert.That((long)metrics!.Single(m => (string?)m!["key"] == "loss")!["count"]!, Is.EqualTo(Points), "system/* metrics may be there too: the run lasts over 10 s");
        var points = await ExportAsync(run, "loss", server);
        Assert.That(points.Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, Points).Select(i => (long)i)));
        Assert.That(points.Select(p => p.Value), Is.EqualTo(Enumerable.Range(0, Points).Select(i => i * 0.25)));
        // The run holds its queue (MaxQueuedRecords entries, a few MiB), a write batch (MaxBatchBytes, 8 MiB) and
        // one request being sent; the points logged during the outage wait in the file, not in memory.
        Assert.That(peakLive - before, Is.LessThan(64L * 1024 * 1024), "the client's live memory stays bounded whatever the outage's length");
    }

    [TestCase(503)]
    [TestCase(429)]
    public async Task ServerAnswersWithRetryAfterForAWhile_SdkWaitsAsToldAndCatchesUp(int status)
    {
        await using var proxy = await FaultProxy.StartAsync(_server.BaseUrl);
        proxy.Fail(status, TimeSpan.FromSeconds(1));
        var options = Options(proxy.BaseUrl);
        options.FinishTimeout = TimeSpan.FromMinutes(1);
        var run = Run.Init(options);
        for (var i = 0; i < 10_000; i++)
        {
            run.Log("loss", i);
        }

        await Task.Delay(TimeSpan.FromSeconds(3));
        var faultedDuringOutage = proxy.Faulted;
        proxy.Heal();
        await run.FinishAsync();

        Assert.That(faultedDuringOutage, Is.InRange(1, 6), "about one attempt per Retry-After second, not a retry storm");
        Assert.That(run.Statistics.LinesUnsynced, Is.Zero);
        Assert.That(await ExportAsync(run, "loss"), Has.Count.EqualTo(10_000));
    }

    [Test]
    public async Task ServerDownForTheWholeRun_FinishReturnsWithinBudget_RunCompleteLocallyAndUnsynced()
    {
        var nobody = new Uri($"http://127.0.0.1:{Postgres.FreePort()}");
        var options = Options(nobody);
        options.FinishTimeout = TimeSpan.FromSeconds(3);
        var run = Run.Init(options);
        for (var i = 0; i < 10_000; i++)
        {
            run.Log("loss", i);
        }

        var watch = Stopwatch.StartNew();
        await run.FinishAsync();
        watch.Stop();

        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), "generous: Finish gives up after its 3 s budget");
        Assert.That(RunReader.Open(run.Directory!).ReadHistory().Count(), Is.EqualTo(10_000));
        Assert.That(RunReader.Open(run.Directory!).Info.State, Is.EqualTo(RunStates.Finished));
        Assert.That(run.Statistics.LinesUnsynced, Is.GreaterThan(0));
        Assert.That(SyncJson(run)["synced"]!.GetValue<bool>(), Is.False);
        Assert.That(_output.ToString(), Does.Contain("tracker sync"));
    }

    [Test]
    public async Task BadApiKey_IsAClearErrorAndTheRunStillLogsLocally()
    {
        var options = Options(_server.BaseUrl, apiKey: "trk_wrong");
        options.FinishTimeout = TimeSpan.FromSeconds(5);
        var run = Run.Init(options);
        run.Log("loss", 1);
        await run.FinishAsync();

        Assert.That(_diagnostics.Where(d => d.Level == DiagnosticLevel.Error).Select(d => d.Message), Has.Some.Contains("API key"));
        Assert.That(RunReader.Open(run.Directory!).ReadHistory().Count(), Is.EqualTo(1));
        Assert.That((await _server.Client().GetAsync(RunUrl(run))).StatusCode, Is.EqualTo(System.Net.HttpStatusCode.NotFound));
    }

    private RunOptions Options(Uri baseUrl, string? apiKey = null) => new()
    {
        Project = "online",
        Dir = _root,
        Mode = RunMode.Online,
        BaseUrl = baseUrl,
        ApiKey = apiKey ?? _server.ApiKey,
        Output = _output,
        Diagnostics = _diagnostics.Enqueue,
        FinishOnProcessExit = false,
        FinishTimeout = TimeSpan.FromSeconds(60),
    };

    private static string RunUrl(Run run) => $"/api/v1/projects/{run.Project}/runs/{run.Id}";

    private async Task<JsonObject> GetRunAsync(Run run) => (await _server.Client().GetFromJsonAsync<JsonObject>(RunUrl(run)))!;

    private static async Task<long> AckedAsync(ServerProcess server, Run run)
    {
        var response = await server.Client().GetAsync(RunUrl(run));
        return response.IsSuccessStatusCode ? (long)(await response.Content.ReadFromJsonAsync<JsonObject>())!["acked_seq"]! : 0;
    }

    private async Task<List<(long Step, double Value)>> ExportAsync(Run run, string key, ServerProcess? server = null)
    {
        using var http = (server ?? _server).Client();
        var points = new List<(long, double)>();
        string after = string.Empty;
        while (true)
        {
            var page = (await http.GetFromJsonAsync<JsonObject>($"{RunUrl(run)}/export?key={Uri.EscapeDataString(key)}&limit=100000{after}"))!;
            points.AddRange(page["points"]!.AsArray().Select(p => ((long)p![0]!, (double)p[2]!)));
            if (page["next_after_step"] is not { } next)
            {
                return points;
            }

            after = $"&after_step={(long)next}";
        }
    }

    private static JsonObject SyncJson(Run run) => JsonNode.Parse(File.ReadAllText(Path.Combine(run.Directory!, "sync.json")))!.AsObject();

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"timed out waiting until {what}");
    }
}
