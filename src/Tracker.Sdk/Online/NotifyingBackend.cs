using Tracker.Backends;
using Tracker.Pipeline;

namespace Tracker.Online;

/// <summary>
/// Tells the sender when a batch is in the local run directory, so that it sends new lines at
/// once instead of polling the file. The local write itself is the inner backend's, unchanged.
/// </summary>
internal sealed class NotifyingBackend(IRunBackend inner, RunSender sender) : IRunBackend
{
    public async Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken)
    {
        await inner.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
        sender.OnWritten(batch.FirstSeq + batch.LineCount - 1);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
