using System.CommandLine;
using Tracker.Settings;

namespace Tracker.Cli.Commands;

/// <summary>
/// <c>tracker init</c>: writes the project's <c>tracker.json</c> in the current directory (W&amp;B's
/// <c>wandb init</c>), so that runs started there or below, and the tracker command, know the
/// project, server and runs root without options or environment variables.
/// </summary>
internal static class InitCommand
{
    public static Command Create()
    {
        var project = new Option<string?>("--project") { Description = "Project name (default: the current folder's name)." };
        var server = new Option<string?>("--server") { Description = "Tracker server URL, such as http://127.0.0.1:5080; runs then default to online mode." };
        var dir = new Option<string?>("--dir") { Description = "Runs root, relative to this folder (default: ./tracker-runs)." };
        var force = new Option<bool>("--force") { Description = "Replace an existing tracker.json." };
        var command = new Command("init", $"Write this project's settings ({ProjectSettings.FileName}) in the current directory.") { project, server, dir, force };
        command.SetAction(r => Run(r.GetValue(project), r.GetValue(server), r.GetValue(dir), r.GetValue(force)));
        return command;
    }

    private static int Run(string? project, string? server, string? dir, bool force)
    {
        var path = Path.Combine(Environment.CurrentDirectory, ProjectSettings.FileName);
        if (File.Exists(path) && !force)
        {
            throw new CliException($"{path} already exists; it was left as it is. Pass --force to replace it, or edit it.");
        }

        project ??= Path.GetFileName(Environment.CurrentDirectory);
        if (RecordRules.IdProblem(project, "project") is { } problem)
        {
            throw new UsageException($"{problem} Name the project with --project NAME.");
        }

        Uri? url = null;
        if (server is not null)
        {
            url = SyncCommand.ServerUrl(server);
        }

        if (dir is { Length: 0 })
        {
            throw new UsageException("--dir must not be empty: give a folder such as tracker-runs.");
        }

        try
        {
            new ProjectSettings { Project = project, Server = url, Dir = dir }.Write(path, overwrite: force);
        }
        catch (IOException ex)
        {
            throw new CliException($"Could not write {path}: {ex.Message}");
        }

        Console.WriteLine($"Wrote {path}: project '{project}'{(url is null ? "" : $", server {url}")}{(dir is null ? "" : $", runs in {dir}")}.");
        Console.WriteLine("Runs started in this folder or below use it unless an option or a TRACKER_* environment variable says otherwise.");
        return CliExit.Success;
    }
}
