using Microsoft.Extensions.Time.Testing;
using System.Globalization;
using Tracker.Format;
namespace Tracker.Tests;

public sealed class LogTests : RunTestBase
{
    [Test]
    public void Log_WithoutStep_AdvancesStepEachCall()
    {
        var run = Run.Init(Options());
        run.Log("loss", 1.0);
        run.Log("loss", 0.5);
        run.Log("acc", 0.9);
        Assert.That(run.Step, Is.EqualTo(3));
        run.Finish();

        var rows = History(run);
        Assert.That(rows.Select(r => r.Step), Is.EqualTo(new long[] { 0, 1, 2 }));
        Assert.That(rows[1].Values["loss"], Is.EqualTo(0.5));
        Assert.That(rows[2].Values.Keys, Is.EquivalentTo(new[] { "acc" }));
    }

    [Test]
    public void Log_CommitFalse_MergesIntoCurrentStepUntilCommitted()
    {
        var run = Run.Init(Options());
        run.Log("loss", 1.0, commit: false);
        run.Log("acc", 0.5, commit: false);
        Assert.That(run.Step, Is.Zero);
        run.Log(new Dictionary<string, object?> { ["lr"] = 0.1 });
        run.Log("loss", 0.8);
        run.Finish();

        var rows = History(run);
        Assert.That(rows, Has.Count.EqualTo(2));
        Assert.That(rows[0].Values, Is.EquivalentTo(new Dictionary<string, object?> { ["loss"] = 1.0, ["acc"] = 0.5, ["lr"] = 0.1 }));
        Assert.That(rows[1].Step, Is.EqualTo(1));
    }

    [Test]
    public void Log_SameKeyTwiceInOneStep_LastValueWins()
    {
        var run = Run.Init(Options());
        run.Log("loss", 1.0, commit: false);
        run.Log("loss", 2.0);
        run.Finish();

        Assert.That(History(run).Single().Values["loss"], Is.EqualTo(2.0));
    }

    [Test]
    public void Log_ScalarsOfOneStepWithCommitFalse_AreWrittenAsOneRow_AndSuchRowsAsBlocks()
    {
        // As W&B gathers commit=False calls into one row: a line per step (and rows of the same keys
        // one block), not a line per value.
        var run = Run.Init(Options());
        string[] keys = ["train/loss", "train/acc", "lr", "epoch", "grad_norm"];
        for (var step = 0; step < 200; step++)
        {
            for (var k = 0; k < keys.Length; k++)
            {
                run.Log(keys[k], (step * 10) + k, commit: k == keys.Length - 1);
            }
        }

        run.Finish();

        var history = new RecordFile(Path.Combine(run.Directory!, RunFiles.RecordsFile)).Read().Count(r => r.Type == "history");
        Assert.That(history, Is.LessThanOrEqualTo(2), "200 rows of the same 5 keys: one block (two if a flush split the chunk), not 1,000 lines");
        var rows = History(run);
        Assert.That(rows.Select(r => r.Step), Is.EqualTo(Enumerable.Range(0, 200).Select(i => (long)i)));
        Assert.That(rows[123].Values, Is.EquivalentTo(keys.Select((key, k) => KeyValuePair.Create(key, (object?)(long)(1230 + k)))));
    }

    [Test]
    public void Log_ScalarCommitFalse_SameKeyAgainOrARecordBetween_StartsANewLine_InOrder()
    {
        var run = Run.Init(Options());
        run.Log("a", 1.0, commit: false);
        run.Log("a", 2.0, commit: false); // the key is on the line already
        run.Log("b", 3.0, commit: false);
        run.Config["lr"] = 0.1; // a record between values of one step
        run.Log("c", 4.0, commit: false);
        run.Log("note", "text", commit: false); // text keeps a line of its own
        run.Log("d", 5.0);
        run.Finish();

        var lines = new RecordFile(Path.Combine(run.Directory!, RunFiles.RecordsFile)).Read()
            .Where(r => r.Type is "history" or "config").Select(r => r is HistoryLine h ? string.Join(",", h.Block.Columns.Select(c => c.Key)) : "config").ToList();
        Assert.That(lines, Is.EqualTo(new[] { "a", "a,b", "config", "c", "note", "d" }));
        Assert.That(History(run).Single().Values, Is.EquivalentTo(new Dictionary<string, object?> { ["a"] = 2.0, ["b"] = 3.0, ["c"] = 4.0, ["note"] = "text", ["d"] = 5.0 }));
    }

