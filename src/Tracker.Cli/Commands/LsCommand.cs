using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tracker.Api;

namespace Tracker.Cli.Commands;

/// <summary><c>tracker ls</c>: runs as a table, from the local runs folder or from a server.</summary>
internal static class LsCommand
{
    public static Command Create()
    {
        var dir = new Option<string>("--dir") { Description = "Runs root (default: TRACKER_DIR, then tracker.json, then ./tracker-runs).", DefaultValueFactory = _ => LocalRuns.DefaultDir };
        var project = new Option<string?>("--project") { Description = "Only this project." };
        var server = new Option<string?>("--server") { Description = "List the runs on this Tracker server instead of the local folder." };
        var apiKey = new Option<string?>("--api-key") { Description = "API key, when the server's reads need one (default: TRACKER_API_KEY, then the key tracker login stored)." };
        var filter = new Option<string?>("--filter")
        {
            Description = "Only the runs that match, local or on the server, in the runs listing's filter syntax, such as: summary.val/acc > 0.8 and config.optimizer = 'sgd' and state = finished.",
        };
        var command = new Command("ls", "List runs: local ones, or a server's with --server.") { dir, project, filter, server, apiKey };
        command.SetAction((r, ct) => r.GetValue(server) is { } url
            ? ServerAsync(url, r.GetValue(apiKey), r.GetValue(project), r.GetValue(filter), ct)
            : Task.FromResult(Local(r.GetValue(dir)!, r.GetValue(project), r.GetValue(filter))));
        return command;
    }

    private static int Local(string dir, string? project, string? filter)
    {
        var conditions = filter is null ? null : LocalRuns.ParseFilter(filter);
        var table = new Spectre.Console.Table().AddColumns("Project", "Run", "Name", "State", "Started", "Record lines", "On server", "URL");
        var directories = SyncCommand.FindRunDirectories(dir).Where(d => project is null || Path.GetFileName(Path.GetDirectoryName(d)) == project).ToList();
        var count = directories.Count;
        if (conditions is not null)
        {
            directories = [.. LocalRuns.Filter(directories, conditions)];
            if (count > 0 && directories.Count == 0)
            {
                Console.WriteLine($"No run in {Path.GetFullPath(dir)}{(project is null ? "" : $" for project {project}")} matches '{filter}' ({count} looked at).");
                return CliExit.Success;
            }
        }

        foreach (var directory in directories)
        {
            var projectName = Path.GetFileName(Path.GetDirectoryName(directory))!;
            try
            {
                var info = Reading.RunReader.Open(directory).Info;
                var (state, server) = SyncState(directory);
                table.AddRow(Markup.Escape(info.Project), Markup.Escape(info.Id), Markup.Escape(info.Name), StateMarkup(info.State),
                    info.StartTime.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                    LocalRuns.LastSeq(directory).ToString("N0", CultureInfo.InvariantCulture), state,
                    server is null ? "-" : Markup.Escape(RunFiles.UrlOf(server, info.Project, info.Id)));
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                table.AddRow(Markup.Escape(projectName), Markup.Escape(Path.GetFileName(directory)), "", "[red]unreadable[/]", "", "", Markup.Escape(ex.Message), "");
            }
        }

        if (count == 0)
        {
            Console.WriteLine($"No runs in {Path.GetFullPath(dir)}{(project is null ? "" : $" for project {project}")}.");
            return CliExit.Success;
        }

        AnsiConsole.Write(table);
        return CliExit.Success;
    }

    private static async Task<int> ServerAsync(string server, string? apiKey, string? project, string? filter, CancellationToken cancellationToken)
    {
        using var api = RunSource.Api(server, apiKey);
        try
        {
            var projects = project is not null ? [project] : (await api.GetProjectsAsync(cancellationToken)).Select(p => p.Name).ToList();
            var table = new Spectre.Console.Table().AddColumns("Project", "Run", "Name", "State", "Started", "Ended", "URL");
            var listed = 0;
            foreach (var name in projects)
            {
                await foreach (var run in api.GetRunsAsync(name, filter, sort: "-start_time", cancellationToken: cancellationToken))
                {
                    listed++;
                    table.AddRow(Markup.Escape(name), Markup.Escape(run.Id), Markup.Escape(run.Name), StateMarkup(run.State),
                        Time(run.Info.StartTime), run.Info.EndTime is { } end ? Time(end) : "-", Markup.Escape(RunFiles.UrlOf(api.BaseUrl, name, run.Id)));
                }
            }

            if (listed == 0)
            {
                Console.WriteLine($"No run on {api.BaseUrl}{(project is null ? "" : $" in project {project}")}{(filter is null ? "" : $" matches '{filter}'")}.");
                return CliExit.Success;
            }

            AnsiConsole.Write(table);
            return CliExit.Success;
        }
        catch (TrackerApiException ex)
        {
            throw new CliException($"Could not list the runs on {api.BaseUrl}: {ex.Message}");
        }
    }

    private static string Time(DateTimeOffset time) => time.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);

    /// <summary>How far the server has the run, and which server (null when it was never sent).</summary>
    private static (string State, Uri? Server) SyncState(string directory)
    {
        if (Online.RunSync.ReadState(directory) is not { } state)
        {
            return (File.Exists(Path.Combine(directory, RunFiles.SyncFile)) ? "?" : "-", null);
        }

        // A resumed run may have logged more since its sync: synced only if the server has every line.
        return (state.Synced && state.AckedSeq >= LocalRuns.LastSeq(directory) ? "synced" : $"{state.AckedSeq:N0} lines acknowledged", state.Server);
    }

    public static string StateMarkup(string state) => state switch
    {
        "running" => "[blue]running[/]",
        "finished" => "[green]finished[/]",
        "failed" or "crashed" => $"[red]{state}[/]",
        "killed" => "[yellow]killed[/]",
        _ => Markup.Escape(state),
    };
}
