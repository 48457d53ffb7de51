using Microsoft.Extensions.Time.Testing;
using Tracker.Backends;
using Tracker.Format;
using Tracker.Pipeline;

namespace Tracker.Tests;

/// <summary>
/// The live summary and the footer's buckets are folded from a chunk's entries when it is handed off
/// or the summary is read or changed, not value by value. Each test drives an order of logging,
/// reading, overriding, defining and handing off, and checks that every value counts exactly once,
/// in the live summary, summary.json, the fold of records.jsonl, and the footer.
/// </summary>
public sealed class SummaryFoldAttackTests : RunTestBase
{
    /// <summary>The summary three ways: summary.json, the fold of the records, and (given) the live one.</summary>
    private static void AssertSummariesAgree(Run run, IReadOnlyDictionary<string, object?> live)
    {
        var reader = Read(run);
        Assert.That(reader.ReadSummary(), Is.EquivalentTo(live), "summary.json is the live summary at Finish");
        Assert.That(reader.ReadState().Summary.Snapshot(), Is.EquivalentTo(live), "the fold of records.jsonl (as resume and the server compute it)");
    }

    private static Dictionary<string, object?> Live(Run run) => run.Summary.ToDictionary(p => p.Key, p => p.Value);

    [Test]
    public void ThreadsLoggingWhileAnotherReadsTheSummary_CountEachValueOnce()
    {
        const int Threads = 4;
        const int PerThread = 3_000; // 12,000 rows of up to 2 values: several chunks
        var run = Run.Init(Options());
        run.DefineMetric("x", summary: SummaryMode.Mean);
        run.DefineMetric("y", summary: SummaryMode.Max);
        run.DefineMetric("n", summary: SummaryMode.Min);
        using var start = new Barrier(Threads + 1);
        var writers = Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            var row = new Dictionary<string, object?>();
            for (var i = 0; i < PerThread; i++)
            {
                var value = (double)((t * PerThread) + i);
                if (t % 2 == 0)
                {
                    run.Log("x", value);
                }
                else
                {
                    row["x"] = value;
                    row["y"] = (long)value;
                    run.Log(row);
                }

                run.Log("n", (long)value + 1, commit: false);
            }
        }, TaskCreationOptions.LongRunning)).ToArray();

        var reads = 0;
        start.SignalAndWait();
        while (!Task.WhenAll(writers).IsCompleted)
        {
            // Each read folds what is logged so far; a value folded twice would shift the mean.
            var summary = run.Summary;
            if (summary.TryGetValue("x", out var mean))
            {
                Assert.That((double)mean!, Is.InRange(0.0, (Threads * PerThread) - 1.0));
            }

            reads++;
        }

        Task.WaitAll(writers);
        const int Total = Threads * PerThread;
        var expectedMean = (Total - 1) / 2.0; // every integer 0..Total-1 once: the sum is exact in a double
        var live = Live(run);
        Assert.That(live["x"], Is.EqualTo(expectedMean));
        Assert.That(live["y"], Is.EqualTo((long)Total - 1));
        Assert.That(live["n"], Is.EqualTo(1L));
        run.Finish();

        Assert.That(Live(run), Is.EquivalentTo(live), "Finish adds nothing to a summary already folded");
        AssertSummariesAgree(run, live);
        Assert.That(History(run).Sum(r => r.Values.ContainsKey("x") ? 1 : 0), Is.EqualTo(Total));
        Assert.That(reads, Is.GreaterThan(0));
    }

    [Test]
    public void OverridesInterleavedWithLogging_AtAndAcrossChunkBoundaries_AndResume()
    {
        const int ChunkEntries = 2048;
        var run = Run.Init(Options("overrides"));
        run.DefineMetric("acc", summary: SummaryMode.Mean);
        var row = new Dictionary<string, object?>();
        var logged = new List<double>();
        for (var i = 0; i < 3 * ChunkEntries; i++)
        {
            if (i % 2 == 0)
            {
                run.Log("acc", (double)i);
            }
            else
            {
                row["acc"] = (double)i;
                run.Log(row);
            }

            logged.Add(i);

            // The override's own record lands on the last entry of a chunk, on the first of the next, and inside one.
            if (i is ChunkEntries - 2 or ChunkEntries - 1 or (2 * ChunkEntries) + 100)
            {
                run.Summary["acc"] = -1.0;
                Assert.That(run.Summary["acc"], Is.EqualTo(-1.0), $"the override after value {i}");
                run.Summary["acc"] = -2.0; // a second override before anything is logged replaces the first
                Assert.That(run.Summary["acc"], Is.EqualTo(-2.0));
            }
            else if (i is ChunkEntries or (2 * ChunkEntries) + 101)
            {
                Assert.That(run.Summary["acc"], Is.EqualTo(logged.Average()), $"logging value {i} ends the override; the mean counts every value once");
            }
        }

        run.Summary["acc"] = 42.0; // the last word before Finish
        var live = Live(run);
        run.Finish();
        Assert.That(live["acc"], Is.EqualTo(42.0));
        AssertSummariesAgree(run, live);

        var resumed = Resume("overrides");
        Assert.That(resumed.Summary["acc"], Is.EqualTo(42.0), "the override lasts across resume");
        resumed.Log("acc", 1_000_000.0);
        logged.Add(1_000_000.0);
        Assert.That(resumed.Summary["acc"], Is.EqualTo(logged.Average()), "the resumed mean continues over every value of both sessions");
        live = Live(resumed);
        resumed.Finish();
        AssertSummariesAgree(resumed, live);
    }

    [TestCase(SummaryMode.First, MetricGoal.None, 3.0, 3.0)]
    [TestCase(SummaryMode.Last, MetricGoal.None, 2.0, 0.0)]
    [TestCase(SummaryMode.Min, MetricGoal.None, 1.0, 0.0)]
    [TestCase(SummaryMode.Max, MetricGoal.None, 5.0, 5.0)]
    [TestCase(SummaryMode.Mean, MetricGoal.None, 3.0, 2.5)]
    [TestCase(SummaryMode.Best, MetricGoal.Maximize, 5.0, 5.0)]
    [TestCase(SummaryMode.Best, MetricGoal.Minimize, 1.0, 0.0)]
    public void DefineMetric_AfterValuesOfTheSameChunk_SummarisesThemAndLaterOnes(SummaryMode mode, MetricGoal goal, double before, double after)
    {
        var run = Run.Init(Options());
        var row = new Dictionary<string, object?>();
        foreach (var v in new[] { 3.0, 1.0, 5.0 })
        {
            run.Log("val/loss", v);
        }

        foreach (var v in new[] { 4.0, 2.0 })
        {
            row["val/loss"] = v;
            run.Log(row);
        }

        run.DefineMetric("val/*", summary: mode, goal: goal); // no read before: the five values are not folded yet
        Assert.That(run.Summary["val/loss"], Is.EqualTo(before));
        run.Log("val/loss", 0.0);
        Assert.That(run.Summary["val/loss"], Is.EqualTo(after));
        var live = Live(run);
        run.Finish();
        AssertSummariesAgree(run, live);
    }

    /// <summary>
    /// One key logged as an int, a long, NaN, a float, a ulong above long.MaxValue, -infinity, a bool,
    /// text and a small ulong, alternating the dictionary and the scalar overloads.
    /// </summary>
    [TestCase(SummaryMode.First, 1L)]
    [TestCase(SummaryMode.Last, 5L)]
    [TestCase(SummaryMode.Min, double.NegativeInfinity)]
    [TestCase(SummaryMode.Max, 18446744073709551615.0)]
    [TestCase(SummaryMode.Mean, double.NegativeInfinity)]
    public void MixedKindsAtOneKey_ThroughBothOverloads(SummaryMode mode, object expected)
    {
        var run = Run.Init(Options());
        run.DefineMetric("m", summary: mode);
        run.Log(new Dictionary<string, object?> { ["m"] = 1 });
        run.Log("m", 2L);
        run.Log("m", double.NaN);
        run.Log(new Dictionary<string, object?> { ["m"] = 3.0f });
        run.Log("m", ulong.MaxValue);
        run.Log(new Dictionary<string, object?> { ["m"] = double.NegativeInfinity });
        run.Log("m", true);
        Assert.That(run.Summary["m"], Is.EqualTo(true), "a flag logged last is the summary");
        run.Log(new Dictionary<string, object?> { ["m"] = "text" });
        Assert.That(run.Summary["m"], Is.EqualTo("text"), "so is text");
        run.Log(new Dictionary<string, object?> { ["m"] = 5UL });

        var live = Live(run);
        Assert.That(live["m"], Is.EqualTo(expected).And.TypeOf(expected.GetType()));
        run.Finish();
        AssertSummariesAgree(run, live);
    }

    [TestCase(SummaryMode.Min, 1L)]
    [TestCase(SummaryMode.Max, ulong.MaxValue)]
    [TestCase(SummaryMode.Last, 5L)]
    public void IntegersWithNaNFlagsAndTextBetween_StayExact(SummaryMode mode, object expected)
    {
        var run = Run.Init(Options());
        run.DefineMetric("count", summary: mode);
        run.Log("count", 1);
        run.Log(new Dictionary<string, object?> { ["count"] = double.NaN }); // NaN is skipped, so the integers stay exact
        run.Log(new Dictionary<string, object?> { ["count"] = ulong.MaxValue });
        run.Log("count", false);
        run.Log("count", "n/a");
        run.Log("count", 5UL);

        var live = Live(run);
        Assert.That(live["count"], Is.EqualTo(expected).And.TypeOf(expected.GetType()));
        run.Finish();
        AssertSummariesAgree(run, live);
    }

    [Test]
    public async Task DropNewest_WithASlowWriter_FoldsEveryLoggedValueOnce()
    {
        using var gate = new SemaphoreSlim(0);
        var options = Options();
        options.MaxQueuedRecords = 1; // two chunks
        options.FullMode = QueueFullMode.DropNewest;
        var run = Run.Init(options, (dir, json) => new GatedBackend(LocalFileBackend.Open(dir, json), gate));
        run.DefineMetric("x", summary: SummaryMode.Mean);
        run.DefineMetric("peak", summary: SummaryMode.Max);
        const int Total = 10 * 2048;
        for (var i = 0; i < Total; i++)
        {
            run.Log("x", (double)i, commit: false);
            run.Log(new Dictionary<string, object?> { ["peak"] = i });
            if (i % 3_001 == 0)
            {
                Assert.That(run.Summary["x"], Is.EqualTo(i / 2.0), $"the mean of 0..{i}, dropped chunks included once");
            }
        }

        Assert.That(run.Statistics.RecordsDropped, Is.GreaterThan(0), "the queue was full");
        var live = Live(run);
        Assert.That(live["x"], Is.EqualTo((Total - 1) / 2.0));
        Assert.That(live["peak"], Is.EqualTo((long)Total - 1));
        gate.Release(int.MaxValue / 2);
        await run.FinishAsync();

        // The summary is of every value logged, as W&B's is; the dropped points are missing only from the history.
        Assert.That(Read(run).ReadSummary(), Is.EquivalentTo(live));
        var statistics = run.Statistics;
        Assert.That(History(run).Sum(r => r.Values.Count), Is.EqualTo((2 * Total) - statistics.RecordsDropped));
    }

    [Test]
    public void KeysInChangingOrders_NewStringsOfTheSameText_AndMoreThanTheReferenceCacheHolds()
    {
        const int Keys = 1_500; // more than the 1,024 names the lookup remembers by reference
        const int Rounds = 3;
        var run = Run.Init(Options());
        run.DefineMetric("k/*", summary: SummaryMode.Mean);
        var random = new Random(7);
        var order = Enumerable.Range(0, Keys).ToArray();
        for (var round = 0; round < Rounds; round++)
        {
            random.Shuffle(order);
            for (var start = 0; start < Keys; start += 50)
            {
                var row = new Dictionary<string, object?>();
                foreach (var i in order.AsSpan(start, 50))
                {
                    var key = string.Concat("k/", i.ToString(System.Globalization.CultureInfo.InvariantCulture)); // a new string each time
                    if (start % 100 == 0)
                    {
                        run.Log(key, (double)((round * 10_000) + i), commit: false);
                    }
                    else
                    {
                        row[key] = (double)((round * 10_000) + i);
                    }
                }

                run.Log(row);
            }
        }

        var live = Live(run);
        Assert.That(live, Has.Count.EqualTo(Keys));
        for (var i = 0; i < Keys; i++)
        {
            Assert.That(live[$"k/{i}"], Is.EqualTo(10_000.0 + i), $"the mean of k/{i}'s {Rounds} values");
        }

        run.Finish();
        AssertSummariesAgree(run, live);
    }

    [Test]
    public void SameKeyTwiceInOneStep_WithCommitFalse_CountsBothValues()
    {
        var run = Run.Init(Options());
        run.DefineMetric("a", summary: SummaryMode.Mean);
        run.DefineMetric("b", summary: SummaryMode.First);
        var a = "a";
        run.Log(a, 1.0, commit: false);
        run.Log(new string(a.AsSpan()), 2L, commit: false); // same text, another string
        run.Log(new Dictionary<string, object?> { ["b"] = 4.0, [a] = 3.0 }, commit: false);
        run.Log(new Dictionary<string, object?> { ["a"] = 6.0, ["b"] = 5.0 });
        Assert.That(run.Step, Is.EqualTo(1));

        var live = Live(run);
        Assert.That(live["a"], Is.EqualTo(3.0));
        Assert.That(live["b"], Is.EqualTo(4.0));
        run.Finish();
        AssertSummariesAgree(run, live);
    }

    [Test]
    public async Task NestedValuesAndMediaInOneCall_FlushAndTheFlushTimer_FoldEachValueOnce()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options();
        options.TimeProvider = time;
        options.FlushInterval = TimeSpan.FromSeconds(1);
        var run = Run.Init(options);
        run.DefineMetric("train/*", summary: SummaryMode.Mean);
        for (var step = 0; step < 3_000; step++)
        {
            run.Log(new Dictionary<string, object?>
            {
                ["train"] = new Dictionary<string, object?> { ["loss"] = (double)step, ["acc"] = step % 2 == 0 },
                ["sample"] = step % 1_000 == 0 ? new Text($"step {step}") : null,
            });

            if (step % 700 == 0)
            {
                time.Advance(options.FlushInterval); // the timer hands the chunk off
            }
            else if (step % 1_100 == 0)
            {
                Assert.That(await run.FlushAsync(), Is.True);
            }

            if (step % 250 == 0)
            {
                Assert.That(run.Summary["train/loss"], Is.EqualTo(step / 2.0), $"the mean of 0..{step}");
            }
        }

        var live = Live(run);
        Assert.That(live["train/loss"], Is.EqualTo(2_999 / 2.0));
        Assert.That(live["train/acc"], Is.EqualTo(false));
        await run.FinishAsync();
        AssertSummariesAgree(run, live);
    }

    [Test]
    public void FooterSparkline_IsDrawnFromEveryValueOnce_AcrossReadsHandOffsAndOverrides()
    {
        var run = Run.Init(Options());
        var expected = new GrowingBuckets(16);
        for (var step = 0; step < 5_000; step++)
        {
            var value = Math.Sin(step / 300.0);
            run.Log("wave", value);
            expected.Add(step, value);
            if (step % 1_234 == 0)
            {
                _ = run.Summary["wave"];
                run.Summary["wave"] = 9.0; // an override changes the summary, never the history
            }
        }

        run.Finish();
        var footer = Output.ToString().Split('\n');
        var line = footer.SkipWhile(l => !l.Contains("Run history:", StringComparison.Ordinal)).First(l => l.Contains("wave ", StringComparison.Ordinal));
        Assert.That(line.TrimEnd(), Does.EndWith("wave " + Sparkline.Render(expected.LastValues())));
    }

    [Test]
    public void ScalarLog_WithAnInvalidNewKeyAndAStep_ThrowsAndLeavesTheStepAndSummaryAsTheyWere()
    {
        var run = Run.Init(Options());
        run.Log("loss", 1.0);
        Assert.That(() => run.Log("_reserved", 2.0, step: 50), Throws.ArgumentException);
        Assert.That(() => run.Log(new string('k', 300), 2L, step: 60), Throws.ArgumentException);
        Assert.That(run.Step, Is.EqualTo(1), "a refused call moves no step");
        run.Log("loss", 3.0, step: 1);
        var live = Live(run);
        Assert.That(live, Is.EquivalentTo(new Dictionary<string, object?> { ["loss"] = 3.0 }));
        run.Finish();
        AssertSummariesAgree(run, live);
        Assert.That(History(run).Select(r => r.Step), Is.EqualTo(new[] { 0L, 1L }));
    }

    private sealed class GatedBackend(IRunBackend inner, SemaphoreSlim gate) : IRunBackend
    {
        public async Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken)
        {
            await gate.WaitAsync(cancellationToken);
            await inner.WriteAsync(batch, cancellationToken);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
