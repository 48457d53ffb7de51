using Tracker.Backends;
using Tracker.Pipeline;

namespace Tracker.Online;

/// <summary>
/// Tells the followers of records.jsonl (the server upload, custom backends) when a batch is in the
/// local run directory, so that they read new lines at once instead of polling the file. The local
/// write itself is the inner backend's, unchanged.
/// </summary>
/// <param name="inner">The local backend.</param>
/// <param name="written">Called with the last sequence number in the file after each write.</param>
internal sealed class NotifyingBackend(IRunBackend inner, Action<long> written) : IRunBackend
{
    public async Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken)
    {
        await inner.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
        written(batch.FirstSeq + batch.LineCount - 1);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
