using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Reading;

namespace Tracker.IntegrationTests;

/// <summary>
/// <c>tracker init</c>, <c>login</c>, <c>logout</c> and <c>sync</c> as users chain them: the real
/// command against a real server over SQLite, and runs started through the SDK in a folder holding
/// the settings. The credentials file lives in a temporary config folder (XDG_CONFIG_HOME and HOME
/// of the child process, and of this process while a test runs), never in the real home.
/// </summary>
[NonParallelizable] // changes this process's working directory and environment while a test runs
public sealed class LoginAndSettingsTests
{
    private static readonly string[] Variables = ["TRACKER_PROJECT", "TRACKER_DIR", "TRACKER_BASE_URL", "TRACKER_API_KEY", "TRACKER_MODE", "XDG_CONFIG_HOME", "HOME"];

    private ServerProcess _server = null!;
    private string _root = string.Empty;
    private string _config = string.Empty;
    private Dictionary<string, string?> _saved = [];
    private string _savedDirectory = string.Empty;

    [OneTimeSetUp]
    public async Task StartServer() => _server = await ServerProcess.StartAsync("sqlite");

    [OneTimeTearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "tracker-login", Guid.NewGuid().ToString("N"));
        _config = Path.Combine(_root, "config");
        Directory.CreateDirectory(Path.Combine(_root, "home"));
        _saved = Variables.ToDictionary(v => v, Environment.GetEnvironmentVariable);
        _savedDirectory = Environment.CurrentDirectory;
        foreach (var variable in Variables)
        {
            Environment.SetEnvironmentVariable(variable, null);
        }

