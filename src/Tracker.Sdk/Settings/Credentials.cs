using System.Text.Json;

namespace Tracker.Settings;

/// <summary>
/// The API keys <c>tracker login</c> stores, one per server, in a per-user file readable only by
/// its owner (mode 0600 on Unix, in a 0700 folder): <c>$XDG_CONFIG_HOME/tracker/credentials.json</c>,
/// else <c>~/.config/tracker/credentials.json</c> (on Windows <c>%APPDATA%\tracker\credentials.json</c>),
/// as W&amp;B keeps its key in <c>~/.netrc</c>. <see cref="Run.Init(RunOptions)"/> in online mode and
/// the <c>tracker</c> command use the key stored for their server when none is given as an option or
/// in <c>TRACKER_API_KEY</c>.
/// </summary>
/// <remarks>
/// The file is <c>{"servers": {"http://127.0.0.1:5080": {"api_key": "trk_..."}}}</c>, keyed by the
/// server's base URL without a trailing slash (see <see cref="ServerKey"/>).
/// </remarks>
public static class Credentials
{
    /// <summary>The credentials file of the current user, from <c>XDG_CONFIG_HOME</c> or the home directory as read now.</summary>
    public static string FilePath
    {
        get
        {
            var config = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg)
                ? xdg
                : OperatingSystem.IsWindows()
                    ? Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify)
                    : Path.Combine(Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
            return Path.Combine(config, "tracker", "credentials.json");
        }
    }

    /// <summary>How a server is named in the file: scheme, host, port and path, without query or trailing slash (<c>http://127.0.0.1:5080</c>).</summary>
    /// <param name="server">The server's base URL.</param>
    /// <returns>The name.</returns>
    public static string ServerKey(Uri server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.GetLeftPart(UriPartial.Path).TrimEnd('/');
    }

    /// <summary>The key stored for <paramref name="server"/>.</summary>
    /// <param name="server">The server's base URL.</param>
    /// <returns>The key, or null when none is stored or the file is missing.</returns>
    /// <exception cref="ArgumentException">The credentials file exists but is not valid JSON of the documented shape.</exception>
    public static string? FindKey(Uri server) =>
        ReadAll().TryGetValue(ServerKey(server), out var key) ? key : null;

    /// <summary>
    /// The key to use for <paramref name="server"/>: <paramref name="given"/>, else <c>TRACKER_API_KEY</c>,
    /// else the one stored by <c>tracker login</c>; the order <c>Run.Init</c>, <c>TrackerApi</c> and the
    /// <c>tracker</c> command share.
    /// </summary>
    /// <param name="server">The server's base URL.</param>
    /// <param name="given">A key given as an option, if any.</param>
    /// <returns>The key, or null when there is none.</returns>
    /// <exception cref="ArgumentException">The credentials file exists but is not valid JSON of the documented shape.</exception>
    public static string? ApiKeyFor(Uri server, string? given = null) =>
        !string.IsNullOrEmpty(given) ? given
        : Environment.GetEnvironmentVariable("TRACKER_API_KEY") is { Length: > 0 } env ? env
        : FindKey(server);

    /// <summary>Stores <paramref name="apiKey"/> for <paramref name="server"/>, replacing any key stored for it; the file is replaced atomically and readable by its owner only.</summary>
    /// <param name="server">The server's base URL.</param>
    /// <param name="apiKey">The key.</param>
    /// <returns>The file written.</returns>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static string Store(Uri server, string apiKey)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        var keys = ReadAll();
        keys[ServerKey(server)] = apiKey;
        return WriteAll(keys);
    }

    /// <summary>Removes the key stored for <paramref name="server"/>.</summary>
    /// <param name="server">The server's base URL.</param>
    /// <returns>Whether a key was stored.</returns>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static bool Remove(Uri server)
    {
        var keys = ReadAll();
        if (!keys.Remove(ServerKey(server)))
        {
            return false;
        }

        WriteAll(keys);
        return true;
    }

    private static Dictionary<string, string> ReadAll()
    {
        var path = FilePath;
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return keys;
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("servers", out var servers) && servers.ValueKind == JsonValueKind.Object)
            {
                foreach (var server in servers.EnumerateObject())
                {
                    if (server.Value.ValueKind == JsonValueKind.Object && server.Value.TryGetProperty("api_key", out var key) && key.ValueKind == JsonValueKind.String)
                    {
                        keys[server.Name] = key.GetString()!;
                    }
                }
            }

            return keys;
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"The credentials file {path} is not valid JSON ({ex.Message}); remove it and log in again with: tracker login SERVER", ex);
        }
    }

    private static string WriteAll(Dictionary<string, string> keys)
    {
        var path = FilePath;
        var folder = Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        // A new file made 0600 from the start and renamed over the old one: the key is never readable by others, not even for a moment.
        var temp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using (var file = new FileStream(temp, options))
            using (var writer = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true }))
            {
                writer.WriteStartObject();
                writer.WriteStartObject("servers");
                foreach (var (server, key) in keys.OrderBy(k => k.Key, StringComparer.Ordinal))
                {
                    writer.WriteStartObject(server);
                    writer.WriteString("api_key", key);
                    writer.WriteEndObject();
                }

                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            File.Move(temp, path, overwrite: true);
            return path;
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
