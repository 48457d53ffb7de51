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

    /// <summary>
    /// <c>loopback</c> (reads open to local clients only), <c>open</c>, or <c>key</c> (reads need a key);
    /// any case. Another value stops the server at start (<see cref="Validate"/>).
    /// </summary>
    public string ReadAccess { get; set; } = "loopback";

    /// <summary>
    /// Addresses of reverse proxies whose <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> the
    /// server believes; empty (the default) believes none. From a trusted proxy, the forwarded client
    /// address decides whether a read comes from loopback.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary>The values <see cref="ReadAccess"/> may have.</summary>
    public static readonly string[] ReadAccessValues = ["loopback", "open", "key"];

    /// <summary>
    /// Checks the settings and puts them in canonical form (<see cref="ReadAccess"/> lower-case): a
    /// setting the server does not understand must stop it, not fall back to something more open.
    /// </summary>
    /// <returns>The problems, one line each; empty when the settings are fine.</returns>
    public List<string> Validate()
    {
        var problems = new List<string>();
        if (ReadAccessValues.FirstOrDefault(v => string.Equals(v, ReadAccess?.Trim(), StringComparison.OrdinalIgnoreCase)) is { } access)
        {
            ReadAccess = access;
        }
        else
        {
            problems.Add($"Tracker:ReadAccess is '{ReadAccess}'; use one of: {string.Join(", ", ReadAccessValues)}.");
        }

        foreach (var proxy in TrustedProxies)
        {
            if (!System.Net.IPAddress.TryParse(proxy, out _))
            {
                problems.Add($"Tracker:TrustedProxies holds '{proxy}', which is not an IP address; list the proxies' addresses, such as 127.0.0.1.");
            }
        }

        if (MaxBodyBytes < 1)
        {
            problems.Add($"Tracker:MaxBodyBytes is {MaxBodyBytes}; it must be positive.");
        }

        if (KeyCacheDuration < TimeSpan.Zero)
        {
            problems.Add($"Tracker:KeyCacheDuration is {KeyCacheDuration}; it must not be negative.");
        }

        if (CrashedAfter <= TimeSpan.Zero)
        {
            problems.Add($"Tracker:CrashedAfter is {CrashedAfter}; it must be positive, such as 00:05:00.");
        }

        return problems;
    }
}
