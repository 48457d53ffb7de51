using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Moq;
using Tracker.Backends;
using Tracker.Format;
using Tracker.Pipeline;

namespace Tracker.Tests;

public sealed class PipelineTests : RunTestBase
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(30);

    [Test]
    public async Task TransientBackendFailure_IsRetriedWithBackOffAndNothingIsLost()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options();
        options.TimeProvider = time;
        LocalFileBackend? real = null;
        var failures = 0;
        var backend = new Mock<IRunBackend>();
        backend.Setup(b => b.WriteAsync(It.IsAny<RecordBatch>(), It.IsAny<CancellationToken>()))
            .Returns((RecordBatch batch, CancellationToken ct) => ++failures <= 2
                ? Task.FromException(new IOException("disk busy"))
                : real!.WriteAsync(batch, ct));
        backend.Setup(b => b.DisposeAsync()).Returns(() => real!.DisposeAsync());
        var run = Run.Init(options, (dir, json) =>
        {
            real = LocalFileBackend.Open(dir, json);
            return backend.Object;
        });

        for (var i = 0; i < 1000; i++)
        {
            run.Log("x", i);
        }

        var finish = run.FinishAsync();
        await AdvanceUntil(time, () => finish.IsCompleted);
        await finish;

        Assert.That(History(run).Select(r => Convert.ToDouble(r.Values["x"], CultureInfo.InvariantCulture)), Is.EqualTo(Enumerable.Range(0, 1000).Select(i => (double)i)));
        Assert.That(run.Statistics.RecordsDropped, Is.Zero);
        Assert.That(run.Statistics.RecordsRetried, Is.EqualTo(2 * run.Statistics.RecordsWritten));
        Assert.That(Diagnostics.Where(d => d.Level == DiagnosticLevel.Warning).Select(d => d.Message), Has.Some.Contains("retrying in"));
        Assert.That(Read(run).ReadRecords().Select(r => r.Seq), Is.Unique.And.Ordered);
    }

    [Test]
    public async Task SummaryFileCannotBeReplacedOnce_TheRetriedBatchIsWrittenOnce()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options();
        options.TimeProvider = time;
        string? blocker = null;
        options.Diagnostics = d =>
        {
            Diagnostics.Enqueue(d);
            if (d.Message.Contains("retrying in", StringComparison.Ordinal) && Interlocked.Exchange(ref blocker, null) is { } path)
            {
                Directory.Delete(path); // the next attempt can replace the file
            }
        };
        var run = Run.Init(options);

        // The batch's lines append, then summary.json cannot be replaced: a folder stands where its temporary file goes.
        var temporary = Path.Combine(run.Directory!, RunFiles.SummaryFile + ".tmp");
        Directory.CreateDirectory(temporary);
        Volatile.Write(ref blocker, temporary);
        for (var i = 0; i < 100; i++)
        {
            run.Log("x", i);
        }

        var finish = run.FinishAsync();
        await AdvanceUntil(time, () => finish.IsCompleted);
        await finish;

        Assert.That(blocker, Is.Null, "the replacement failed once");
        var lines = File.ReadAllLines(Path.Combine(run.Directory!, RunFiles.RecordsFile));
        Assert.That(lines, Is.Unique, "no line twice");
        Assert.That(Read(run).ReadRecords().Select(r => r.Seq), Is.Unique.And.Ordered);
        Assert.That(History(run).Select(r => Convert.ToDouble(r.Values["x"], CultureInfo.InvariantCulture)), Is.EqualTo(Enumerable.Range(0, 100).Select(i => (double)i)));
        Assert.That(run.Statistics.RecordsDropped, Is.Zero);
    }

    [Test]
    public async Task PermanentBackendFailure_IsReportedCountedAndFinishReturns()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options();
        options.TimeProvider = time;
        options.MaxWriteAttempts = 3;
        var backend = new Mock<IRunBackend>();
        backend.Setup(b => b.WriteAsync(It.IsAny<RecordBatch>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new IOException("No space left on device"));
        var run = Run.Init(options, (_, _) => backend.Object);

        for (var i = 0; i < 500; i++)
        {
            Assert.DoesNotThrow(() => run.Log("x", i));
        }

        var finish = run.FinishAsync();
        await AdvanceUntil(time, () => finish.IsCompleted);
        await finish;

        var statistics = run.Statistics;
        Assert.That(statistics.RecordsWritten, Is.Zero);
        Assert.That(statistics.RecordsDropped, Is.EqualTo(statistics.RecordsReceived));
        Assert.That(Diagnostics.Where(d => d.Level == DiagnosticLevel.Error).Select(d => d.Message), Has.Some.Contains("could not be written and were dropped"));
        Assert.That(Diagnostics.First(d => d.Level == DiagnosticLevel.Error).Exception, Is.InstanceOf<IOException>());
        backend.Verify(b => b.WriteAsync(It.IsAny<RecordBatch>(), It.IsAny<CancellationToken>()), Times.AtLeast(3));
        backend.Verify(b => b.DisposeAsync(), Times.Once());
    }

    [Test]
    public async Task HangingBackend_FinishReturnsWhenItsBudgetRunsOut()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options();
        options.TimeProvider = time;
        options.FinishTimeout = TimeSpan.FromSeconds(5);
        var backend = new Mock<IRunBackend>();
        backend.Setup(b => b.WriteAsync(It.IsAny<RecordBatch>(), It.IsAny<CancellationToken>()))
            .Returns((RecordBatch _, CancellationToken ct) => Task.Delay(Timeout.InfiniteTimeSpan, ct));
        var run = Run.Init(options, (_, _) => backend.Object);
        run.Log("x", 1);

        var start = time.GetUtcNow();
        var finish = run.FinishAsync();
        await Task.Delay(50);
        Assert.That(finish.IsCompleted, Is.False, "Finish waits for the writer while it has budget");
        // Advanced step by step: a loaded machine may start Finish's wait after a single jump had passed it by.
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); !finish.IsCompleted && waited.Elapsed < Budget;)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }

        await finish.WaitAsync(Budget);
        Assert.That(time.GetUtcNow() - start, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(5)), "not before its budget ran out");
        Assert.That(run.Statistics.RecordsDropped, Is.EqualTo(run.Statistics.RecordsReceived));
        Assert.That(Diagnostics.Select(d => d.Message), Has.Some.Contains("FinishTimeout"));
    }

    [Test]
    public async Task HangingBackend_WithRealClock_FinishReturnsWithinItsBudget()
    {
        var options = Options();
        options.FinishTimeout = TimeSpan.FromMilliseconds(300);
        var backend = new Mock<IRunBackend>();
        backend.Setup(b => b.WriteAsync(It.IsAny<RecordBatch>(), It.IsAny<CancellationToken>()))
            .Returns((RecordBatch _, CancellationToken ct) => Task.Delay(Timeout.InfiniteTimeSpan, ct));
        var run = Run.Init(options, (_, _) => backend.Object);
        run.Log("x", 1);

        // Generous bound: this checks that Finish gives up, not how fast it is.
        Assert.That(run.FinishAsync().Wait(TimeSpan.FromSeconds(20)), Is.True);
    }

    [Test]
    public async Task FullQueue_WaitMode_BlocksTheProducerUntilTheWriterCatchesUp()
    {
        using var gate = new SemaphoreSlim(0);
        var options = Options();
        options.MaxQueuedRecords = 2 * 2048;
        var run = Run.Init(options, (dir, json) => new GatedBackend(LocalFileBackend.Open(dir, json), gate));

        var producer = Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                run.Log("x", i);
            }
        });
        await Task.Delay(200);
        Assert.That(producer.IsCompleted, Is.False, "the producer waits while the queue is full");
        gate.Release(int.MaxValue / 2);
        await producer.WaitAsync(Budget);
        await run.FinishAsync();

        Assert.That(History(run), Has.Count.EqualTo(20_000));
        Assert.That(run.Statistics.RecordsDropped, Is.Zero);
    }

    [Test]
    public async Task FullQueue_DropNewestMode_DropsCountsAndReports()
    {
        using var gate = new SemaphoreSlim(0);
        var options = Options();
        options.MaxQueuedRecords = 2 * 2048;
        options.FullMode = QueueFullMode.DropNewest;
        var run = Run.Init(options, (dir, json) => new GatedBackend(LocalFileBackend.Open(dir, json), gate));

        for (var i = 0; i < 20_000; i++)
        {
            run.Log("x", i);
        }

        run.Config["still"] = "kept";
        gate.Release(int.MaxValue / 2);
        await run.FinishAsync();

        var statistics = run.Statistics;
        Assert.That(statistics.RecordsDropped, Is.GreaterThan(0));
        Assert.That(statistics.RecordsWritten + statistics.RecordsDropped, Is.EqualTo(statistics.RecordsReceived));
        Assert.That(History(run), Has.Count.EqualTo(20_000 - statistics.RecordsDropped));
        Assert.That(Read(run).Info.Config["still"], Is.EqualTo("kept"), "metadata records are never dropped");
        Assert.That(Diagnostics.Select(d => d.Message), Has.Some.Contains("DropNewest"));
    }

    [Test]
    public async Task FlushInterval_WritesASlowRunsPointsWithoutAFlushCall()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options();
        options.TimeProvider = time;
        options.FlushInterval = TimeSpan.FromSeconds(1);
        var run = Run.Init(options);
        run.Log("x", 1);
        await Task.Delay(100);
        Assert.That(Read(run).ReadHistory(), Is.Empty, "a lone point waits for the interval");

        time.Advance(TimeSpan.FromSeconds(1));
        await AdvanceUntil(time, () => Read(run).ReadHistory().Any(), step: TimeSpan.Zero);
        Assert.That(Read(run).ReadHistory().Single().Values["x"], Is.EqualTo(1.0));
        await run.FinishAsync();
    }

    [Test]
    public async Task Finish_Twice_IsHarmlessAndDisposeAfterFinishDoesNothing()
    {
        var run = Run.Init(Options());
        run.Log("x", 1);
        var first = run.FinishAsync();
        var second = run.FinishAsync();
        Assert.That(second, Is.SameAs(first));
        await first;
        run.Dispose();
        await run.DisposeAsync();

        Assert.That(run.IsFinished, Is.True);
        Assert.That(Read(run).ReadRecords().Count(r => r.Type == "finish"), Is.EqualTo(1));
    }

    [Test]
    public async Task DisposeAsync_FinishesTheRun()
    {
        string directory;
        await using (var run = Run.Init(Options()))
        {
            run.Log("x", 1);
            directory = run.Directory!;
        }

        Assert.That(Reading.RunReader.Open(directory).Info.State, Is.EqualTo("finished"));
    }

    [Test]
    public void Dispose_FinishesTheRun()
    {
        string directory;
        using (var run = Run.Init(Options()))
        {
            run.Log("x", 1);
            directory = run.Directory!;
        }

        Assert.That(Reading.RunReader.Open(directory).Info.State, Is.EqualTo("finished"));
    }

    [Test]
    public void Finish_WithNonZeroExitCode_MarksTheRunFailed()
    {
        var run = Run.Init(Options());
        run.Finish(2);

        var info = Read(run).Info;
        Assert.That(info.State, Is.EqualTo("failed"));
        Assert.That(info.ExitCode, Is.EqualTo(2));
        Assert.That(info.EndTime, Is.Not.Null);
    }

    [Test]
    public void Finish_PrintsHistorySparklinesAndSummary_AtMostTenRowsEach()
    {
        var run = Run.Init(Options());
        for (var step = 0; step < 50; step++)
        {
            run.Log(Enumerable.Range(0, 12).ToDictionary(k => $"metric{k:00}", k => (object?)(double)(step * k)));
        }

        run.Finish();

        var text = Output.ToString();
        Assert.That(text, Does.Contain("Run history:").And.Contain("Run summary:").And.Contain("+2 more"));
        Assert.That(text, Does.Contain("▁").And.Contain("█"));
        Assert.That(text, Does.Contain("metric01 49"));
        Assert.That(text, Does.Contain(run.Directory));
    }

    [Test]
    public void Finish_FooterCountsPointsLoggedAndRecordLines_InTheWordsOfStatisticsAndLs()
    {
        var run = Run.Init(Options());
        run.Config["lr"] = 0.1;
        for (var step = 0; step < 40; step++)
        {
            run.Log(new Dictionary<string, object?> { ["loss"] = 1.0 / (step + 1), ["acc"] = step / 40.0 });
        }

        run.Finish();

        var statistics = run.Statistics;
        var lastSeq = Read(run).ReadRecords().Last().Seq;
        Assert.That(statistics.RecordsReceived, Is.GreaterThanOrEqualTo(80), "each value is a point");
        Assert.That(statistics.LinesWritten, Is.EqualTo(lastSeq), "the record lines tracker ls shows");
        Assert.That(statistics.LinesWritten, Is.LessThan(statistics.RecordsReceived), "rows share lines: two different counts");
        Assert.That(statistics.LinesAcknowledged, Is.Zero, "offline");
        Assert.That(Output.ToString(), Does.Contain(
            $"written: {statistics.RecordsReceived:N0} points logged, {lastSeq:N0} record lines in {run.Directory}"));
        Assert.That(Output.ToString(), Does.Not.Contain(" records"), "records no longer names a count");
    }

    [Test]
    public void Statistics_ResumedRun_CountsTheRecordLinesOfItsEarlierSessions()
    {
        var first = Run.Init(Options());
        first.Log("x", 1);
        first.Finish();
        var linesBefore = first.Statistics.LinesWritten;

        var options = Options(first.Id);
        options.Resume = ResumeMode.Allow;
        var resumed = Run.Init(options);
        resumed.Log("x", 2);
        resumed.Finish();

        Assert.That(linesBefore, Is.GreaterThan(0));
        Assert.That(resumed.Statistics.LinesWritten, Is.EqualTo(Read(resumed).ReadRecords().Last().Seq).And.GreaterThan(linesBefore));
    }

    [Test]
    public void DiagnosticsHook_ThatThrows_DoesNotHarmTheRun()
    {
        var options = Options();
        options.Diagnostics = _ => throw new InvalidOperationException("bad hook");
        var run = Run.Init(options);
        run.Log("x", 1, step: 5);

        Assert.DoesNotThrow(() => run.Log("x", 2, step: 1));
        run.Finish();
        Assert.That(History(run), Has.Count.EqualTo(1));
    }

    private static async Task AdvanceUntil(FakeTimeProvider time, Func<bool> done, TimeSpan? step = null)
    {
        for (var i = 0; i < 2000 && !done(); i++)
        {
            time.Advance(step ?? TimeSpan.FromMilliseconds(500));
            await Task.Delay(5);
        }

        Assert.That(done(), Is.True, "the condition did not come true");
    }

    /// <summary>A backend that writes only once the test opens the gate.</summary>
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
