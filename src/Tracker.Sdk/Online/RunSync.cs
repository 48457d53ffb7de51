using System.Net;
using Polly.Timeout;
using Tracker.Internal;
using Tracker.Pipeline;
using Tracker.Reading;

namespace Tracker.Online;

/// <summary>Why an upload of a run directory stopped before the server had all of it.</summary>
public enum RunSyncFailure
{
    /// <summary>Nothing went wrong.</summary>
    None,

    /// <summary>The server refused the API key (401) or its scope (403): a new key is needed.</summary>
    KeyRefused,

    /// <summary>The server refused the run or its records, or its answers do not follow the protocol: sending the same again will not help.</summary>
    RunRefused,

    /// <summary>The server was unreachable, busy or failing (a timeout, 408, 429, 5xx): trying again later may work.</summary>
    Transient,
}

/// <summary>What a run directory's sync.json records.</summary>
/// <param name="Server">The server the run was sent to; null when the recorded address is not a valid server URL.</param>
/// <param name="AckedSeq">The highest sequence number that server acknowledged.</param>
/// <param name="Synced">Whether the run had finished and was all on the server when sync.json was written.</param>
public sealed record RunSyncState(Uri? Server, long AckedSeq, bool Synced);

/// <summary>What an upload of a run directory achieved.</summary>
/// <param name="LinesAcknowledged">Record lines the server acknowledged in this upload (0 when it had them all before); <c>tracker sync</c> shows them as "Lines acknowledged".</param>
/// <param name="AckedSeq">The highest sequence number the server has acknowledged.</param>
/// <param name="LastSeq">The sequence number of the last complete record in the run directory.</param>
/// <param name="Failure">Why the upload stopped short; <see cref="RunSyncFailure.None"/> when it did not fail.</param>
/// <param name="Message">What went wrong, for people; null when nothing did.</param>
/// <param name="StatusCode">The server's HTTP status when it answered with an error; null otherwise.</param>
public sealed record RunSyncResult(long LinesAcknowledged, long AckedSeq, long LastSeq, RunSyncFailure Failure, string? Message, int? StatusCode)
{
    /// <summary>Records in the run directory that the server does not have.</summary>
    public long Unsynced => Math.Max(0, LastSeq - AckedSeq);
}

/// <summary>
/// Uploads a run directory to a Tracker server from its sync cursor (sync.json), as <c>tracker sync</c>
/// and W&amp;B's <c>wandb sync</c> do: run.json, then the records the server does not have, each
/// image and table file before its record. The server stores every record at most once, so an
/// interrupted upload resumes and a repeated one sends nothing. sync.json records how far it got.
/// </summary>
public static class RunSync
{
    /// <summary>The most records one upload request carries.</summary>
    public const int MaxBatchLines = 10_000;

    /// <summary>The most bytes of records one upload request carries (more only for a single longer record).</summary>
    public const int MaxBatchBytes = 4 * 1024 * 1024;

    /// <summary>
    /// What a run's sync.json records (an online run writes it from its first acknowledged batch,
    /// <c>tracker sync</c> after each batch): the server it was sent to, which <c>tracker sync</c>
    /// sends it to when no server is named and <c>tracker ls</c> links to, and how far that server has it.
    /// </summary>
    /// <param name="runDirectory">The run directory.</param>
    /// <returns>The recorded state, or null when the run was never sent or sync.json cannot be read.</returns>
    public static RunSyncState? ReadState(string runDirectory) =>
        SyncCursor.ReadState(runDirectory) is { } state ? new RunSyncState(Settings.ProjectSettings.ParseServer(state.Server), state.AckedSeq, state.Synced) : null;

    /// <summary>
    /// Uploads every record written so far, once: no waiting for new records, and no retries beyond
    /// the HTTP client's own (transient failures are retried with back-off within a time budget).
    /// </summary>
    /// <param name="runDirectory">The run directory (holding run.json and records.jsonl).</param>
    /// <param name="baseUrl">The server, such as <c>http://127.0.0.1:5080</c>.</param>
    /// <param name="apiKey">The API key; null for a server that takes writes without one.</param>
    /// <param name="progress">Told the acknowledged sequence number after each batch.</param>
    /// <param name="cancellationToken">Stops the upload between or during requests.</param>
    /// <returns>How far the upload got, and why it stopped if it did not finish.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder or its run.json does not exist.</exception>
    /// <exception cref="InvalidDataException">run.json is not valid.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<RunSyncResult> UploadAsync(string runDirectory, Uri baseUrl, string? apiKey, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        var reader = RunReader.Open(runDirectory);
        var lastSeq = RunReader.ReadLastSeq(reader.Directory);
        var diagnostics = new DiagnosticsSink(hook: _ => { }, output: null);
        var server = new ServerBackend(TrackerHttpClient.Create(new RunOptions { BaseUrl = baseUrl, ApiKey = apiKey }), reader.Info, reader.Directory, diagnostics, TimeProvider.System, () => lastSeq);
        await using var upload = server.ConfigureAwait(false);

        // The same worker as a live run's upload, draining once: no waiting for new records, and failures thrown rather than retried.
        var worker = new BackendWorker(server, reader.Info, reader.Directory, lastSeq, diagnostics, TimeProvider.System);
        RunSyncResult Result(RunSyncFailure failure = RunSyncFailure.None, string? message = null, HttpStatusCode? status = null) =>
            new(Math.Max(0, worker.Delivered - server.AckedAtConnect), worker.Delivered, lastSeq, failure, message, (int?)status);

        try
        {
            await worker.DrainAsync(reader.Info.State != RunStates.Running, progress, cancellationToken).ConfigureAwait(false);
            return Result();
        }
        catch (TrackerAuthException ex)
        {
            return Result(RunSyncFailure.KeyRefused, ex.Message, ex.StatusCode);
        }
        catch (TrackerServerException ex)
        {
            return Result(ex.IsTransient ? RunSyncFailure.Transient : RunSyncFailure.RunRefused, ex.Message, ex.StatusCode);
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException or IOException && !cancellationToken.IsCancellationRequested)
        {
            return Result(RunSyncFailure.Transient, $"{baseUrl} is unreachable ({ex.Message})");
        }
    }
}
