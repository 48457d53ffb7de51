using System.Net;
using System.Numerics;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using Tracker.Backends;
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
/// </summary>
internal sealed class RunSender
{
    public const int MaxBatchLines = RunSync.MaxBatchLines;
    public const int MaxBatchBytes = RunSync.MaxBatchBytes;
    private const int MinBufferBytes = 64 * 1024;

    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan OutageReportInterval = TimeSpan.FromMinutes(1);
    private static readonly byte[] MediaType = ",\"type\":\"media\","u8.ToArray();

    private readonly TrackerHttpClient _client;
    private readonly string _project;
    private readonly string _runId;
    private byte[] _runJson;
    private readonly string _directory;
    private readonly string _server;
    private readonly DiagnosticsSink _diagnostics;
    private readonly TimeProvider _time;
    private readonly Backoff _backoff;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _finishing = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _syncFileLock = new();
    private readonly bool _keepCursor;
    private readonly HashSet<string> _blobsOnServer = new(StringComparer.Ordinal);
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;
    private byte[] _buffer = [];
    private long _acked;
    private long _localSeq;
    private int _runChanged;

    // Owned by the loop.
    private long _offset;
    private int _maxLines = MaxBatchLines;
    private bool _connected;
    private bool _appendedSinceConnect;
    private long _rewoundTo = -1;
    private int _failures;
    private DateTimeOffset? _outageStart;
    private DateTimeOffset _nextOutageReport;

    /// <param name="client">The server; the sender disposes it when it stops.</param>
    /// <param name="run">The run as its run.json says, sent once at the start.</param>
    /// <param name="directory">The run directory holding records.jsonl.</param>
    /// <param name="localSeq">The last sequence number already in records.jsonl (a resumed run's).</param>
    /// <param name="diagnostics">Where problems are reported.</param>
    /// <param name="time">Clock for back-off and outage reports.</param>
    /// <param name="backoff">Delays between attempts while the server is unreachable.</param>
    /// <param name="keepCursor">Record the cursor in sync.json; false for uploads to a server that is not the run's own, such as <c>tracker ui</c>'s.</param>
    public RunSender(TrackerHttpClient client, RunInfo run, string directory, long localSeq, DiagnosticsSink diagnostics, TimeProvider time, Backoff? backoff = null, bool keepCursor = true)
    {
        _keepCursor = keepCursor;
        _client = client;
        _project = run.Project;
        _runId = run.Id;
        _runJson = Json.Serialize(run);
        _directory = directory;
        _server = client.BaseUrl.ToString();
        _diagnostics = diagnostics;
        _time = time;
        _backoff = backoff ?? new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        _localSeq = localSeq;

        // Until the server answers, the last cursor this directory recorded for it is the best guess.
        _acked = ReadCursor();
        AckedAtConnect = _acked;
    }

    /// <summary>The server's cursor when the sender last connected: what it had before this sender sent anything.</summary>
    public long AckedAtConnect { get; private set; }

    /// <summary>The highest sequence number the server has acknowledged.</summary>
    public long AckedSeq => Interlocked.Read(ref _acked);

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
        Volatile.Write(ref _runJson, Json.Serialize(run));
        if (upsert)
        {
            Interlocked.Exchange(ref _runChanged, 1);
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
        WriteSyncFile(synced: unsynced == 0);
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
            while (await SendNextAsync(cancellationToken).ConfigureAwait(false))
            {
                progress?.Report(AckedSeq);
            }
        }
        finally
        {
            WriteSyncFile(synced: finished && Unsynced == 0);
        }

