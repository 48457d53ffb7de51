namespace Tracker.Pipeline;

/// <summary>
/// Where a backend's worker keeps the last sequence number the backend took: <c>backends/&lt;name&gt;.json</c>
/// for a custom backend (<see cref="BackendCursor"/>), sync.json for the server upload, where
/// <c>tracker sync</c> and <c>tracker ls</c> read it (<see cref="Online.SyncCursor"/>).
/// </summary>
internal interface IBackendCursor
{
    /// <summary>The last sequence number the backend took; read by any thread.</summary>
    long Delivered { get; }

    /// <summary>Starts from the recorded cursor, at most <paramref name="localSeq"/>.</summary>
    /// <returns>The cursor.</returns>
    long Load(long localSeq);

    /// <summary>The backend took the lines up to <paramref name="seq"/>: records it.</summary>
    /// <exception cref="IOException">It could not be recorded; the worker retries, and the batch may come again.</exception>
    void Advance(long seq);

    /// <summary>The worker stopped; <paramref name="complete"/> when the backend has every record of a finished run.</summary>
    void Close(bool complete);
}
