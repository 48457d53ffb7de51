using System.CommandLine;
using System.Text.Json;
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

    /// <summary>
    /// The conditions of a <c>--filter</c> (the server's grammar, <see cref="RunFilter"/>); a
    /// malformed one is a usage error that says where and how to write it.
    /// </summary>
    public static IReadOnlyList<RunCondition> ParseFilter(string filter)
    {
        var (conditions, problem) = RunFilter.Parse(filter);
        return problem is null ? conditions : throw new UsageException($"--filter: {problem}");
    }

    /// <summary>
    /// The run directories among <paramref name="directories"/> that meet <paramref name="conditions"/>,
    /// with the meanings the server's listing gives them. A run that cannot be read is named on
    /// stderr and left out; keys that no run has are named, so a typo is not read as "no run qualifies".
    /// </summary>
    public static IReadOnlyList<string> Filter(IReadOnlyList<string> directories, IReadOnlyList<RunCondition> conditions)
    {
        // The summary of a running run is a fold of all its records: read only when a condition needs it.
        var withSummary = conditions.Any(c => c.Field is RunField.Summary or RunField.SummaryOrConfig);
        var runs = new List<(string Directory, FilterableRun Run)>();
        foreach (var directory in directories)
        {
            try
            {
                runs.Add((directory, Filterable(RunReader.Open(directory), withSummary)));
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or JsonException)
            {
                Console.Error.WriteLine($"tracker: skipped {directory}: not a readable run: {ex.Message}");
            }
        }

        if (runs.Count > 0 && RunFilter.UnknownKeys(conditions, runs.ConvertAll(r => r.Run)) is { Count: > 0 } unknown)
        {
            Console.Error.WriteLine($"tracker: no run has {string.Join(", ", unknown.Select(k => $"'{k}'"))}: a condition on it matches nothing (check the key's spelling and its summary./config. prefix).");
        }

        return runs.Where(r => RunFilter.Matches(conditions, r.Run)).Select(r => r.Directory).ToList();
    }

    /// <summary>What a filter reads of a local run: its metadata as run.json holds it (start_time as written there, as a server stores it), config and summary.</summary>
    private static FilterableRun Filterable(RunReader reader, bool withSummary)
    {
        var info = reader.Info;
        using var json = JsonDocument.Parse(reader.ReadRunJson());
        var start = json.RootElement.TryGetProperty("start_time", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        return new FilterableRun(info.Id, info.Name, info.State, start, info.Tags, RunValue.OfConfig(info.Config),
            withSummary ? RunValue.OfSummary(reader.ReadSummary()) : new Dictionary<string, RunValue>());
    }

    /// <summary>The seq of the last complete line of records.jsonl; 0 when there is none.</summary>
    public static long LastSeq(string directory) => RunReader.ReadLastSeq(directory);
}
