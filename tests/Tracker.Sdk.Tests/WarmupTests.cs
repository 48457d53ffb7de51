namespace Tracker.Tests;

/// <summary>
/// The warm-up <c>Run.Init</c> starts: <c>Log(dictionary)</c>'s code and the writer's compiled on
/// another thread, through a throw-away run that leaves no trace. What it saves is measured by the benchmarks'
/// <c>warmup</c> mode (docs/benchmarks.md), in fresh processes.
/// </summary>
[NonParallelizable] // one test redirects the console
public sealed class WarmupTests : RunTestBase
{
    [Test]
    public async Task Init_WarmsUpTheDictionaryLogOnAnotherThreadAndTheRunGetsOnlyItsOwnRows()
    {
        var run = Run.Init(Options());
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!Run.WarmupDone && waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(10);
        }

        Assert.That(Run.WarmupDone, Is.True, "Init started no warm-up, or it failed");

        run.Log(new Dictionary<string, object?> { ["x"] = 1.5 });
        run.Finish();

        var history = History(run);
        Assert.That(history, Has.Count.EqualTo(1));
        Assert.That(history[0].Step, Is.Zero);
        Assert.That(history[0].Values.Keys, Is.EquivalentTo(new[] { "x" }));
        Assert.That(run.Summary.Keys, Is.EquivalentTo(new[] { "x" }));
        Assert.That(Diagnostics, Is.Empty);
    }

    [Test]
    public void Warmup_TakesItsRowsThroughTheWriterWithoutWritingOrPrintingAnything()
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        using var captured = new StringWriter();
        Console.SetOut(captured);
        Console.SetError(captured);
        var filesBefore = Directory.Exists(Root) ? Directory.GetFileSystemEntries(Root, "*", SearchOption.AllDirectories).Length : 0;
        try
        {
            Assert.That(Run.Warmup(), Is.True, "the throw-away run refused its rows, or its worker did not format them all");
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }

        Assert.That(captured.ToString(), Is.Empty);
        Assert.That(Directory.Exists(Root) ? Directory.GetFileSystemEntries(Root, "*", SearchOption.AllDirectories).Length : 0, Is.EqualTo(filesBefore));
        Assert.That(Directory.Exists(Path.Combine(Environment.CurrentDirectory, "tracker-runs", "warmup")), Is.False, "the warm-up made a run directory");
    }
}
