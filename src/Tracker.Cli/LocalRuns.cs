using System.CommandLine;
using Tracker.Reading;

namespace Tracker.Cli;

/// <summary>Run directories on disk: <c>&lt;dir&gt;/&lt;project&gt;/&lt;run-id&gt;</c>, as the SDK writes them.</summary>
internal static class LocalRuns
{
    /// <summary>The runs root when no --dir is given: TRACKER_DIR, then tracker.json's dir, then ./tracker-runs.</summary>
    public static string DefaultDir => CliSettings.RunsDir;

    /// <summary>
    /// The runs root of <c>ui</c> and <c>sync</c>: an optional DIR argument, as before, or
    /// <c>--dir</c> as <c>ls</c>, <c>show</c>, <c>export</c> and <c>report</c> take it.
    /// </summary>
    public static (Argument<string?> Argument, Option<string?> Option) DirArgumentAndOption(string description) => (
        new Argument<string?>("DIR") { Description = $"{description} (or give --dir).", Arity = ArgumentArity.ZeroOrOne },
        new Option<string?>("--dir") { Description = $"{description} (default: TRACKER_DIR, then tracker.json, then ./tracker-runs)." });

    /// <summary>The folder named by DIR or <c>--dir</c>, else the default; both naming different folders is a usage error.</summary>
    public static string Dir(string? argument, string? option)
    {
        if (argument is not null && option is not null && Path.GetFullPath(argument) != Path.GetFullPath(option))
        {
            throw new UsageException($"Give the runs folder once: DIR '{argument}' and --dir '{option}' differ.");
        }

        if (argument is not null && argument.StartsWith('-'))
        {
            throw new UsageException($"unknown option '{argument}'; see --help.");
        }

        return argument ?? option ?? DefaultDir;
    }

    /// <summary>A run by its directory, or by its id under <paramref name="dir"/>.</summary>
    public static RunReader Open(string run, string dir)
    {
        if (File.Exists(Path.Combine(run, RunFiles.RunFile)))
        {
            return OpenOrFail(run);
        }

        // A path is not a run id: say what is wrong with that folder, not that the runs root lacks it.
        if (run.Contains('/') || run.Contains(Path.DirectorySeparatorChar) || run is "." or ".." || Directory.Exists(run))
        {
            throw new CliException(Directory.Exists(run)
                ? $"{Path.GetFullPath(run)} is not a run directory: it has no {RunFiles.RunFile}. Give a run directory (<runs root>/<project>/<run id>) or a run id (see 'tracker ls')."
                : $"{Path.GetFullPath(run)} does not exist. Give a run directory (<runs root>/<project>/<run id>) or a run id (see 'tracker ls').");
        }

        var matches = RunReader.FindRuns(dir).Where(d => Path.GetFileName(d) == run).ToList();
        return matches.Count switch
        {
            0 => throw new CliException($"No run '{run}' in {Path.GetFullPath(dir)}: give a run id found there (see 'tracker ls'), a run directory, or --dir."),
            1 => OpenOrFail(matches[0]),
            _ => throw new CliException($"Run id '{run}' is in several projects ({string.Join(", ", matches)}); give the run directory instead."),
        };
    }

    public static RunReader OpenOrFail(string directory)
    {
        try
        {
            return RunReader.Open(directory);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new CliException($"{directory} is not a readable run: {ex.Message}");
        }
    }

    /// <summary>The seq of the last complete line of records.jsonl; 0 when there is none.</summary>
    public static long LastSeq(string directory) => RunReader.ReadLastSeq(directory);
}
