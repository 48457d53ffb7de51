using System.Diagnostics;
using System.Text.Json.Nodes;
using Tracker.Internal;

namespace Tracker.Tests;

/// <summary>Git and machine capture, against real temporary git repositories.</summary>
[NonParallelizable] // one test changes the current directory
public sealed class EnvironmentCaptureTests : RunTestBase
{
    private string _repo = string.Empty;

    [SetUp]
    public void CreateRepository()
    {
        _repo = Path.Combine(Path.GetTempPath(), "tracker-git-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_repo);
        Git("init", "-q", "-b", "main");
        Git("config", "user.email", "tests@example.com");
        Git("config", "user.name", "Tests");
        Git("remote", "add", "origin", "https://alice:s3cret-token@git.example.com/team/model.git");
        File.WriteAllText(Path.Combine(_repo, "train.cs"), "var lr = 0.1;\n");
        Git("add", ".");
        Git("commit", "-q", "-m", "first");
    }

    [TearDown]
    public void DeleteRepository() => Directory.Delete(_repo, recursive: true);

    [Test]
    public void ReadGit_CleanTree_GivesCommitBranchAndRemoteWithoutCredentials()
    {
        var (git, diff) = EnvironmentInfo.ReadGit(_repo, withDiff: true);

        Assert.That(git, Is.Not.Null);
        Assert.That(git!.Commit, Is.EqualTo(Git("rev-parse", "HEAD")).And.Length.EqualTo(40));
        Assert.That(git.Branch, Is.EqualTo("main"));
        Assert.That(git.Remote, Is.EqualTo("https://git.example.com/team/model.git"), "the token must not be recorded");
        Assert.That(git.Dirty, Is.False);
        Assert.That(diff, Is.Null);
    }

    [Test]
    public void ReadGit_UncommittedChange_IsDirtyWithTheDiff()
    {
        File.WriteAllText(Path.Combine(_repo, "train.cs"), "var lr = 0.3;\n");

        var (git, diff) = EnvironmentInfo.ReadGit(_repo, withDiff: true);

        Assert.That(git!.Dirty, Is.True);
        Assert.That(diff, Does.Contain("-var lr = 0.1;").And.Contain("+var lr = 0.3;"));
        Assert.That(EnvironmentInfo.ReadGit(_repo, withDiff: false).Diff, Is.Null, "the diff can be turned off on its own");
    }

    [Test]
    public void ReadGit_DetachedHead_HasNoBranch()
    {
        Git("checkout", "-q", "--detach", "HEAD");

        var (git, _) = EnvironmentInfo.ReadGit(_repo, withDiff: true);

        Assert.That(git!.Branch, Is.Null);
        Assert.That(git.Commit, Has.Length.EqualTo(40));
    }

    [Test]
    public void ReadGit_NotARepositoryOrNoGitInstalled_GivesNothing()
    {
        Assert.That(EnvironmentInfo.ReadGit(Path.GetTempPath(), withDiff: true).Git, Is.Null);
        Assert.That(EnvironmentInfo.ReadGit(_repo, withDiff: true, git: "/nonexistent/bin/git").Git, Is.Null);
        Assert.That(EnvironmentInfo.Gpus("/nonexistent/bin/nvidia-smi"), Is.Empty);
    }

    [TestCase("git@github.com:team/model.git", "git@github.com:team/model.git")]
    [TestCase("https://github.com/team/model.git", "https://github.com/team/model.git")]
    [TestCase("https://ghp_token@github.com/team/model.git", "https://github.com/team/model.git")]
    public void StripCredentials_RemovesOnlyUserInfoFromUrls(string remote, string expected) =>
        Assert.That(EnvironmentInfo.StripCredentials(remote), Is.EqualTo(expected));

    [Test]
    public void Init_InADirtyWorkingTree_RecordsGitMachineAndDiff_AndCaptureNoneRecordsNone()
    {
        File.WriteAllText(Path.Combine(_repo, "train.cs"), "var lr = 0.3;\n");
        var previous = Environment.CurrentDirectory;
        Environment.CurrentDirectory = _repo;
        try
        {
            var run = Run.Init(Options("captured"));
            run.Finish();
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(run.Directory!, "run.json")))!;
            Assert.That((string?)json["git"]!["branch"], Is.EqualTo("main"));
            Assert.That((bool?)json["git"]!["dirty"], Is.True);
            Assert.That(File.ReadAllText(Path.Combine(run.Directory!, "files", "diff.patch")), Does.Contain("+var lr = 0.3;"));
            Assert.That((int?)json["cpu_count"], Is.EqualTo(Environment.ProcessorCount));
            Assert.That((string?)json["host"], Is.EqualTo(Environment.MachineName));
            Assert.That((string?)json["entry_assembly"], Is.Not.Empty);
            Assert.That(Read(run).Info.Git!.Commit, Is.EqualTo((string?)json["git"]!["commit"]), "RunReader reads it back");

            var options = Options("private");
            options.Capture = EnvironmentCapture.None;
            var quiet = Run.Init(options);
            quiet.Finish();
            var info = Read(quiet).Info;
            Assert.That(new object?[] { info.Git, info.Host, info.Os, info.CommandLine, info.CpuModel, info.CpuCount, info.EntryAssembly }, Has.All.Null);
            Assert.That(File.Exists(Path.Combine(quiet.Directory!, "files", "diff.patch")), Is.False);
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
    }

    private string Git(params string[] args)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = _repo, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.That(process.ExitCode, Is.Zero, $"git {string.Join(' ', args)}: {process.StandardError.ReadToEnd()}");
        return output.Trim();
    }
}
