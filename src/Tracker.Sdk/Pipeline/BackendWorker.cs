using Polly;
using Polly.Retry;
using Tracker.Export;
using Tracker.Internal;
using Tracker.Online;
using Tracker.Reading;

namespace Tracker.Pipeline;

/// <summary>
/// Feeds one custom backend (<see cref="IRecordBackend"/>) from the run directory: a loop of its own
/// reads the lines of records.jsonl after the backend's cursor in bounded batches (the same
/// <see cref="RecordTail"/> the server upload reads), hands them over in order, advances the cursor
/// in <c>backends/&lt;name&gt;.json</c>, and retries with back-off whatever throws. The backlog stays in
/// the file, so a backend that is down for the whole run costs one batch of memory and nothing else.
/// </summary>
internal sealed class BackendWorker
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan FinishingRetryDelay = TimeSpan.FromMilliseconds(200);

    private readonly IRecordBackend _backend;
    private readonly RunInfo _run;
    private readonly string _directory;
    private readonly RecordTail _tail;
    private readonly BackendCursor _cursor;
    private readonly DiagnosticsSink _diagnostics;
    private readonly TimeProvider _time;
    private readonly Backoff _backoff;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _finishing = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;
    private long _written;
    private int _failures;
    private string _step = "opening";

    /// <param name="backend">The backend; the worker disposes it when it stops.</param>
    /// <param name="run">The run as it started, passed to <see cref="IRecordBackend.OpenAsync"/>.</param>
    /// <param name="directory">The run directory holding records.jsonl.</param>
    /// <param name="localSeq">The last sequence number already in records.jsonl (a resumed run's).</param>
    /// <param name="diagnostics">Where failures are reported; a sink of its own, so its reports do not hold back others.</param>
    /// <param name="time">Clock for the back-off.</param>
    /// <param name="backoff">Delays between attempts; 1 s doubling to 30 s when null.</param>
    public BackendWorker(IRecordBackend backend, RunInfo run, string directory, long localSeq, DiagnosticsSink diagnostics, TimeProvider time, Backoff? backoff = null)
    {
        _backend = backend;
        _run = run;
        _directory = directory;
        _diagnostics = diagnostics;
        _time = time;
        _backoff = backoff ?? new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        _written = localSeq;
        _tail = new RecordTail(directory, diagnostics);
        _cursor = new BackendCursor(directory, backend.Name);
        _cursor.Load(localSeq);
        Name = backend.Name;
        (backend as IReportingBackend)?.UseDiagnostics(diagnostics);
    }

    /// <summary>The backend's name, read once.</summary>
    public string Name { get; }

    /// <summary>Lines in records.jsonl the backend has not taken yet.</summary>
    public long Pending => Math.Max(0, Interlocked.Read(ref _written) - _cursor.Delivered);

    public void Start()
    {
        // The loop must not capture the caller's ExecutionContext (AsyncLocals, activities).
        using (ExecutionContext.SuppressFlow())
        {
            _loop = Task.Run(LoopAsync);
        }
    }

    /// <summary>Called after lines up to <paramref name="lastSeq"/> are in records.jsonl.</summary>
    public void OnWritten(long lastSeq)
    {
        Interlocked.Exchange(ref _written, lastSeq);
        Volatile.Read(ref _wake).TrySetResult();
    }

    /// <summary>
    /// Called once every record is in records.jsonl: waits, at most <paramref name="budget"/>, for the
    /// backend to take them and flush, then disposes it. Reports what it did not take; never throws.
    /// </summary>
    public async Task StopAsync(TimeSpan budget)
    {
        _finishing.TrySetResult();
        Volatile.Read(ref _wake).TrySetResult();
        var completed = true;
        try
        {
            await _loop.WaitAsync(budget, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            completed = false;
            await _stop.CancelAsync().ConfigureAwait(false);
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
                $"Backend '{Name}' did not take {Pending:N0} records of run {_run.Id} (it was {_step}) within Finish's {budget.TotalSeconds:N1} s budget (FinishTimeout). "
                + $"They stay in {_directory}; resume the run with the backend registered to send them."));
            try
            {
                // A backend that ignores cancellation must not hold Finish hostage.
                await _loop.WaitAsync(StopGrace, _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
                    $"Backend '{Name}' did not stop within {StopGrace.TotalSeconds:N0} s of being cancelled; it is left running and not disposed."));
                return;
            }
        }

        try
        {
            await _backend.DisposeAsync().AsTask().WaitAsync(completed ? budget : StopGrace, _time).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // a backend's failure must never throw into Finish
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error, $"Closing backend '{Name}' failed: {ex.Message}", ex));
        }

        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        var cancellation = _stop.Token;
        var pipeline = BuildPipeline();
        try
        {
            await pipeline.ExecuteAsync(static (s, ct) => new ValueTask(s._backend.OpenAsync(s._run, s._directory, ct)), this, cancellation).ConfigureAwait(false);
            while (true)
            {
                // Armed before reading, so a write that lands after the read still wakes the loop.
                var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref _wake, wake);
                _step = "reading records";
                if (!await pipeline.ExecuteAsync(static (s, ct) => s.SendNextAsync(ct), this, cancellation).ConfigureAwait(false))
                {
                    if (_finishing.Task.IsCompleted)
                    {
                        break; // Finish: every line was written before, and the backend has them all
                    }

                    await Task.WhenAny(wake.Task, _finishing.Task).WaitAsync(cancellation).ConfigureAwait(false);
                }
            }

            _step = "flushing";
            await pipeline.ExecuteAsync(static (s, ct) => new ValueTask(s._backend.FlushAsync(ct)), this, cancellation).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Finish's budget ran out; StopAsync reports what is left.
        }
    }

    /// <summary>Hands the next batch after the cursor to the backend; false when there is none.</summary>
    private async ValueTask<bool> SendNextAsync(CancellationToken cancellationToken)
    {
        var batch = _tail.Read(Interlocked.Read(ref _written), _cursor.Delivered);
        if (batch.Lines == 0)
        {
            return false;
        }

        _step = $"taking records {batch.FirstSeq:N0} to {batch.LastSeq:N0}";
        await _backend.WriteAsync(new BackendBatch(_tail.Lines(batch), batch.Lines, batch.FirstSeq, batch.LastSeq), cancellationToken).ConfigureAwait(false);
        _tail.Consumed(batch);
        _cursor.Advance(batch.LastSeq);
        if (_failures > 0)
        {
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Info, $"Backend '{Name}' takes records again (up to {batch.LastSeq:N0}) after {_failures:N0} failed attempts."));
            _failures = 0;
        }

        return true;
    }

    /// <summary>Retries anything a step throws until it succeeds or Finish's budget runs out: the records wait in the file meanwhile.</summary>
    private ResiliencePipeline BuildPipeline() =>
        new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = int.MaxValue,
                ShouldHandle = args => new ValueTask<bool>(args.Outcome.Exception is not null && !_stop.IsCancellationRequested), // a backend's own timeouts too
                DelayGenerator = args => new ValueTask<TimeSpan?>(_finishing.Task.IsCompleted
                    ? TimeSpan.FromTicks(Math.Min(FinishingRetryDelay.Ticks, _backoff.GetDelay(args.AttemptNumber).Ticks)) // Finish waits: try again soon while its budget lasts
                    : _backoff.GetDelay(args.AttemptNumber)),
                OnRetry = args =>
                {
                    // The first failure at once, then at most one report per interval.
                    var report = new RunDiagnostic(DiagnosticLevel.Warning,
                        $"Backend '{Name}' failed {_step} of run {_run.Id} (attempt {args.AttemptNumber + 1:N0}); retrying in {args.RetryDelay.TotalSeconds:N1} s. Nothing is lost: the records stay in {_directory} until it takes them.",
                        args.Outcome.Exception);
                    if (_failures++ == 0)
                    {
                        _diagnostics.Report(report);
                    }
                    else
                    {
                        _diagnostics.ReportRateLimited(report);
                    }

                    return default;
                },
            })
            .Build();
}
