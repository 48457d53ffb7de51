using System.CommandLine;
using Spectre.Console;
using Tracker.Online;
using Tracker.Reading;

namespace Tracker.Cli.Commands;

/// <summary>
/// <c>tracker sync</c>: uploads offline and unsynced runs from the cursor each keeps in sync.json.
/// The server stores every record at most once, so an interrupted sync resumes and a repeated one
/// sends nothing; a run the server refuses is reported and skipped.
/// </summary>
internal static class SyncCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "Runs root (default ./tracker-runs), a project folder, or one run directory.", DefaultValueFactory = _ => LocalRuns.DefaultDir };
        var server = new Option<string?>("--server") { Description = "Tracker server URL (default: TRACKER_BASE_URL)." };
        var apiKey = new Option<string?>("--api-key") { Description = "API key (default: TRACKER_API_KEY)." };
        var command = new Command("sync", "Upload offline and unsynced runs to a Tracker server.") { dir, server, apiKey };
        command.SetAction((r, ct) => RunAsync(r.GetValue(dir)!, ServerUrl(r.GetValue(server)), r.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("TRACKER_API_KEY"), ct));
        return command;
    }

    /// <summary>The server from --server or TRACKER_BASE_URL: an absolute http or https URL.</summary>
    public static Uri ServerUrl(string? given)
    {
        var text = given ?? Environment.GetEnvironmentVariable("TRACKER_BASE_URL");
        if (string.IsNullOrEmpty(text))
        {
            throw new UsageException("Name the server with --server http://HOST:PORT or TRACKER_BASE_URL.");
        }

        return Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"
            ? url
            : throw new UsageException($"'{text}' is not a server URL: give one such as http://127.0.0.1:5080.");
    }

    /// <summary>Run directories under a root, in a project folder, or the one given.</summary>
    public static IReadOnlyList<string> FindRunDirectories(string dir)
    {
        if (File.Exists(Path.Combine(dir, RunFiles.RunFile)))
        {
            return [dir];
        }

        var runs = RunReader.FindRuns(dir);
        if (runs.Count == 0 && Directory.Exists(dir))
        {
            runs = Directory.EnumerateDirectories(dir).Where(d => File.Exists(Path.Combine(d, RunFiles.RunFile))).Order(StringComparer.Ordinal).ToList();
        }

        return Directory.Exists(dir) ? runs : throw new CliException($"{Path.GetFullPath(dir)} does not exist.");
    }

    private static async Task<int> RunAsync(string dir, Uri server, string? apiKey, CancellationToken cancellationToken)
    {
        if (dir.StartsWith('-'))
        {
            throw new UsageException($"unknown option '{dir}'; see 'tracker sync --help'.");
        }

        var directories = FindRunDirectories(dir);
        if (directories.Count == 0)
        {
            Console.WriteLine($"No runs in {Path.GetFullPath(dir)}.");
            return CliExit.Success;
        }

        var results = new List<(string Run, long Sent, long Records, string State)>();
        await AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                foreach (var directory in directories)
                {
                    results.Add(await SyncOneAsync(directory, server, apiKey, progress, cancellationToken));
                }
            });

        var table = new Spectre.Console.Table().AddColumns("Run", "Records sent", "Records", "State");
        foreach (var (run, sent, records, state) in results)
        {
            table.AddRow(Markup.Escape(run), sent.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), records.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(state));
        }

        AnsiConsole.Write(table);
        var failed = results.Count(r => !r.State.StartsWith("synced", StringComparison.Ordinal) && !r.State.StartsWith("up to date", StringComparison.Ordinal));
        if (failed > 0)
        {
            await Console.Error.WriteLineAsync($"tracker: {failed} of {results.Count} runs are not fully on {server}; see the table above.");
            return CliExit.Failure;
        }

        return CliExit.Success;
    }

    private static async Task<(string Run, long Sent, long Records, string State)> SyncOneAsync(
        string directory, Uri server, string? apiKey, ProgressContext progress, CancellationToken cancellationToken)
    {
        directory = Path.TrimEndingDirectorySeparator(directory);
        var label = $"{Path.GetFileName(Path.GetDirectoryName(directory))}/{Path.GetFileName(directory)}";
        var task = progress.AddTask(Markup.Escape(label), maxValue: 1);
        try
        {
            task.MaxValue = Math.Max(1, LocalRuns.LastSeq(directory));
            var result = await RunSync.UploadAsync(directory, server, apiKey, new Progress<long>(acked => task.Value = acked), cancellationToken);
            var state = result.Failure switch
            {
                RunSyncFailure.None when result.Unsynced > 0 => $"failed: {result.Unsynced:N0} records not acknowledged",
                RunSyncFailure.None => result.RecordsSent == 0 ? "up to date" : "synced",
                RunSyncFailure.KeyRefused => $"rejected: the server refused the API key ({result.StatusCode}); give one for this project with --api-key or TRACKER_API_KEY",
                RunSyncFailure.RunRefused => $"rejected: {result.Message}",
                _ => result.StatusCode is null
                    ? $"failed: {result.Message}; run tracker sync again later"
                    : $"failed: {result.Message}",
            };
            if (result.Failure == RunSyncFailure.None)
            {
                task.Value = task.MaxValue;
            }

            return (label, result.Failure == RunSyncFailure.KeyRefused ? 0 : result.RecordsSent, result.LastSeq, state);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return (label, 0, 0, $"skipped: not a readable run ({ex.Message})");
        }
        finally
        {
            task.StopTask();
        }
    }
}
