using Tracker.Settings;

namespace Tracker.Cli;

/// <summary>
/// The command's settings, found as <c>Run.Init</c> finds them: an option, then the <c>TRACKER_*</c>
/// environment variable, then the project's <c>tracker.json</c> (and for API keys, the key
/// <c>tracker login</c> stored for the server), then the default.
/// </summary>
internal static class CliSettings
{
    public const string DefaultServer = "http://127.0.0.1:5080";

    /// <summary>The project's tracker.json, from the current directory up; null when there is none.</summary>
    public static ProjectSettings? Project()
    {
        try
        {
            return ProjectSettings.Find();
        }
        catch (ArgumentException ex)
        {
            throw new CliException(ex.Message);
        }
    }

    /// <summary>The runs root: TRACKER_DIR, then tracker.json's dir, then ./tracker-runs.</summary>
    public static string RunsDir =>
        Environment.GetEnvironmentVariable("TRACKER_DIR") is { Length: > 0 } dir ? dir : Project()?.FullDir ?? "tracker-runs";

    /// <summary>The server named by <paramref name="given"/>, TRACKER_BASE_URL or tracker.json; null when none names one.</summary>
    public static Uri? Server(string? given)
    {
        Uri? url = null;
        if (given is not null && !(Uri.TryCreate(given, UriKind.Absolute, out url) && url.Scheme is "http" or "https"))
        {
            throw new UsageException($"'{given}' is not a server URL: give one such as {DefaultServer}.");
        }

        try
        {
            url = ProjectSettings.ServerFor(url);
        }
        catch (ArgumentException ex)
        {
            throw new CliException(ex.Message); // TRACKER_BASE_URL or tracker.json, as Project() reports it
        }

        return url is null || url.Scheme is "http" or "https"
            ? url
            : throw new UsageException($"'{url}' is not a server URL: give one such as {DefaultServer}.");
    }

    /// <summary>The API key: <paramref name="given"/>, then TRACKER_API_KEY, then the one stored for <paramref name="server"/>; null when there is none.</summary>
    public static string? ApiKey(string? given, Uri server)
    {
        try
        {
            return Credentials.ApiKeyFor(server, given);
        }
        catch (ArgumentException ex)
        {
            throw new CliException(ex.Message);
        }
    }
}
