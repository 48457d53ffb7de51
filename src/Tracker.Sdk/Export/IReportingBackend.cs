namespace Tracker.Export;

/// <summary>
/// Optional for a backend: it reports problems of its own that throwing would not describe (a value
/// its store refuses and leaves out, a setting it cannot change) through the run's
/// <see cref="RunOptions.Diagnostics"/>, or the run's output when no hook is set, where the run's
/// other problems go. This is the backend's counterpart of Serilog's <c>SelfLog</c> and
/// OpenTelemetry's exporter event source, scoped to the run instead of the process.
/// </summary>
/// <remarks>
/// Failures the backend throws need no report: the run's worker reports them and retries. Reports
/// go out as given, so say which backend speaks (its <see cref="IRecordBackend.Name"/>) and hold back
/// repeats of one problem yourself.
/// </remarks>
public interface IReportingBackend : IRecordBackend
{
    /// <summary>
    /// Where the backend reports: called once, before <see cref="IRecordBackend.OpenAsync"/>. The action
    /// may be called from any thread, at any time until the backend is disposed, and never throws
    /// (a <see cref="RunOptions.Diagnostics"/> hook that throws is ignored).
    /// </summary>
    /// <param name="report">Delivers one diagnostic: its level and a message saying what was wrong and what to do.</param>
    void UseDiagnostics(Action<RunDiagnostic> report);
}
