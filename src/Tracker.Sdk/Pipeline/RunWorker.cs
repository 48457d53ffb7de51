using Polly;
using Polly.Retry;
using Tracker.Backends;
using Tracker.Internal;

namespace Tracker.Pipeline;

/// <summary>Counters owned by the worker.</summary>
internal readonly record struct WorkerCounters(long Written, long Retried, long Dropped, long LastSeq);

/// <summary>
/// The one reader of a run's queue: gathers chunks into batches bounded by count and bytes,
/// writes them through the backend with retries and back-off, completes flush markers, and
/// stops within a time budget, counting whatever it could not write.
/// </summary>
internal sealed class RunWorker
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(2);
    private readonly RecordQueue _queue;
    private readonly IRunBackend _backend;
    private readonly RecordBatch _batch;
    private readonly Backoff _delays;
    private readonly int _maxAttempts;
    private readonly TimeProvider _timeProvider;
    private readonly DiagnosticsSink _diagnostics;
    private readonly int _maxBatchRecords;
    private readonly int _maxBatchBytes;
    private readonly CancellationTokenSource _abort = new();
    private readonly List<Chunk> _markers = [];
    private Task _loop = Task.CompletedTask;
    private ResiliencePipeline _pipeline = ResiliencePipeline.Empty; // built by the loop: building it costs a cold Run.Init tens of milliseconds
    private bool _droppedSinceMarker;
    private long _nextSeq;
    private long _numberAfter; // set by the sender's thread: the server holds the numbers up to it
    private long _written;
    private long _lastSeq; // the number of the last line written, read by other threads
    private long _retried;
    private long _dropped;

    public RunWorker(RecordQueue queue, IRunBackend backend, KeyRegistry keys, RunOptions options, DiagnosticsSink diagnostics, long firstSeq, Backoff? backoff = null)
    {
        _queue = queue;
        _backend = backend;
        _batch = new RecordBatch(keys);
        _diagnostics = diagnostics;
        _maxBatchRecords = options.MaxBatchRecords;
        _maxBatchBytes = options.MaxBatchBytes;
        _nextSeq = firstSeq;
        _lastSeq = firstSeq - 1;
        _delays = backoff ?? Backoff.Default;
        _maxAttempts = options.MaxWriteAttempts;
        _timeProvider = options.TimeProvider;
    }

    /// <summary>Numbers the next lines after <paramref name="seq"/>: the server holds the numbers up to it (see <see cref="Online.ServerBackend"/>).</summary>
    public void NumberAfter(long seq)
    {
        long current;
        do
        {
            current = Interlocked.Read(ref _numberAfter);
            if (seq <= current)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _numberAfter, seq, current) != current);
    }

    public WorkerCounters Counters => new(Interlocked.Read(ref _written), Interlocked.Read(ref _retried), Interlocked.Read(ref _dropped), Interlocked.Read(ref _lastSeq));

    public void Start()
    {
        // The loop must not capture the caller's ExecutionContext (AsyncLocals, activities).
        using (ExecutionContext.SuppressFlow())
        {
            _loop = Task.Run(LoopAsync);
        }
    }

    /// <summary>
    /// Waits for the loop to write everything up to the completed end of the queue, at most
    /// <paramref name="budget"/>; then abandons the rest, counts it as dropped, and disposes the backend.
    /// </summary>
    public async Task StopAsync(TimeSpan budget, TimeProvider time)
    {
        try
        {
            await _loop.WaitAsync(budget, time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await _abort.CancelAsync().ConfigureAwait(false);
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
                $"Finish ran out of its {budget.TotalSeconds:N1} s budget (FinishTimeout) before everything was written."));
            try
            {
                // A backend that ignores cancellation must not hold Finish hostage either.
                await _loop.WaitAsync(StopGrace, time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
                    $"The backend did not stop within {StopGrace.TotalSeconds:N0} s of being cancelled; it is left running and not closed."));
                return;
            }
        }

        try
        {
            await _backend.DisposeAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // closing the files must not throw into Finish
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error, "Closing the run's backend failed.", ex));
        }

        _abort.Dispose();
    }

    private async Task LoopAsync()
    {
        var reader = _queue.Reader;
        try
        {
            _pipeline = BuildPipeline(); // before the first chunk comes, not while Log's chunks wait for it
            while (await _queue.WaitToReadAsync(_abort.Token).ConfigureAwait(false))
            {
                while (_batch.EntryCount < _maxBatchRecords && _batch.ApproximateBytes < _maxBatchBytes && reader.TryRead(out var chunk))
                {
                    if (chunk.FlushSignal is not null)
                    {
                        _markers.Add(chunk);
                        break; // everything queued before the marker is in this batch
                    }

                    _batch.Add(chunk);
                }

                if (_batch.Chunks.Count > 0) // records, or only a new run.json
                {
                    await WriteBatchAsync().ConfigureAwait(false);
                }

                ReleaseBatch(markersResult: !_droppedSinceMarker);
            }
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            // Finish's budget ran out: what is still here was not written.
            Interlocked.Add(ref _dropped, _batch.EntryCount);
            ReleaseBatch(markersResult: false);
            while (reader.TryRead(out var chunk))
            {
                Interlocked.Add(ref _dropped, chunk.Count);
                chunk.FlushSignal?.TrySetResult(false);
                _queue.Return(chunk);
            }
        }
    }

    private ResiliencePipeline BuildPipeline()
    {
        var maxAttempts = _maxAttempts;
        var delays = _delays;
        return new ResiliencePipelineBuilder { TimeProvider = _timeProvider }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = Math.Max(1, maxAttempts - 1),
                ShouldHandle = args => new ValueTask<bool>(maxAttempts > 1 && args.Outcome.Exception is not null and not OperationCanceledException),
                DelayGenerator = args => new ValueTask<TimeSpan?>(delays.GetDelay(args.AttemptNumber)),
                OnRetry = args =>
                {
                    Interlocked.Add(ref _retried, _batch.EntryCount);
                    _diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
                        $"Writing {_batch.EntryCount:N0} records failed (attempt {args.AttemptNumber + 1} of {maxAttempts}); retrying in {args.RetryDelay.TotalMilliseconds:N0} ms.",
                        args.Outcome.Exception));
                    return default;
                },
            })
            .Build();
    }

    private async Task WriteBatchAsync()
    {
        _nextSeq = Math.Max(_nextSeq, Interlocked.Read(ref _numberAfter) + 1);
        _batch.FirstSeq = _nextSeq;
        try
        {
            await _pipeline.ExecuteAsync(
                static (state, ct) => new ValueTask(state._backend.WriteAsync(state._batch, ct)), this, _abort.Token).ConfigureAwait(false);
            _nextSeq += _batch.LineCount;
            Interlocked.Exchange(ref _lastSeq, _nextSeq - 1);
            Interlocked.Add(ref _written, _batch.EntryCount);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_abort.IsCancellationRequested)
        {
            // Given up: the records are lost, the run goes on. Their sequence numbers are reused.
            Interlocked.Add(ref _dropped, _batch.EntryCount);
            _droppedSinceMarker = true;
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
                $"{_batch.EntryCount:N0} points could not be written and were dropped: {ex.Message}", ex));
        }
    }

    private void ReleaseBatch(bool markersResult)
    {
        foreach (var chunk in _batch.Chunks)
        {
            _queue.Return(chunk);
        }

        _batch.Clear();
        foreach (var marker in _markers)
        {
            marker.FlushSignal!.TrySetResult(markersResult);
            _droppedSinceMarker = false;
        }

        _markers.Clear();
    }
}
