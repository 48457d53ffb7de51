using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Tracker.Cli.Commands;

/// <summary><c>tracker show RUN</c>: metadata, config, summary, and a sparkline per metric.</summary>
internal static class ShowCommand
{
    private const int SparklineBuckets = 32;

    public static Command Create()
    {
        var run = new Argument<string>("RUN") { Description = "A run id (looked up under --dir, or on --server) or a run directory." };
        var dir = new Option<string>("--dir") { Description = "Runs root (default: TRACKER_DIR, then tracker.json, then ./tracker-runs).", DefaultValueFactory = _ => LocalRuns.DefaultDir };
        var server = new ServerRunOptions();
        var command = new Command("show", "Show a run: metadata, config, summary and a sparkline per metric.") { run, dir };
        server.AddTo(command);
        command.SetAction(r =>
        {
            using var source = server.Open(r, r.GetValue(run)!, r.GetValue(dir)!);
            return Show(source);
        });
        return command;
    }

    private static int Show(RunSource reader)
    {
        var info = reader.Info;
        var meta = new Grid().AddColumn().AddColumn();
        void Row(string name, object? value)
        {
            if (value is not null && value.ToString() is { Length: > 0 } text)
            {
                meta.AddRow($"[grey]{name}[/]", Markup.Escape(text));
            }
        }

        Row("project", info.Project);
        Row("id", info.Id);
        meta.AddRow("[grey]state[/]", LsCommand.StateMarkup(info.State));
        Row("started", info.StartTime.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        Row("ended", info.EndTime?.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        Row("exit code", info.ExitCode);
        Row("error", info.Error);
        Row("tags", string.Join(", ", info.Tags));
        Row("notes", info.Notes);
        Row("group", info.Group);
        Row("host", info.Host);
        Row("os", info.Os);
        Row("cpu", info.CpuModel is null ? info.CpuCount : $"{info.CpuModel} ({info.CpuCount} logical)");
        Row("gpus", string.Join(", ", info.Gpus));
        Row(".NET", info.DotnetVersion);
        Row("libraries", string.Join(", ", info.Libraries.Select(l => $"{l.Key} {l.Value}")));
        Row("program", info.EntryAssembly);
        Row("command line", info.CommandLine);
        Row("git", info.Git is { } git ? $"{git.Commit[..Math.Min(12, git.Commit.Length)]} {git.Branch ?? "(detached)"}{(git.Dirty ? " +uncommitted changes (files/diff.patch)" : "")} {git.Remote}" : null);
        Row(reader is LocalRunSource ? "directory" : "url", reader.Location);
        AnsiConsole.Write(new Panel(meta).Header($"[bold]{Markup.Escape(info.Name)}[/]"));

        AnsiConsole.Write(KeyValues("Config", info.Config));
        AnsiConsole.Write(KeyValues("Summary", reader.ReadSummary()));

        // One bucketing for every chart: the whole series in one bucket for count, min, max and last,
        // and a few dozen for the sparkline.
        var series = new SortedDictionary<string, (SeriesBucket All, GrowingBuckets Line)>(StringComparer.Ordinal);
        reader.ReadPoints((key, step, value) =>
        {
            if (!series.TryGetValue(key, out var s))
            {
                s = (default, new GrowingBuckets(SparklineBuckets));
            }

            s.All.Add(step, value);
            s.Line.Add(step, value);
            series[key] = s;
        });

        if (series.Count > 0)
        {
            var metrics = new Spectre.Console.Table().AddColumns("Metric", "Points", "Last", "Min", "Max", "History");
            foreach (var (key, (all, line)) in series)
            {
                metrics.AddRow(Markup.Escape(key), all.Count.ToString("N0", CultureInfo.InvariantCulture), Format(all.Last),
                    Format(all.Min), Format(all.Max), Markup.Escape(Sparkline.Render(line.LastValues())));
            }

            AnsiConsole.Write(metrics);
        }

        var media = reader.ReadMedia(withFiles: false).GroupBy(m => m.Key, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        if (media.Count > 0)
        {
            var table = new Spectre.Console.Table().AddColumns("Media", "Kind", "Steps", "First", "Last", "Latest");
            foreach (var key in media)
            {
                var latest = key.Last();
                table.AddRow(Markup.Escape(key.Key), latest.Kind, key.Count().ToString("N0", CultureInfo.InvariantCulture),
                    key.First().Step.ToString(CultureInfo.InvariantCulture), latest.Step.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(latest.FilePath is { } file ? Path.GetRelativePath(reader.Location, file) : latest.Kind));
            }

            AnsiConsole.Write(table);
        }

        if (reader.SkippedLines > 0)
        {
            AnsiConsole.MarkupLine($"[yellow]{reader.SkippedLines:N0} torn or corrupt lines of records.jsonl were skipped.[/]");
        }

        return CliExit.Success;
    }

    private static Spectre.Console.Table KeyValues(string title, IReadOnlyDictionary<string, object?> values)
    {
        var table = new Spectre.Console.Table().Title(title).AddColumns("Key", "Value");
        foreach (var (key, value) in values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            table.AddRow(Markup.Escape(key), Markup.Escape(value is double d ? Format(d) : RecordValue.Display(value)));
        }

        if (values.Count == 0)
        {
            table.AddRow("[grey]none[/]", "");
        }

        return table;
    }

    private static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}
