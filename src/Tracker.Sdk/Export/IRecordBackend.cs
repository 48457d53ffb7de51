using Tracker.Reading;

namespace Tracker.Export;

/// <summary>
/// Sends a run's records somewhere besides its run directory: another tracker, a file format, a
/// message queue. Register one in <see cref="RunOptions.Backends"/>. The contract follows Serilog's
/// <c>IBatchedLogEventSink</c> and OpenTelemetry's exporters: the backend receives ordered batches of
/// decoded records and throws when it could not take one; the run's worker owns everything else.
/// </summary>
/// <remarks>
/// <para>
/// Every record is first written to the run directory's <c>records.jsonl</c> (the local backend,
/// always first). Each registered backend then gets the records after its own cursor, kept in the run
/// directory as <c>backends/&lt;Name&gt;.json</c>, on a background loop of its own: a slow or failing
/// backend never slows <c>Log</c>, the local files, the server upload, or another backend.
/// </para>
/// <para>
/// Calls come one at a time, never concurrently: <see cref="OpenAsync"/> once, then
/// <see cref="WriteAsync"/> per batch in sequence-number order, then <see cref="FlushAsync"/> when the
/// run finishes, then <see cref="IAsyncDisposable.DisposeAsync"/>. A call that throws is made again
/// with the same arguments after a back-off (1 s doubling to 30 s; <c>Finish</c> cuts a running wait
/// short, then tries every 0.2 s) until it succeeds or <c>Finish</c>'s budget
/// (<see cref="RunOptions.FinishTimeout"/>) runs out; <c>Finish</c> then reports, through
/// <see cref="RunOptions.Diagnostics"/>, how many records the backend did not take. They stay in the
/// run directory, and resuming the run with the backend registered again sends them.
/// </para>
/// <para>
/// Delivery is at least once: after a crash between the backend's store and the cursor's save, a batch
/// comes again with the same sequence numbers, which lets a backend skip what it already has.
/// </para>
/// </remarks>
public interface IRecordBackend : IAsyncDisposable
{
    /// <summary>
    /// The backend's name, unique among a run's backends: 1 to 64 characters, ASCII letters, digits,
    /// <c>.</c>, <c>_</c> or <c>-</c>, starting with a letter or digit. It names the cursor file
    /// <c>backends/&lt;Name&gt;.json</c>, so keep it stable: a renamed backend starts from the first record.
    /// </summary>
    string Name { get; }

    /// <summary>
    /// Prepares for the run's records, once per process before the first batch (a resumed run opens
    /// again with <see cref="RunInfo.Resumed"/> raised). Retried on failure, so it must be safe to repeat.
    /// </summary>
    /// <param name="run">The run as it started: id, project, name, start time, config, tags, notes, group, job type.</param>
    /// <param name="directory">The run directory; the files media records name (<see cref="MediaItem.Path"/>) are under it.</param>
    /// <param name="cancellationToken">Cancelled when <c>Finish</c>'s budget runs out.</param>
    /// <returns>A task that completes when the backend is ready.</returns>
    Task OpenAsync(RunInfo run, string directory, CancellationToken cancellationToken);

    /// <summary>
    /// Stores every record of the batch, or throws; the same batch comes again after a back-off. Never
    /// called before <see cref="OpenAsync"/> succeeded, nor with a batch before an earlier one succeeded.
    /// </summary>
    /// <param name="batch">The next records, in sequence-number order; valid until the returned task completes.</param>
    /// <param name="cancellationToken">Cancelled when <c>Finish</c>'s budget runs out.</param>
    /// <returns>A task that completes when the records are stored.</returns>
    Task WriteAsync(BackendBatch batch, CancellationToken cancellationToken);

    /// <summary>
    /// The run finished and the backend has every record, its <see cref="FinishLine"/> last: send or
    /// close what it buffers. Called once, within <c>Finish</c>'s budget; retried on failure.
    /// </summary>
    /// <param name="cancellationToken">Cancelled when <c>Finish</c>'s budget runs out.</param>
    /// <returns>A task that completes when everything is stored.</returns>
    Task FlushAsync(CancellationToken cancellationToken);
}
