using System.Net;

namespace Tracker.Online;

/// <summary>
/// The Tracker server answered with an error that the resilience pipeline did not (or could not)
/// retry away. <see cref="IsTransient"/> says whether sending the same batch later may work.
/// </summary>
internal class TrackerServerException(string message, HttpStatusCode? statusCode, bool isTransient, TimeSpan? retryAfter = null)
    : Exception(message)
{
    /// <summary>The HTTP status; null when a 2xx answer was not a Tracker answer.</summary>
    public HttpStatusCode? StatusCode { get; } = statusCode;

    /// <summary>True for 408, 429 and 5xx: the server may take the batch later.</summary>
    public bool IsTransient { get; } = isTransient;

    /// <summary>The server's Retry-After, when it sent one.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>The server refused the API key (401) or its scope (403): nothing more is sent.</summary>
internal sealed class TrackerAuthException(string message, HttpStatusCode statusCode)
    : TrackerServerException(message, statusCode, isTransient: false);

/// <summary>
/// The server refused a batch because its first line is not the sequence number it expects next
/// (409): the server has fewer records than the sender thought, or more (an answer was lost).
/// </summary>
internal sealed class TrackerSequenceException(string message, long expectedSeq)
    : TrackerServerException(message, HttpStatusCode.Conflict, isTransient: false)
{
    /// <summary>The sequence number the server wants next: it stores everything before it.</summary>
    public long ExpectedSeq { get; } = expectedSeq;
}

/// <summary>
/// The server holds records of another run under this run's id (409 to the upsert): a new run reused
/// an id. Nothing is sent, so the stored run stays as it was.
/// </summary>
internal sealed class TrackerRunIdInUseException(string message)
    : TrackerServerException(message, HttpStatusCode.Conflict, isTransient: false);
