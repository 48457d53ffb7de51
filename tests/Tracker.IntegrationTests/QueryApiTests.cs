using Tracker.Api;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Reading;

namespace Tracker.IntegrationTests;

/// <summary>Runs logged online to a real server, read back through the public <see cref="TrackerApi"/>.</summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class QueryApiTests(string storage)
{
    private ServerProcess _server = null!;
    private string _root = string.Empty;

    [OneTimeSetUp]
    public async Task StartServer() => _server = await ServerProcess.StartAsync(storage);

    [OneTimeTearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [SetUp]
    public void CreateRoot() => _root = Path.Combine(Path.GetTempPath(), "tracker-query", Guid.NewGuid().ToString("N"));

    [TearDown]
    public void DeleteRoot()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Test]
    public async Task GetRun_ConfigSummaryAndHistory_ReadBackExactly()
    {
        var run = Run.Init(Options("exact", config: new { big = (1L << 53) + 1, lr = 0.1 + 0.2, optimizer = "sgd" }));
        double[] losses = [0.1 + 0.2, double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1e-300, -0.0, 1.0 / 3];
        for (var i = 0; i < 25; i++)
        {
            run.Log(new Dictionary<string, object?> { ["loss"] = losses[i % losses.Length] }, step: i * 10L);
            if (i % 5 == 0)
            {
                run.Log("val/acc", i / 100.0, step: i * 10L);
            }
        }

        run.Summary["note"] = "best so far";
        await run.FinishAsync();

        using var api = new TrackerApi(_server.BaseUrl);
        var read = await api.GetRunAsync("exact", run.Id);
        Assert.That(read.Id, Is.EqualTo(run.Id));
        Assert.That(read.State, Is.EqualTo(RunStates.Finished));
        Assert.That(read.Config["big"], Is.TypeOf<long>().And.EqualTo((1L << 53) + 1));
        Assert.That(read.Config["lr"], Is.TypeOf<double>().And.EqualTo(0.1 + 0.2));
        Assert.That(read.Config["optimizer"], Is.EqualTo("sgd"));
        Assert.That(read.Summary["note"], Is.EqualTo("best so far"));
        Assert.That(read.Summary["val/acc"], Is.EqualTo(0.2));

        // Several pages of 7: every point once, in step order, bit for bit.
        var points = await ToListAsync(read.GetHistoryAsync("loss", pageSize: 7));
        Assert.That(points.Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, 25).Select(i => i * 10L)));
        Assert.That(points.Select(p => BitConverter.DoubleToInt64Bits(p.Value)),
            Is.EqualTo(Enumerable.Range(0, 25).Select(i => BitConverter.DoubleToInt64Bits(losses[i % losses.Length]))));

        var rows = await ToListAsync(read.GetHistoryRowsAsync());
        Assert.That(rows.Select(r => r.Step), Is.EqualTo(Enumerable.Range(0, 25).Select(i => i * 10L)));
        Assert.That(rows.Where(r => r.Values.ContainsKey("val/acc")).Select(r => (r.Step, r.Values["val/acc"])),
            Is.EqualTo(new[] { (0L, (object?)0.0), (50L, 0.05), (100L, 0.1), (150L, 0.15), (200L, 0.2) }));
        Assert.That(rows.All(r => r.Values.ContainsKey("loss")), Is.True);
        Assert.That(rows[2].Values["loss"], Is.EqualTo(double.PositiveInfinity));
        Assert.That(await read.GetHistoryKeysAsync(), Is.SupersetOf(new[] { "loss", "val/acc" }));
        Assert.That(await ToListAsync(read.GetHistoryAsync("never-logged")), Is.Empty);
    }

    [Test]
    public async Task GetRuns_PagesAndFilters_ByStateTagConfigAndSummary()
    {
        var project = "filters-" + Guid.NewGuid().ToString("N")[..8];
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var options = Options(project, config: new { optimizer = i % 2 == 0 ? "sgd" : "adam", layers = i });
            options.Tags = i < 2 ? ["baseline"] : ["sweep"];
            var run = Run.Init(options);
            run.Log("acc", i / 10.0);
            await run.FinishAsync(exitCode: i == 4 ? 1 : 0);
            ids.Add(run.Id);
        }

        using var api = new TrackerApi(_server.BaseUrl);
        async Task<string[]> IdsAsync(string? filter) =>
            [.. (await ToListAsync(api.GetRunsAsync(project, filter, sort: "config.layers", pageSize: 2))).Select(r => r.Id)];

        Assert.That(await IdsAsync(null), Is.EqualTo(ids), "five runs over three pages, in the sort's order");
        Assert.That(await IdsAsync("state = failed"), Is.EqualTo(new[] { ids[4] }));
        Assert.That(await IdsAsync("tag = baseline"), Is.EqualTo(ids.Take(2)));
        Assert.That(await IdsAsync("config.optimizer = 'adam'"), Is.EqualTo(new[] { ids[1], ids[3] }));
        Assert.That(await IdsAsync("summary.acc >= 0.2 and state = finished"), Is.EqualTo(new[] { ids[2], ids[3] }));
        var listed = (await api.GetProjectsAsync()).Single(p => p.Name == project);
        Assert.That(listed.RunCount, Is.EqualTo(5));
    }

    [Test]
    public async Task GetRuns_MalformedFilter_SaysWhatIsWrong()
    {
        using var api = new TrackerApi(_server.BaseUrl);
        var error = Assert.ThrowsAsync<TrackerApiException>(async () => await ToListAsync(api.GetRunsAsync("exact", "summary.acc >")));
        Assert.That(error!.StatusCode, Is.EqualTo(400));
        Assert.That(error.Message, Does.Contain("refused the request").And.Contain("filter"));
    }

    [Test]
    public async Task GetRun_UnknownOrDeletedRun_Is404NamingTheRun()
    {
        var run = Run.Init(Options("gone"));
        run.Log("loss", 1.0);
        await run.FinishAsync();
        using var api = new TrackerApi(_server.BaseUrl);
        Assert.That((await api.GetRunAsync("gone", run.Id)).Id, Is.EqualTo(run.Id));
        using (var http = _server.Client(_server.ApiKey))
        {
            (await http.DeleteAsync($"/api/v1/projects/gone/runs/{run.Id}")).EnsureSuccessStatusCode();
        }

        foreach (var id in new[] { run.Id, "no-such-run" })
        {
            var error = Assert.ThrowsAsync<TrackerApiException>(() => api.GetRunAsync("gone", id));
            Assert.That(error!.StatusCode, Is.EqualTo(404));
            Assert.That(error.Message, Does.Contain($"run '{id}' of project 'gone'").And.Contain("GetRunsAsync"));
        }
    }

    [Test]
    public async Task GetMedia_FilesComeBackByteForByte()
    {
        var run = Run.Init(Options("media"));
        var pixels = Enumerable.Range(0, 4 * 4 * 3).Select(i => (byte)(i * 7)).ToArray();
        var image = Image.FromPixels(pixels, 4, 4, 3, caption: "tiny");
        run.Log("samples", image, step: 3);
        run.Log("note", new Text("hello"), step: 4);
        await run.FinishAsync();

        using var api = new TrackerApi(_server.BaseUrl);
        var read = await api.GetRunAsync("media", run.Id);
        var media = await read.GetMediaAsync();
        Assert.That(media.Select(m => (m.Key, m.Kind, m.Step)), Is.EquivalentTo(new[] { ("samples", "image", 3L), ("note", "text", 4L) }));
        var png = media.Single(m => m.Kind == "image");
        var local = RunReader.Open(run.Directory!).ReadMedia("samples").Single();
        Assert.That(await read.GetFileAsync(png), Is.EqualTo(File.ReadAllBytes(local.FilePath!)));
        Assert.Throws<ArgumentException>(() => read.GetFileAsync(media.Single(m => m.Kind == "text")));
    }

    [Test]
    public void Api_ServerNotRunning_SaysHowToReachIt()
    {
        using var api = new TrackerApi(new Uri($"http://127.0.0.1:{Postgres.FreePort()}"));
        var error = Assert.ThrowsAsync<TrackerApiException>(() => api.GetProjectsAsync());
        Assert.That(error!.StatusCode, Is.Null);
        Assert.That(error.Message, Does.Contain("Could not reach the Tracker server").And.Contain("tracker serve"));
    }

    [Test]
    public async Task Api_ServerThatAsksForKeys_401SaysHowToGiveOne()
    {
        await using var closed = await ServerProcess.StartAsync(storage, "--Tracker:ReadAccess=key");
        using var anonymous = new TrackerApi(closed.BaseUrl, apiKey: null);
        var error = Assert.ThrowsAsync<TrackerApiException>(() => anonymous.GetProjectsAsync());
        Assert.That(error!.StatusCode, Is.EqualTo(401));
        Assert.That(error.Message, Does.Contain("TRACKER_API_KEY").And.Contain("tracker login"));

        using var keyed = new TrackerApi(closed.BaseUrl, closed.ApiKey);
        Assert.That(await keyed.GetProjectsAsync(), Is.Empty);
    }

    private RunOptions Options(string project, object? config = null) => new()
    {
        Project = project,
        Config = config,
        Dir = _root,
        Mode = RunMode.Online,
        BaseUrl = _server.BaseUrl,
        ApiKey = _server.ApiKey,
        Output = TextWriter.Null,
        FinishOnProcessExit = false,
        FinishTimeout = TimeSpan.FromSeconds(60),
        SystemMetricsInterval = null,
    };

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }

        return list;
    }
}
