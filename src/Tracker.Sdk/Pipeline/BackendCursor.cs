using System.Text.Json;
using System.Text.RegularExpressions;
using Tracker.Backends;
using Tracker.Internal;

namespace Tracker.Pipeline;

/// <summary>
/// A custom backend's cursor: the last sequence number it took, kept in
/// <c>backends/&lt;name&gt;.json</c> in the run directory so that a resumed run (or one after a crash)
/// sends it only what follows. Owned by the backend's worker; <see cref="Delivered"/> is read by any thread.
/// </summary>
/// <param name="directory">The run directory.</param>
/// <param name="name">The backend's name, valid (<see cref="NameProblem"/>).</param>
internal sealed partial class BackendCursor(string directory, string name) : IBackendCursor
{
    private long _delivered;

    /// <summary>The last sequence number the backend took.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    private string PathOf => Path.Combine(directory, RunFiles.BackendsFolder, name + ".json");

    /// <summary>What is wrong with a backend's name, or null when it can name a cursor file.</summary>
    public static string? NameProblem(string? name) =>
        name is not null && NamePattern().IsMatch(name)
            ? null
            : $"The backend name '{name}' cannot name its cursor file: use 1 to 64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit.";

    /// <summary>Starts from the recorded cursor, at most <paramref name="localSeq"/> (a file that lost its tail numbers its lines again).</summary>
    public long Load(long localSeq)
    {
        long recorded = 0;
        try
        {
            if (File.Exists(PathOf))
            {
                recorded = JsonSerializer.Deserialize<CursorState>(File.ReadAllBytes(PathOf), Json.Options)?.DeliveredSeq ?? 0;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            recorded = 0; // unreadable: at least once, so from the start
        }

        Interlocked.Exchange(ref _delivered, Math.Clamp(recorded, 0, localSeq));
        return Delivered;
    }

    /// <summary>The backend took the lines up to <paramref name="seq"/>: records it, replacing the file atomically.</summary>
    /// <exception cref="IOException">The file could not be written; the worker retries, and the batch may come again.</exception>
    public void Advance(long seq)
    {
        Interlocked.Exchange(ref _delivered, seq);
        Directory.CreateDirectory(Path.Combine(directory, RunFiles.BackendsFolder));
        LocalFileBackend.ReplaceAtomically(PathOf, Json.Serialize(new CursorState(seq)));
    }

    /// <summary>Nothing to add: each advance is recorded.</summary>
    public void Close(bool complete)
    {
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    /// <summary>The content of the cursor file.</summary>
    internal sealed record CursorState(long DeliveredSeq);
}
