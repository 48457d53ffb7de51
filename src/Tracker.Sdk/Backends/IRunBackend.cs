using Tracker.Pipeline;

namespace Tracker.Backends;

/// <summary>
/// Where a run's batches are stored. One job: write a batch, or throw. The worker owns retries,
/// back-off and shutdown; a backend never retries on its own.
/// </summary>
internal interface IRunBackend : IAsyncDisposable
{
    /// <summary>Stores every record of the batch, or throws leaving nothing of it behind.</summary>
    Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken);
}
