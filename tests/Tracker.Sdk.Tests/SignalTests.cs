using System.Diagnostics;
using Tracker.Format;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>Real child processes stopped with <c>kill -INT</c> (Ctrl+C) and <c>kill -TERM</c>: the run is kept, marked killed, and the exit code is the usual one.</summary>
[Platform(Exclude = "Win", Reason = "POSIX signals")]
public sealed class SignalTests : RunTestBase
{
    [TestCase("INT", 130, "SIGINT")]
    [TestCase("TERM", 143, "SIGTERM")]
    public async Task Signal_WhileWaiting_WritesEveryPointAndMarksTheRunKilled(string signal, int expectedExit, string named)
    {
        using var process = Process.Start(TestApp.Start(Root, "wait", 10_000))!;
        await TestApp.WaitForLineAsync(process, "logged");

        TestApp.Signal(process, signal);
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(process.ExitCode, Is.EqualTo(expectedExit), "128 + the signal's number, as without Tracker");
        var reader = RunReader.Open(Path.Combine(Root, "process", "wait"));
        Assert.That(reader.Info.State, Is.EqualTo(RunStates.Killed));
        Assert.That(reader.Info.ExitCode, Is.EqualTo(expectedExit));
        Assert.That(reader.Info.Error, Does.Contain(named));
        Assert.That(reader.ReadHistory().Select(r => r.Step), Is.EqualTo(Enumerable.Range(0, 10_000).Select(i => (long)i)), "every logged point");
        Assert.That(reader.SkippedLines, Is.Zero);
        var finish = new RecordFile(Path.Combine(Root, "process", "wait", RunFiles.RecordsFile)).Read().OfType<FinishLine>().Single();
        Assert.That((finish.State, finish.ExitCode), Is.EqualTo((RunStates.Killed, (int?)expectedExit)));
        Assert.That(finish.Error, Does.Contain(named));
    }

    [Test]
    public async Task SigInt_WhileTheLoopKeepsLogging_KeepsAGapFreeRunAndExitsWith130()
    {
        // The loop logs on while the run finishes: its last calls are dropped, not thrown into it as a crash.
        using var process = Process.Start(TestApp.Start(Root, "forever", 100_000))!;
        await TestApp.WaitForLineAsync(process, "logging");

        TestApp.Signal(process, "INT");
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var error = await process.StandardError.ReadToEndAsync();

        Assert.That(process.ExitCode, Is.EqualTo(130), error);
        Assert.That(error, Does.Not.Contain("Unhandled exception"));
        var reader = RunReader.Open(Path.Combine(Root, "process", "forever"));
        Assert.That(reader.Info.State, Is.EqualTo(RunStates.Killed));
        var steps = reader.ReadHistory().Select(r => r.Step).ToList();
        Assert.That(steps, Has.Count.GreaterThan(100_000));
        Assert.That(steps, Is.EqualTo(Enumerable.Range(0, steps.Count).Select(i => (long)i)), "a gap-free run up to the signal");
        Assert.That(reader.SkippedLines, Is.Zero);
    }

    [Test]
    public async Task SecondSigInt_WhileFinishingWaitsForTheServer_ExitsAtOnce()
    {
        // Online with nothing listening: after the local write, Finish waits up to FinishTimeout (30 s) for the server.
        var start = TestApp.Start(Root, "wait", 1000);
        start.Environment["TRACKER_BASE_URL"] = "http://127.0.0.1:9";
        using var process = Process.Start(start)!;
        await TestApp.WaitForLineAsync(process, "logged");
        var records = Path.Combine(Root, "process", "wait", RunFiles.RecordsFile);

        TestApp.Signal(process, "INT");
        var clock = Stopwatch.StartNew();
        while (!File.ReadAllText(records).Contains("\"type\":\"finish\"", StringComparison.Ordinal))
        {
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), "the first SIGINT did not write the finish record");
            await Task.Delay(50);
        }

        Assert.That(process.HasExited, Is.False, "still waiting for the server");
        clock.Restart();
        TestApp.Signal(process, "INT");
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "the second Ctrl+C does not wait for the budget");
        Assert.That(process.ExitCode, Is.EqualTo(130));
        Assert.That(RunReader.Open(Path.Combine(Root, "process", "wait")).ReadHistory().Count(), Is.EqualTo(1000));
    }
}
