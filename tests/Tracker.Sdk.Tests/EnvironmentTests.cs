namespace Tracker.Tests;

[NonParallelizable]
public sealed class EnvironmentTests : RunTestBase
{
    private static readonly string[] Variables = ["TRACKER_PROJECT", "TRACKER_MODE", "TRACKER_DIR", "TRACKER_RUN_ID", "TRACKER_RESUME", "TRACKER_BASE_URL", "TRACKER_API_KEY"];

    [TearDown]
    public void ClearVariables()
    {
        foreach (var name in Variables)
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Test]
    public void Init_FallsBackToEnvironmentVariables()
    {
        Environment.SetEnvironmentVariable("TRACKER_PROJECT", "from-env");
        Environment.SetEnvironmentVariable("TRACKER_DIR", Root);
        Environment.SetEnvironmentVariable("TRACKER_RUN_ID", "env-run");
        var run = Run.Init(new RunOptions { Output = Output, FinishOnProcessExit = false });
        run.Finish();

        Assert.That(run.Project, Is.EqualTo("from-env"));
        Assert.That(run.Id, Is.EqualTo("env-run"));
        Assert.That(run.Mode, Is.EqualTo(RunMode.Offline));
        Assert.That(run.Directory, Is.EqualTo(Path.Combine(Root, "from-env", "env-run")));

        Environment.SetEnvironmentVariable("TRACKER_RESUME", "allow");
        var resumed = Run.Init(new RunOptions { Output = Output, FinishOnProcessExit = false });
        Assert.That(resumed.Directory, Is.EqualTo(run.Directory));
        resumed.Finish();
    }

    [Test]
    public void Init_ArgumentsWinOverEnvironmentVariables()
    {
        Environment.SetEnvironmentVariable("TRACKER_PROJECT", "from-env");
        Environment.SetEnvironmentVariable("TRACKER_MODE", "disabled");
        var run = Run.Init(Options());

        Assert.That(run.Project, Is.EqualTo("tests"));
        Assert.That(run.Mode, Is.EqualTo(RunMode.Disabled));
        run.Finish();
    }

    [Test]
    public void Init_InvalidEnvironmentValues_ThrowClearErrors()
    {
        Environment.SetEnvironmentVariable("TRACKER_MODE", "sometimes");
        Assert.That(() => Run.Init(Options()), Throws.ArgumentException.With.Message.Contains("TRACKER_MODE='sometimes' is not valid; use one of: online, offline, disabled"));
        Environment.SetEnvironmentVariable("TRACKER_MODE", null);

        Environment.SetEnvironmentVariable("TRACKER_BASE_URL", "not a url");
        Assert.That(() => Run.Init(Options()), Throws.ArgumentException.With.Message.Contains("TRACKER_BASE_URL"));
    }

    [TestCase("../escape")]
    [TestCase("a/b")]
    [TestCase("")]
    public void Init_IdThatIsNotAFolderName_Throws(string id)
    {
        var options = Options();
        options.Id = id;

        Assert.That(() => Run.Init(options), Throws.ArgumentException.With.Message.Contains("names a folder"));
    }

    [Test]
    public void Init_GeneratesIdAndFriendlyName()
    {
        var run = Run.Init(Options());
        run.Finish();

        Assert.That(run.Id, Does.Match("^[a-z0-9]{8}$"));
        Assert.That(run.Name, Does.Match("^[a-z]+-[a-z]+-1$"));
    }

    [Test]
    public void Init_OnlineModeFromEnvironmentWithoutBaseUrl_Throws()
    {
        Environment.SetEnvironmentVariable("TRACKER_MODE", "online");

        Assert.That(() => Run.Init(Options()), Throws.ArgumentException.With.Message.Contains("Online mode needs a Tracker server"));
    }

    [Test]
    public async Task Init_BaseUrlAndApiKeyFromEnvironment_RunOnlineAgainstThatServer()
    {
        Environment.SetEnvironmentVariable("TRACKER_BASE_URL", "http://from-env.test:5080");
        Environment.SetEnvironmentVariable("TRACKER_API_KEY", "trk_env");
        using var server = new FakeTrackerServer(TimeProvider.System);
        var options = Options();
        options.HttpHandler = server;
        var run = Run.Init(options);
        run.Log("x", 1);
        await run.FinishAsync();

        Assert.That(run.Mode, Is.EqualTo(RunMode.Online));
        Assert.That(server.Requests.Select(r => r.Uri.Authority), Has.All.EqualTo("from-env.test:5080"));
        Assert.That(server.Requests.Select(r => r.Authorization), Has.All.EqualTo("Bearer trk_env"));
        Assert.That(server.Stored, Is.EqualTo(File.ReadAllLines(Path.Combine(run.Directory!, "records.jsonl"))));
    }
}
