using System.Net;
using Tracker.Export;
using Tracker.Internal;
using Tracker.Pipeline;
using Tracker.Reading;

namespace Tracker.Online;

/// <summary>
/// The server upload as a backend of the run's worker (<see cref="BackendWorker"/>), which reads the
/// batches, keeps the cursor, retries and waits at Finish, as for any backend. What is the server's
/// own stays here: opening upserts run.json and takes the server's cursor; each batch's raw lines go
/// as they are, its files first; a 409 moves the cursor to what the server has, a 413 halves the
/// batches (a single line still refused is replaced by a <c>dropped</c> record), a 404 after appends
/// upserts the run again; the cursor lives in sync.json for <c>tracker sync</c> and <c>tracker ls</c>;
/// requests are spaced out and a heartbeat tells the server an idle run is alive.
/// </summary>
internal sealed class ServerBackend : IPacedBackend
{
    /// <summary>Idle time after which the upload tells the server the run is alive (W&amp;B: 30 s); well under the server's Tracker:CrashedAfter (5 minutes).</summary>
    public static readonly TimeSpan DefaultHeartbeatInterval = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Least time between two requests that carry less than a full batch (W&amp;B's file stream also
    /// sends at intervals, not per step). Many live runs then cost the server one request per run
    /// per interval instead of one per step; a full batch, or Finish, goes at once.
    /// </summary>
    public static readonly TimeSpan DefaultSendInterval = TimeSpan.FromSeconds(2);

    private readonly TrackerHttpClient _client;
    private readonly string _project;
    private readonly string _runId;
    private readonly string _directory;
    private readonly string _server;
    private readonly DiagnosticsSink _diagnostics;
    private readonly TimeProvider _time;
    private readonly SyncCursor _cursor;
    private readonly SenderReports _reports;
    private readonly BlobUploader _blobs;
    private readonly Func<long> _written;
    private readonly Action<long>? _numberAfter;
    private byte[] _runJson;
    private int _runChanged;
    private bool _connected;
    private bool _appendedSinceConnect;
    private long _rewoundTo = -1;
    private long? _ackedAtConnect;

    /// <param name="client">The server; disposed with the backend.</param>
    /// <param name="run">The run as its run.json says, sent when the upload opens.</param>
    /// <param name="directory">The run directory holding records.jsonl.</param>
    /// <param name="diagnostics">Where problems are reported.</param>
    /// <param name="time">Clock for outage reports and the timestamps of dropped records.</param>
    /// <param name="written">The last sequence number in records.jsonl now.</param>
    /// <param name="heartbeatInterval">Idle time after which a heartbeat goes; <see cref="DefaultHeartbeatInterval"/> when null.</param>
    /// <param name="sendInterval">Least time between two requests of less than a full batch; <see cref="DefaultSendInterval"/> when null.</param>
    /// <param name="numberAfter">
    /// Called with the server's cursor when the server holds lines past the end of records.jsonl
    /// (its tail was lost after the server had it, and sync.json with it): the run's writer numbers
    /// its next lines after it, since the server skips numbers it holds as replays.
    /// </param>
    public ServerBackend(TrackerHttpClient client, RunInfo run, string directory, DiagnosticsSink diagnostics, TimeProvider time, Func<long> written,
        TimeSpan? heartbeatInterval = null, TimeSpan? sendInterval = null, Action<long>? numberAfter = null)
    {
        _client = client;
        _project = run.Project;
        _runId = run.Id;
        _runJson = Json.Serialize(run);
        _directory = directory;
        _server = client.BaseUrl.ToString();
        _diagnostics = diagnostics;
        _time = time;
        _written = written;
        _numberAfter = numberAfter;
        IdleInterval = heartbeatInterval ?? DefaultHeartbeatInterval;
        SendInterval = sendInterval ?? DefaultSendInterval;

        // Until the server answers, the last cursor this directory recorded for it is the best guess.
        _cursor = new SyncCursor(directory, _server, run.Id, diagnostics);
        _reports = new SenderReports(run.Id, _server, directory, diagnostics, time);
        _blobs = new BlobUploader(client, _project, _runId, directory, diagnostics);
    }

    public string Name => "server";

    public IBackendCursor Cursor => _cursor;

    public IFollowerReports Reports => _reports;

    /// <summary>What the upload said the server lacks at Finish, with what to do; null when it has every line.</summary>
    public string? NotTaken => _reports.NotTakenMessage;

    public TimeSpan SendInterval { get; }

    public TimeSpan IdleInterval { get; }

    /// <summary>
    /// The server's cursor when the upload last connected: what it had before this upload sent
    /// anything; until it answers, what sync.json recorded.
    /// </summary>
    public long AckedAtConnect => _ackedAtConnect ?? _cursor.Acked;

    /// <summary>
    /// The run's metadata changed in a way its records do not carry (the git and machine fields read
    /// after Init): it is upserted again before the next batch when <paramref name="upsert"/> is set
    /// (wake the worker). Either way, any later upsert sends this newest run.json, so one still
    /// pending at Finish sends the final state rather than an older one over it. Any thread.
    /// </summary>
    public void RunChanged(RunInfo run, bool upsert)
    {
        Volatile.Write(ref _runJson, Json.Serialize(run));
        if (upsert)
        {
            Interlocked.Exchange(ref _runChanged, 1);
        }
    }

    public async Task OpenAsync(RunInfo run, string directory, CancellationToken cancellationToken) =>
        await ConnectAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Sends the batch's lines as they are, its files first; the answers that only need another try are handled here.</summary>
    public async Task WriteAsync(BackendBatch batch, CancellationToken cancellationToken)
    {
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        await _blobs.UploadAsync(batch.Lines, cancellationToken).ConfigureAwait(false);
        try
        {
            Acknowledge(batch.LastSeq, await _client.AppendAsync(_project, _runId, batch.Lines, cancellationToken).ConfigureAwait(false));
        }
        catch (TrackerSequenceException ex) when (Resequence(batch, ex.ExpectedSeq))
        {
            throw new BatchNotTakenException();
        }
        catch (TrackerServerException ex) when (ex.StatusCode == HttpStatusCode.RequestEntityTooLarge && batch.Count > 1)
        {
            throw new BatchNotTakenException(shrink: true);
        }
        catch (TrackerServerException ex) when (ex.StatusCode == HttpStatusCode.RequestEntityTooLarge)
        {
            await SendInPlaceOfAsync(batch, ex, cancellationToken).ConfigureAwait(false);
        }
        catch (TrackerServerException ex) when (ex.StatusCode == HttpStatusCode.NotFound && _appendedSinceConnect)
        {
            // The server forgot the run (a reset database): upsert it again, once, and send from its cursor.
            _connected = false;
            _appendedSinceConnect = false;
            throw new BatchNotTakenException();
        }
    }

    /// <summary>
    /// The server has every line written so far: sends a changed run.json, or, after a quiet interval,
    /// tells the server the run is alive, so that it does not read as crashed.
    /// </summary>
    public async Task IdleAsync(bool quiet, CancellationToken cancellationToken)
    {
        if (!_connected || Volatile.Read(ref _runChanged) == 1)
        {
            await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (quiet)
        {
            try
            {
                await _client.HeartbeatAsync(_project, _runId, cancellationToken).ConfigureAwait(false);
            }
            catch (TrackerServerException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                _connected = false; // the next step upserts the run again
                _appendedSinceConnect = false;
            }
        }
    }

    public TimeSpan? RetryAfter(Exception exception) => exception is TrackerServerException { RetryAfter: { } retryAfter } ? retryAfter : null;

    public bool IsFinal(Exception exception) => exception is TrackerServerException { IsTransient: false };

    public Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask; // every batch is stored when its request is answered

    public ValueTask DisposeAsync()
    {
        _client.Dispose(); // aborts a request still running
        return ValueTask.CompletedTask;
    }

    /// <summary>Connects again, or sends a changed run.json; throws <see cref="BatchNotTakenException"/> when the server's cursor moved ours.</summary>
    private async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        if (!_connected)
        {
            var before = _cursor.Acked;
            if (await ConnectAsync(cancellationToken).ConfigureAwait(false) != before)
            {
                throw new BatchNotTakenException();
            }
        }
        else if (Interlocked.Exchange(ref _runChanged, 0) == 1)
        {
            try
            {
                // The cursor stays: the server's answer only confirms it.
                await _client.PutRunAsync(_project, _runId, Volatile.Read(ref _runJson), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                Interlocked.Exchange(ref _runChanged, 1); // tried again after the back-off
                throw;
            }
        }
    }

    /// <summary>Upserts run.json and takes the server's cursor, which may be ahead of ours (a lost answer) or behind (a new server).</summary>
    private async Task<long> ConnectAsync(CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _runChanged, 0); // this upsert sends the newest run.json
        var acked = await _client.PutRunAsync(_project, _runId, Volatile.Read(ref _runJson), cancellationToken).ConfigureAwait(false);
        _cursor.Set(acked);
        _ackedAtConnect = acked;
        var local = _written();
        if (acked > local)
        {
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning,
                $"Run {_runId}: {_server} holds records up to {acked:N0}, but {RunFiles.RecordsFile} ends at {local:N0}: the file lost its tail (and {RunFiles.SyncFile}) after the server had them. "
                + (_numberAfter is null ? "The server keeps its records." : $"Records from now on are numbered from {acked + 1:N0}; any numbered up to {acked:N0} since the resume stay in the file only.")));
            _numberAfter?.Invoke(acked);
        }