    [Test]
    public void Log_ExplicitStep_MergesUntilAHigherStepArrives()
    {
        var run = Run.Init(Options());
        run.Log("train/loss", 1.0, step: 10);
        run.Log("val/loss", 2.0, step: 10);
        run.Log("train/loss", 0.5, step: 20);
        Assert.That(run.Step, Is.EqualTo(20));
        run.Log("train/acc", 0.7);
        Assert.That(run.Step, Is.EqualTo(21));
        run.Finish();

        var rows = History(run);
        Assert.That(rows.Select(r => r.Step), Is.EqualTo(new long[] { 10, 20 }));
        Assert.That(rows[0].Values.Keys, Is.EquivalentTo(new[] { "train/loss", "val/loss" }));
        Assert.That(rows[1].Values.Keys, Is.EquivalentTo(new[] { "train/loss", "train/acc" }));
    }

    [Test]
    public void Log_StepGoingBackwards_IsRejectedWithAWarningAndCounted()
    {
        var run = Run.Init(Options());
        run.Log("loss", 1.0, step: 5);
        run.Log("loss", 9.0, step: 3);
        run.Finish();

        Assert.That(History(run).Select(r => r.Step), Is.EqualTo(new long[] { 5 }));
        Assert.That(run.Statistics.StepsRejected, Is.EqualTo(1));
        Assert.That(Diagnostics.Single(d => d.Level == DiagnosticLevel.Warning).Message, Does.Contain("Step 3 is lower than the current step 5"));
    }

    [Test]
    public void Log_StepGoingBackwardsInStrictMode_Throws()
    {
        var options = Options();
        options.StrictSteps = true;
        using var run = Run.Init(options);
        run.Log("loss", 1.0, step: 5);

        Assert.That(() => run.Log("loss", 9.0, step: 3), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("lower than the current step"));
    }

    [TestCase(long.MaxValue)]
    [TestCase(RecordRules.MaxStep + 1)]
    [TestCase(-1L)]
    [TestCase(long.MinValue)]
    public void Log_StepOutsideTheFormatsRange_ThrowsNamingTheStepAndTheLimit_AndLogsNothing(long step)
    {
        using var run = Run.Init(Options());
        run.Log("loss", 1.0);

        var expected = $"Step {step} is outside 0 to {RecordRules.MaxStep}";
        Assert.That(() => run.Log("loss", 2.0, step: step), Throws.InstanceOf<ArgumentException>().With.Message.Contains(expected));
        Assert.That(() => run.Log(new Dictionary<string, object?> { ["loss"] = 3.0 }, step: step), Throws.InstanceOf<ArgumentException>().With.Message.Contains(expected));
        Assert.That(() => run.Log("hist", Histogram.FromValues([1.0, 2.0], bins: 2), step: step), Throws.InstanceOf<ArgumentException>().With.Message.Contains(expected));
        run.Finish();

        Assert.That(History(run).Select(r => r.Step), Is.EqualTo(new long[] { 0 }));
        Assert.That(Read(run).ReadMedia(), Is.Empty);
    }

    [Test]
    public void Log_AtTheLastStep_IsKeptAndTheCounterStopsThereInsteadOfWrapping()
    {
        using var run = Run.Init(Options());
        run.Log("loss", 1.0, step: RecordRules.MaxStep, commit: true);

        Assert.That(run.Step, Is.EqualTo(RecordRules.MaxStep + 1));
        Assert.That(() => run.Log("loss", 2.0), Throws.InstanceOf<ArgumentException>().With.Message.Contains($"Step {RecordRules.MaxStep + 1} is outside"));
        Assert.That(run.Step, Is.EqualTo(RecordRules.MaxStep + 1), "never wraps to a negative step");
        run.Finish();

        var rows = History(run);
        Assert.That(rows.Select(r => r.Step), Is.EqualTo(new[] { RecordRules.MaxStep }), "the last step reads back exactly");
        Assert.That(Read(run).ReadState().NextStep, Is.EqualTo(RecordRules.MaxStep + 1));
    }

    [Test]
    public void Log_NestedDictionaries_FlattenWithSlash()
    {
        var run = Run.Init(Options());
        run.Log(new Dictionary<string, object?>
        {
            ["train"] = new Dictionary<string, object?> { ["loss"] = 1.5, ["inner"] = new Dictionary<string, double> { ["x"] = 2 } },
            ["epoch"] = 3,
            ["name"] = "warmup",
            ["converged"] = false,
            ["skipped"] = null,
        });
        run.Finish();

        Assert.That(History(run).Single().Values, Is.EquivalentTo(new Dictionary<string, object?>
        {
            ["train/loss"] = 1.5, ["train/inner/x"] = 2.0, ["epoch"] = 3.0, ["name"] = "warmup", ["converged"] = false,
        }));
    }

