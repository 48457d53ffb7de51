using Tracker.Internal;
using Tracker.Pipeline;
using Tracker.Reading;

namespace Tracker.Online;

/// <summary>
/// Ships a run's records.jsonl to the Tracker server from a cursor, the last sequence number the
/// server acknowledged. One background loop upserts run.json once, then sends the complete lines
/// after the cursor in bounded batches, waits for the worker's signal when it has caught up, and
/// backs off and retries while the server is unreachable. The backlog stays in the file, so an
/// outage of any length costs one batch of memory and loses nothing. The cursor is kept in
/// sync.json for <c>tracker sync</c>; <c>synced</c> turns true once a finished run is all on the server.
/// This class is the loop (wake, back-off, stop); <see cref="BatchSender"/> takes each step,
/// <see cref="RecordTail"/> reads the batches, <see cref="BlobUploader"/> sends their files first,
/// <see cref="SyncCursor"/> keeps the cursor, <see cref="SenderReports"/> tells the user.
/// </summary>
internal sealed class RunSender
{
    public const int MaxBatchLines = RunSync.MaxBatchLines;
    public const int MaxBatchBytes = RunSync.MaxBatchBytes;

    /// <summary>Idle time after which the loop tells the server the run is alive (W&amp;B: 30 s); well under the server's Tracker:CrashedAfter (5 minutes).</summary>
    public static readonly TimeSpan DefaultHeartbeatInterval = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Least time between two requests that carry less than a full batch (W&amp;B's file stream also
    /// sends at intervals, not per step). Many live runs then cost the server one request per run
    /// per interval instead of one per step; a full batch, or Finish, goes at once.
    /// </summary>
    public static readonly TimeSpan DefaultSendInterval = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(1);

    private readonly TrackerHttpClient _client;
    private readonly TimeProvider _time;
    private readonly Backoff _backoff;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _finishing = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SyncCursor _cursor;
    private readonly BatchSender _batches;
    private readonly SenderReports _reports;
    private readonly DiagnosticsSink _diagnostics;
    private readonly string _directory;
    private readonly TimeSpan _heartbeatInterval;
    private readonly TimeSpan _sendInterval;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;
    private long _localSeq;

    /// <param name="client">The server; the sender disposes it when it stops.</param>
    /// <param name="run">The run as its run.json says, sent once at the start.</param>
    /// <param name="directory">The run directory holding records.jsonl.</param>
    /// <param name="localSeq">The last sequence number already in records.jsonl (a resumed run's).</param>
    /// <param name="diagnostics">Where problems are reported.</param>
    /// <param name="time">Clock for back-off and outage reports.</param>
    /// <param name="backoff">Delays between attempts while the server is unreachable.</param>
    /// <param name="keepCursor">Record the cursor in sync.json; false for uploads to a server that is not the run's own, such as <c>tracker ui</c>'s.</param>
    /// <param name="heartbeatInterval">Idle time after which the loop sends a heartbeat; <see cref="DefaultHeartbeatInterval"/> when null.</param>
    /// <param name="sendInterval">Least time between two requests of less than a full batch; <see cref="DefaultSendInterval"/> when null.</param>
    /// <param name="numberAfter">
    /// Called with the server's cursor when the server holds lines past the end of records.jsonl
    /// (its tail was lost after the server had it, and sync.json with it): the run's writer numbers
    /// its next lines after it, since the server skips numbers it holds as replays.
    /// </param>
    public RunSender(TrackerHttpClient client, RunInfo run, string directory, long localSeq, DiagnosticsSink diagnostics, TimeProvider time, Backoff? backoff = null, bool keepCursor = true,
        TimeSpan? heartbeatInterval = null, TimeSpan? sendInterval = null, Action<long>? numberAfter = null)
    {
        _heartbeatInterval = heartbeatInterval ?? DefaultHeartbeatInterval;
        _sendInterval = sendInterval ?? DefaultSendInterval;
        _client = client;
        _time = time;
        _backoff = backoff ?? new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        _localSeq = localSeq;
        _diagnostics = diagnostics;
        _directory = directory;
        var server = client.BaseUrl.ToString();
        _cursor = new SyncCursor(directory, server, run.Id, diagnostics, keepCursor);

        // Until the server answers, the last cursor this directory recorded for it is the best guess.
        _cursor.Load(localSeq);
        _batches = new BatchSender(client, run, directory, _cursor, diagnostics, time, () => Interlocked.Read(ref _localSeq), acked =>
        {
            var local = Interlocked.Read(ref _localSeq);
            diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning,
                $"Run {run.Id}: {server} holds records up to {acked:N0}, but {RunFiles.RecordsFile} ends at {local:N0}: the file lost its tail (and {RunFiles.SyncFile}) after the server had them. "
                + (numberAfter is null ? "The server keeps its records." : $"Records from now on are numbered from {acked + 1:N0}; any numbered up to {acked:N0} since the resume stay in the file only.")));
            numberAfter?.Invoke(acked);
        });
        _reports = new SenderReports(run.Id, server, directory, diagnostics, time);
    }

    /// <summary>The server's cursor when the sender last connected: what it had before this sender sent anything.</summary>
    public long AckedAtConnect => _batches.AckedAtConnect;

    /// <summary>The highest sequence number the server has acknowledged.</summary>
    public long AckedSeq => _cursor.Acked;

    /// <summary>Lines in records.jsonl that the server has not acknowledged yet.</summary>
    public long Unsynced => Math.Max(0, Interlocked.Read(ref _localSeq) - AckedSeq);

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
        Interlocked.Exchange(ref _localSeq, lastSeq);
        Volatile.Read(ref _wake).TrySetResult();
    }

    /// <summary>
    /// The run's metadata changed in a way its records do not carry (the git and machine fields read
    /// after Init): the loop upserts it again before its next batch when <paramref name="upsert"/> is
    /// set. Either way, any later upsert sends this newest run.json, so one still pending at Finish
    /// sends the final state rather than an older one over it.
    /// </summary>
    public void RunChanged(RunInfo run, bool upsert)
    {
        _batches.RunChanged(run, upsert);
        if (upsert)
        {
            Volatile.Read(ref _wake).TrySetResult();
        }
    }

    /// <summary>
    /// Waits, at most <paramref name="budget"/>, until the server has every line written so far,
    /// then stops the loop and records the cursor in sync.json.
    /// </summary>
    /// <returns>The lines the server does not have.</returns>
    public async Task<long> StopAsync(TimeSpan budget)
    {
        _finishing.TrySetResult();
        Volatile.Read(ref _wake).TrySetResult();
        if (_reports.InOutage && Unsynced > 0)
        {
            // Said once, so that a Finish waiting on a dead server is not mistaken for a hang.
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning,
                $"Finish waits up to {budget.TotalSeconds:N0} s for {_client.BaseUrl}, which is not answering, to take the last {Unsynced:N0} lines of the run; what it does not take stays in {_directory} for tracker sync."));
        }

        try
        {
            await _caughtUp.Task.WaitAsync(budget, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The rest stays in the run directory for tracker sync.
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.WaitAsync(StopGrace, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A handler that ignores cancellation: disposing the client below aborts its request.
        }

        _client.Dispose();
        var unsynced = Unsynced;
        _cursor.Save(synced: unsynced == 0);
        return unsynced;
    }

    /// <summary>
    /// Uploads every line written so far, once, for <c>tracker sync</c>: no waiting for new lines and
    /// no retries beyond the client's own. Throws what stopped it; sync.json keeps how far it got.
    /// </summary>
    /// <param name="finished">The run has ended: once all of it is on the server, sync.json says synced.</param>
    /// <param name="progress">Told the acknowledged sequence number after each batch.</param>
    /// <param name="cancellationToken">Stops the upload between or during requests.</param>
    /// <returns>The lines the server does not have.</returns>
    public async Task<long> UploadAsync(bool finished, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        try
        {
            while (await _batches.SendNextAsync(Interlocked.Read(ref _localSeq), cancellationToken).ConfigureAwait(false))
            {
                progress?.Report(AckedSeq);
            }
        }
        finally
        {
            _cursor.Save(synced: finished && Unsynced == 0);
        }

        return Unsynced;
    }

    private async Task LoopAsync()
    {
        var cancellation = _stop.Token;
        var attempt = 0;
        var lastSent = long.MinValue;
        try
        {
            while (true)
            {
                try
                {
                    await SpaceOutAsync(lastSent, cancellation).ConfigureAwait(false);

                    // Armed before reading, so a write that lands after the read still wakes the loop.
                    var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    Volatile.Write(ref _wake, wake);
                    if (!await _batches.SendNextAsync(Interlocked.Read(ref _localSeq), cancellation).ConfigureAwait(false))
                    {
                        OnCaughtUp();
                        if (!await WaitForWorkAsync(wake.Task, cancellation).ConfigureAwait(false))
                        {
                            // Nothing to send for a while: the server would read the run as crashed without a word from it.
                            await _batches.HeartbeatAsync(cancellation).ConfigureAwait(false);
                        }

                        continue;
                    }

                    lastSent = _time.GetTimestamp();
                    attempt = 0;
                }
                catch (TrackerServerException ex) when (!ex.IsTransient)
                {
                    _reports.Stopped(ex);
                    return;
                }
#pragma warning disable CA1031 // unreachable server, disk hiccup: back off and retry until Finish
                catch (Exception ex) when (!cancellation.IsCancellationRequested)
#pragma warning restore CA1031
                {
                    var delay = ex is TrackerServerException { RetryAfter: { } retryAfter } ? retryAfter : _backoff.GetDelay(attempt++);
                    _reports.Failed(ex, delay);
                    if (await PauseAsync(delay, cancellation).ConfigureAwait(false))
                    {
                        attempt = 0; // Finish began: try again now, and often, while its budget lasts
                    }
                }
            }
        }
#pragma warning disable CA1031 // stopped by Finish: whatever the cancelled request threw is moot
        catch (Exception) when (cancellation.IsCancellationRequested)
#pragma warning restore CA1031
        {
        }
        finally
        {
            _caughtUp.TrySetResult();
        }
    }

    /// <summary>
    /// After a request, waits out the rest of the send interval unless a full batch is waiting or
    /// Finish began, so that the lines of the steps in between go in one request.
    /// </summary>
    private async Task SpaceOutAsync(long lastSent, CancellationToken cancellationToken)
    {
        if (lastSent == long.MinValue || _finishing.Task.IsCompleted || Unsynced >= MaxBatchLines)
        {
            return;
        }

        var rest = _sendInterval - _time.GetElapsedTime(lastSent);
        if (rest > TimeSpan.Zero)
        {
            await PauseAsync(rest, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for the worker's signal; false when the heartbeat interval passed first.</summary>
    private async Task<bool> WaitForWorkAsync(Task wake, CancellationToken cancellationToken)
    {
        try
        {
            await wake.WaitAsync(_heartbeatInterval, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private void OnCaughtUp()
    {
        _reports.CaughtUp(AckedSeq);
        if (_finishing.Task.IsCompleted && Unsynced == 0)
        {
            _caughtUp.TrySetResult();
        }
    }

    /// <summary>Waits before the next attempt; true when Finish cut the wait short.</summary>
    private async Task<bool> PauseAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        if (_finishing.Task.IsCompleted)
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
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
