using System.Diagnostics;
using System.Text.Json;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Format;
using Tracker.Reading;

namespace Tracker.IntegrationTests;

/// <summary><c>tracker run -- COMMAND</c> on real programs: a shell script and a .NET program with the SDK inside.</summary>
public sealed class RunCommandTests
{
    private string _root = string.Empty;

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "tracker-run", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
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
    public async Task ShellScriptExitingZero_OneFinishedRunWithBothStreamsInItsOutput()
    {
        var result = await CliProcess.RunAsync(["run", "--dir", _root, "--project", "p", "--tag", "a", "--tag", "b", "--", "sh", "-c", "echo hello; echo oops >&2; exit 0"]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.Contain("hello"), "passed through to the terminal");
        Assert.That(result.Error, Does.Contain("oops"));
        var run = RunReader.Open(OnlyRun());
        Assert.That(run.ReadState().Finish?.State, Is.EqualTo(RunStates.Finished));
        Assert.That(Output(run), Is.SupersetOf(new[] { ("stdout", "hello"), ("stderr", "oops") }));
        Assert.That(run.Info.CommandLine, Is.EqualTo("sh -c \"echo hello; echo oops >&2; exit 0\""));
        Assert.That(run.Info.Tags, Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public async Task ExitCodeThree_RunFailedWithExitCodeThreeAndTrackerExitsThree()
    {
        var result = await CliProcess.RunAsync(["run", "--dir", _root, "--", "sh", "-c", "exit 3"]);

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        var finish = RunReader.Open(OnlyRun()).ReadState().Finish;
        Assert.That(finish?.State, Is.EqualTo(RunStates.Failed));
        Assert.That(finish?.ExitCode, Is.EqualTo(3));
    }

    [Test]
    public async Task SecretInTheCommand_RecordedRedacted()
    {
        var result = await CliProcess.RunAsync(["run", "--dir", _root, "--", "sh", "-c", "exit 0", "--api-key", "hunter2"]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(RunReader.Open(OnlyRun()).Info.CommandLine, Is.EqualTo("sh -c \"exit 0\" --api-key ***"));
    }

    [Test]
    public async Task ProgramNotFound_RunFailedWith127AndAMessageNamingIt()
    {
        var result = await CliProcess.RunAsync(["run", "--dir", _root, "--", "no-such-program-here"]);

        Assert.That(result.ExitCode, Is.EqualTo(127), result.ToString());
        Assert.That(result.Error, Does.Contain("cannot start 'no-such-program-here'"));
        Assert.That(RunReader.Open(OnlyRun()).ReadState().Finish?.ExitCode, Is.EqualTo(127));
    }

    [Test]
    public async Task SigintToTrackerRun_ProgramStoppedRunKilledExit130()
    {
        await using var cli = CliProcess.Start(["run", "--dir", _root, "--", "sh", "-c", "echo started; exec sleep 60"]);
        await cli.WaitForLineAsync(line => line == "started", TimeSpan.FromSeconds(30));
        var sleeper = ChildOf(cli.Pid);

        using (var kill = Process.Start("kill", ["-INT", cli.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        var exitCode = await cli.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.That(exitCode, Is.EqualTo(130), cli.Error);
        Assert.That(Running(sleeper), Is.False, "the program was stopped");
        var finish = RunReader.Open(OnlyRun()).ReadState().Finish;
        Assert.That(finish?.State, Is.EqualTo(RunStates.Killed));
        Assert.That(finish?.ExitCode, Is.EqualTo(130));
    }

    [Test]
    public async Task SigintToTrackerRun_ProgramThatSavesForSecondsFirst_RunKeepsItsOutputAndEnd()
    {
        // A training program that writes a checkpoint on Ctrl+C: tracker run waits for it and then records the end.
        await using var cli = CliProcess.Start(["run", "--dir", _root, "--", "sh", "-c",
            "trap 'sleep 3; echo checkpoint saved; exit 0' INT; echo started; while :; do sleep 0.1; done"]);
        await cli.WaitForLineAsync(line => line == "started", TimeSpan.FromSeconds(30));

        using (var kill = Process.Start("kill", ["-INT", cli.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        var exitCode = await cli.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.That(exitCode, Is.EqualTo(130), cli.Error);
        var run = RunReader.Open(OnlyRun());
        Assert.That(run.ReadState().Finish?.State, Is.EqualTo(RunStates.Killed), "the end is recorded after the program's last seconds");
        Assert.That(Output(run), Does.Contain(("stdout", "checkpoint saved")));
    }

    [Test]
    public async Task DotnetProgramWithTheSdk_JoinsTheSameRun()
    {
        var app = TestAppDll;
        Assert.That(File.Exists(app), Is.True, $"test app not built at {app}");

        var result = await CliProcess.RunAsync(["run", "--dir", _root, "--project", "p", "--", "dotnet", app, "joined", "unused", "5"]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var runs = Directory.GetDirectories(_root, "*", SearchOption.AllDirectories).Where(d => File.Exists(Path.Combine(d, RunFiles.RunFile))).ToList();
        Assert.That(runs, Has.Count.EqualTo(1), "one run directory");
        var run = RunReader.Open(runs[0]);
        Assert.That(run.ReadHistory().Select(r => r.Values["loss"]).Count(), Is.EqualTo(5), "the program's points");
        Assert.That(Output(run), Does.Contain(("stdout", "logged")), "its output, kept while the program held the run");
        Assert.That(run.ReadState().Finish?.State, Is.EqualTo(RunStates.Finished));
        Assert.That(File.Exists(Path.Combine(runs[0], RunFiles.HandoffFile)), Is.False);
    }

    [Test]
    public async Task Online_DotnetProgramWithTheSdk_OneRunOnTheServerWithItsPointsAndState()
    {
        var app = TestAppDll;
        await using var server = await ServerProcess.StartAsync("sqlite");
        var environment = new Dictionary<string, string> { ["TRACKER_BASE_URL"] = server.BaseUrl.ToString(), ["TRACKER_API_KEY"] = server.ApiKey! };

        var result = await CliProcess.RunAsync(["run", "--dir", _root, "--project", "online-run", "--", "dotnet", app, "joined", "unused", "5"], environment);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var id = Path.GetFileName(OnlyRun());
        using var api = new Tracker.Api.TrackerApi(server.BaseUrl, server.ApiKey);
        var runs = new List<Tracker.Api.ApiRun>();
        await foreach (var run in api.GetRunsAsync("online-run"))
        {
            runs.Add(run);
        }

        Assert.That(runs.Select(r => r.Info.Id), Is.EqualTo(new[] { id }), "tracker run and the SDK inside it made one run on the server");
        Assert.That(runs[0].State, Is.EqualTo(RunStates.Finished));
        var losses = new List<double>();
        await foreach (var point in runs[0].GetHistoryAsync("loss"))
        {
            losses.Add(point.Value);
        }

        Assert.That(losses, Is.EqualTo(Enumerable.Range(0, 5).Select(i => 1.0 / (i + 3))), "the program's points, exactly");
    }

    private static List<(string Stream, string Line)> Output(RunReader run) =>
        run.ReadRecords().Where(r => r.Type == "output").Select(r =>
        {
            using var json = JsonDocument.Parse(r.Json);
            return (json.RootElement.GetProperty("stream").GetString()!, json.RootElement.GetProperty("line").GetString()!);
        }).ToList();

    private static bool Running(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>The program tracker run started (Linux: /proc).</summary>
    private static int ChildOf(int pid) =>
        int.Parse(File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries).Single(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The test program that uses the SDK, built in this build's configuration (Debug or Release).</summary>
    private static string TestAppDll => Path.Combine(Repository.Root, "tests", "Tracker.TestApp", "bin",
        Path.GetFileName(Path.GetDirectoryName(AppContext.BaseDirectory.TrimEnd('/'))!), "net10.0", "Tracker.TestApp.dll");

    private string OnlyRun()
    {
        var runs = Directory.GetDirectories(_root, "*", SearchOption.AllDirectories).Where(d => File.Exists(Path.Combine(d, RunFiles.RunFile))).ToList();
        Assert.That(runs, Has.Count.EqualTo(1));
        return runs[0];
    }
}
