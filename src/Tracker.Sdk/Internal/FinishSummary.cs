using System.Globalization;
using System.Text;

namespace Tracker.Internal;

/// <summary>The "Run history / Run summary" footer printed by <see cref="Run.Finish(int)"/>, as W&amp;B prints it.</summary>
internal static class FinishSummary
{
    private const int MaxRows = 10;

    public static void Print(TextWriter output, Run run, IReadOnlyList<MetricKey> keys, IReadOnlyDictionary<string, object?> summary, RunStatistics statistics)
    {
        var text = new StringBuilder();
        var numeric = keys.Where(k => k.Buckets.Count > 0).ToList();
        if (numeric.Count > 0)
        {
            text.AppendLine("tracker: Run history:");
            AppendRows(text, numeric.Select(k => (k.Name, Sparkline.Render(k.Buckets.LastValues()))).ToList());
        }

        if (summary.Count > 0)
        {
            text.AppendLine("tracker: Run summary:");
            AppendRows(text, summary.Select(p => (p.Key, Format(p.Value))).ToList());
        }

        // The words of RunStatistics, tracker ls and tracker sync: points logged, record lines, lines acknowledged.
        text.Append(CultureInfo.InvariantCulture,
            $"tracker: Run {run.Name} ({run.Id}) {(statistics.RecordsDropped == 0 ? "written" : "partly written")}: {statistics.RecordsReceived:N0} points logged");
        if (statistics.RecordsDropped > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $" ({statistics.RecordsDropped:N0} lost)");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $", {statistics.LinesWritten:N0} record lines in {run.Directory}");
        if (run.Url is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"tracker: View run at {run.Url} ({statistics.LinesAcknowledged:N0} of {statistics.LinesWritten:N0} record lines acknowledged by the server)");
        }

        output.Write(text.ToString());
        output.Flush();
    }

    private static void AppendRows(StringBuilder text, IReadOnlyList<(string Key, string Value)> rows)
    {
        var width = rows.Take(MaxRows).Max(r => r.Key.Length);
        foreach (var (key, value) in rows.Take(MaxRows))
        {
            text.Append("tracker:   ").Append(key.PadLeft(width)).Append(' ').AppendLine(value);
        }

        if (rows.Count > MaxRows)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"tracker:   +{rows.Count - MaxRows} more");
        }
    }

    private static string Format(object? value) => value switch
    {
        double d => d.ToString("G6", CultureInfo.InvariantCulture),
        null => "null",
        _ => RecordValue.Display(value),
    };
}