        return Unsynced;
    }

    private async Task LoopAsync()
    {
        var cancellation = _stop.Token;
        var attempt = 0;
        try
        {
            while (true)
            {
                try
                {
                    // Armed before reading, so a write that lands after the read still wakes the loop.
                    var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    Volatile.Write(ref _wake, wake);
                    if (!await SendNextAsync(cancellation).ConfigureAwait(false))
                    {
                        OnCaughtUp();
                        await wake.Task.WaitAsync(cancellation).ConfigureAwait(false);
                        continue;
                    }

                    attempt = 0;
                }
                catch (TrackerServerException ex) when (!ex.IsTransient)
                {
                    ReportStopped(ex);
                    return;
                }
#pragma warning disable CA1031 // unreachable server, disk hiccup: back off and retry until Finish
                catch (Exception ex) when (!cancellation.IsCancellationRequested)
#pragma warning restore CA1031
                {
                    var delay = ex is TrackerServerException { RetryAfter: { } retryAfter } ? retryAfter : _backoff.GetDelay(attempt++);
                    ReportOutage(ex, delay);
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
    /// Sends the next batch after the cursor; false when there is nothing to send. Answers that
    /// only need another try are handled here: a 409 moves the cursor, a 413 shrinks the batches (a single
    /// line still refused is replaced by a <c>dropped</c> record),
    /// a 404 after appends upserts the run again. Anything else is thrown.
    /// </summary>
    private async Task<bool> SendNextAsync(CancellationToken cancellationToken)
    {
        if (!_connected)
        {
            await ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (Interlocked.Exchange(ref _runChanged, 0) == 1)
        {
            await UpsertAgainAsync(cancellationToken).ConfigureAwait(false);
        }

        var batch = ReadBatch();
        if (batch.Lines == 0)
        {
            return false;
        }

        await UploadMediaFilesAsync(batch, cancellationToken).ConfigureAwait(false);
        try
        {
            var acked = await _client.AppendAsync(_project, _runId, _buffer.AsMemory(batch.Start, batch.Length), cancellationToken).ConfigureAwait(false);
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
            // The server takes smaller bodies than ours: send fewer lines from now on.
            _maxLines = Math.Max(1, batch.Lines / 2);
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
    /// One line the server refuses as too large, alone: never an outage. It stays in the run directory,
    /// and the server gets a <c>dropped</c> record with its seq in its place, so the lines after it,
    /// which need that seq before theirs, still arrive.
    /// </summary>
    private async Task SendInPlaceOfAsync(Batch batch, TrackerServerException refusal, CancellationToken cancellationToken)
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

    /// <summary>
    /// Uploads the files that the batch's image and table records name and the server lacks, before
    /// the records: the server then never holds a record whose file is still on its way. A file it
    /// refuses, or one gone from the run directory, is reported and left out; its record still goes.
    /// </summary>
    private async Task UploadMediaFilesAsync(Batch batch, CancellationToken cancellationToken)
    {
        var lines = _buffer.AsMemory(batch.Start, batch.Length);
        while (!lines.IsEmpty)
        {
            var end = lines.Span.IndexOf((byte)'\n');
            var line = lines[..end];
            lines = lines[(end + 1)..];
            if (line.Span.IndexOf(MediaType) is < 0 or > 32 || ReadMediaFile(line) is not { } file || _blobsOnServer.Contains(file.Sha256))
            {
                continue;
            }

            var path = file.Path;
            try
            {
                if (!await _client.HasBlobAsync(_project, file.Sha256, cancellationToken).ConfigureAwait(false))
                {
                    var content = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
                    await _client.PutBlobAsync(_project, file.Sha256, content, RunFiles.ContentType(path), cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or TrackerServerException { IsTransient: false } and not TrackerAuthException)
            {
                _diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
                    $"The media file {path} of run {_runId} was not uploaded to {_server}: {ex.Message} Its record is sent without it.", ex));
            }

            _blobsOnServer.Add(file.Sha256);
        }
    }

    /// <summary>The file an image or table record names, with its full path, or null for other records.</summary>
    private (string Sha256, string Path)? ReadMediaFile(ReadOnlyMemory<byte> line) =>
        RecordReader.TryParse(line.Span, out var record, out _) && record is MediaLine { Media: { Sha256: { } sha256, Path: { } relative } }
            && RunFiles.PathIn(_directory, relative) is { } path
            ? (sha256, path)
            : null;

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _runChanged, 0); // this upsert sends the newest run.json
        var acked = await _client.PutRunAsync(_project, _runId, Volatile.Read(ref _runJson), cancellationToken).ConfigureAwait(false);

        // The server's cursor is the truth: it may be ahead of ours (a lost answer) or behind (a new server).
        Interlocked.Exchange(ref _acked, acked);
        AckedAtConnect = acked;
        _offset = 0;
        _connected = true;
        _appendedSinceConnect = false;
        WriteSyncFile(synced: false);
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

    private void Acknowledge(Batch batch, long acked)
    {
        if (acked < batch.LastSeq)
        {
            throw new TrackerServerException(
                $"The server acknowledged seq {acked:N0} for a batch that ends at seq {batch.LastSeq:N0}; a Tracker server stores a batch whole or not at all.",
                statusCode: null, isTransient: false);
        }

        _offset += batch.Length;
        Interlocked.Exchange(ref _acked, acked);
        _appendedSinceConnect = true;
        if (_buffer.Length > MaxBatchBytes)
        {
            _buffer = []; // grown for one long line; give the memory back
        }

        WriteSyncFile(synced: false);
    }

    /// <summary>Handles a 409; false when the server wants a line the local log does not have.</summary>
    private bool Resequence(Batch batch, long expectedSeq)
    {
        var serverAcked = expectedSeq - 1;
        if (batch.Lines > 0 && serverAcked >= batch.FirstSeq)
        {
            // The server has more than we knew: skip ahead, the next read leaves out what it has.
            Interlocked.Exchange(ref _acked, serverAcked);
            return true;
        }

        if (serverAcked < AckedSeq && _rewoundTo != serverAcked)
        {
            _rewoundTo = serverAcked;
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning,
                $"The Tracker server at {_server} has run {_runId} only up to seq {serverAcked:N0}, not {AckedSeq:N0} as it acknowledged before; sending again from seq {expectedSeq:N0}."));
            Interlocked.Exchange(ref _acked, serverAcked);
            _offset = 0;
            return true;
        }

        return false;
    }

    /// <summary>
    /// Reads the next batch after the cursor into the buffer: lines the backend has reported
    /// written, at most <see cref="MaxBatchLines"/> of them and <see cref="MaxBatchBytes"/> (more
    /// only for a single longer line). Lines the server already has, and lines that are not
    /// records, are skipped. A line not reported yet may still be cut back by a failed write.
    /// </summary>
    private Batch ReadBatch()
    {
        using var file = File.OpenHandle(Path.Combine(_directory, RunFiles.RecordsFile), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var written = Interlocked.Read(ref _localSeq);
        while (true)
        {
            // Sized to the backlog, so a run that keeps up holds a small buffer.
            var wanted = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(RandomAccess.GetLength(file) - _offset, MinBufferBytes, MaxBatchBytes));
            if (_buffer.Length < wanted)
            {
                _buffer = new byte[wanted];
            }

            var read = ReadAt(file, _buffer, _offset);
            var data = _buffer.AsSpan(0, read);
            int start = 0, end = 0, lines = 0;
            long first = 0, last = 0;
            var unreported = false;
            while (lines < _maxLines)
            {
                var newline = data[end..].IndexOf((byte)'\n');
                if (newline < 0)
                {
                    break;
                }

                var seq = RecordReader.ReadSeq(data.Slice(end, newline));
                if (lines == 0 && seq <= AckedSeq)
                {
                    if (seq < 0)
                    {
                        _diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
                            $"Line at byte {_offset + end:N0} of {RunFiles.RecordsFile} in {_directory} is not a record; it is not sent."));
                    }

                    end += newline + 1;
                    start = end;
                    continue;
                }

                if (seq > written)
                {
                    unreported = true;
                    break;
                }

                if (lines > 0 && (seq <= last || end + newline + 1 - start > MaxBatchBytes))
                {
                    break; // not a record or a replayed seq (the next read skips it), or a full batch
                }

                first = lines == 0 ? seq : first;
                last = seq;
                lines++;
                end += newline + 1;
            }

            _offset += start;
            if (lines > 0)
            {
                return new Batch(start, end - start, lines, first, last);
            }

            if (start > 0)
            {
                continue; // skipped everything read so far: read on from there
            }

            if (read < _buffer.Length || unreported)
            {
                return default; // nothing, the start of a line being written, or a line not reported yet
            }

            Array.Resize(ref _buffer, checked(_buffer.Length * 2)); // one line longer than the buffer
        }
    }

    private static int ReadAt(SafeFileHandle file, byte[] buffer, long offset)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = RandomAccess.Read(file, buffer.AsSpan(total), offset + total);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    private void OnCaughtUp()
    {
        if (_outageStart is { } since)
        {
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Info,
                $"Run {_runId} is up to date on {_server} again (seq {AckedSeq:N0}) after {_failures:N0} failed attempts over {(_time.GetUtcNow() - since).TotalSeconds:N0} s."));
            _outageStart = null;
            _failures = 0;
        }

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

    /// <summary>Reports the first failure of an outage at once, then at most one per interval.</summary>
    private void ReportOutage(Exception exception, TimeSpan delay)
    {
        var now = _time.GetUtcNow();
        _failures++;
        _outageStart ??= now;
        if (_failures > 1 && now < _nextOutageReport)
        {
            return;
        }

        _nextOutageReport = now + OutageReportInterval;
        var attempts = _failures > 1 ? $" ({_failures:N0} attempts since {_outageStart:u})" : string.Empty;
        _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning,
            $"Sending run {_runId} to {_server} failed{attempts}; retrying in {delay.TotalSeconds:N1} s. Nothing is lost: the records stay in {_directory} until the server has them.",
            exception));
    }

    /// <summary>Reports why sending stopped; an auth failure's own message says it all.</summary>
    private void ReportStopped(Exception exception)
    {
        var (problem, cause) = exception switch
        {
            TrackerAuthException => (exception.Message, null),
            TrackerSequenceException sequence => ($"Run {_runId} is no longer sent to {_server}: the server expects seq {sequence.ExpectedSeq:N0} next, which the local log does not have.", exception),
            TrackerServerException { StatusCode: null } => ($"Run {_runId} is no longer sent to {_server}: its answers do not follow the Tracker protocol.", exception),
            _ => ($"Run {_runId} is no longer sent to {_server}: the server refused it.", exception),
        };
        _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
            $"{problem} The run keeps logging locally in {_directory}; upload it later with: tracker sync {_directory}", cause));
    }

    private long ReadCursor()
    {
        try
        {
            var path = Path.Combine(_directory, RunFiles.SyncFile);
            if (!File.Exists(path))
            {
                return 0;
            }

            var state = JsonSerializer.Deserialize<SyncState>(File.ReadAllBytes(path), Json.Options);
            return state is not null && state.Server == _server ? Math.Min(state.AckedSeq, _localSeq) : 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            return 0; // only a first guess: the server's answer replaces it
        }
    }

    private void WriteSyncFile(bool synced)
    {
        if (!_keepCursor)
        {
            return;
        }

        try
        {
            lock (_syncFileLock)
            {
                LocalFileBackend.ReplaceAtomically(Path.Combine(_directory, RunFiles.SyncFile), Json.Serialize(new SyncState(AckedSeq, synced, _server)));
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
                $"Could not record the upload cursor of run {_runId} in {RunFiles.SyncFile}; tracker sync may send lines the server already has, which it skips.", ex));
        }
    }

    /// <summary>Lines <c>Start</c>..<c>Start + Length</c> of the buffer, sequence numbers <c>FirstSeq</c> to <c>LastSeq</c>.</summary>
    private readonly record struct Batch(int Start, int Length, int Lines, long FirstSeq, long LastSeq);

    /// <summary>The content of sync.json.</summary>
    private sealed record SyncState(long AckedSeq, bool Synced, string Server);
}
