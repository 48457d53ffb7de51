using System.Text.Json;
using Tracker.Backends;
using Tracker.Internal;

namespace Tracker.Online;

/// <summary>
/// The upload cursor: the last sequence number the server acknowledged, kept in sync.json with
/// which server that was and whether a finished run is all on it. What sync.json says is only a
/// first guess for the sender (the server's answer replaces it); <c>tracker ls</c> and
/// <c>tracker sync</c> read it too. The server upload's <see cref="Pipeline.IBackendCursor"/>: its
/// worker advances it after each batch and closes it at Finish; the upload moves it to the server's answer.
/// Thread-safe.
/// </summary>
/// <param name="directory">The run directory.</param>
/// <param name="server">The server's base URL, as written in sync.json.</param>
/// <param name="runId">The run, for messages.</param>
/// <param name="diagnostics">Where a failed write is reported.</param>
internal sealed class SyncCursor(string directory, string server, string runId, DiagnosticsSink diagnostics) : Pipeline.IBackendCursor
{
    private readonly object _writeLock = new();
    private long _acked;

    /// <summary>The highest sequence number the server has acknowledged.</summary>
    public long Acked => Interlocked.Read(ref _acked);

    /// <inheritdoc/>
    public long Delivered => Acked;

    /// <summary>The server took a batch up to <paramref name="seq"/>; its answer may have moved the cursor further already.</summary>
    public void Advance(long seq)
    {
        Set(Math.Max(Acked, seq));
        Save(synced: false);
    }

    /// <summary>Records the cursor; synced when the finished run is all on the server.</summary>
    public void Close(bool complete) => Save(synced: complete);

    /// <summary>Moves the cursor, forward or back, to what the server says it has.</summary>
    public void Set(long acked) => Interlocked.Exchange(ref _acked, acked);

    /// <summary>Starts from the cursor sync.json records for this server, at most <paramref name="localSeq"/>.</summary>
    /// <returns>The cursor.</returns>
    public long Load(long localSeq)
    {
        Set(ReadFile(localSeq));
        return Acked;
    }

    /// <summary>Records the cursor in sync.json, replaced atomically; a failure is reported, never thrown.</summary>
    public void Save(bool synced)
    {
        try
        {
            lock (_writeLock)
            {
                LocalFileBackend.ReplaceAtomically(Path.Combine(directory, RunFiles.SyncFile), Json.Serialize(new SyncState(Acked, synced, server)));
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
                $"Could not record the upload cursor of run {runId} in {RunFiles.SyncFile}; tracker sync may send lines the server already has, which it skips.", ex));
        }
    }

    private long ReadFile(long localSeq) =>
        Read(directory) is { } state && state.Server == server ? Math.Min(state.AckedSeq, localSeq) : 0; // only a first guess: the server's answer replaces it

    /// <summary>
    /// The highest sequence number sync.json says a server acknowledged, whichever server; 0 when
    /// there is none or it cannot be read. A resumed run numbers its records after it.
    /// </summary>
    public static long ReadAckedSeq(string directory) => Read(directory)?.AckedSeq ?? 0;

    /// <summary>What sync.json holds; null when it is missing or cannot be read.</summary>
    public static SyncState? ReadState(string directory) => Read(directory);

    private static SyncState? Read(string directory)
    {
        try
        {
            var path = Path.Combine(directory, RunFiles.SyncFile);
            return File.Exists(path) ? JsonSerializer.Deserialize<SyncState>(File.ReadAllBytes(path), Json.Options) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>The content of sync.json.</summary>
    internal sealed record SyncState(long AckedSeq, bool Synced, string Server);
}
