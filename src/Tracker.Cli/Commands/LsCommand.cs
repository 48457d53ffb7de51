using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

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
            Description = "Only the local runs that match, in the runs listing's filter syntax, such as: summary.val/acc > 0.8 and config.optimizer = 'sgd' and state = finished.",
        };
        var command = new Command("ls", "List runs: local ones, or a server's with --server.") { dir, project, filter, server, apiKey };
        command.SetAction((r, ct) => r.GetValue(server) is { } url
            ? r.GetValue(filter) is null
                ? ServerAsync(SyncCommand.ServerUrl(url), r.GetValue(apiKey), r.GetValue(project), ct)
                : throw new UsageException("--filter filters local runs; for a server's runs, filter in its web UI or with GET /api/v1/projects/P/runs?filter=..., or report them with tracker report --server --project P --filter ...")
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

    private static async Task<int> ServerAsync(Uri server, string? apiKey, string? project, CancellationToken cancellationToken)
    {
        apiKey = CliSettings.ApiKey(apiKey, server);
        using var http = new HttpClient { BaseAddress = new Uri(server, "api/v1/"), Timeout = TimeSpan.FromSeconds(30) };
        if (!string.IsNullOrEmpty(apiKey))
        {
            http.DefaultRequestHeaders.Authorization = new("Bearer", apiKey);
        }

        try
        {
            var projects = project is not null ? [project]
                : (await http.GetFromJsonAsync<JsonArray>("projects", cancellationToken))!.Select(p => (string)p!["name"]!).ToList();
            var table = new Spectre.Console.Table().AddColumns("Project", "Run", "Name", "State", "Started", "Updated", "URL");
            foreach (var name in projects)
            {
                foreach (var run in (await http.GetFromJsonAsync<JsonArray>($"projects/{Uri.EscapeDataString(name)}/runs?sort=-start_time", cancellationToken))!)
                {
                    var id = (string?)run!["id"] ?? "";
                    table.AddRow(Markup.Escape(name), Markup.Escape(id), Markup.Escape((string?)run["name"] ?? ""), StateMarkup((string?)run["state"] ?? ""),
                        Time((string?)run["start_time"]), Time((string?)run["updated_at"]), Markup.Escape(RunFiles.UrlOf(server, name, id)));
                }
            }

            AnsiConsole.Write(table);
            return CliExit.Success;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or TaskCanceledException)
        {
            throw new CliException($"Could not list the runs on {server}: {ex.Message}");
        }
    }

    private static string Time(string? iso) =>
        DateTimeOffset.TryParse(iso, CultureInfo.InvariantCulture, DateTimeStyles.None, out var time)
            ? time.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)
            : Markup.Escape(iso ?? "");

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
