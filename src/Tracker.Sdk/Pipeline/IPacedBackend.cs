using Tracker.Export;

namespace Tracker.Pipeline;

/// <summary>
/// What the worker asks of the server upload beyond <see cref="IRecordBackend"/>: its own cursor and
/// reports, a pace (requests spaced out, a heartbeat when idle), the delay the server asks for, and the
/// refusals after which it stops. A custom backend gets the worker's defaults instead.
/// </summary>
internal interface IPacedBackend : IRecordBackend
{
    /// <summary>The cursor, not loaded yet.</summary>
    IBackendCursor Cursor { get; }

    /// <summary>What the user is told of failures, recovery and Finish.</summary>
    IFollowerReports Reports { get; }

    /// <summary>Least time between two writes of less than a full batch; Finish does not wait for it.</summary>
    TimeSpan SendInterval { get; }

    /// <summary>Time without new records after which <see cref="IdleAsync"/> is called with <c>quiet</c> set.</summary>
    TimeSpan IdleInterval { get; }

    /// <summary>
    /// Called whenever the backend has every record written so far; <paramref name="quiet"/> when
    /// <see cref="IdleInterval"/> passed without any. Throws <see cref="BatchNotTakenException"/> when
    /// its store's cursor moved, so that the worker reads from it again.
    /// </summary>
    Task IdleAsync(bool quiet, CancellationToken cancellationToken);

    /// <summary>The delay the store asked for before the next attempt, or null for the back-off's.</summary>
    TimeSpan? RetryAfter(Exception exception);

    /// <summary>Whether trying again cannot help (a refused key or run): the worker stops.</summary>
    bool IsFinal(Exception exception);
}
