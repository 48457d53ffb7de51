namespace Tracker.Format;

/// <summary>The files of a run directory (<c>&lt;dir&gt;/&lt;project&gt;/&lt;run-id&gt;/</c>), named once.</summary>
public static class RunFiles
{
    /// <summary>The run's metadata, replaced atomically whenever it changes.</summary>
    public const string RunFile = "run.json";

    /// <summary>The append-only log of records, one JSON line each.</summary>
    public const string RecordsFile = "records.jsonl";

    /// <summary>The final summary, written when the run finishes.</summary>
    public const string SummaryFile = "summary.json";

    /// <summary>The sequence number the server acknowledged (online runs and <c>tracker sync</c>).</summary>
    public const string SyncFile = "sync.json";

    /// <summary>
    /// The lock of the process writing the run, which holds it open with an OS lock on one byte
    /// while the run is open and writes its process id in it. Readers need not look at it; a file
    /// left behind by an ended process locks nothing.
    /// </summary>
    public const string LockFile = "run.lock";

    /// <summary>
    /// Left by a Tracker SDK inside a program that <c>tracker run</c> started (TRACKER_RUN_HANDOFF=1)
    /// when it finds the run held: <c>tracker run</c> then finishes its part, removes the file and
    /// lets the program's SDK open the run.
    /// </summary>
    public const string HandoffFile = "run.handoff";

    /// <summary>Images and tables, named by the SHA-256 of their bytes.</summary>
    public const string MediaFolder = "media";

    /// <summary>Files kept with the run: the diff of uncommitted changes, console output, logs.</summary>
    public const string FilesFolder = "files";

    /// <summary>
    /// The cursors of the SDK's custom backends, <c>&lt;name&gt;.json</c> each: the last sequence number
    /// the backend took, so that a resumed run sends it only what follows.
    /// </summary>
    public const string BackendsFolder = "backends";

    /// <summary>
    /// The full path of a file a record names (such as <c>media/&lt;sha256&gt;.png</c>), or null when
    /// the name could lead out of the run directory: records are input like any other, so a name
    /// with <c>..</c>, a rooted name, a control character (NUL included), or a symbolic link on the
    /// way that points outside the run directory is refused.
    /// </summary>
    /// <param name="runDirectory">The run directory.</param>
    /// <param name="relative">The name from the record.</param>
    /// <returns>The full path inside the run directory, or null.</returns>
    public static string? PathIn(string runDirectory, string? relative)
    {
        if (string.IsNullOrEmpty(relative) || relative.Contains("..", StringComparison.Ordinal) || relative.Any(char.IsControl)
            || relative.Contains(':', StringComparison.Ordinal) || Path.IsPathRooted(relative) || relative[0] is '/' or '\\')
        {
            return null;
        }

        var root = Path.GetFullPath(runDirectory);
        var path = Path.GetFullPath(Path.Combine(root, relative));
        if (!path.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return null;
        }

        // Every existing part of the way must stay inside: a link in the run directory could point anywhere.
        var realRoot = Resolve(root);
        for (var part = path; part.Length > root.Length; part = Path.GetDirectoryName(part)!)
        {
            var info = new FileInfo(part);
            if (info.LinkTarget is not null)
            {
                var target = Resolve(part);
                if (!target.StartsWith(realRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    return null;
                }
            }
        }

        return path;
    }

    /// <summary>The content type a server stores and serves a run's media file with, by its name: PNG, JPEG, or JSON (tables).</summary>
    /// <param name="path">The file's name or path.</param>
    /// <returns>The MIME type.</returns>
    public static string ContentType(string path) =>
        path.EndsWith(".png", StringComparison.Ordinal) ? "image/png"
        : path.EndsWith(".jpg", StringComparison.Ordinal) ? "image/jpeg"
        : "application/json";

    private static string Resolve(string path)
    {
        var info = new FileInfo(path);
        var target = info.Exists || Directory.Exists(path) ? info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path : path;
        return Path.GetFullPath(target).TrimEnd(Path.DirectorySeparatorChar);
    }

    /// <summary>
    /// The run's page in the web UI of the server at <paramref name="server"/>, as <c>Run.Url</c>,
    /// <c>tracker ls</c> and the footer print it: <c>SERVER#/projects/PROJECT/runs/RUN</c>.
    /// </summary>
    public static string UrlOf(Uri server, string project, string runId) =>
        new Uri(server, $"#/projects/{Uri.EscapeDataString(project)}/runs/{Uri.EscapeDataString(runId)}").ToString();
}
