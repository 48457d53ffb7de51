using Tracker.Internal;

namespace Tracker.Pipeline;

/// <summary>What a custom backend's worker tells the user: failures (the first at once, then rate-limited), recovery, what Finish left.</summary>
/// <param name="name">The backend's name.</param>
/// <param name="runId">The run.</param>
/// <param name="directory">The run directory, where the records wait.</param>
/// <param name="diagnostics">Where the reports go.</param>
internal sealed class BackendReports(string name, string runId, string directory, DiagnosticsSink diagnostics) : IFollowerReports
{
    private int _failures;

    public void Failed(Exception exception, TimeSpan delay, string step)
    {
        var report = new RunDiagnostic(DiagnosticLevel.Warning,
            $"Backend '{name}' failed {step} of run {runId} (attempt {_failures + 1:N0}); retrying in {delay.TotalSeconds:N1} s. Nothing is lost: the records stay in {directory} until it takes them.",
            exception);
        if (_failures++ == 0)
        {
            diagnostics.Report(report);
        }
        else
        {
            diagnostics.ReportRateLimited(report);
        }
    }

    public void CaughtUp(long delivered)
    {
        if (_failures > 0)
        {
            diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Info, $"Backend '{name}' has the records of run {runId} again (up to {delivered:N0}) after {_failures:N0} failed attempts."));
            _failures = 0;
        }
    }

    public void Stopped(Exception exception) =>
        diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error, $"Backend '{name}' stopped taking the records of run {runId}: {exception.Message}", exception));

    public void FinishWaits(TimeSpan budget, long pending)
    {
    }

    public void NotTaken(long pending, string step, TimeSpan? budgetRanOut, Exception? stoppedBy)
    {
        var why = (budgetRanOut, stoppedBy) switch
        {
            ({ } budget, _) => $"(it was {step}) within Finish's {budget.TotalSeconds:N1} s budget (FinishTimeout)",
            (_, { } refusal) => $"(it stopped taking them: {refusal.Message})",
            _ => $"before its worker ended (it was {step})",
        };
        diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
            $"Backend '{name}' did not take {pending:N0} records of run {runId} {why}. They stay in {directory}, and its cursor "
            + $"({RunFiles.BackendsFolder}/{name}.json) lets a later run pick up: resume the run with the backend registered to send them."));
    }
}
