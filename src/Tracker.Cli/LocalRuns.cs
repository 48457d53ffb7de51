using Tracker.Reading;

namespace Tracker.Cli;

/// <summary>Run directories on disk: <c>&lt;dir&gt;/&lt;project&gt;/&lt;run-id&gt;</c>, as the SDK writes them.</summary>
internal static class LocalRuns
{
    /// <summary>The runs root when no --dir is given: TRACKER_DIR, then tracker.json's dir, then ./tracker-runs.</summary>
    public static string DefaultDir => CliSettings.RunsDir;

    /// <summary>A run by its directory, or by its id under <paramref name="dir"/>.</summary>
    public static RunReader Open(string run, string dir)
    {
        if (File.Exists(Path.Combine(run, RunFiles.RunFile)))
        {
            return OpenOrFail(run);
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
