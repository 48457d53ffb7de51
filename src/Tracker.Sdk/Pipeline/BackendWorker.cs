using Tracker.Export;
using Tracker.Internal;
using Tracker.Online;
using Tracker.Reading;

namespace Tracker.Pipeline;

/// <summary>
/// Feeds one backend from the run directory: the server upload (<see cref="ServerBackend"/>) or a
/// custom one (<see cref="IRecordBackend"/>). A loop of its own reads the lines of records.jsonl after
/// the backend's cursor in bounded batches (<see cref="RecordTail"/>), hands them over in order,
/// advances the cursor, and retries with back-off whatever throws. The backlog stays in the file, so
/// a backend that is down for the whole run costs one batch of memory and nothing else. A paced
/// backend (<see cref="IPacedBackend"/>) brings its own cursor, reports and pace.
/// </summary>
internal sealed class BackendWorker
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan FinishingRetryDelay = TimeSpan.FromMilliseconds(200);

    private readonly IRecordBackend _backend;
    private readonly IPacedBackend? _paced;
    private readonly RunInfo _run;
    private readonly string _directory;
    private readonly RecordTail _tail;
    private readonly IBackendCursor _cursor;
    private readonly IFollowerReports _reports;
    private readonly DiagnosticsSink _diagnostics;
    private readonly TimeProvider _time;
    private readonly Backoff _backoff;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _finishing = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;
    private IProgress<long>? _progress;
    private long _written;
    private string _step = "opening";
    private Exception? _stoppedBy;

    /// <param name="backend">The backend; the worker disposes it when it stops.</param>
    /// <param name="run">The run as it started, passed to <see cref="IRecordBackend.OpenAsync"/>.</param>
    /// <param name="directory">The run directory holding records.jsonl.</param>
    /// <param name="localSeq">The last sequence number already in records.jsonl (a resumed run's).</param>
    /// <param name="diagnostics">Where failures are reported; a sink of its own, so its reports do not hold back others.</param>
    /// <param name="time">Clock for the back-off and the pace.</param>
    /// <param name="backoff">Delays between attempts; 1 s doubling to 30 s when null.</param>
    public BackendWorker(IRecordBackend backend, RunInfo run, string directory, long localSeq, DiagnosticsSink diagnostics, TimeProvider time, Backoff? backoff = null)
    {
        _backend = backend;
        _paced = backend as IPacedBackend;
        _run = run;
        _directory = directory;
        _time = time;
        _diagnostics = diagnostics;
        _backoff = backoff ?? new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        _written = localSeq;
        _tail = new RecordTail(directory, diagnostics);
        Name = backend.Name;
        _cursor = _paced?.Cursor ?? new BackendCursor(directory, Name);
        _reports = _paced?.Reports ?? new BackendReports(Name, run.Id, directory, diagnostics);
        _cursor.Load(localSeq);
        (backend as IReportingBackend)?.UseDiagnostics(diagnostics.Report);
    }

    /// <summary>The backend's name, read once.</summary>
    public string Name { get; }

    /// <summary>The last sequence number the backend took.</summary>
    public long Delivered => _cursor.Delivered;

    /// <summary>The last sequence number in records.jsonl that the run reported written.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Lines in records.jsonl the backend has not taken yet.</summary>
    public long Pending => Math.Max(0, Interlocked.Read(ref _written) - _cursor.Delivered);

    public void Start()
    {
        // The loop must not capture the caller's ExecutionContext (AsyncLocals, activities).
        using (ExecutionContext.SuppressFlow())
        {
            _loop = Task.Run(() => LoopAsync(retry: true, _stop.Token));
        }
    }

    /// <summary>Called after lines up to <paramref name="lastSeq"/> are in records.jsonl.</summary>
    public void OnWritten(long lastSeq)
    {
        Interlocked.Exchange(ref _written, lastSeq);
        Wake();
    }

    /// <summary>Makes the loop look for work now (the backend has something besides records to send).</summary>
    public void Wake() => Volatile.Read(ref _wake).TrySetResult();

    /// <summary>
    /// Called once every record is in records.jsonl: waits, at most <paramref name="budget"/>, for the
    /// backend to take them and flush, then disposes it. Reports once what it did not take, however
    /// its loop ended (the budget, a refusal for good, or an end with lines left); never throws.
    /// </summary>
    /// <returns>The lines the backend did not take.</returns>
    public async Task<long> StopAsync(TimeSpan budget)
    {
        _finishing.TrySetResult(); // also cuts a running back-off short
        Wake();
        _reports.FinishWaits(budget, Pending);
        var completed = true;
        try
        {
            await _loop.WaitAsync(budget, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            completed = false;
            await _stop.CancelAsync().ConfigureAwait(false);
            _reports.NotTaken(Pending, _step, budget, _stoppedBy);
            try
            {
                // A backend that ignores cancellation must not hold Finish hostage.
                await _loop.WaitAsync(StopGrace, _time).ConfigureAwait(false);
            }
            catch (TimeoutException) when (_paced is null)
            {
                _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
                    $"Backend '{Name}' did not stop within {StopGrace.TotalSeconds:N0} s of being cancelled; it is left running and not disposed."));
                return Pending;
            }
            catch (TimeoutException)
            {
                // The server upload ignores nothing on purpose, but a handler might: disposing its client below aborts the request.
            }
        }

        _cursor.Close(complete: Pending == 0);
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

        if (completed && Pending > 0)
        {
            // The loop ended on its own with lines the backend does not have: said here, whatever ended it.
            _reports.NotTaken(Pending, _step, budgetRanOut: null, _stoppedBy);
        }

        _stop.Dispose();
        return Pending;
    }

    /// <summary>
    /// Sends every line written so far, once, for <c>tracker sync</c>: no waiting for new lines and
    /// no retries beyond the backend's own. Throws what stopped it; the cursor keeps how far it got.
    /// </summary>
    /// <param name="finished">The run has ended: once the backend has all of it, the cursor says so.</param>
    /// <param name="progress">Told the cursor after each batch.</param>
    /// <param name="cancellationToken">Stops the upload.</param>
    /// <returns>The lines the backend does not have.</returns>
    public async Task<long> DrainAsync(bool finished, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        _progress = progress;
        _finishing.TrySetResult();
        try
        {
            await LoopAsync(retry: false, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _cursor.Close(complete: finished && Pending == 0);
        }

        return Pending;
    }

    private async Task LoopAsync(bool retry, CancellationToken cancellation)
    {
        var attempt = 0;
        var opened = false;
        var quiet = false;
        var lastSent = long.MinValue;
        TimeSpan? pause = null;
        while (true)
        {
            try
            {
                if (pause is { } delay)
                {
                    pause = null;
                    if (await PauseAsync(delay, cancellation).ConfigureAwait(false))
                    {
                        attempt = 0; // Finish began: try again now, and often, while its budget lasts
                    }
                }

                if (!opened)
                {
                    _step = "opening";
                    await _backend.OpenAsync(_run, _directory, cancellation).ConfigureAwait(false);
                    opened = true;
                }

                await SpaceOutAsync(lastSent, cancellation).ConfigureAwait(false);

                // Armed before reading, so a write that lands after the read still wakes the loop; and
                // Finish seen before reading, since every line is reported written before Finish begins.
                var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref _wake, wake);
                var finishing = _finishing.Task.IsCompleted;
                _step = "reading records";
                if (await SendNextAsync(cancellation).ConfigureAwait(false))
                {
                    lastSent = _time.GetTimestamp();
                    attempt = 0;
                    continue;
                }

                if (_paced is not null)
                {
                    _step = "idle";
                    await _paced.IdleAsync(quiet, cancellation).ConfigureAwait(false);
                }

                attempt = 0;
                _reports.CaughtUp(_cursor.Delivered);
                if (finishing)
                {
                    _step = "flushing";
                    await _backend.FlushAsync(cancellation).ConfigureAwait(false); // every line was written before Finish, and the backend has them all
                    return;
                }

                quiet = !await WaitForWorkAsync(wake.Task, cancellation).ConfigureAwait(false);
            }
            catch (BatchNotTakenException)
            {
                _tail.Rewind(); // the cursor moved: read from it again
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                if (!retry)
                {
                    throw;
                }

                return; // Finish's budget ran out; StopAsync reports what is left
            }
            catch (Exception ex) when (retry && !cancellation.IsCancellationRequested && _paced?.IsFinal(ex) == true)
            {
                _stoppedBy = ex;
                _reports.Stopped(ex);
                return;
            }
#pragma warning disable CA1031 // unreachable store, disk hiccup: back off and retry until Finish
            catch (Exception ex) when (retry && !cancellation.IsCancellationRequested)
#pragma warning restore CA1031
            {
                pause = _paced?.RetryAfter(ex) ?? _backoff.GetDelay(attempt++);
                _reports.Failed(ex, pause.Value, _step);
            }
#pragma warning disable CA1031 // stopped by Finish: whatever the cancelled call threw is moot
            catch (Exception) when (retry)
#pragma warning restore CA1031
            {
                return;
            }
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
        try
        {
            await _backend.WriteAsync(new BackendBatch(_tail.Lines(batch), batch.Lines, batch.FirstSeq, batch.LastSeq), cancellationToken).ConfigureAwait(false);
        }
        catch (BatchNotTakenException ex) when (ex.Shrink)
        {
            _tail.Shrink(batch);
            return true;
        }

        _tail.Consumed(batch);
        _cursor.Advance(batch.LastSeq);
        _progress?.Report(_cursor.Delivered);
        return true;
    }

    /// <summary>
    /// After a write, waits out the rest of the backend's send interval unless a full batch is waiting
    /// or Finish began, so that the lines of the steps in between go in one write.
    /// </summary>
    private async Task SpaceOutAsync(long lastSent, CancellationToken cancellationToken)
    {
        if (_paced is null || lastSent == long.MinValue || _finishing.Task.IsCompleted || Pending >= RunSync.MaxBatchLines)
        {
            return;
        }

        var rest = _paced.SendInterval - _time.GetElapsedTime(lastSent);
        if (rest > TimeSpan.Zero)
        {
            await PauseAsync(rest, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for the run's signal; false when the backend's idle interval passed first.</summary>
    private async Task<bool> WaitForWorkAsync(Task wake, CancellationToken cancellationToken)
    {
        try
        {
            await wake.WaitAsync(_paced?.IdleInterval ?? Timeout.InfiniteTimeSpan, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// Waits before the next attempt; true when Finish began meanwhile and cut the wait short. While
    /// Finish waits, attempts come at least every 0.2 s, so a backend that recovers is not left out.
    /// </summary>
    private async Task<bool> PauseAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        if (_finishing.Task.IsCompleted)
        {
            await Task.Delay(delay < FinishingRetryDelay ? delay : FinishingRetryDelay, _time, cancellationToken).ConfigureAwait(false);
            return false;
        }

        using var sleeping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sleep = Task.Delay(delay, _time, sleeping.Token);
        var woken = await Task.WhenAny(sleep, _finishing.Task).ConfigureAwait(false) != sleep;
        await sleeping.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return woken;
    }
}
