using System.CommandLine;
using Tracker.Cli;
using Tracker.Cli.Commands;

var root = new RootCommand("tracker: look at, upload, export and report Tracker runs.")
{
    UiCommand.Create(),
    ServeCommand.Create(),
    ServeCommand.CreateKeys(),
    InitCommand.Create(),
    LoginCommand.Create(),
    LoginCommand.CreateLogout(),
    SyncCommand.Create(),
    LsCommand.Create(),
    ShowCommand.Create(),
    ExportCommand.Create(),
    ReportCommand.Create(),
    RunCommand.Create(),
    ImportCommand.Create(),
};

if (Console.IsOutputRedirected)
{
    // Piped into grep or a file: tables as wide as COLUMNS says (default 160), not wrapped at 80.
    Spectre.Console.AnsiConsole.Profile.Width = int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var columns) && columns > 0 ? columns : 160;
}

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // The most useful line first: an unknown word, then what the parser says, each on one line.
    var messages = parsed.UnmatchedTokens.Take(1).Select(token => $"unknown command, option or argument '{token}'.")
        .Concat(parsed.Errors.Select(e => string.Join(' ', e.Message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))))
        .Distinct();
    foreach (var message in messages)
    {
        await Console.Error.WriteLineAsync($"tracker: {message}");
    }

    await Console.Error.WriteLineAsync("Run 'tracker --help' (or 'tracker COMMAND --help') for usage.");
    return CliExit.Usage;
}

try
{
    var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
    if (parsed.CommandResult.Command.Name == RunCommand.Name)
    {
        // tracker run passes Ctrl+C and SIGTERM to the program and records the run's end once it has
        // ended, however long that takes: the parser's own handling would exit 130 two seconds in.
        invocation.ProcessTerminationTimeout = null;
    }

    return await parsed.InvokeAsync(invocation);
}
catch (UsageException ex)
{
    await Console.Error.WriteLineAsync($"tracker: {ex.Message}");
    return CliExit.Usage;
}
catch (CliException ex)
{
    await Console.Error.WriteLineAsync($"tracker: {ex.Message}");
    if (ex.InnerException is not null && Environment.GetEnvironmentVariable("TRACKER_DEBUG") == "1")
    {
        await Console.Error.WriteLineAsync(ex.InnerException.ToString());
    }

    return CliExit.Failure;
}
catch (OperationCanceledException)
{
    await Console.Error.WriteLineAsync("tracker: cancelled.");
    return CliExit.Failure;
}
#pragma warning disable CA1031 // the last resort: one line, not a stack trace, and a failure exit code
catch (Exception ex)
#pragma warning restore CA1031
{
    await Console.Error.WriteLineAsync($"tracker: {ex.GetType().Name}: {ex.Message} (set TRACKER_DEBUG=1 for the details)");
    if (Environment.GetEnvironmentVariable("TRACKER_DEBUG") == "1")
    {
        await Console.Error.WriteLineAsync(ex.ToString());
    }

    return CliExit.Failure;
}
