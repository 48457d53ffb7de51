using System.CommandLine;
using Tracker.Cli;
using Tracker.Cli.Commands;

var root = new RootCommand("tracker: look at, upload, export and report Tracker runs.")
{
    UiCommand.Create(),
    ServeCommand.Create(),
    ServeCommand.CreateKeys(),
    SyncCommand.Create(),
    LsCommand.Create(),
    ShowCommand.Create(),
    ExportCommand.Create(),
    ReportCommand.Create(),
};

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        await Console.Error.WriteLineAsync($"tracker: {error.Message}");
    }

    await Console.Error.WriteLineAsync("Run 'tracker --help' (or 'tracker COMMAND --help') for usage.");
    return CliExit.Usage;
}

try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (UsageException ex)
{
    await Console.Error.WriteLineAsync($"tracker: {ex.Message}");
    return CliExit.Usage;
}
catch (CliException ex)
{
    await Console.Error.WriteLineAsync($"tracker: {ex.Message}");
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
