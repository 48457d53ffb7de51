using Tracker.Api;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>
/// One filter grammar, one meaning: <c>tracker ls --filter</c> over run directories and the
/// server's listing over the same runs (logged online, so each is both on disk and on a real
/// SQLite server) answer the same ids; <c>tracker report --filter</c> reports local runs.
/// </summary>
[TestFixture]
public sealed class LocalFilterTests
{
    private const string Project = "filter-agree";
    private ServerProcess _server = null!;
    private string _root = string.Empty;

    /// <summary>Six runs: summary and config keys of both kinds, a key in both, nested config, tags, two states.</summary>
    [OneTimeSetUp]
    public async Task StartServerAndLogRuns()
    {
        _server = await ServerProcess.StartAsync("sqlite");
        _root = Path.Combine(Path.GetTempPath(), "tracker-filter-agree", Guid.NewGuid().ToString("N"));
        for (var i = 0; i < 6; i++)
        {
            var config = new Dictionary<string, object?>
            {
                ["lr"] = 0.01 * (i + 1),
                ["layers"] = i % 2 == 0 ? 10L : "10",
                ["model"] = new Dictionary<string, object?> { ["depth"] = 4L * i },
                ["score"] = 100L,
            };
            if (i != 5)
            {
                config["optimizer"] = i % 3 == 0 ? "sgd" : "adam";
            }

            var run = Run.Init(new RunOptions
            {
                Project = Project, Id = $"f{i}", Name = i == 4 ? "Ärger" : $"run-{i}", Dir = _root, Mode = RunMode.Online,
                BaseUrl = _server.BaseUrl, ApiKey = _server.ApiKey, Output = TextWriter.Null, FinishOnProcessExit = false, SystemMetricsInterval = null,
                Config = config, Tags = i % 2 == 0 ? ["base"] : ["tuned", "gpu"],
            });
            run.Log("val/acc", 0.5 + (0.1 * i));
            run.Log("loss", i == 2 ? double.NaN : 1.0 / (i + 1));
            if (i < 3)
            {
                run.Summary["score"] = i; // the summary's score hides the config's for these runs
            }

            run.Summary["done"] = i != 1;
            run.Summary["note"] = i == 3 ? "kept" : "dropped";
            await run.FinishAsync(exitCode: i == 3 ? 1 : 0);
        }
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [TestCase("summary.val/acc > 0.75", 3)]
    [TestCase("val/acc >= 0.7 and config.optimizer = 'sgd'", 1)]
    [TestCase("config.optimizer != sgd", 3)]
    [TestCase("params.lr < 0.035", 3)]
    [TestCase("lr > 0.025 and lr < 0.045", 2)]
    [TestCase("score = 100", 3)]
    [TestCase("score < 2", 2)]
    [TestCase("config.score = 100", 6)]
    [TestCase("config.layers > 9", 3)]
    [TestCase("config.layers = '10'", 3)]
    [TestCase("config.model/depth >= 8", 4)]
    [TestCase("tag = base", 3)]
    [TestCase("tag != base and tag = gpu", 3)]
    [TestCase("state = failed", 1)]
    [TestCase("state != finished", 1)]
    [TestCase("name > 'run-2'", 3)]
    [TestCase("id >= f3 and id != f4", 2)]
    [TestCase("summary.done = true", 5)]
    [TestCase("loss = NaN", 1)]
    [TestCase("summary.note = kept", 1)]
    [TestCase("start_time > '2000-01-01'", 6)]
    [TestCase("summary.missing = 1", 0)]
    public async Task LsFilter_AnswersTheServersRuns(string filter, int matching)
    {
        using var api = new TrackerApi(_server.BaseUrl, _server.ApiKey);
        var onServer = new List<string>();
        await foreach (var run in api.GetRunsAsync(Project, filter))
        {
            onServer.Add(run.Id);
        }

        var result = await CliProcess.RunAsync(["ls", "--dir", _root, "--project", Project, "--filter", filter]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var local = onServer.Count == 0 ? [] : CliTable.Find(result.Output, "Project").Rows.Select(r => CliTable.Compact(r[1])).ToList();
        Assert.That(local, Is.EquivalentTo(onServer), $"{filter}\n{result}");
        Assert.That(onServer, Has.Count.EqualTo(matching), "the runs are made so that each filter tells some apart");
        if (onServer.Count == 0)
        {
            Assert.That(result.Output, Does.Contain("No run in").And.Contain($"matches '{filter}'"));
        }
    }

    [Test]
    public async Task LsFilter_UnknownKey_IsNamed()
    {
        var result = await CliProcess.RunAsync(["ls", "--dir", _root, "--project", Project, "--filter", "config.optimzer = sgd"]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Error, Does.Contain("no run has 'optimzer'"));
    }

    [Test]
    public async Task LsFilter_Malformed_IsAUsageErrorSayingWhere()
    {
        var result = await CliProcess.RunAsync(["ls", "--dir", _root, "--filter", "lr < 0.1 or lr > 1"]);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Error, Does.Contain("'or' is not supported").And.Contain("character 10"));
    }

    [Test]
    public async Task ReportFilter_Local_ReportsTheMatchingRuns()
    {
        var path = Path.Combine(_root, "report.html");

        var result = await CliProcess.RunAsync(["report", "--dir", _root, "--project", Project, "--filter", "tag = base and val/acc > 0.65", "-o", path]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Error, Does.Contain("2 runs"));
        var html = await File.ReadAllTextAsync(path);
        Assert.That(html, Does.Contain("rger").And.Contain("run-2").And.Not.Contain("run-0").And.Not.Contain("run-3"));
    }

    [Test]
    public async Task ReportFilter_LocalNoMatch_WritesNothingAndSaysSo()
    {
        var path = Path.Combine(_root, "none.html");

        var result = await CliProcess.RunAsync(["report", "--dir", _root, "--project", Project, "--filter", "state = crashed", "-o", path]);

        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.Error, Does.Contain("matches 'state = crashed'"));
        Assert.That(File.Exists(path), Is.False);
    }
}