        _connected = true;
        _appendedSinceConnect = false;
        _cursor.Save(synced: false);
        return acked;
    }

    /// <summary>
    /// One line the server refuses as too large, alone: never an outage. It stays in the run directory,
    /// and the server gets a <c>dropped</c> record with its seq in its place, so the lines after it,
    /// which need that seq before theirs, still arrive.
    /// </summary>
    private async Task SendInPlaceOfAsync(BackendBatch batch, TrackerServerException refusal, CancellationToken cancellationToken)
    {
        _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
            $"The line with seq {batch.FirstSeq:N0} of run {_runId} ({batch.Lines.Length:N0} bytes) is larger than {_server} takes; it stays in {_directory} and the server records it as dropped. Raise the server's Tracker:MaxBodyBytes to keep such lines.",
            refusal));
        var placeholder = Json.Serialize(new Dictionary<string, object?>
        {
            ["seq"] = batch.FirstSeq,
            ["type"] = "dropped",
            ["ts"] = _time.GetUtcNow().ToUnixTimeMilliseconds(),
            ["bytes"] = batch.Lines.Length,
            ["reason"] = "the server refused the line as too large (413)",
        });
        Acknowledge(batch.LastSeq, await _client.AppendAsync(_project, _runId, placeholder.Append((byte)'\n').ToArray(), cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The server stored the batch; the worker advances the cursor past it, or further when the server has more.</summary>
    private void Acknowledge(long lastSeq, long acked)
    {
        if (acked < lastSeq)
        {
            throw new TrackerServerException(
                $"The server acknowledged seq {acked:N0} for a batch that ends at seq {lastSeq:N0}; a Tracker server stores a batch whole or not at all.",
                statusCode: null, isTransient: false);
        }

        _cursor.Set(acked);
        _appendedSinceConnect = true;
    }

    /// <summary>Handles a 409 by moving the cursor; false when the server wants a line the local log does not have.</summary>
    private bool Resequence(BackendBatch batch, long expectedSeq)
    {
        var serverAcked = expectedSeq - 1;
        if (serverAcked >= batch.FirstSeq)
        {
            // The server has more than we knew: skip ahead, the next read leaves out what it has.
            _cursor.Set(serverAcked);
            return true;
        }

        if (serverAcked < _cursor.Acked && _rewoundTo != serverAcked)
        {
            _rewoundTo = serverAcked;
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning,
                $"The Tracker server at {_server} has run {_runId} only up to seq {serverAcked:N0}, not {_cursor.Acked:N0} as it acknowledged before; sending again from seq {expectedSeq:N0}."));
            _cursor.Set(serverAcked);
            return true;
        }

        return false;
    }
}
