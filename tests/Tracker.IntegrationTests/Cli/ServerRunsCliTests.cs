using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary><c>tracker show</c>, <c>export</c> and <c>report</c> with <c>--server</c>: runs read from a real server.</summary>
[TestFixture]
public sealed class ServerRunsCliTests
{
    private const string Project = "cli-query";
    private ServerProcess _server = null!;
    private string _root = string.Empty;
    private readonly List<string> _ids = [];

    /// <summary>Four runs: sgd and adam, finished and failed, logged online.</summary>
    [OneTimeSetUp]
    public async Task StartServerAndLogRuns()
    {
        _server = await ServerProcess.StartAsync("sqlite");
        _root = Path.Combine(Path.GetTempPath(), "tracker-cli-query", Guid.NewGuid().ToString("N"));
        for (var i = 0; i < 4; i++)
        {
            var run = Run.Init(new RunOptions
            {
                Project = Project, Name = $"qrun-{i}-{(i is 1 or 3 ? "match" : "miss")}", Dir = _root, Mode = RunMode.Online,
                BaseUrl = _server.BaseUrl, ApiKey = _server.ApiKey, Output = TextWriter.Null, FinishOnProcessExit = false, SystemMetricsInterval = null,
                Config = new Dictionary<string, object?> { ["optimizer"] = i % 2 == 0 ? "sgd" : "adam", ["big"] = (1L << 53) + 1 },
            });
            double[] losses = [0.1 + 0.2, double.NaN, double.PositiveInfinity, -1e-300, i];
            for (var step = 0; step < losses.Length; step++)
            {
                run.Log("loss", losses[step]);
            }

            run.Summary["verdict"] = "kept";
            await run.FinishAsync(exitCode: i == 3 ? 1 : 0);
            _ids.Add(run.Id);
        }
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Test]
    public async Task Show_Server_PrintsTheServersRun()
    {
        var result = await CliProcess.RunAsync(["show", _ids[0], "--server", _server.BaseUrl.ToString(), "--project", Project]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.Contain("qrun-0-miss").And.Contain("9007199254740993").And.Contain("kept").And.Contain("loss")
            .And.Contain($"#/projects/{Project}/runs/{_ids[0]}"));
    }

    [Test]
    public async Task Show_ServerUnknownRun_SaysSoAndFails()
    {
        var result = await CliProcess.RunAsync(["show", "no-such-run", "--server", _server.BaseUrl.ToString(), "--project", Project]);

        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.Error, Does.Contain("run 'no-such-run' of project 'cli-query'"));
    }

    [TestCase("csv")]
    [TestCase("jsonl")]
    public async Task Export_Server_WritesTheSameFileAsTheRunDirectory(string format)
    {
        var fromServer = Path.Combine(_root, $"server.{format}");
        var fromDirectory = Path.Combine(_root, $"local.{format}");

        var server = await CliProcess.RunAsync(["export", _ids[2], "--format", format, "-o", fromServer, "--server", _server.BaseUrl.ToString(), "--project", Project]);
        var local = await CliProcess.RunAsync(["export", _ids[2], "--format", format, "-o", fromDirectory, "--dir", _root]);

        Assert.That(server.ExitCode, Is.Zero, server.ToString());
        Assert.That(local.ExitCode, Is.Zero, local.ToString());
        var text = await File.ReadAllTextAsync(fromServer);
        Assert.That(text, Is.EqualTo(await File.ReadAllTextAsync(fromDirectory)));
        Assert.That(text, Does.Contain("0.30000000000000004").And.Contain("NaN").And.Contain("Infinity").And.Contain("-1E-300"));
    }

    [Test]
    public async Task Report_ServerProjectFilter_ReportsExactlyTheMatchingRuns()
    {
        var html = Path.Combine(_root, "report.html");

        var result = await CliProcess.RunAsync(["report", "--server", _server.BaseUrl.ToString(), "--project", Project, "--filter", "config.optimizer = 'adam'", "-o", html]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Error, Does.Contain("2 runs"));
        var text = await File.ReadAllTextAsync(html);
        Assert.That(text, Does.Contain("qrun-1-match").And.Contain("qrun-3-match"));
        Assert.That(text, Does.Not.Contain("-miss"));
    }

    [Test]
    public async Task Report_LocalProjectFilter_ReportsTheRunsTheServerMatches()
    {
        var html = Path.Combine(_root, "local-filter.html");

        var result = await CliProcess.RunAsync(["report", "--project", Project, "--dir", _root, "--filter", "config.optimizer = 'adam'", "-o", html]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var text = await File.ReadAllTextAsync(html);
        Assert.That(text, Does.Contain("qrun-1-match").And.Contain("qrun-3-match"));
        Assert.That(text, Does.Not.Contain("-miss"));
    }

    [Test]
    public async Task Report_LocalProject_ReportsEveryRunOfIt()
    {
        var html = Path.Combine(_root, "local.html");

        var result = await CliProcess.RunAsync(["report", "--project", Project, "--dir", _root, "-o", html]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(await File.ReadAllTextAsync(html), Does.Contain("qrun-0-miss").And.Contain("qrun-3-match"));
    }
}
