using System.Net;
using Tracker.Internal;
using Tracker.Reading;

namespace Tracker.Online;

/// <summary>
/// One step of the sender: connects (upserts run.json and takes the server's cursor) when it has
/// not, sends the newest run.json again when it changed, then the next batch after the cursor,
/// each batch's files first, and handles the answers that only need another try. Owned by the
/// sender's loop, except <see cref="RunChanged"/>, which any thread may call.
/// </summary>
internal sealed class BatchSender
{
    private readonly TrackerHttpClient _client;
    private readonly string _project;
    private readonly string _runId;
    private readonly string _directory;
    private readonly string _server;
    private readonly DiagnosticsSink _diagnostics;
    private readonly TimeProvider _time;
    private readonly SyncCursor _cursor;
    private readonly RecordTail _tail;
    private readonly BlobUploader _blobs;
    private byte[] _runJson;
    private int _runChanged;
    private bool _connected;
    private bool _appendedSinceConnect;
    private long _rewoundTo = -1;
    private readonly Func<long> _localSeq;
    private readonly Action<long> _serverAhead;

    /// <param name="client">The server.</param>
    /// <param name="run">The run as its run.json says.</param>
    /// <param name="directory">The run directory holding records.jsonl.</param>
    /// <param name="cursor">The upload cursor, loaded.</param>
    /// <param name="diagnostics">Where problems are reported.</param>
    /// <param name="time">Clock for the timestamps of dropped records.</param>
    /// <param name="localSeq">The last sequence number in records.jsonl now.</param>
    /// <param name="serverAhead">Called with the server's cursor when it is past <paramref name="localSeq"/>: the server holds lines this file lost.</param>
    public BatchSender(TrackerHttpClient client, RunInfo run, string directory, SyncCursor cursor, DiagnosticsSink diagnostics, TimeProvider time,
        Func<long> localSeq, Action<long> serverAhead)
    {
        _localSeq = localSeq;
        _serverAhead = serverAhead;
        _client = client;
        _project = run.Project;
        _runId = run.Id;
        _runJson = Json.Serialize(run);
        _directory = directory;
        _server = client.BaseUrl.ToString();
        _diagnostics = diagnostics;
        _time = time;
        _cursor = cursor;
        _tail = new RecordTail(directory, diagnostics);
        _blobs = new BlobUploader(client, _project, _runId, directory, diagnostics);
        AckedAtConnect = cursor.Acked;
    }

    /// <summary>The server's cursor when the sender last connected: what it had before this sender sent anything.</summary>
    public long AckedAtConnect { get; private set; }

    /// <summary>
    /// The run's metadata changed: any later upsert sends this newest run.json, and the next step
    /// sends it before its batch when <paramref name="upsert"/> is set.
    /// </summary>
    public void RunChanged(RunInfo run, bool upsert)
    {
        Volatile.Write(ref _runJson, Json.Serialize(run));
        if (upsert)
        {
            Interlocked.Exchange(ref _runChanged, 1);
        }
    }

    /// <summary>
    /// Sends the next batch after the cursor; false when there is nothing to send. Answers that
    /// only need another try are handled here: a 409 moves the cursor, a 413 shrinks the batches (a single
    /// line still refused is replaced by a <c>dropped</c> record),
    /// a 404 after appends upserts the run again. Anything else is thrown.
    /// </summary>
    public async Task<bool> SendNextAsync(long written, CancellationToken cancellationToken)
    {
        if (!_connected)
        {
            await ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (Interlocked.Exchange(ref _runChanged, 0) == 1)
        {
            await UpsertAgainAsync(cancellationToken).ConfigureAwait(false);
        }

        var batch = _tail.Read(written, _cursor.Acked);
        if (batch.Lines == 0)
        {
            return false;
        }

        await _blobs.UploadAsync(_tail.Lines(batch), cancellationToken).ConfigureAwait(false);
        try
        {
            var acked = await _client.AppendAsync(_project, _runId, _tail.Lines(batch), cancellationToken).ConfigureAwait(false);
            Acknowledge(batch, acked);
        }
        catch (TrackerSequenceException ex)
        {
            if (!Resequence(batch, ex.ExpectedSeq))
            {
                throw;
            }
        }
        catch (TrackerServerException ex) when (ex.StatusCode == HttpStatusCode.RequestEntityTooLarge && batch.Lines > 1)
        {
            _tail.Shrink(batch);
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
        }

        return true;
    }

    /// <summary>
    /// Tells the server the run is alive though it has nothing to send, so that it does not read as
    /// crashed. A server that forgot the run (404) gets it upserted again on the next step.
    /// </summary>
    public async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        if (!_connected)
        {
            return; // the next step connects, which the server hears as well
        }

        try
        {
            await _client.HeartbeatAsync(_project, _runId, cancellationToken).ConfigureAwait(false);
        }
        catch (TrackerServerException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            _connected = false;
            _appendedSinceConnect = false;
        }
    }

