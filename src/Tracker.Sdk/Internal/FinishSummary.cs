using System.Globalization;
using System.Text;

namespace Tracker.Internal;

/// <summary>The "Run history / Run summary" footer printed by <see cref="Run.Finish(int)"/>, as W&amp;B prints it.</summary>
internal static class FinishSummary
{
    private const int MaxRows = 10;
    private const int SparkWidth = 24;
    private const string Bars = "▁▂▃▄▅▆▇█";

    public static void Print(TextWriter output, Run run, IReadOnlyList<MetricKey> keys, IReadOnlyDictionary<string, object?> summary, RunStatistics statistics)
    {
        var text = new StringBuilder();
        var numeric = keys.Where(k => k.Buckets.Count > 0).ToList();
        if (numeric.Count > 0)
        {
            text.AppendLine("tracker: Run history:");
            AppendRows(text, numeric.Select(k => (k.Name, Sparkline(k.Buckets.LastValues()))).ToList());
        }

        if (summary.Count > 0)
        {
            text.AppendLine("tracker: Run summary:");
            AppendRows(text, summary.Select(p => (p.Key, Format(p.Value))).ToList());
        }

        text.Append(CultureInfo.InvariantCulture,
            $"tracker: Run {run.Name} ({run.Id}) {(statistics.RecordsDropped == 0 ? "written" : "partly written")}: {statistics.RecordsWritten:N0} records");
        if (statistics.RecordsDropped > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $", {statistics.RecordsDropped:N0} lost");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $" in {run.Directory}");
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

    /// <summary>Eight-level bars over the samples, resampled to a fixed width; NaN shows as a space.</summary>
    public static string Sparkline(ReadOnlySpan<double> samples)
    {
        if (samples.IsEmpty)
        {
            return string.Empty;
        }

        var width = Math.Min(SparkWidth, samples.Length);
        var points = new double[width];
        for (var i = 0; i < width; i++)
        {
            points[i] = samples[(int)((long)i * samples.Length / width)];
        }

        var finite = points.Where(double.IsFinite).ToList();
        var (min, max) = finite.Count == 0 ? (0, 0) : (finite.Min(), finite.Max());
        var line = new StringBuilder(width);
        foreach (var p in points)
        {
            if (!double.IsFinite(p))
            {
                line.Append(' ');
                continue;
            }

            var level = max > min ? (int)Math.Round((p - min) / (max - min) * (Bars.Length - 1)) : 0;
            line.Append(Bars[level]);
        }

        return line.ToString();
    }

    private static string Format(object? value) => value switch
    {
        double d => d.ToString("G6", CultureInfo.InvariantCulture),
        null => "null",
        _ => RecordValue.Display(value),
    };
}
