namespace Tracker.Pipeline;

/// <summary>What a backend's worker tells the user; called from the worker's loop and its stop, one at a time.</summary>
internal interface IFollowerReports
{
    /// <summary>An attempt at <paramref name="step"/> failed and is made again after <paramref name="delay"/>.</summary>
    void Failed(Exception exception, TimeSpan delay, string step);

    /// <summary>The backend has every record written so far: ends an outage, if there was one.</summary>
    void CaughtUp(long delivered);

    /// <summary>The worker stopped for good on a failure that trying again cannot fix.</summary>
    void Stopped(Exception exception);

    /// <summary>Finish begins to wait, at most <paramref name="budget"/>, for <paramref name="pending"/> records.</summary>
    void FinishWaits(TimeSpan budget, long pending);

    /// <summary>
    /// Finish ends with <paramref name="pending"/> records the backend did not take, the worker last at
    /// <paramref name="step"/>; said once per backend. <paramref name="budgetRanOut"/> is Finish's budget
    /// when it ran out; <paramref name="stoppedBy"/>, the refusal after which the worker stopped, already reported.
    /// </summary>
    void NotTaken(long pending, string step, TimeSpan? budgetRanOut, Exception? stoppedBy);
}
