namespace Tracker.Server;

/// <summary>The server's settings, bound from the <c>Tracker</c> configuration section.</summary>
internal sealed class ServerOptions
{
    /// <summary>SQLite database file, used when no PostgreSQL connection string is set.</summary>
    public string Sqlite { get; set; } = "tracker.db";

    /// <summary>PostgreSQL connection string; when set, the server stores runs there.</summary>
    public string? Postgres { get; set; }

    /// <summary>Largest request body, after decompression.</summary>
    public long MaxBodyBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>
    /// How long appends reuse a looked-up API key before looking it up again (each append still
    /// checks, in its transaction, that the key is active). Zero looks every request up.
    /// </summary>
    public TimeSpan KeyCacheDuration { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a <c>running</c> run may go unheard (no upsert, append or heartbeat) before reads
    /// report it <c>crashed</c>; the SDK sends a heartbeat every 30 s when it has nothing else to send.
    /// </summary>
    public TimeSpan CrashedAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary><c>loopback</c> (reads open to local clients only), <c>open</c>, or <c>key</c> (reads need a key).</summary>
    public string ReadAccess { get; set; } = "loopback";
}