    [Test]
    public void Log_NaNAndInfinities_RoundTripThroughTheFiles()
    {
        var run = Run.Init(Options());
        run.Log("a", double.NaN);
        run.Log("a", double.PositiveInfinity);
        run.Log(new Dictionary<string, object?> { ["a"] = double.NegativeInfinity, ["b"] = float.NaN });
        run.Log("a", 1.0 / 3);
        run.Finish();

        var values = History(run).Select(r => r.Values["a"]).ToList();
        Assert.That(values, Is.EqualTo(new object[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1.0 / 3 }));
        Assert.That(File.ReadAllText(Path.Combine(run.Directory!, "records.jsonl")), Does.Contain("\"NaN\"").And.Contain("\"Infinity\"").And.Contain("\"-Infinity\""));
    }

    [Test]
    public void Log_InTheMillisecondTheRunStarted_RuntimeIsNotNegative()
    {
        var options = Options();
        options.TimeProvider = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 5, 0, 0, TimeSpan.Zero).AddTicks(5_000_960)); // 500.096 ms past the second
        var run = Run.Init(options);
        run.Log("x", 1.0);
        run.Finish();

        var reader = Read(run);
        Assert.That(reader.Info.StartTime.Ticks % TimeSpan.TicksPerMillisecond, Is.Zero, "the start in whole milliseconds, as record times are");
        Assert.That(reader.ReadHistory().Single().Runtime, Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public void Log_RecordsCarryIncreasingSequenceNumbersAndAutomaticTimes()
    {
        var options = Options();
        options.FlushInterval = TimeSpan.FromMinutes(10); // one write at Finish, so the rows share one line however slow the machine
        var run = Run.Init(options);
        for (var i = 0; i < 5; i++)
        {
            run.Log("x", i);
        }

        run.Finish();

        var reader = Read(run);
        var records = reader.ReadRecords().ToList();
        Assert.That(records.Select(r => r.Seq), Is.EqualTo(Enumerable.Range(1, records.Count).Select(i => (long)i)));
        Assert.That(records.Select(r => r.Type), Is.EqualTo(new[] { "history", "summary", "finish" }), "consecutive rows with the same keys share one line");
        var rows = reader.ReadHistory().ToList();
        Assert.That(rows[0].Runtime, Is.GreaterThanOrEqualTo(TimeSpan.Zero));
        Assert.That(rows.Last().Timestamp, Is.GreaterThanOrEqualTo(rows[0].Timestamp));
    }

    [Test]
    public void Log_RowsWithChangingKeys_AreWrittenAsBlocksAndReadBackRowByRow()
    {
        var run = Run.Init(Options());
        for (var step = 0; step < 300; step++)
        {
            run.Log("train/loss", step, commit: step % 100 != 99);
            if (step % 100 == 99)
            {
                run.Log(new Dictionary<string, object?> { ["val/loss"] = step * 2.0, ["val/note"] = $"epoch {step / 100}" });
            }
        }

        run.Finish();

        var reader = Read(run);
        var lines = File.ReadAllLines(Path.Combine(run.Directory!, "records.jsonl"));
        Assert.That(lines.Count(l => l.Contains("\"steps\":[", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(3));
        var rows = reader.ReadHistory().ToList();
        Assert.That(rows.Select(r => r.Step), Is.EqualTo(Enumerable.Range(0, 300).Select(i => (long)i)));
        Assert.That(rows[99].Values, Is.EquivalentTo(new Dictionary<string, object?> { ["train/loss"] = 99.0, ["val/loss"] = 198.0, ["val/note"] = "epoch 0" }));
        Assert.That(rows[100].Values, Is.EquivalentTo(new Dictionary<string, object?> { ["train/loss"] = 100.0 }));
        Assert.That(reader.SkippedLines, Is.Zero);
    }

    [Test]
    public void Log_ManyValues_NoneLostAcrossChunks()
    {
        var run = Run.Init(Options());
        for (var i = 0; i < 100_000; i++)
        {
            run.Log("x", i);
        }

        run.Finish();

        var rows = History(run);
        Assert.That(rows, Has.Count.EqualTo(100_000));
        Assert.That(rows.Select(r => Convert.ToDouble(r.Values["x"], CultureInfo.InvariantCulture)), Is.EqualTo(Enumerable.Range(0, 100_000).Select(i => (double)i)));
        Assert.That(run.Statistics.RecordsWritten, Is.EqualTo(run.Statistics.RecordsReceived));
    }

    [Test]
    public void Log_LargeDictionarySpanningChunks_KeepsEveryValueAtOneStep()
    {
        var run = Run.Init(Options());
        var values = Enumerable.Range(0, 5000).ToDictionary(i => $"m{i}", i => (object?)(double)i);
        run.Log(values);
        run.Log("after", 1);
        run.Finish();

        var rows = History(run);
        Assert.That(rows, Has.Count.EqualTo(2));
        Assert.That(rows[0].Values, Has.Count.EqualTo(5000));
    }

    [Test]
    public void Log_FromEightThreads_LosesNothingAndKeepsEachThreadsOrder()
    {
        const int Threads = 8;
        const int PerThread = 100_000;
        var run = Run.Init(Options());
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var key = $"thread{t}";
            start.SignalAndWait();
            for (var i = 0; i < PerThread; i++)
            {
                run.Log(key, i);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        run.Finish();

        var rows = History(run);
        Assert.That(rows, Has.Count.EqualTo(Threads * PerThread));
        Assert.That(rows.Select(r => r.Step), Is.Ordered.Ascending);
        for (var t = 0; t < Threads; t++)
        {
            var seen = rows.Where(r => r.Values.ContainsKey($"thread{t}")).Select(r => Convert.ToDouble(r.Values[$"thread{t}"], CultureInfo.InvariantCulture)).ToList();
            Assert.That(seen, Is.EqualTo(Enumerable.Range(0, PerThread).Select(i => (double)i)), $"thread {t}");
        }
    }

    [Test]
    public void Log_AfterFinish_ThrowsInvalidOperation()
    {
        var run = Run.Init(Options());
        run.Finish();

        Assert.That(() => run.Log("loss", 1), Throws.InvalidOperationException.With.Message.Contains("is finished"));
        Assert.That(() => run.Log(new Dictionary<string, object?> { ["loss"] = 1.0 }), Throws.InvalidOperationException);
    }

    [TestCase(null, typeof(ArgumentNullException), "must not be null")]
    [TestCase("", typeof(ArgumentException), "must not be empty")]
    [TestCase("   ", typeof(ArgumentException), "must not be empty")]
    [TestCase("_step", typeof(ArgumentException), "reserved for automatic values")]
    [TestCase("a//b", typeof(ArgumentException), "empty path segment")]
    [TestCase("line\nbreak", typeof(ArgumentException), "control character")]
    public void Log_BadKey_ThrowsAClearException(string? key, Type exception, string message)
    {
        using var run = Run.Init(Options());

        Assert.That(() => run.Log(key!, 1.0), Throws.InstanceOf(exception).With.Message.Contains(message));
        if (key is not null)
        {
            Assert.That(() => run.Log(new Dictionary<string, object?> { [key] = 1.0 }), Throws.InstanceOf(exception).With.Message.Contains(message));
        }
    }

    [Test]
    public void Log_KeyOver256Characters_Throws()
    {
        using var run = Run.Init(Options());

        Assert.That(() => run.Log(new string('k', 257), 1.0), Throws.ArgumentException.With.Message.Contains("at most 256"));
        Assert.DoesNotThrow(() => run.Log(new string('k', 256), 1.0));
    }

    [Test]
    public void Log_UnsupportedValueType_ThrowsAndLogsNothingOfTheCall()
    {
        var run = Run.Init(Options());

        Assert.That(
            () => run.Log(new Dictionary<string, object?> { ["ok"] = 1.0, ["when"] = DateTime.UtcNow }),
            Throws.ArgumentException.With.Message.Contains("'when'").And.Message.Contains("System.DateTime"));
        run.Finish();

        Assert.That(History(run), Is.Empty);
        Assert.That(run.Step, Is.Zero);
    }

    [Test]
    public void Flush_WritesEverythingLoggedBeforeIt()
    {
        using var run = Run.Init(Options());
        for (var i = 0; i < 10; i++)
        {
            run.Log("x", i);
        }

        Assert.That(run.Flush(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(Read(run).ReadHistory().Count(), Is.EqualTo(10));
    }

    [Test]
    public void Disabled_EveryCallIsANoOpAndNothingIsWritten()
    {
        var options = Options();
        options.Mode = RunMode.Disabled;
        var run = Run.Init(options);
        run.Log("loss", 1);
        run.Log(new Dictionary<string, object?> { ["x"] = 1.0 });
        run.Summary["x"] = 2;
        run.Config["y"] = 3;
        Assert.That(run.Flush(TimeSpan.FromSeconds(1)), Is.True);
        run.Finish();

        Assert.That(run.Directory, Is.Null);
        Assert.That(Directory.Exists(Root), Is.False);
        Assert.That(run.Statistics.RecordsReceived, Is.Zero);
    }
}
