namespace Tracker.Pipeline;

/// <summary>
/// A paced backend did not take a batch for a reason that needs no back-off: its store's cursor moved
/// (the worker reads again from it), or, with <see cref="Shrink"/>, the batch was too large for it
/// (the worker sends half as many lines from then on).
/// </summary>
internal sealed class BatchNotTakenException(bool shrink = false)
    : Exception(shrink ? "The batch is too large for the backend." : "The backend's cursor moved.")
{
    /// <summary>Send smaller batches.</summary>
    public bool Shrink { get; } = shrink;
}
