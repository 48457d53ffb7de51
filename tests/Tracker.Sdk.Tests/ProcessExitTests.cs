using System.Diagnostics;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>Real child processes: the hooks must finish a run the program left unfinished.</summary>
public sealed class ProcessExitTests : RunTestBase
{
    [Test]
    public async Task UnhandledException_FinishesTheRunAsFailedWithItsTail()
    {
        var (exitCode, _) = await RunAppAsync("unhandled", 5000);

        Assert.That(exitCode, Is.Not.Zero);
        var reader = RunReader.Open(Path.Combine(Root, "process", "unhandled"));
        Assert.That(reader.Info.State, Is.EqualTo(RunStates.Failed));
        Assert.That(reader.Info.Error, Does.Contain("training diverged"));
        Assert.That(reader.ReadHistory().Count(), Is.EqualTo(5000));
    }

    [Test]
    public async Task ExitWithoutFinish_FinishesTheRunAsFailedWithItsTail()
    {
        var (exitCode, _) = await RunAppAsync("exit", 5000);

        Assert.That(exitCode, Is.EqualTo(3));
        var reader = RunReader.Open(Path.Combine(Root, "process", "exit"));
        Assert.That(reader.Info.State, Is.EqualTo(RunStates.Failed));
        Assert.That(reader.Info.ExitCode, Is.EqualTo(3));
        Assert.That(reader.Info.Error, Does.Contain("before Run.Finish"));
        Assert.That(reader.ReadHistory().Count(), Is.EqualTo(5000));
    }

    [Test]
    public async Task NormalFinish_LeavesAFinishedRun()
    {
        var (exitCode, _) = await RunAppAsync("finish", 10);

        Assert.That(exitCode, Is.Zero);
        Assert.That(RunReader.Open(Path.Combine(Root, "process", "finish")).Info.State, Is.EqualTo(RunStates.Finished));
    }

    private async Task<(int ExitCode, string Output)> RunAppAsync(string scenario, int steps)
    {
        var app = Path.Combine(TestContext.CurrentContext.TestDirectory, "..", "..", "..", "..", "Tracker.TestApp", "bin",
            Path.GetFileName(Path.GetDirectoryName(TestContext.CurrentContext.TestDirectory.TrimEnd('/'))!), "net10.0", "Tracker.TestApp.dll");
        Assert.That(File.Exists(app), Is.True, $"test app not built at {app}");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { app, scenario, Root, steps.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }
}
