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

    /// <summary>A paced backend that keeps the sequence numbers it gets and calls back whenever it has caught up.</summary>
    private sealed class PacedBackend(string directory, DiagnosticsSink diagnostics, Action onIdle) : IPacedBackend
    {
        public List<long> Seqs { get; } = [];

        public string Name => "paced";

        public IBackendCursor Cursor { get; } = new BackendCursor(directory, "paced");

        public IFollowerReports Reports { get; } = new BackendReports("paced", "r", directory, diagnostics);

        public TimeSpan SendInterval => TimeSpan.Zero;

        public TimeSpan IdleInterval => Timeout.InfiniteTimeSpan;

        public Task OpenAsync(RunInfo run, string directory, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task WriteAsync(BackendBatch batch, CancellationToken cancellationToken)
        {
            Seqs.AddRange(Encoding.UTF8.GetString(batch.Lines.Span).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(FakeTrackerServer.SeqOf));
            return Task.CompletedTask;
        }

        public Task IdleAsync(bool quiet, CancellationToken cancellationToken)
        {
            onIdle();
            return Task.CompletedTask;
        }

        public TimeSpan? RetryAfter(Exception exception) => null;

        public bool IsFinal(Exception exception) => false;

        public Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
