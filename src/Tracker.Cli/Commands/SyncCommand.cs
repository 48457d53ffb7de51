using System.CommandLine;
using Spectre.Console;
using Tracker.Online;
using Tracker.Reading;
using Tracker.Settings;

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
        var (dir, dirOption) = LocalRuns.DirArgumentAndOption("Runs root, a project folder, or one run directory");
        var server = new Option<string?>("--server") { Description = "Tracker server URL (default: the server in each run's sync.json, then TRACKER_BASE_URL, then tracker.json)." };
        var apiKey = new Option<string?>("--api-key") { Description = "API key (default: TRACKER_API_KEY, then the key tracker login stored for the server)." };
        var command = new Command("sync", "Upload offline and unsynced runs to a Tracker server.") { dir, dirOption, server, apiKey };
        command.SetAction((r, ct) => RunAsync(LocalRuns.Dir(r.GetValue(dir), r.GetValue(dirOption)), r.GetValue(server) is { } url ? ServerUrl(url) : null, r.GetValue(apiKey), ct));
        return command;
    }

    /// <summary>The server a URL names: an absolute http or https URL.</summary>
    public static Uri ServerUrl(string given) =>
        CliSettings.Server(given) ?? throw new UsageException($"'{given}' is not a server URL: give one such as {CliSettings.DefaultServer}.");

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

    private static async Task<int> RunAsync(string dir, Uri? server, string? apiKey, CancellationToken cancellationToken)
    {
        var directories = FindRunDirectories(dir);
        if (directories.Count == 0)
        {
            Console.WriteLine($"No runs in {Path.GetFullPath(dir)}.");
            return CliExit.Success;
        }

        if (server is null && CliSettings.Server(null) is null && directories.All(d => RunSync.ReadState(d)?.Server is null))
        {
            throw new UsageException("Name the server with --server http://HOST:PORT, TRACKER_BASE_URL or tracker init --server: no sync.json of these runs names one.");
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

        var table = new Spectre.Console.Table().AddColumns("Run", "Lines acknowledged", "Record lines", "State");
        foreach (var (run, sent, records, state) in results)
        {
            table.AddRow(Markup.Escape(run), sent.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), records.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(state));
        }

        AnsiConsole.Write(table);
        var failed = results.Count(r => !r.State.StartsWith("synced", StringComparison.Ordinal) && !r.State.StartsWith("up to date", StringComparison.Ordinal));
        if (failed > 0)
        {
            await Console.Error.WriteLineAsync($"tracker: {failed} of {results.Count} runs are not fully on {(server is null ? "their server" : server)}; see the table above.");
            return CliExit.Failure;
        }

        return CliExit.Success;
    }

    private static async Task<(string Run, long Sent, long Records, string State)> SyncOneAsync(
        string directory, Uri? serverOption, string? apiKeyOption, ProgressContext progress, CancellationToken cancellationToken)
    {
        directory = Path.TrimEndingDirectorySeparator(directory);
        var label = $"{Path.GetFileName(Path.GetDirectoryName(directory))}/{Path.GetFileName(directory)}";
        var task = progress.AddTask(Markup.Escape(label), maxValue: 1);
        try
        {
            // Where the run was going, as the SDK's advice "tracker sync DIR" assumes, unless told otherwise.
            var server = serverOption ?? RunSync.ReadState(directory)?.Server ?? CliSettings.Server(null);
            if (server is null)
            {
                return (label, 0, LocalRuns.LastSeq(directory), "skipped: no server; name one with --server http://HOST:PORT, TRACKER_BASE_URL or tracker init --server");
            }

            // Writes always need a key: without one, say so rather than let the server's 401 read as a refused key.
            var apiKey = CliSettings.ApiKey(apiKeyOption, server);
            if (apiKey is null)
            {
                return (label, 0, LocalRuns.LastSeq(directory),
                    $"rejected: no API key for {Credentials.ServerKey(server)}; log in with 'tracker login {Credentials.ServerKey(server)}', or give --api-key or TRACKER_API_KEY");
            }

            task.MaxValue = Math.Max(1, LocalRuns.LastSeq(directory));
            var result = await RunSync.UploadAsync(directory, server, apiKey, new Progress<long>(acked => task.Value = acked), cancellationToken);
            var state = result.Failure switch
            {
                RunSyncFailure.None when result.Unsynced > 0 => $"failed: {result.Unsynced:N0} record lines not acknowledged",
                RunSyncFailure.None => result.LinesAcknowledged == 0 ? "up to date" : "synced",
                RunSyncFailure.KeyRefused => $"rejected: {server} refused the API key ({result.StatusCode}); give one for this project with --api-key, TRACKER_API_KEY or tracker login",
                RunSyncFailure.RunRefused => $"rejected: {result.Message}",
                _ => result.StatusCode is null
                    ? $"failed: {result.Message}; run tracker sync again later"
                    : $"failed: {result.Message}",
            };
            if (result.Failure == RunSyncFailure.None)
            {
                task.Value = task.MaxValue;
            }

            return (label, result.Failure == RunSyncFailure.KeyRefused ? 0 : result.LinesAcknowledged, result.LastSeq, state);
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
