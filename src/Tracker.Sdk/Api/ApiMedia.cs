namespace Tracker.Api;

/// <summary>An image, histogram, table or text a run logged at a step, as the server holds it.</summary>
public sealed class ApiMedia
{
    internal ApiMedia(string key, long step, DateTimeOffset timestamp, string kind, string json, string? sha256, bool available) =>
        (Key, Step, Timestamp, Kind, Json, Sha256, Available) = (key, step, timestamp, kind, json, sha256, available);

    /// <summary>The media key, as given to <c>Log</c>.</summary>
    public string Key { get; }

    /// <summary>The step it was logged at.</summary>
    public long Step { get; }

    /// <summary>When it was logged.</summary>
    public DateTimeOffset Timestamp { get; }

    /// <summary><c>image</c>, <c>histogram</c>, <c>table</c> or <c>text</c>.</summary>
    public string Kind { get; }

    /// <summary>The media object as the record holds it (docs/protocol.md, "Media"): bins and counts, text, caption, size.</summary>
    public string Json { get; }

    /// <summary>For images and tables, the SHA-256 (lower-case hex) naming the file; null for inline media.</summary>
    public string? Sha256 { get; }

    /// <summary>Whether the server has the file (false when the run never uploaded it); true for inline media.</summary>
    public bool Available { get; }
}
