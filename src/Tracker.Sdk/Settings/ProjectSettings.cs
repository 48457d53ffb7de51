using System.Text.Json;

namespace Tracker.Settings;

/// <summary>
/// A project's settings file, <c>tracker.json</c>, written by <c>tracker init</c>: the project,
/// server and run directory that <see cref="Run.Init(RunOptions)"/> and the <c>tracker</c> command
/// use when neither an option nor a <c>TRACKER_*</c> environment variable sets them. It is found
/// in the current directory or the nearest parent that has one, as git finds <c>.git</c> (W&amp;B's
/// <c>wandb/settings</c> plays the same part).
/// </summary>
/// <remarks>
/// The file is a JSON object with any of <c>project</c> (a project name), <c>server</c> (an absolute
/// http or https URL) and <c>dir</c> (the root of run directories, relative to the folder holding
/// the file, so that a run started in a subfolder lands in the same place).
/// </remarks>
public sealed class ProjectSettings
{
    /// <summary>The file name, <c>tracker.json</c>.</summary>
    public const string FileName = "tracker.json";

    /// <summary>The project runs belong to; null when the file does not set it.</summary>
    public string? Project { get; init; }

    /// <summary>The Tracker server's base URL; null when the file does not set it.</summary>
    public Uri? Server { get; init; }

    /// <summary>The root of run directories as written in the file; null when the file does not set it.</summary>
    public string? Dir { get; init; }

    /// <summary>The file these settings were read from; null for settings not read from a file.</summary>
    public string? FilePath { get; private init; }

    /// <summary>The root of run directories as a full path: <see cref="Dir"/> resolved against the folder of <see cref="FilePath"/>.</summary>
    public string? FullDir => Dir is null ? null : Path.GetFullPath(Dir, Path.GetDirectoryName(FilePath) ?? Environment.CurrentDirectory);

    /// <summary>
    /// The server to use: <paramref name="given"/>, else <c>TRACKER_BASE_URL</c>, else the server of the
    /// nearest <c>tracker.json</c>; the order <c>Run.Init</c>, <c>TrackerApi</c> and the <c>tracker</c>
    /// command share.
    /// </summary>
    /// <param name="given">A server given as an option, if any.</param>
    /// <returns>The server, or null when none is named.</returns>
    /// <exception cref="ArgumentException"><c>TRACKER_BASE_URL</c> is not an absolute URL, or <c>tracker.json</c> is not valid.</exception>
    public static Uri? ServerFor(Uri? given = null) =>
        given
        ?? (Environment.GetEnvironmentVariable("TRACKER_BASE_URL") is { Length: > 0 } url
            ? (Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri : throw new ArgumentException($"TRACKER_BASE_URL '{url}' is not an absolute URL such as http://127.0.0.1:5080."))
            : Find()?.Server);

    /// <summary>Finds <c>tracker.json</c> in <paramref name="directory"/> (default: the current directory) or its nearest parent that has one, and reads it.</summary>
    /// <param name="directory">Where the search starts.</param>
    /// <returns>The settings, or null when no folder up to the root has the file.</returns>
    /// <exception cref="ArgumentException">The file found is not valid; the message names it and what is wrong.</exception>
    public static ProjectSettings? Find(string? directory = null)
    {
        for (var folder = new DirectoryInfo(directory ?? Environment.CurrentDirectory); folder is not null; folder = folder.Parent)
        {
            var path = Path.Combine(folder.FullName, FileName);
            if (File.Exists(path))
            {
                return Read(path);
            }
        }

        return null;
    }

    /// <summary>Reads one settings file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>Its settings.</returns>
    /// <exception cref="ArgumentException">The file cannot be read, is not a JSON object, has a member other than project, server and dir, or a value that is not valid.</exception>
    public static ProjectSettings Read(string path)
    {
        var full = Path.GetFullPath(path);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(full), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(full, "it must hold a JSON object such as {\"project\": \"mnist\"}");
            }

            string? project = null, server = null, dir = null;
            foreach (var member in document.RootElement.EnumerateObject())
            {
                // An unknown (misspelt) member would otherwise be ignored silently and the run would go elsewhere.
                var value = member.Value.ValueKind is JsonValueKind.String or JsonValueKind.Null
                    ? member.Value.GetString()
                    : throw Invalid(full, $"'{member.Name}' must be a string");
                switch (member.Name)
                {
                    case "project": project = value; break;
                    case "server": server = value; break;
                    case "dir": dir = value; break;
                    default: throw Invalid(full, $"'{member.Name}' is not a setting; the settings are project, server and dir");
                }
            }

            var problem = (project is null ? null : RecordRules.IdProblem(project, "project"))
                ?? (server is null || ParseServer(server) is not null ? null : $"server '{server}' is not an absolute http or https URL such as http://127.0.0.1:5080")
                ?? (dir is { Length: 0 } ? "dir must not be empty" : null);
            return problem is null
                ? new ProjectSettings { Project = project, Server = server is null ? null : ParseServer(server), Dir = dir, FilePath = full }
                : throw Invalid(full, problem);
        }
        catch (JsonException ex)
        {
            throw Invalid(full, $"it is not valid JSON ({ex.Message})");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Invalid(full, $"it cannot be read ({ex.Message})");
        }
    }

    /// <summary>Writes these settings as a new file; an existing file is replaced only when <paramref name="overwrite"/>.</summary>
    /// <param name="path">The file to write.</param>
    /// <param name="overwrite">Whether an existing file may be replaced.</param>
    /// <exception cref="IOException">The file exists and <paramref name="overwrite"/> is false, or it cannot be written.</exception>
    public void Write(string path, bool overwrite)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            WriteIfSet(writer, "project", Project);
            WriteIfSet(writer, "server", Server?.ToString());
            WriteIfSet(writer, "dir", Dir);
            writer.WriteEndObject();
        }

        buffer.Write("\n"u8);
        using var file = new FileStream(path, overwrite ? FileMode.Create : FileMode.CreateNew, FileAccess.Write);
        file.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>An absolute http or https URL, or null.</summary>
    internal static Uri? ParseServer(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? url : null;

    private static void WriteIfSet(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }

    private static ArgumentException Invalid(string path, string problem) =>
        new($"The settings file {path} is not valid: {problem}. Fix or remove it (tracker init --force writes a new one).");
}