    /// <summary>
    /// One line the server refuses as too large, alone: never an outage. It stays in the run directory,
    /// and the server gets a <c>dropped</c> record with its seq in its place, so the lines after it,
    /// which need that seq before theirs, still arrive.
    /// </summary>
    private async Task SendInPlaceOfAsync(RecordTail.Batch batch, TrackerServerException refusal, CancellationToken cancellationToken)
    {
        _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
            $"The line with seq {batch.FirstSeq:N0} of run {_runId} ({batch.Length:N0} bytes) is larger than {_server} takes; it stays in {_directory} and the server records it as dropped. Raise the server's Tracker:MaxBodyBytes to keep such lines.",
            refusal));
        var placeholder = Json.Serialize(new Dictionary<string, object?>
        {
            ["seq"] = batch.FirstSeq,
            ["type"] = "dropped",
            ["ts"] = _time.GetUtcNow().ToUnixTimeMilliseconds(),
            ["bytes"] = batch.Length,
            ["reason"] = "the server refused the line as too large (413)",
        });
        var acked = await _client.AppendAsync(_project, _runId, placeholder.Append((byte)'\n').ToArray(), cancellationToken).ConfigureAwait(false);
        Acknowledge(batch, acked);
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _runChanged, 0); // this upsert sends the newest run.json
        var acked = await _client.PutRunAsync(_project, _runId, Volatile.Read(ref _runJson), cancellationToken).ConfigureAwait(false);

        // The server's cursor is the truth: it may be ahead of ours (a lost answer) or behind (a new server).
        _cursor.Set(acked);
        AckedAtConnect = acked;
        if (acked > _localSeq())
        {
            _serverAhead(acked);
        }

        _tail.Rewind();
        _connected = true;
        _appendedSinceConnect = false;
        _cursor.Save(synced: false);
    }

    /// <summary>Sends the newest run.json again; the cursor stays, the server's answer only confirms it.</summary>
    private async Task UpsertAgainAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _client.PutRunAsync(_project, _runId, Volatile.Read(ref _runJson), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Exchange(ref _runChanged, 1); // tried again after the back-off
            throw;
        }
    }

    private void Acknowledge(RecordTail.Batch batch, long acked)
    {
        if (acked < batch.LastSeq)
        {
            throw new TrackerServerException(
                $"The server acknowledged seq {acked:N0} for a batch that ends at seq {batch.LastSeq:N0}; a Tracker server stores a batch whole or not at all.",
                statusCode: null, isTransient: false);
        }

        _tail.Consumed(batch);
        _cursor.Set(acked);
        _appendedSinceConnect = true;
        _cursor.Save(synced: false);
    }

    /// <summary>Handles a 409; false when the server wants a line the local log does not have.</summary>
    private bool Resequence(RecordTail.Batch batch, long expectedSeq)
    {
        var serverAcked = expectedSeq - 1;
        if (batch.Lines > 0 && serverAcked >= batch.FirstSeq)
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
            _tail.Rewind();
            return true;
        }

        return false;
    }
}
