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

    /// <summary>Finish's budget ran out with <paramref name="pending"/> records not taken, the worker at <paramref name="step"/>.</summary>
    void NotTaken(TimeSpan budget, long pending, string step);
}
