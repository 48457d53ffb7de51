namespace Tracker.Api;

/// <summary>
/// A read through <see cref="TrackerApi"/> failed: the server could not be reached, refused the
/// key, or has no such project or run. The message says which and what to do.
/// </summary>
public sealed class TrackerApiException : Exception
{
    internal TrackerApiException(string message, int? statusCode, Exception? inner = null)
        : base(message, inner) => StatusCode = statusCode;

    /// <summary>
    /// The server's HTTP status (401 key refused, 403 key of another project, 404 unknown project,
    /// run or file, 410 deleted run, 5xx server error); null when no answer came (server unreachable).
    /// </summary>
    public int? StatusCode { get; }
}
