using System.CommandLine;
using Tracker.Api;
using Tracker.Reading;

namespace Tracker.Cli;

/// <summary>
/// A run the commands read, from a local run directory or from a server, so that <c>show</c>,
/// <c>export</c> and <c>report</c> print, export and draw both through the same code.
/// </summary>
internal abstract class RunSource : IDisposable
{
    /// <summary>The run's metadata and config.</summary>
    public abstract RunInfo Info { get; }

    /// <summary>Where the run is: its directory, or its address on the server.</summary>
    public abstract string Location { get; }

    /// <summary>Lines of records.jsonl skipped as torn or corrupt; 0 for a server run (the server stores only valid lines).</summary>
    public virtual int SkippedLines => 0;

    public abstract IReadOnlyDictionary<string, object?> ReadSummary();

    /// <summary>The history, one row per step in step order.</summary>
    public abstract IEnumerable<HistoryRow> ReadHistory();

    /// <summary>Every charted point, key by key or in log order.</summary>
    public abstract void ReadPoints(Action<string, long, double> onPoint);

    /// <summary>The media in step order; with <paramref name="withFiles"/>, images' and tables' files are on disk at <see cref="MediaRecord.FilePath"/>.</summary>
    public abstract IReadOnlyList<MediaRecord> ReadMedia(bool withFiles);

    /// <summary>Removes what reading left on disk (a server run's downloaded media files).</summary>
    public virtual void Dispose()
    {
    }

    /// <summary>
    /// The run <paramref name="run"/>: with <paramref name="server"/>, the run of that id in
    /// <paramref name="project"/> (else TRACKER_PROJECT, else tracker.json's) on that server, with the
    /// key <c>tracker sync</c> would use; without, a run directory or a run id under <paramref name="dir"/>.
    /// </summary>
    public static RunSource Open(string run, string dir, string? server, string? apiKey, string? project)
    {
        if (server is null)
        {
            return new LocalRunSource(LocalRuns.Open(run, dir));
        }

        var api = Api(server, apiKey);
        try
        {
            return new ServerRunSource(api, Await(api.GetRunAsync(Project(project), run)));
        }
        catch
        {
            api.Dispose();
            throw;
        }
    }

    /// <summary>A client for the server given with --server, with the key from --api-key, TRACKER_API_KEY or tracker login.</summary>
    public static TrackerApi Api(string server, string? apiKey)
    {
        var url = CliSettings.Server(server)!;
        return new TrackerApi(url, CliSettings.ApiKey(apiKey, url));
    }

    /// <summary>The project of server runs: --project, TRACKER_PROJECT, then tracker.json's.</summary>
    public static string Project(string? given) =>
        given ?? (Environment.GetEnvironmentVariable("TRACKER_PROJECT") is { Length: > 0 } env ? env : null) ?? CliSettings.Project()?.Project
        ?? throw new UsageException("A run on a server is named by its project and id: give --project P (or set TRACKER_PROJECT, or tracker init a project).");

    /// <summary>A read of the server's; its failure, which says what to do, ends the command.</summary>
    public static T Await<T>(Task<T> read)
    {
        try
        {
            return read.GetAwaiter().GetResult();
        }
        catch (TrackerApiException ex)
        {
            throw new CliException(ex.Message);
        }
    }
}

/// <summary>A run directory, through the run format's reader.</summary>
internal sealed class LocalRunSource(RunReader reader) : RunSource
{
    public override RunInfo Info => reader.Info;

    public override string Location => reader.Directory;

    public override int SkippedLines => reader.SkippedLines;

    public override IReadOnlyDictionary<string, object?> ReadSummary() => reader.ReadSummary();

    public override IEnumerable<HistoryRow> ReadHistory() => reader.ReadHistory();

    public override void ReadPoints(Action<string, long, double> onPoint) => reader.ReadPoints(onPoint);

    public override IReadOnlyList<MediaRecord> ReadMedia(bool withFiles) => reader.ReadMedia();
}

/// <summary>
/// A run on a server, through <see cref="TrackerApi"/>. The server charts history values as doubles,
/// so integers and booleans come back as doubles and text values are in the summary only.
/// </summary>
internal sealed class ServerRunSource(TrackerApi api, ApiRun run) : RunSource
{
    private string? _mediaFolder;

    public override RunInfo Info => run.Info;

    public override string Location => RunFiles.UrlOf(api.BaseUrl, run.Project, run.Id);

    public override IReadOnlyDictionary<string, object?> ReadSummary() => run.Summary;

    public override IEnumerable<HistoryRow> ReadHistory() => run.GetHistoryRowsAsync().ToBlockingEnumerable();

    public override void ReadPoints(Action<string, long, double> onPoint)
    {
        foreach (var key in Await(run.GetHistoryKeysAsync()))
        {
            foreach (var point in run.GetHistoryAsync(key).ToBlockingEnumerable())
            {
                onPoint(key, point.Step, point.Value);
            }
        }
    }

    public override IReadOnlyList<MediaRecord> ReadMedia(bool withFiles)
    {
        // Files go to a folder of the process's own, named by their hash as in a run directory.
        var folder = withFiles ? _mediaFolder ??= Directory.CreateTempSubdirectory("tracker-media-").FullName : null;
        var records = new List<MediaRecord>();
        foreach (var media in Await(run.GetMediaAsync()).OrderBy(m => m.Step))
        {
            string? path = null;
            if (folder is not null && media.Sha256 is { } sha256 && media.Available)
            {
                path = Path.Combine(folder, sha256);
                if (!File.Exists(path))
                {
                    File.WriteAllBytes(path, Await(run.GetFileAsync(media)));
                }
            }

            records.Add(new MediaRecord(media.Step, media.Key, media.Timestamp, media.Kind, media.Json, path));
        }

        return records;
    }

    public override void Dispose()
    {
        api.Dispose();
        if (_mediaFolder is not null && Directory.Exists(_mediaFolder))
        {
            Directory.Delete(_mediaFolder, recursive: true);
        }
    }
}

/// <summary>The options that make <c>show</c>, <c>export</c> and <c>report</c> read server runs.</summary>
internal sealed class ServerRunOptions
{
    public Option<string?> Server { get; } = new("--server") { Description = "Read runs from this Tracker server (such as http://127.0.0.1:5080) instead of run directories." };

    public Option<string?> ApiKey { get; } = new("--api-key") { Description = "API key for --server (default: TRACKER_API_KEY, then the key tracker login stored for the server)." };

    public Option<string?> Project { get; } = new("--project") { Description = "The project of the runs on --server (default: TRACKER_PROJECT, then tracker.json)." };

    public void AddTo(Command command)
    {
        command.Options.Add(Server);
        command.Options.Add(ApiKey);
        command.Options.Add(Project);
    }

    public RunSource Open(ParseResult parse, string run, string dir) =>
        RunSource.Open(run, dir, parse.GetValue(Server), parse.GetValue(ApiKey), parse.GetValue(Project));
}
