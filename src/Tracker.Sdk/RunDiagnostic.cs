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

/// <summary>Counters of a run's pipeline. A record is one logged value or one metadata change.</summary>
/// <param name="RecordsReceived">Records accepted by <c>Log</c> and the other run methods.</param>
/// <param name="RecordsWritten">Records the backend has stored.</param>
/// <param name="RecordsRetried">Records whose write was attempted again after a failure (once per attempt).</param>
/// <param name="RecordsDropped">Records lost: queue full in <see cref="QueueFullMode.DropNewest"/>, a write that failed for good, or the finish budget running out.</param>
/// <param name="StepsRejected">Log calls rejected because their step went backwards.</param>
/// <param name="LinesUnsynced">
/// Online mode: lines of <c>records.jsonl</c> (each a metadata change or one or more history rows)
/// that the server has not acknowledged yet; after <see cref="Run.Finish(int)"/>, what
/// <c>tracker sync</c> has left to upload. Always 0 offline.
/// </param>
public readonly record struct RunStatistics(
    long RecordsReceived, long RecordsWritten, long RecordsRetried, long RecordsDropped, long StepsRejected, long LinesUnsynced);
