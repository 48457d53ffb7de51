namespace Tracker;

/// <summary>How serious a <see cref="RunDiagnostic"/> is.</summary>
public enum DiagnosticLevel
{
    /// <summary>Something the user may want to know; nothing was lost.</summary>
    Info,

    /// <summary>Input was rejected or a write is being retried.</summary>
    Warning,

    /// <summary>Records were lost or a write failed for good.</summary>
    Error,
}

/// <summary>A warning or error reported by a run through <see cref="RunOptions.Diagnostics"/>.</summary>
/// <param name="Level">How serious it is.</param>
/// <param name="Message">What happened and what to do about it.</param>
/// <param name="Exception">The underlying exception, if any.</param>
public sealed record RunDiagnostic(DiagnosticLevel Level, string Message, Exception? Exception = null)
{
    /// <inheritdoc />
    public override string ToString() =>
        Exception is null ? $"tracker: {Level.ToString().ToLowerInvariant()}: {Message}"
                          : $"tracker: {Level.ToString().ToLowerInvariant()}: {Message} ({Exception.GetType().Name}: {Exception.Message})";
}

/// <summary>
/// Counters of a run's pipeline, in the words the footer, <c>tracker ls</c> and <c>tracker sync</c>
/// use: a <em>point</em> is one logged value (one key at one step) or one metadata change (config,
/// summary, tags); a <em>record line</em> is one line of <c>records.jsonl</c>, which holds one
/// metadata change or one or more history rows; the server <em>acknowledges</em> record lines.
/// </summary>
/// <param name="RecordsReceived">Points logged: accepted by <c>Log</c> and the other run methods.</param>
/// <param name="RecordsWritten">Points written to <c>records.jsonl</c> (or the custom backend).</param>
/// <param name="RecordsRetried">Points whose write was attempted again after a failure (once per attempt).</param>
/// <param name="RecordsDropped">Points lost: queue full in <see cref="QueueFullMode.DropNewest"/>, a write that failed for good, or the finish budget running out.</param>
/// <param name="StepsRejected">Log calls rejected because their step went backwards.</param>
/// <param name="LinesUnsynced">
/// Online mode: record lines of <c>records.jsonl</c> that the server has not acknowledged yet;
/// after <see cref="Run.Finish(int)"/>, what <c>tracker sync</c> has left to upload. Always 0 offline.
/// </param>
public readonly record struct RunStatistics(
    long RecordsReceived, long RecordsWritten, long RecordsRetried, long RecordsDropped, long StepsRejected, long LinesUnsynced)
{
    /// <summary>
    /// Record lines in <c>records.jsonl</c>: the sequence number of the last line written, so a
    /// resumed run counts the lines of its earlier sessions too; <c>tracker ls</c> shows the same number.
    /// </summary>
    public long LinesWritten { get; init; }

    /// <summary>Online mode: record lines the server has acknowledged (its cursor, <c>acked_seq</c>). Always 0 offline.</summary>
    public long LinesAcknowledged { get; init; }
}
