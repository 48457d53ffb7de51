using System.Net;
using Tracker.Internal;

namespace Tracker.Online;

/// <summary>
/// What the server upload tells the user: the first failure of an outage at once, then at most one
/// report per interval, one when the run is up to date again, why sending stopped, and that Finish
/// waits for a server that is not answering. Called by the upload's worker, one at a time.
/// </summary>
/// <param name="runId">The run.</param>
/// <param name="server">The server's base URL.</param>
/// <param name="directory">The run directory, where the records wait.</param>
/// <param name="diagnostics">Where the reports go.</param>
/// <param name="time">Clock for the outage's length and the report interval.</param>
internal sealed class SenderReports(string runId, string server, string directory, DiagnosticsSink diagnostics, TimeProvider time) : Pipeline.IFollowerReports
{
    private static readonly TimeSpan OutageReportInterval = TimeSpan.FromMinutes(1);

    private int _failures;
    private DateTimeOffset? _outageStart;
    private volatile bool _inOutage;

    private DateTimeOffset _nextOutageReport;

    /// <summary>An attempt failed and is retried after <paramref name="delay"/>.</summary>
    public void Failed(Exception exception, TimeSpan delay, string step)
    {
        var now = time.GetUtcNow();
        _failures++;
        _outageStart ??= now;
        _inOutage = true;
        if (_failures > 1 && now < _nextOutageReport)
        {
            return;
        }

        _nextOutageReport = now + OutageReportInterval;
        var attempts = _failures > 1 ? $" ({_failures:N0} attempts since {_outageStart:u})" : string.Empty;
        diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning,
            $"Sending run {runId} to {server} failed{attempts}; retrying in {delay.TotalSeconds:N1} s. Nothing is lost: the records stay in {directory} until the server has them.",
            exception));
    }

    /// <summary>The server has everything written so far: ends an outage, if there was one.</summary>
    public void CaughtUp(long ackedSeq)
    {
        _inOutage = false;
        if (_outageStart is { } since)
        {
            diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Info,
                $"Run {runId} is up to date on {server} again (seq {ackedSeq:N0}) after {_failures:N0} failed attempts over {(time.GetUtcNow() - since).TotalSeconds:N0} s."));
            _outageStart = null;
            _failures = 0;
        }
    }

    /// <summary>Said once, so that a Finish waiting on a dead server is not mistaken for a hang.</summary>
    public void FinishWaits(TimeSpan budget, long pending)
    {
        if (_inOutage && pending > 0)
        {
            diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning,
                $"Finish waits up to {budget.TotalSeconds:N0} s for {server}, which is not answering, to take the last {pending:N0} lines of the run; what it does not take stays in {directory} for tracker sync."));
        }
    }

    /// <summary>
    /// What the server lacks at Finish and how to upload it; a warning after a refusal for good,
    /// which was reported as an error already and says whether <c>tracker sync</c> can help.
    /// </summary>
    public void NotTaken(long pending, string step, TimeSpan? budgetRanOut, Exception? stoppedBy)
    {
        var lines = $"{pending:N0} record lines of run {runId} are not on {server}";
        if (stoppedBy is not null)
        {
            Report(new RunDiagnostic(DiagnosticLevel.Warning,
                $"{lines}: it refused the run (see the error before). They stay in {directory}; "
                + (RefusedForGood(stoppedBy) ? "tracker sync will refuse them too." : $"upload them later with: tracker sync {directory}")));
            return;
        }

        var why = budgetRanOut is { } budget
            ? $"Finish's {budget.TotalSeconds:N1} s budget (FinishTimeout) ran out while the upload was {step}"
            : $"the upload ended without them (it was {step})";
        Report(new RunDiagnostic(DiagnosticLevel.Error,
            $"{lines}: {why}. They are safe in {directory}; upload them later with: tracker sync {directory}"));

        void Report(RunDiagnostic report)
        {
            NotTakenMessage = report.Message;
            diagnostics.Report(report);
        }
    }

    /// <summary>What <see cref="NotTaken"/> said, for the finish footer; null when the server has every line.</summary>
    public string? NotTakenMessage { get; private set; }

    /// <summary>Sending stopped for good; an auth failure's own message says it all.</summary>
    public void Stopped(Exception exception)
    {
        var (problem, cause) = exception switch
        {
            TrackerAuthException => (exception.Message, null),
            TrackerRunIdInUseException => ($"Run {runId} is not sent to {server}: the server holds another run with this id. {exception.Message}", null),
            TrackerServerException { StatusCode: HttpStatusCode.Gone } => ($"Run {runId} is no longer sent to {server}: the run was deleted there. {exception.Message}", null),
            TrackerSequenceException sequence => ($"Run {runId} is no longer sent to {server}: the server expects seq {sequence.ExpectedSeq:N0} next, which the local log does not have.", exception),
            TrackerServerException { StatusCode: null } => ($"Run {runId} is no longer sent to {server}: its answers do not follow the Tracker protocol.", exception),
            _ => ($"Run {runId} is no longer sent to {server}: the server refused it.", exception),
        };
        var rest = RefusedForGood(exception)
            ? $"The run keeps logging locally in {directory}; tracker sync will refuse it too."
            : $"The run keeps logging locally in {directory}; upload it later with: tracker sync {directory}";
        diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error, $"{problem} {rest}", cause));
    }

    /// <summary>Whether <c>tracker sync</c> is refused the same way: a deleted run, or another run under its id.</summary>
    private static bool RefusedForGood(Exception exception) =>
        exception is TrackerRunIdInUseException or TrackerServerException { StatusCode: HttpStatusCode.Gone };
}