        Environment.SetEnvironmentVariable("XDG_CONFIG_HOME", _config);
        Environment.SetEnvironmentVariable("HOME", Path.Combine(_root, "home"));
    }

    [TearDown]
    public void DeleteRoot()
    {
        Environment.CurrentDirectory = _savedDirectory;
        foreach (var (variable, value) in _saved)
        {
            Environment.SetEnvironmentVariable(variable, value);
        }

        Directory.Delete(_root, recursive: true);
    }

    private string CredentialsFile => Path.Combine(_config, "tracker", "credentials.json");

    private Dictionary<string, string> ChildEnvironment(params (string Name, string Value)[] more)
    {
        var environment = new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = _config, ["HOME"] = Path.Combine(_root, "home") };
        foreach (var (name, value) in more)
        {
            environment[name] = value;
        }

        return environment;
    }

    [Test]
    public async Task Init_WritesTrackerJson_RunStartedInASubfolderUsesItsProjectAndDir()
    {
        var project = Directory.CreateDirectory(Path.Combine(_root, "work")).FullName;
        var init = await CliProcess.RunAsync(["init", "--project", "mnist", "--dir", "runs"], ChildEnvironment(), workingDirectory: project);
        Assert.That(init.ExitCode, Is.Zero, init.ToString());
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(project, "tracker.json")))!.AsObject();
        Assert.That((string?)file["project"], Is.EqualTo("mnist"));
        Assert.That((string?)file["dir"], Is.EqualTo("runs"));
        Assert.That(file.ContainsKey("server"), Is.False, "no server given, none written: runs stay offline");

        // Found from a subfolder, as git finds .git; dir is relative to the file's folder.
        var sub = Directory.CreateDirectory(Path.Combine(project, "src", "train")).FullName;
        Environment.CurrentDirectory = sub;
        var run = Run.Init(new RunOptions { PrintSummary = false, FinishOnProcessExit = false, Output = TextWriter.Null });
        run.Log("loss", 0.5);
        run.Finish();

        Assert.That(run.Project, Is.EqualTo("mnist"));
        Assert.That(run.Directory, Is.EqualTo(Path.Combine(project, "runs", "mnist", run.Id)));
        var ls = await CliProcess.RunAsync(["ls"], ChildEnvironment(), workingDirectory: sub);
        Assert.That(ls.ExitCode, Is.Zero, ls.ToString());
        Assert.That(ls.Output, Does.Contain(run.Id), "the command finds the runs where tracker.json puts them");
    }

    [Test]
    public async Task Init_ExistingFile_RefusedWithoutForceAndLeftAsItWas()
    {
        var path = Path.Combine(_root, "tracker.json");
        var first = await CliProcess.RunAsync(["init", "--project", "first"], ChildEnvironment(), workingDirectory: _root);
        Assert.That(first.ExitCode, Is.Zero, first.ToString());
        var before = File.ReadAllText(path);

        var again = await CliProcess.RunAsync(["init", "--project", "second"], ChildEnvironment(), workingDirectory: _root);
        Assert.That(again.ExitCode, Is.EqualTo(1), again.ToString());
        Assert.That(again.FirstErrorLine, Does.Contain("already exists").And.Contain("--force"));
        Assert.That(File.ReadAllText(path), Is.EqualTo(before));

        var forced = await CliProcess.RunAsync(["init", "--project", "second", "--server", _server.BaseUrl.ToString(), "--force"], ChildEnvironment(), workingDirectory: _root);
        Assert.That(forced.ExitCode, Is.Zero, forced.ToString());
        var file = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        Assert.That((string?)file["project"], Is.EqualTo("second"));
        Assert.That((string?)file["server"], Is.EqualTo(_server.BaseUrl.ToString()));
    }

    [Test]
    public async Task Init_InvalidProjectName_RefusedAndNothingWritten()
    {
        var result = await CliProcess.RunAsync(["init", "--project", "no spaces/here"], ChildEnvironment(), workingDirectory: _root);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.FirstErrorLine, Does.Contain("--project"));
        Assert.That(File.Exists(Path.Combine(_root, "tracker.json")), Is.False);
    }

    [Test]
    public void Settings_EnvironmentVariableBeatsTheFileAndAnOptionBeatsBoth()
    {
        File.WriteAllText(Path.Combine(_root, "tracker.json"), """{"project": "from-file", "dir": "file-runs"}""");
        Environment.CurrentDirectory = _root;
        Environment.SetEnvironmentVariable("TRACKER_PROJECT", "from-env");

        var fromEnv = Offline(new RunOptions());
        var fromOption = Offline(new RunOptions { Project = "from-option" });

        Assert.That(fromEnv.Project, Is.EqualTo("from-env"));
        Assert.That(fromEnv.Directory, Does.StartWith(Path.Combine(_root, "file-runs")), "the file's dir still applies where nothing else sets one");
        Assert.That(fromOption.Project, Is.EqualTo("from-option"));
    }

    [Test]
    public void Settings_InvalidFile_InitNamesTheFileAndTheProblem()
    {
        File.WriteAllText(Path.Combine(_root, "tracker.json"), """{"projcet": "typo"}""");
        Environment.CurrentDirectory = _root;

        var error = Assert.Throws<ArgumentException>(() => Offline(new RunOptions()));

        Assert.That(error!.Message, Does.Contain(Path.Combine(_root, "tracker.json")).And.Contain("'projcet' is not a setting"));
    }

    [Test]
    public async Task Login_GoodKey_StoredForTheOwnerOnlyAndUsedByAnOnlineRunAndTheCli()
    {
        var login = await CliProcess.RunAsync(["login", _server.BaseUrl.ToString(), "--key", _server.ApiKey], ChildEnvironment());

        Assert.That(login.ExitCode, Is.Zero, login.ToString());
        Assert.That(login.Output, Does.Contain("Logged in").And.Contain("'tests'"));
        if (!OperatingSystem.IsWindows()) // Windows has no Unix modes; the file sits in the user's own profile there
        {
            Assert.That(File.GetUnixFileMode(CredentialsFile), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(File.GetUnixFileMode(Path.GetDirectoryName(CredentialsFile)!), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
        }

        Assert.That(File.ReadAllText(CredentialsFile), Does.Contain(_server.ApiKey));

        // No key given anywhere: the run sends with the stored one.
        var run = Run.Init(new RunOptions
        {
            Project = "login", BaseUrl = _server.BaseUrl, Dir = Path.Combine(_root, "runs"),
            PrintSummary = false, FinishOnProcessExit = false, Output = TextWriter.Null,
        });
        run.Log("loss", 0.25);
        run.Finish();
        Assert.That(run.Statistics.LinesUnsynced, Is.Zero);
        using var http = _server.Client();
        var stored = await http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/login/runs/{run.Id}");
        Assert.That((string?)stored!["state"], Is.EqualTo("finished"));

        // And the command: an offline run synced with no --api-key.
        var offline = Offline(new RunOptions { Project = "login", Dir = Path.Combine(_root, "offline") });
        var sync = await CliProcess.RunAsync(["sync", offline.Directory!, "--server", _server.BaseUrl.ToString()], ChildEnvironment(), timeout: TimeSpan.FromSeconds(90));
        Assert.That(sync.ExitCode, Is.Zero, sync.ToString());
        Assert.That(await AckedAsync("login", offline.Id), Is.EqualTo(LastSeq(offline)));
    }

    [Test]
    public async Task Ls_ServerWhoseReadsNeedAKey_UsesTheStoredKey()
    {
        await using var closed = await ServerProcess.StartAsync("sqlite", "--Tracker:ReadAccess=key");
        var withoutLogin = await CliProcess.RunAsync(["ls", "--server", closed.BaseUrl.ToString()], ChildEnvironment());
        Assert.That(withoutLogin.ExitCode, Is.EqualTo(1), withoutLogin.ToString());

        var login = await CliProcess.RunAsync(["login", closed.BaseUrl.ToString(), "--key", closed.ApiKey], ChildEnvironment());
        Assert.That(login.ExitCode, Is.Zero, login.ToString());
        var ls = await CliProcess.RunAsync(["ls", "--server", closed.BaseUrl.ToString()], ChildEnvironment());

        Assert.That(ls.ExitCode, Is.Zero, ls.ToString());
    }

    [Test]
    public async Task Login_KeyPipedOnStdin_Stored()
    {
        var login = await CliProcess.RunAsync(["login", _server.BaseUrl.ToString()], ChildEnvironment(), input: _server.ApiKey + "\n");

        Assert.That(login.ExitCode, Is.Zero, login.ToString());
        Assert.That(File.ReadAllText(CredentialsFile), Does.Contain(_server.ApiKey));
    }

    [Test]
    public async Task Login_WrongKey_RefusedAndNothingStored()
    {
        var login = await CliProcess.RunAsync(["login", _server.BaseUrl.ToString(), "--key", "trk_not-a-key"], ChildEnvironment());

        Assert.That(login.ExitCode, Is.EqualTo(1), login.ToString());
        Assert.That(login.FirstErrorLine, Does.Contain("refused the key").And.Contain("nothing was stored"));
        Assert.That(File.Exists(CredentialsFile), Is.False);
    }

    [Test]
    public async Task Login_NoServerThere_SaysItCannotReachItAndStoresNothing()
    {
        var url = $"http://127.0.0.1:{Postgres.FreePort()}";
        var login = await CliProcess.RunAsync(["login", url, "--key", _server.ApiKey], ChildEnvironment());

        Assert.That(login.ExitCode, Is.EqualTo(1), login.ToString());
        Assert.That(login.FirstErrorLine, Does.Contain("Could not reach a Tracker server").And.Contain("Nothing was stored"));
        Assert.That(File.Exists(CredentialsFile), Is.False);
    }

    [Test]
    public async Task Logout_RemovesTheKey_SyncThenSaysNoApiKeyAndHowToLogIn()
    {
        var login = await CliProcess.RunAsync(["login", _server.BaseUrl.ToString(), "--key", _server.ApiKey], ChildEnvironment());
        Assert.That(login.ExitCode, Is.Zero, login.ToString());

        var logout = await CliProcess.RunAsync(["logout", _server.BaseUrl.ToString()], ChildEnvironment());

        Assert.That(logout.ExitCode, Is.Zero, logout.ToString());
        Assert.That(File.ReadAllText(CredentialsFile), Does.Not.Contain(_server.ApiKey));
        var run = Offline(new RunOptions { Project = "nokey", Dir = Path.Combine(_root, "runs") });
        var sync = await CliProcess.RunAsync(["sync", run.Directory!, "--server", _server.BaseUrl.ToString()], ChildEnvironment(), timeout: TimeSpan.FromSeconds(90));
        Assert.That(sync.ExitCode, Is.EqualTo(1), sync.ToString());
        var table = CliTable.Find(sync.Output, "Run");
        var state = table.Words(table.Row("Run", $"nokey/{run.Id}"), "State");
        Assert.That(state, Does.Contain(CliTable.Compact("no API key")).And.Contain(CliTable.Compact("tracker login")), sync.ToString());
        Assert.That(state, Does.Not.Contain(CliTable.Compact("refused")));
        Assert.That(await AckedAsync("nokey", run.Id), Is.Zero, "nothing was sent without a key");
    }

    [Test]
    public async Task Sync_NoServerGiven_SendsTheRunToTheServerItsSyncJsonNames()
    {
        var dir = Path.Combine(_root, "runs");
        var run = Offline(new RunOptions { Project = "advice", Dir = dir });
        var first = await CliProcess.RunAsync(["sync", run.Directory!, "--server", _server.BaseUrl.ToString(), "--api-key", _server.ApiKey], ChildEnvironment(), timeout: TimeSpan.FromSeconds(90));
        Assert.That(first.ExitCode, Is.Zero, first.ToString());
        var syncedBefore = LastSeq(run);

        // More logged after that sync (as a run that lost its server logs on), then the printed advice, as printed.
        var resumed = Offline(new RunOptions { Project = "advice", Dir = dir, Id = run.Id, Resume = ResumeMode.Must });
        var advice = await CliProcess.RunAsync(["sync", resumed.Directory!], ChildEnvironment(("TRACKER_API_KEY", _server.ApiKey)), timeout: TimeSpan.FromSeconds(90));

        Assert.That(advice.ExitCode, Is.Zero, advice.ToString());
        Assert.That(await AckedAsync("advice", run.Id), Is.EqualTo(LastSeq(resumed)).And.GreaterThan(syncedBefore));
    }

    /// <summary>An offline run that logs one point and finishes.</summary>
    private static Run Offline(RunOptions options)
    {
        options.Mode = RunMode.Offline;
        options.PrintSummary = false;
        options.FinishOnProcessExit = false;
        options.Output = TextWriter.Null;
        var run = Run.Init(options);
        run.Log("loss", 0.5);
        run.Finish();
        return run;
    }

    private static long LastSeq(Run run) => RunReader.Open(run.Directory!).ReadRecords().Last().Seq;

    private async Task<long> AckedAsync(string project, string id)
    {
        using var http = _server.Client();
        var response = await http.GetAsync($"/api/v1/projects/{project}/runs/{id}");
        return response.IsSuccessStatusCode ? (long)(await response.Content.ReadFromJsonAsync<JsonObject>())!["acked_seq"]! : 0;
    }
}
