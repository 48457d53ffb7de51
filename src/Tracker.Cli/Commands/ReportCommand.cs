using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tracker.Cli.Report;
using Tracker.Reading;
using Tracker.Server;

namespace Tracker.Cli.Commands;

/// <summary>
/// <c>tracker report RUN... -o report.html</c>: one self-contained HTML file for people who will
/// never open the tracker: title, notes, a summary table across the runs, the config keys that
/// differ, one chart per metric with the runs overlaid, and the runs' media (images, histograms
/// over steps, tables, texts) per key. uPlot, the web UI's shared modules (numbers, charts, heat
/// maps), the bucketed data and a sample of the media steps (images as data: URIs) are inlined, so
/// it opens from file:// with no network, and draws what the web UI draws the same way.
/// </summary>
internal static class ReportCommand
{
    /// <summary>The web UI's front-end modules the report draws with, in the order its page loads them; they go in report.js's script element, before it.</summary>
    private static readonly string[] SharedModules = ["format.js", "chart.js", "heatmap.js"];


    /// <summary>
    /// For the media data, which is mostly base64: the default encoder writes each '+' as \u002B and
    /// every non-ASCII character escaped; <see cref="InlineJson"/> escapes what HTML needs instead.
    /// </summary>
    private static readonly JsonSerializerOptions MediaJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var runs = new Argument<string[]>("RUN") { Description = "Run ids (looked up under --dir, or on --server) or run directories; none with --project.", Arity = ArgumentArity.ZeroOrMore };
        var output = new Option<string>("--output", "-o") { Description = "The HTML file to write.", Required = true };
        var title = new Option<string?>("--title") { Description = "The report's title (default: the project and run names)." };
        var notes = new Option<string?>("--notes") { Description = "A Markdown file shown under the title." };
        var dir = new Option<string>("--dir") { Description = "Runs root (default: TRACKER_DIR, then tracker.json, then ./tracker-runs).", DefaultValueFactory = _ => LocalRuns.DefaultDir };
        var server = new ServerRunOptions();
        var filter = new Option<string?>("--filter") { Description = "With --project: report the project's runs that match (local runs, or with --server the server's), such as: summary.val/acc > 0.8 and config.optimizer = 'sgd' and state = finished." };
        var command = new Command("report", "Write a self-contained HTML report of one or more runs, or of every run of a project.") { runs, output, title, notes, dir, filter };
        server.AddTo(command);
        command.SetAction(async (r, ct) =>
        {
            var notesPath = r.GetValue(notes);
            if (notesPath is not null && !File.Exists(notesPath))
            {
                throw new CliException($"The notes file {Path.GetFullPath(notesPath)} does not exist.");
            }

            var given = r.GetValue(runs)!;
            if (given.Length == 0)
            {
                given = ProjectRuns(r.GetValue(server.Server), r.GetValue(server.ApiKey), r.GetValue(server.Project), r.GetValue(filter), r.GetValue(dir)!);
            }
            else if (r.GetValue(filter) is not null)
            {
                throw new UsageException("--filter chooses a project's runs: give --project P instead of run ids.");
            }

            // A run that cannot be read is named and left out; the report holds the rest.
            var readers = new List<RunSource>();
            foreach (var run in given)
            {
                try
                {
                    readers.Add(server.Open(r, run, r.GetValue(dir)!));
                }
                catch (CliException ex)
                {
                    await Console.Error.WriteLineAsync($"tracker: skipped {run}: {ex.Message}");
                }
            }

            if (readers.Count == 0)
            {
                throw new CliException($"None of the {given.Length} run{(given.Length == 1 ? "" : "s")} given could be read; no report written.");
            }

            using var dispose = new Disposables(readers);

            var html = Build(readers, r.GetValue(title), notesPath is null ? null : await File.ReadAllTextAsync(notesPath, ct));
            var path = r.GetValue(output)!;
            await File.WriteAllTextAsync(path, html, new UTF8Encoding(false), ct);
            await Console.Error.WriteLineAsync($"Wrote {Path.GetFullPath(path)} ({new FileInfo(path).Length / 1024.0:N0} KiB, {readers.Count} run{(readers.Count == 1 ? "" : "s")}"
                + (readers.Count < given.Length ? $"; {given.Length - readers.Count} skipped, see above)." : ")."));
            return readers.Count < given.Length ? CliExit.Failure : CliExit.Success;
        });
        return command;
    }

    /// <summary>
    /// The runs of <c>--project</c> that match <paramref name="filter"/> (all without one): on the
    /// server, filtered there; else the run directories of the project under <paramref name="dir"/>,
    /// filtered here by the same grammar and meanings.
    /// </summary>
    private static string[] ProjectRuns(string? server, string? apiKey, string? project, string? filter, string dir)
    {
        if (project is null)
        {
            throw new UsageException("Name the runs to report: give run ids or run directories, or --project P for every run of a project.");
        }

        if (server is null)
        {
            var conditions = filter is null ? null : LocalRuns.ParseFilter(filter);
            var local = RunReader.FindRuns(dir).Where(d => Path.GetFileName(Path.GetDirectoryName(d)) == project).ToArray();
            if (local.Length == 0)
            {
                throw new CliException($"No runs of project '{project}' in {Path.GetFullPath(dir)}: check --project and --dir (see 'tracker ls').");
            }

            var matching = conditions is null ? local : [.. LocalRuns.Filter(local, conditions)];
            return matching.Length > 0 ? matching
                : throw new CliException($"No run of project '{project}' in {Path.GetFullPath(dir)} matches '{filter}'; no report written.");
        }

        using var api = RunSource.Api(server, apiKey);
        var ids = RunSource.Await(ListAsync(api.GetRunsAsync(project, filter, sort: "start_time")));
        return ids.Length > 0 ? ids
            : throw new CliException($"No run of project '{project}' on {api.BaseUrl}{(filter is null ? "" : $" matches '{filter}'")}; no report written.");

        static async Task<string[]> ListAsync(IAsyncEnumerable<Tracker.Api.ApiRun> runs)
        {
            var ids = new List<string>();
            await foreach (var run in runs)
            {
                ids.Add(run.Id);
            }

            return [.. ids];
        }
    }

    private sealed class Disposables(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items)
            {
                item.Dispose();
            }
        }
    }

    internal static string Build(IReadOnlyList<RunSource> readers, string? title, string? notes)
    {
        // Read each run's history once, bucketing every metric as it goes, then its media (a second
        // pass only where a key has more steps than the report keeps); runs are read in parallel.
        var runs = readers.AsParallel().AsOrdered()
            .Select((reader, i) =>
            {
                var metrics = Downsample(reader);
                return (Info: reader.Info, Summary: reader.ReadSummary(), Metrics: metrics, StepMetrics: PairWithStepMetrics(reader, metrics), Media: ReportMedia.Read(reader), Index: i);
            })
            .ToList();
        var keys = runs.SelectMany(r => r.Metrics.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var data = new
        {
            runs = runs.Select(r => new { name = r.Info.Name }),
            metrics = keys.Select(key => new
            {
                key,
                step_metric = StepMetricOf(runs.Where(r => r.Metrics.ContainsKey(key)).Select(r => r.StepMetrics.GetValueOrDefault(key)).ToList()),
                series = runs.Select((r, i) => (r, i)).Where(p => p.r.Metrics.ContainsKey(key)).Select(p =>
                {
                    var buckets = p.r.Metrics[key].Buckets.Where(b => b.Count > 0).ToList();
                    var paired = p.r.StepMetrics.GetValueOrDefault(key);
                    return new
                    {
                        run = p.i,
                        x = buckets.Select(b => b.LastX),
                        last = buckets.Select(b => Compact(b.Last)),
                        min = buckets.Select(b => Compact(b.Min)),
                        max = buckets.Select(b => Compact(b.Max)),
                        step_metric_x = paired.Values is null ? null : buckets.Select((_, j) => paired.Values.TryGet(j, out var v) ? Compact(v) : null),
                    };
                }),
            }),
        };

        var media = runs.SelectMany((r, i) => r.Media.Select(series => (Run: i, Series: series)))
            .GroupBy(p => (p.Series.Key, p.Series.Kind))
            .OrderBy(g => g.Key.Key, StringComparer.Ordinal).ThenBy(g => g.Key.Kind, StringComparer.Ordinal)
            .Select(g => new
            {
                key = g.Key.Key,
                kind = g.Key.Kind,
                series = g.Select(p => new { run = p.Run, total = p.Series.Total, notes = p.Series.Notes, items = p.Series.Items }),
            })
            .ToList();

        var heading = title ?? $"{runs[0].Info.Project}: {string.Join(", ", runs.Select(r => r.Info.Name))}";
        var parts = new Dictionary<string, string>
        {
            ["TITLE"] = WebUtility.HtmlEncode(heading),
            ["GENERATED"] = WebUtility.HtmlEncode($"{runs.Count} run{(runs.Count == 1 ? "" : "s")} of {string.Join(", ", runs.Select(r => r.Info.Project).Distinct())} · generated {DateTimeOffset.Now:yyyy-MM-dd HH:mm}"),
            ["NOTES"] = notes is null ? string.Empty : $"<section class=\"notes\">{ReportNotes.ToHtml(notes)}</section>",
            ["SUMMARY"] = SummaryTable(runs.Select(r => (r.Info, r.Summary, r.Index)).ToList()),
            ["CONFIG"] = ConfigDiff(runs.Select(r => (r.Info, r.Index)).ToList()),
            ["UPLOT_CSS"] = Resource(typeof(ServerApp).Assembly, "Tracker.Server.wwwroot.vendor.uplot.uPlot.min.css") + "\n" + Resource(typeof(ServerApp).Assembly, "Tracker.Server.wwwroot.shared.chart.css"),
            ["DATA"] = ScriptSafe(JsonSerializer.Serialize(data)),
            ["UPLOT"] = ScriptSafe(Resource(typeof(ServerApp).Assembly, "Tracker.Server.wwwroot.vendor.uplot.uPlot.iife.min.js")),
            ["MEDIA"] = media.Count == 0 ? string.Empty : "<h2>Media</h2>\n<div id=\"media\"></div>",
            ["MEDIA_DATA"] = InlineJson(media),
            ["SCRIPT"] = ScriptSafe(string.Join('\n', [.. SharedModules.Select(name => Resource(typeof(ServerApp).Assembly, $"Tracker.Server.wwwroot.shared.{name}")), Resource(typeof(ReportCommand).Assembly, "Tracker.Cli.Report.report.js")])),
        };

        // One pass over the template: text put in (a run name, the notes) is never searched for placeholders.
        return Regex.Replace(Template, @"\{\{([A-Z_]+)\}\}", m => parts[m.Groups[1].Value]);
    }

    /// <summary>Buckets for a chart about 500 pixels wide: 250 to 500 per metric however long the run.</summary>
    private const int ChartBuckets = 250;

    private static Dictionary<string, GrowingBuckets> Downsample(RunSource reader)
    {
        var metrics = new Dictionary<string, GrowingBuckets>(StringComparer.Ordinal);
        GrowingBuckets? last = null;
        string? lastKey = null;
        reader.ReadPoints((key, step, value) =>
        {
            if (!ReferenceEquals(key, lastKey) && !metrics.TryGetValue(key, out last))
            {
                metrics[key] = last = new GrowingBuckets(ChartBuckets);
            }

            lastKey = key;
            last!.Add(step, value);
        });
        return metrics;
    }

    /// <summary>
    /// For each metric whose definition names a step metric the run logged (the last definition that
    /// matches wins, globs by prefix, as <see cref="MetricDefinition.Matches"/>), that metric's value at
    /// each bucket's last step, carried forward (<see cref="StepValues"/>, as the server pairs
    /// <c>x=metric:KEY</c>). A second pass over the history, only when some metric has one.
    /// </summary>
    private static Dictionary<string, (string StepMetric, StepValues Values)> PairWithStepMetrics(RunSource reader, Dictionary<string, GrowingBuckets> metrics)
    {
        var definitions = reader.Info.Metrics;
        var pairs = new Dictionary<string, (string StepMetric, StepValues Values)>(StringComparer.Ordinal);
        foreach (var (key, buckets) in metrics)
        {
            if (definitions.LastOrDefault(d => d.Matches(key))?.StepMetric is { } stepMetric && stepMetric != key && metrics.ContainsKey(stepMetric))
            {
                pairs[key] = (stepMetric, new StepValues([.. buckets.Buckets.Where(b => b.Count > 0).Select(b => b.LastX)]));
            }
        }

        if (pairs.Count > 0)
        {
            var byStepMetric = pairs.Values.GroupBy(p => p.StepMetric, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(p => p.Values).ToArray(), StringComparer.Ordinal);
            reader.ReadPoints((key, step, value) =>
            {
                if (byStepMetric.TryGetValue(key, out var wanting))
                {
                    foreach (var values in wanting)
                    {
                        values.Add(step, value);
                    }
                }
            });
        }

        return pairs;
    }

    /// <summary>The step metric a chart uses by default: the one every run that logged the metric pairs it with, or null (the step).</summary>
    private static string? StepMetricOf(List<(string StepMetric, StepValues Values)> pairs) =>
        pairs.Count > 0 && pairs.All(p => p.StepMetric is not null && p.StepMetric == pairs[0].StepMetric) ? pairs[0].StepMetric : null;

    /// <summary>Six significant digits are plenty for a chart and keep the file small; JSON has no NaN, so non-finite values travel as strings.</summary>
    private static object Compact(double value) =>
        double.IsFinite(value) ? double.Parse(value.ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// One column per run and one row per field, as the config table: the run's state, start,
    /// duration, host and commit, then each summary key. Rows, not columns, grow with the keys, so the
    /// table fits a phone or a printed page however many metrics there are.
    /// </summary>
    private static string SummaryTable(List<(RunInfo Info, IReadOnlyDictionary<string, object?> Summary, int Index)> runs)
    {
        var html = new StringBuilder("<table class=\"summary\"><thead><tr><th></th>");
        foreach (var (info, _, index) in runs)
        {
            html.Append(CultureInfo.InvariantCulture, $"<th><i class=\"swatch\" data-run=\"{index}\"></i>{WebUtility.HtmlEncode(info.Name)} <span class=\"muted\">{WebUtility.HtmlEncode(info.Id)}</span></th>");
        }

        html.Append("</tr></thead><tbody>");
        void Row(string field, Func<RunInfo, IReadOnlyDictionary<string, object?>, string> cell, string? type = null)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr{(type is null ? "" : $" class=\"{type}\"")}><th>{WebUtility.HtmlEncode(field)}</th>");
            foreach (var (info, summary, _) in runs)
            {
                html.Append(CultureInfo.InvariantCulture, $"<td>{cell(info, summary)}</td>");
            }

            html.Append("</tr>");
        }

        Row("State", (info, _) => WebUtility.HtmlEncode(info.State), "meta");
        Row("Started", (info, _) => info.StartTime.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), "meta");
        Row("Duration", (info, _) => Duration(info), "meta");
        Row("Host", (info, _) => WebUtility.HtmlEncode(info.Host ?? ""), "meta");
        Row("Commit", (info, _) => Commit(info.Git), "meta");
        foreach (var key in runs.SelectMany(r => r.Summary.Keys).Distinct().Order(StringComparer.Ordinal))
        {
            Row(key, (_, summary) => WebUtility.HtmlEncode(Text(summary.GetValueOrDefault(key))), "num");
        }

        return html.Append("</tbody></table>").ToString();
    }

    /// <summary>How long the run ran, in seconds for the page to write as the web UI does (format.js); empty while it runs.</summary>
    private static string Duration(RunInfo info) =>
        info.EndTime is { } end && end >= info.StartTime
            ? string.Create(CultureInfo.InvariantCulture, $"<span class=\"duration\" data-seconds=\"{(end - info.StartTime).TotalSeconds:R}\"></span>")
            : string.Empty;

    /// <summary>The commit's first 8 hex digits, with '*' when the tree had changes; the whole hash and branch as its title.</summary>
    private static string Commit(GitInfo? git) => git is null
        ? string.Empty
        : $"<code title=\"{WebUtility.HtmlEncode($"{git.Commit}{(git.Branch is null ? "" : $" on {git.Branch}")}{(git.Dirty ? ", with uncommitted changes" : "")}")}\">{WebUtility.HtmlEncode(git.Commit[..Math.Min(8, git.Commit.Length)])}{(git.Dirty ? "*" : "")}</code>";

    private static string ConfigDiff(List<(RunInfo Info, int Index)> runs)
    {
        var keys = runs.SelectMany(r => r.Info.Config.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        bool Differs(string key) => runs.Select(r => Text(r.Info.Config.GetValueOrDefault(key))).Distinct().Count() > 1;
        string Rows(IEnumerable<string> rows) => string.Concat(rows.Select(key =>
            $"<tr><td>{WebUtility.HtmlEncode(key)}</td>{string.Concat(runs.Select(r => $"<td>{WebUtility.HtmlEncode(Text(r.Info.Config.GetValueOrDefault(key)))}</td>"))}</tr>"));
        var header = $"<thead><tr><th>Key</th>{string.Concat(runs.Select(r => $"<th><i class=\"swatch\" data-run=\"{r.Index}\"></i>{WebUtility.HtmlEncode(r.Info.Name)}</th>"))}</tr></thead>";
        var differing = keys.Where(Differs).ToList();
        var table = runs.Count == 1
            ? $"<table class=\"config\">{header}<tbody>{Rows(keys)}</tbody></table>"
            : differing.Count == 0 ? "<p class=\"muted\">The runs' config is the same.</p>" : $"<table class=\"config\" id=\"config-diff\">{header}<tbody>{Rows(differing)}</tbody></table>";
        var all = runs.Count > 1 && keys.Count > differing.Count
            ? $"<details><summary>All {keys.Count} config keys</summary><table class=\"config\">{header}<tbody>{Rows(keys)}</tbody></table></details>"
            : string.Empty;
        return table + all;
    }

    private static string Text(object? value) => value is double d ? d.ToString("G6", CultureInfo.InvariantCulture) : RecordValue.Display(value);

    /// <summary>Text inside a script element must not close it: "&lt;/" becomes "&lt;\/", which JavaScript and JSON read the same.</summary>
    private static string ScriptSafe(string text) => text.Replace("</", "<\\/", StringComparison.Ordinal);

    /// <summary>
    /// JSON for a script element, with logged text in it (captions, cells, texts): every '&lt;' is
    /// written \u003C, so nothing in it can close the element or open an HTML comment ("&lt;!--"
    /// changes how the parser looks for the closing tag), which "&lt;/" alone would not prevent.
    /// </summary>
    private static string InlineJson<T>(T value) => ScriptSafe(JsonSerializer.Serialize(value, MediaJson).Replace("<", "\\u003C", StringComparison.Ordinal));

    private static string Resource(System.Reflection.Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"The resource {name} is missing from {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private const string Template = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{TITLE}}</title>
        <style>{{UPLOT_CSS}}</style>
        <style>
        body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; background: #f6f7f9; }
        header { background: #1d2330; color: #fff; padding: 1.6em 2em 1.2em; }
        header h1 { margin: 0 0 .2em; font-size: 1.6em; overflow-wrap: anywhere; }
        header p { margin: 0; color: #c9d0e0; }
        main { padding: 1.2em 2em 3em; max-width: 1400px; }
        h2 { font-size: 1.1em; margin: 1.6em 0 .6em; color: #39415a; }
        .notes { background: #fff; border: 1px solid #e3e6ec; border-radius: 8px; padding: .2em 1.2em; }
        table { border-collapse: collapse; background: #fff; border: 1px solid #e3e6ec; }
        th, td { padding: .35em .8em; border-bottom: 1px solid #e3e6ec; text-align: left; white-space: nowrap; }
        th { background: #fafbfc; color: #39415a; }
        td.num, tr.num td { text-align: right; font-variant-numeric: tabular-nums; }
        tbody th { font-weight: 500; overflow-wrap: anywhere; }
        .muted { color: #6b7385; }
        .swatch, .readout i { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .4em; vertical-align: -1px; }
        .wide { overflow-x: auto; }
        details { margin-top: .6em; }
        #charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(440px, 100%), 1fr)); gap: 1em; }
        .chart { background: #fff; border: 1px solid #e3e6ec; border-radius: 8px; padding: .5em .6em .3em; min-width: 0; }
        .chart h3 { margin: 0 0 .2em; font-size: .95em; }
        .chart-head { display: flex; align-items: baseline; gap: .6em; }
        .chart-head h3 { flex: 1; min-width: 0; overflow-wrap: anywhere; }
        .chart-head select { font-size: .8em; }
        .readout { font-size: .8em; color: #6b7385; min-height: 1.3em; }
        .readout span { margin-right: 1em; white-space: nowrap; }
        .media-key { margin-bottom: 1.4em; }
        .media-key h3 { margin: 0 0 .5em; font-size: .95em; overflow-wrap: anywhere; }
        .media-key h3 .muted { font-weight: normal; margin-left: .5em; }
        .media-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 1em; }
        .media-key:not(.image) .media-grid { grid-template-columns: repeat(auto-fill, minmax(min(440px, 100%), 1fr)); }
        .media-card { background: #fff; border: 1px solid #e3e6ec; border-radius: 8px; padding: .5em .6em; min-width: 0; }
        .media-run { font-size: .85em; font-weight: 600; margin-bottom: .3em; overflow-wrap: anywhere; }
        .media-card figure { margin: 0; }
        .media-card img { display: block; width: 100%; height: 220px; object-fit: contain; background: #f0f1f4; border-radius: 4px; }
        .media-card img.pixelated { image-rendering: pixelated; }
        .media-card figcaption { font-size: .85em; min-height: 1.3em; margin-top: .2em; overflow-wrap: anywhere; }
        .media-card canvas { display: block; width: 100%; }
        .media-slider { display: flex; align-items: center; gap: .6em; font-size: .8em; color: #6b7385; margin-top: .2em; }
        .media-slider input { flex: 1; min-width: 0; margin: 0; }
        .media-run + .media-slider { margin: 0 0 .4em; }
        .media-step { white-space: nowrap; font-variant-numeric: tabular-nums; }
        .media-table { overflow: auto; max-height: 360px; }
        .media-table table { font-size: .85em; }
        .media-text { margin: 0; padding: .5em .6em; max-height: 360px; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; background: #fafbfc; border-radius: 4px; font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        .media-note { font-size: .8em; margin: .3em 0 0; }
        /* Dark when the system asks for it; the charts' axes follow chart.css's --chart-* colours. */
        :root { color-scheme: light dark; }
        @media screen and (prefers-color-scheme: dark) {
          body { color: #e3e7ef; background: #12151b; }
          header { background: #0b0d12; border-bottom: 1px solid #2e3542; }
          a { color: #8ea2ff; }
          h2, th { color: #c3cad8; }
          .notes, table, .chart, .media-card { background: #1b202a; border-color: #2e3542; }
          th, td { border-color: #2e3542; }
          th, .media-text, .media-card img { background: #222834; }
          .muted, .readout, .media-slider { color: #9aa3b5; }
        }
        /* A phone: one column, narrow margins; wide tables scroll in their own box. */
        @media (max-width: 600px) {
          header { padding: 1em; }
          main { padding: .8em .8em 2em; }
          .media-grid { grid-template-columns: minmax(0, 1fr); }
        }
        /* Paper (A4 or Letter): tables wrap to the page instead of scrolling, and nothing is split across pages. */
        @page { margin: 12mm; }
        @media print {
          body { background: #fff; font-size: 11px; }
          header { background: none; color: #000; padding: 0 0 .5em; border-bottom: 2px solid #1d2330; }
          header p { color: #39415a; }
          main { padding: 0; max-width: none; }
          .wide, .media-table, .media-text { overflow: visible; max-height: none; }
          table { width: 100%; table-layout: fixed; }
          th, td { white-space: normal; overflow-wrap: anywhere; padding: .2em .4em; }
          thead { display: table-header-group; }
          tr, .chart, .media-card, .notes { break-inside: avoid; }
          h2, h3 { break-after: avoid; }
          #charts, .media-grid, .media-key:not(.image) .media-grid { grid-template-columns: repeat(2, minmax(0, 1fr)); }
          .uplot, .u-wrap { width: 100% !important; height: auto !important; }
          .uplot canvas { height: auto !important; }
          .u-over, .u-under, .u-axis, .chart-head select, .readout, .media-slider input { display: none; }
        }
        </style>
        </head>
        <body>
        <header><h1>{{TITLE}}</h1><p>{{GENERATED}}</p></header>
        <main>
        {{NOTES}}
        <h2>Summary</h2>
        <div class="wide">{{SUMMARY}}</div>
        <h2>Config</h2>
        <div class="wide">{{CONFIG}}</div>
        <h2>Metrics</h2>
        <div id="charts"></div>
        {{MEDIA}}
        </main>
        <script type="application/json" id="report-data">{{DATA}}</script>
        <script type="application/json" id="report-media">{{MEDIA_DATA}}</script>
        <script>{{UPLOT}}</script>
        <script>{{SCRIPT}}</script>
        </body>
        </html>
        """;
}
