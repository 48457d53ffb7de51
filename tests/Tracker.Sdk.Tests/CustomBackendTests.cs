using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Tracker.Export;
using Tracker.Format;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>
/// Custom backends (RunOptions.Backends): the worker's side of the contract (order, retries, cursor,
/// Finish's budget). The backends here use the public API only; the test that proves it compiles
/// without internals access is in Tracker.Sdk.Extensions.Tests (CustomBackendPublicApiTests).
/// </summary>
public sealed class CustomBackendTests : RunTestBase
{
    [Test]
    public void Backend_GetsEveryRecordOnceInOrder_ThenFlushAndDispose()
    {
        var backend = new RecordingBackend("copy");
        var options = Options();
        options.Config = new { lr = 0.01 };
        options.Backends.Add(backend);
        var run = Run.Init(options);
        for (var step = 0; step < 2000; step++)
        {
            run.Log("loss", 1.0 / (step + 1));
        }

        run.Config["batch"] = 32;
        run.Summary["best"] = 0.5;
        run.Finish();

        var local = new RecordFile(Path.Combine(run.Directory!, RunFiles.RecordsFile)).Read().Select(r => r.Seq).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(backend.Opened!.Id, Is.EqualTo(run.Id));
            Assert.That(backend.Opened.Config["lr"], Is.EqualTo(0.01));
            Assert.That(backend.Directory, Is.EqualTo(run.Directory));
            Assert.That(backend.Records.Select(r => r.Seq), Is.EqualTo(local), "every line of records.jsonl, once, in order");
            Assert.That(backend.Records.OfType<HistoryLine>().SelectMany(h => h.Block.Steps), Is.EqualTo(Enumerable.Range(0, 2000).Select(i => (long)i)));
            Assert.That(backend.Records.OfType<ValuesLine>().Any(v => !v.IsSummary && v.Values.ContainsKey("batch")), Is.True);
            Assert.That(backend.Records.OfType<ValuesLine>().Any(v => v.IsSummary && v.IsFinal), Is.True);
            Assert.That(backend.Records[^1], Is.TypeOf<FinishLine>().With.Property(nameof(FinishLine.State)).EqualTo(RunStates.Finished));
            Assert.That(backend.Calls[0], Is.EqualTo("open"));
            Assert.That(backend.Calls[1..^2], Is.Not.Empty.And.All.EqualTo("write"));
            Assert.That(backend.Calls[^2..], Is.EqualTo(new[] { "flush", "dispose" }));
            Assert.That(File.Exists(Path.Combine(run.Directory!, RunFiles.BackendsFolder, "copy.json")), Is.True, "the cursor");
            Assert.That(Diagnostics.Where(d => d.Level >= DiagnosticLevel.Warning), Is.Empty);
        });
    }

    [Test]
    public void Backend_ThrowingTwiceThenSucceeding_GetsEveryRecordOnce()
    {
        var backend = new RecordingBackend("flaky") { FailWrites = 2 };
        var options = Options();
        options.Backends.Add(backend);
        var run = Run.Init(options);
        for (var step = 0; step < 100; step++)
        {
            run.Log("loss", step);
        }

        run.Finish();

        var local = new RecordFile(Path.Combine(run.Directory!, RunFiles.RecordsFile)).Read().Select(r => r.Seq).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(backend.FailedAttempts, Is.EqualTo(2));
            Assert.That(backend.Records.Select(r => r.Seq), Is.EqualTo(local), "each record once, none lost to the failures");
            Assert.That(Diagnostics.Count(d => d.Level == DiagnosticLevel.Warning && d.Message.Contains("Backend 'flaky' failed", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(1));
            Assert.That(Diagnostics.Where(d => d.Level == DiagnosticLevel.Error), Is.Empty);
        });
    }

    [Test]
    public void Backend_AlwaysThrowing_SlowsNeitherLogNorFinishNorAnotherBackend_AndIsReported()
    {
        var broken = new RecordingBackend("broken") { FailWrites = int.MaxValue };
        var healthy = new RecordingBackend("healthy");
        var options = Options();
        options.FinishTimeout = TimeSpan.FromSeconds(2);
        options.Backends.Add(broken);
        options.Backends.Add(healthy);
        var run = Run.Init(options);
        var log = Stopwatch.StartNew();
        for (var step = 0; step < 200_000; step++)
        {
            run.Log("loss", step);
        }

        log.Stop();
        var finish = Stopwatch.StartNew();
        run.Finish();
        finish.Stop();

        var local = new RecordFile(Path.Combine(run.Directory!, RunFiles.RecordsFile)).Read().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(log.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "Log never waits on a backend");
            Assert.That(finish.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2 + 2)), "FinishTimeout, plus the grace for a backend to stop");
            Assert.That(local.OfType<HistoryLine>().Sum(h => h.Block.Rows), Is.EqualTo(200_000), "the run directory has everything");
            Assert.That(healthy.Records.Select(r => r.Seq), Is.EqualTo(local.Select(r => r.Seq)), "the other backend got everything");
            Assert.That(broken.Records, Is.Empty);
            Assert.That(broken.Calls[^1], Is.EqualTo("dispose"));
            Assert.That(Diagnostics.Any(d => d.Level == DiagnosticLevel.Error && d.Message.Contains("Backend 'broken' did not take", StringComparison.Ordinal)
                && d.Message.Contains("FinishTimeout", StringComparison.Ordinal)), Is.True, string.Join("\n", Diagnostics));
        });
    }

    [Test]
    public async Task Finish_DuringALongBackOff_TriesAgainAtOnce()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero));
        var backend = new RecordingBackend("recovering") { FailWrites = 5 };
        var options = Options();
        options.TimeProvider = time;
        options.Backends.Add(backend);
        var run = Run.Init(options);
        run.Log("loss", 1);
        await run.FlushAsync();
        var waited = Stopwatch.StartNew();
        while (backend.FailedAttempts < 5 && waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }

        // The fifth failure started a back-off of 12 to 16 s that the clock, standing still from now on, never ends:
        // the backend (which takes everything now) gets the records only if Finish cuts that wait short.
        Assert.That(backend.FailedAttempts, Is.EqualTo(5));
        await run.FinishAsync().WaitAsync(TimeSpan.FromSeconds(20));

        var local = new RecordFile(Path.Combine(run.Directory!, RunFiles.RecordsFile)).Read().Select(r => r.Seq).ToList();
        Assert.That(backend.Records.Select(r => r.Seq), Is.EqualTo(local));
        Assert.That(Diagnostics.Where(d => d.Level == DiagnosticLevel.Error), Is.Empty);
    }

    [Test]
    public void Backend_HangingAndIgnoringCancellation_DoesNotHoldFinish()
    {
        var hanging = new RecordingBackend("hanging") { HangWrites = true };
        var options = Options();
        options.FinishTimeout = TimeSpan.FromSeconds(1);
        options.Backends.Add(hanging);
        var run = Run.Init(options);
        run.Log("loss", 1);
        var finish = Stopwatch.StartNew();
        run.Finish();

        Assert.Multiple(() =>
        {
            Assert.That(finish.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1 + 1 + 2)));
            Assert.That(Diagnostics.Any(d => d.Message.Contains("Backend 'hanging' did not stop", StringComparison.Ordinal)), Is.True, string.Join("\n", Diagnostics));
        });
    }

    [Test]
    public void Resume_ContinuesEachBackendFromItsCursor_AndANewBackendFromTheStart()
    {
        var first = new RecordingBackend("copy");
        var options = Options("resumed-run");
        options.Backends.Add(first);
        var run = Run.Init(options);
        run.Log("loss", 1);
        run.Log("loss", 2);
        run.Finish();
        var lastOfFirst = first.Records[^1].Seq;

        var again = new RecordingBackend("copy");
        var added = new RecordingBackend("added");
        options = Options("resumed-run");
        options.Resume = ResumeMode.Allow;
        options.Backends.Add(again);
        options.Backends.Add(added);
        run = Run.Init(options);
        run.Log("loss", 3);
        run.Finish();

        var local = new RecordFile(Path.Combine(run.Directory!, RunFiles.RecordsFile)).Read().Select(r => r.Seq).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(again.Opened!.Resumed, Is.EqualTo(1));
            Assert.That(again.Records.Select(r => r.Seq), Is.EqualTo(local.Where(s => s > lastOfFirst)), "only what follows its cursor");
            Assert.That(again.Records.OfType<HistoryLine>().SelectMany(h => h.Block.Steps), Is.EqualTo(new long[] { 2 }));
            Assert.That(added.Records.Select(r => r.Seq), Is.EqualTo(local), "a backend new to the run gets it all");
        });
    }

    [Test]
    public void Backend_ThatFailsToOpen_IsRetriedBeforeAnyBatch()
    {
        var backend = new RecordingBackend("late") { FailOpens = 1 };
        var options = Options();
        options.Backends.Add(backend);
        var run = Run.Init(options);
        run.Log("loss", 1);
        run.Finish();

        Assert.Multiple(() =>
        {
            Assert.That(backend.Calls.Take(3), Is.EqualTo(new[] { "open failed", "open", "write" }));
            Assert.That(backend.Records[^1], Is.TypeOf<FinishLine>());
        });
    }

    [TestCase("", "cannot name its cursor file")]
    [TestCase("../up", "cannot name its cursor file")]
    [TestCase("with space", "cannot name its cursor file")]
    public void Init_WithABadBackendName_ThrowsSayingWhatNamesAreAllowed(string name, string expected)
    {
        var options = Options();
        options.Backends.Add(new RecordingBackend(name));

        var error = Assert.Throws<ArgumentException>(() => Run.Init(options));
        Assert.That(error!.Message, Does.Contain(expected).And.Contain("ASCII letters"));
        Assert.That(Directory.Exists(Root), Is.False, "nothing written");
    }

    [Test]
    public void Init_WithTwoBackendsOfOneName_Throws()
    {
        var options = Options();
        options.Backends.Add(new RecordingBackend("copy"));
        options.Backends.Add(new RecordingBackend("COPY"));

        var error = Assert.Throws<ArgumentException>(() => Run.Init(options));
        Assert.That(error!.Message, Does.Contain("'COPY'").And.Contain("name of its own"));
    }

    [Test]
    public void BatchLines_AreTheRawRecordLines()
    {
        var backend = new RecordingBackend("raw");
        var options = Options();
        options.Backends.Add(backend);
        var run = Run.Init(options);
        run.Log("loss", 1);
        run.Finish();

        Assert.That(string.Concat(backend.RawLines), Is.EqualTo(File.ReadAllText(Path.Combine(run.Directory!, RunFiles.RecordsFile))));
    }

    /// <summary>A backend that keeps what it gets, and fails or hangs on demand.</summary>
    private sealed class RecordingBackend(string name) : IRecordBackend
    {
        private readonly ConcurrentQueue<string> _calls = new();

        public string Name => name;

        public int FailOpens { get; init; }

        public int FailWrites { get; init; }

        public bool HangWrites { get; init; }

        public int FailedAttempts { get; private set; }

        public RunInfo? Opened { get; private set; }

        public string? Directory { get; private set; }

        public List<RecordLine> Records { get; } = [];

        public List<string> RawLines { get; } = [];

        public List<string> Calls => [.. _calls];

        public Task OpenAsync(RunInfo run, string directory, CancellationToken cancellationToken)
        {
            if (_calls.Count(c => c == "open failed") < FailOpens)
            {
                _calls.Enqueue("open failed");
                throw new IOException("not reachable yet");
            }

            _calls.Enqueue("open");
            Opened = run;
            Directory = directory;
            return Task.CompletedTask;
        }

        public async Task WriteAsync(BackendBatch batch, CancellationToken cancellationToken)
        {
            if (HangWrites)
            {
                await Task.Delay(Timeout.Infinite, CancellationToken.None); // ignores cancellation on purpose
            }

            if (FailedAttempts < FailWrites)
            {
                FailedAttempts++;
                throw new IOException("the store is down");
            }

            _calls.Enqueue("write");
            Assert.That(batch.Records, Has.Count.EqualTo(batch.Count));
            Assert.That(batch.Records[0].Seq, Is.EqualTo(batch.FirstSeq));
            Assert.That(batch.Records[^1].Seq, Is.EqualTo(batch.LastSeq));
            Records.AddRange(batch.Records);
            RawLines.Add(System.Text.Encoding.UTF8.GetString(batch.Lines.Span));
        }

        public Task FlushAsync(CancellationToken cancellationToken)
        {
            _calls.Enqueue("flush");
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _calls.Enqueue("dispose");
            return ValueTask.CompletedTask;
        }
    }
}
