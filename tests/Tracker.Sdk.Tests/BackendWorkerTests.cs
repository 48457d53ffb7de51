using System.Text;
using Tracker.Export;
using Tracker.Internal;
using Tracker.Pipeline;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>The backend worker's loop on its own, where a test must place an event between two of its steps.</summary>
public sealed class BackendWorkerTests : OnlineTestBase
{
    [Test]
    public async Task Finish_RightAfterAnEmptyRead_StillSendsTheLastLines()
    {
        var directory = Path.Combine(Root, "p", "r");
        Directory.CreateDirectory(directory);
        File.WriteAllText(RecordsPath(directory), Lines(1, 5));
        var run = new RunInfo { Id = "r", Project = "p", Name = "test" };
        var diagnostics = new DiagnosticsSink(Diagnostics.Enqueue, Output);
        BackendWorker? worker = null;
        Task<long>? stop = null;

        // Once the backend has lines 1 to 5, the run writes its last lines and Finish begins, both before
        // the worker looks at Finish: its read found nothing, but that read was older than the last lines.
        var backend = new PacedBackend(directory, diagnostics, onIdle: () =>
        {
            if (stop is null)
            {
                File.AppendAllText(RecordsPath(directory), Lines(6, 8));
                worker!.OnWritten(8);
                stop = worker.StopAsync(TimeSpan.FromSeconds(20));
            }
        });
        worker = new BackendWorker(backend, run, directory, 5, diagnostics, Time);
        worker.Start();
        await WaitUntil(() => stop is not null);

        var pending = await stop!.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.That(pending, Is.Zero);
        Assert.That(backend.Seqs, Is.EqualTo(Enumerable.Range(1, 8).Select(s => (long)s)));
    }

    [Test]
    public async Task Finish_AfterTheBackendStoppedTakingLines_SaysOnceHowManyItDidNotTake()
    {
        var directory = Path.Combine(Root, "p", "r");
        Directory.CreateDirectory(directory);
        File.WriteAllText(RecordsPath(directory), Lines(1, 3));
        var run = new RunInfo { Id = "r", Project = "p", Name = "test" };
        var diagnostics = new DiagnosticsSink(Diagnostics.Enqueue, Output);

        // It takes lines 1 to 3, then refuses the next batch for good: its loop ends on its own, not by Finish's budget.
        var backend = new PacedBackend(directory, diagnostics, onIdle: () => { }) { TakeUpTo = 3 };
        var worker = new BackendWorker(backend, run, directory, 3, diagnostics, Time);
        worker.Start();
        await WaitUntil(() => backend.Seqs.Count == 3);
        File.AppendAllText(RecordsPath(directory), Lines(4, 8));
        worker.OnWritten(8);
        await WaitUntil(() => Diagnostics.Any(d => d.Message.Contains("stopped taking", StringComparison.Ordinal)));

        var pending = await worker.StopAsync(TimeSpan.FromSeconds(20)).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.That(pending, Is.EqualTo(5));
        var said = Diagnostics.Where(d => d.Message.Contains("did not take", StringComparison.Ordinal)).ToList();
        Assert.That(said, Has.Count.EqualTo(1), string.Join("\n", Diagnostics));
        Assert.That(said[0].Level, Is.EqualTo(DiagnosticLevel.Error));
        Assert.That(said[0].Message, Does.Contain("Backend 'paced' did not take 5 records of run r").And.Contain("backends/paced.json").And.Contain(directory));
    }

    /// <summary>A paced backend that keeps the sequence numbers it gets and calls back whenever it has caught up.</summary>
    private sealed class PacedBackend(string directory, DiagnosticsSink diagnostics, Action onIdle) : IPacedBackend
    {
        private readonly object _lock = new();
        private readonly List<long> _seqs = [];

        /// <summary>The last sequence number it takes; a batch past it is refused for good.</summary>
        public long TakeUpTo { get; init; } = long.MaxValue;

        public List<long> Seqs
        {
            get
            {
                lock (_lock)
                {
                    return [.. _seqs];
                }
            }
        }

        public string Name => "paced";

        public IBackendCursor Cursor { get; } = new BackendCursor(directory, "paced");

        public IFollowerReports Reports { get; } = new BackendReports("paced", "r", directory, diagnostics);

        public TimeSpan SendInterval => TimeSpan.Zero;

        public TimeSpan IdleInterval => Timeout.InfiniteTimeSpan;

        public Task OpenAsync(RunInfo run, string directory, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task WriteAsync(BackendBatch batch, CancellationToken cancellationToken)
        {
            if (batch.LastSeq > TakeUpTo)
            {
                throw new InvalidOperationException("the store refuses the run");
            }

            lock (_lock)
            {
                _seqs.AddRange(Encoding.UTF8.GetString(batch.Lines.Span).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(FakeTrackerServer.SeqOf));
            }

            return Task.CompletedTask;
        }

        public Task IdleAsync(bool quiet, CancellationToken cancellationToken)
        {
            onIdle();
            return Task.CompletedTask;
        }

        public TimeSpan? RetryAfter(Exception exception) => null;

        public bool IsFinal(Exception exception) => exception is InvalidOperationException;

        public Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
