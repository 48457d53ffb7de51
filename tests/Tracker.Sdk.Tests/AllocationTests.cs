namespace Tracker.Tests;

/// <summary>Guards the zero-allocation hot path; counts bytes, never time.</summary>
public sealed class AllocationTests : RunTestBase
{
    [Test]
    public void LogDouble_InSteadyState_AllocatesNothing()
    {
        var options = Options();
        options.MaxQueuedRecords = 4 * 2048; // a small pool fills during warm-up; the producer also waits on the writer
        var run = Run.Init(options);
        for (var i = 0; i < 100_000; i++)
        {
            // Reach steady state: keys registered, the chunk pool filled.
            run.Log("loss", i);
            run.Log("acc", i, commit: false);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100_000; i++)
        {
            run.Log("loss", 1.0 / (i + 3));
            run.Log("acc", i * 0.5, commit: false);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        run.Finish();

        Assert.That(allocated, Is.Zero, $"{allocated} bytes for 200,000 calls");
        Assert.That(History(run), Has.Count.EqualTo(200_001), "each acc joins the next step's row; the last one opens a row of its own");
    }

    [Test]
    public void LogDictionary_ReusedInSteadyState_AllocatesNothing()
    {
        // A training loop's row: one dictionary, its values replaced by boxes made before the measured calls.
        var options = Options();
        options.MaxQueuedRecords = 4 * 2048;
        var run = Run.Init(options);
        var row = Enumerable.Range(0, 10).ToDictionary(k => $"train/m{k}", k => (object?)(k * 0.5));
        var boxes = Enumerable.Range(0, 10).Select(k => (object)(k * 0.25)).ToArray();
        for (var i = 0; i < 50_000; i++)
        {
            run.Log(row);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 50_000; i++)
        {
            row["train/m3"] = boxes[i % boxes.Length];
            run.Log(row);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(run.Summary["train/m3"], Is.EqualTo(0.25 * (49_999 % 10)), "the last value, folded from the entries when read");
        run.Finish();

        Assert.That(allocated, Is.Zero, $"{allocated} bytes for 50,000 calls");
        Assert.That(History(run), Has.Count.EqualTo(100_000));
    }
}
