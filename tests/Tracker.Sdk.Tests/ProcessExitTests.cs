using System.Globalization;
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

    [Test]
    public async Task KilledMidWrite_LeavesAConsistentPrefixThatResumeContinues()
    {
        using var process = Process.Start(AppStart("forever", 2_000_000))!;
        try
        {
            // Kill (SIGKILL: no hook runs) while the writer is busy appending.
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.That(line, Is.EqualTo("logging"));
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
        }

        var directory = Path.Combine(Root, "process", "forever");
        var reader = RunReader.Open(directory);
        Assert.That(reader.Info.State, Is.EqualTo(RunStates.Running), "nothing finished the killed run");
        var rows = reader.ReadHistory().ToList();
        Assert.That(rows, Is.Not.Empty);
        Assert.That(reader.SkippedLines, Is.LessThanOrEqualTo(1), "at most the torn last line");
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i].Step != i || Convert.ToDouble(rows[i].Values["value"], CultureInfo.InvariantCulture) != i)
            {
                Assert.Fail($"row {i} is step {rows[i].Step} with {rows[i].Values["value"]}: the file is not a gap-free prefix");
            }
        }

        var options = Options("forever");
        options.Project = "process";
        options.Resume = ResumeMode.Must;
        var resumed = Run.Init(options);
        Assert.That(resumed.Step, Is.EqualTo(rows.Count));
        resumed.Log("value", rows.Count);
        resumed.Finish();
        var after = RunReader.Open(directory);
        Assert.That(after.ReadHistory().Select(r => r.Step), Is.EqualTo(Enumerable.Range(0, rows.Count + 1).Select(i => (long)i)));
        Assert.That(after.SkippedLines, Is.Zero);
    }

    private async Task<(int ExitCode, string Output)> RunAppAsync(string scenario, int steps)
    {
        using var process = Process.Start(AppStart(scenario, steps))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    private ProcessStartInfo AppStart(string scenario, int steps) => TestApp.Start(Root, scenario, steps);
}
