using System.Globalization;
using System.Text.Json;
using Tracker.Reading;

namespace Tracker.Cli.Report;

/// <summary>One media key of one run as a report inlines it: the steps kept, how many there were, and notes on what was left out.</summary>
/// <param name="Key">The media key.</param>
/// <param name="Kind"><c>image</c>, <c>histogram</c>, <c>table</c> or <c>text</c>.</param>
/// <param name="Total">How many values the run logged under the key.</param>
/// <param name="Items">The values inlined, in step order (serialised as they are).</param>
/// <param name="Notes">Plain-text notes: steps, files or rows left out.</param>
internal sealed record MediaSeries(string Key, string Kind, int Total, IReadOnlyList<object> Items, IReadOnlyList<string> Notes);

/// <summary>
/// A run's media reduced to what a self-contained report can carry: per key at most a few evenly
/// spaced steps (the first and last always among them), images as data: URIs, a table's first rows,
/// texts up to a length.
/// </summary>
internal static class ReportMedia
{
    public const int MaxImageSteps = 20;
    public const int MaxHistogramSteps = 100;
    public const int MaxTableSteps = 20;
    public const int MaxTextSteps = 20;
    public const int MaxTableRows = 100;
    public const int MaxTextChars = 100_000;
    public const long MaxImageBytes = 8L << 20;

    public static IReadOnlyList<MediaSeries> Read(RunSource reader) =>
        reader.ReadMedia(withFiles: true) // in step order
            .Where(record => StepLimit(record.Kind) is not null) // kinds of later versions are left out
            .GroupBy(record => (record.Key, record.Kind))
            .Select(group =>
            {
                var all = group.ToList();
                var kept = Spread(all.Count, StepLimit(group.Key.Kind)!.Value).Select(i => all[i]).ToList();
                return Series(group.Key.Key, group.Key.Kind, all.Count, kept);
            })
            .ToList();

    /// <summary><paramref name="limit"/> indexes of <paramref name="count"/>, evenly spaced, the first and last included.</summary>
    private static int[] Spread(int count, int limit) =>
        count <= limit
            ? Enumerable.Range(0, count).ToArray()
            : Enumerable.Range(0, limit).Select(i => (int)Math.Round((double)i * (count - 1) / (limit - 1), MidpointRounding.AwayFromZero)).ToArray();

    private static int? StepLimit(string kind) => kind switch
    {
        "image" => MaxImageSteps,
        "histogram" => MaxHistogramSteps,
        "table" => MaxTableSteps,
        "text" => MaxTextSteps,
        _ => null,
    };

    private static MediaSeries Series(string key, string kind, int total, List<MediaRecord> kept)
    {
        var items = new List<object>();
        var missing = 0;
        var unreadable = 0;
        var tooLarge = 0;
        var cut = 0;
        long nan = 0, inf = 0;
        foreach (var record in kept)
        {
            try
            {
                object? item = kind switch
                {
                    "image" => ImageItem(record, ref missing, ref tooLarge),
                    "histogram" => HistogramItem(record, ref nan, ref inf),
                    "table" => TableItem(record, ref missing),
                    _ => TextItem(record, ref cut),
                };
                if (item is not null)
                {
                    items.Add(item);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
            {
                unreadable++;
            }
        }

        var notes = new List<string>();
        if (total > kept.Count)
        {
            notes.Add(Invariant($"{kept.Count} of {total} steps inlined, evenly spaced (first and last included)."));
        }

        if (missing > 0)
        {
            notes.Add(Invariant($"{missing} {kind} file{Plural(missing)} missing from the run directory, left out."));
        }

        if (tooLarge > 0)
        {
            notes.Add(Invariant($"{tooLarge} image{Plural(tooLarge)} over {MaxImageBytes >> 20} MiB left out."));
        }

        if (unreadable > 0)
        {
            notes.Add(Invariant($"{unreadable} {kind}{Plural(unreadable)} could not be read, left out."));
        }

        if (nan + inf > 0)
        {
            notes.Add(Invariant($"Not binned: {nan:N0} NaN and {inf:N0} infinite values over the steps inlined."));
        }

        if (cut > 0)
        {
            notes.Add(Invariant($"{cut} text{Plural(cut)} cut at {MaxTextChars:N0} characters."));
        }

        return new MediaSeries(key, kind, total, items, notes);
    }

    private static object? ImageItem(MediaRecord record, ref int missing, ref int tooLarge)
    {
        if (record.FilePath is not { } path || !File.Exists(path))
        {
            missing++;
            return null;
        }

        if (new FileInfo(path).Length > MaxImageBytes)
        {
            tooLarge++;
            return null;
        }

        // The type comes from the bytes, not the record: only a PNG or JPEG becomes a data: URI.
        var bytes = File.ReadAllBytes(path);
        var type = bytes is [0x89, 0x50, 0x4E, 0x47, ..] ? "image/png" : bytes is [0xFF, 0xD8, 0xFF, ..] ? "image/jpeg" : throw new FormatException("Neither PNG nor JPEG.");
        return new
        {
            step = record.Step,
            src = $"data:{type};base64,{Convert.ToBase64String(bytes)}",
            width = record.Item.Width,
            height = record.Item.Height,
            caption = record.Item.Caption,
        };
    }

    private static object HistogramItem(MediaRecord record, ref long nanTotal, ref long infTotal)
    {
        var bins = record.Item.Bins ?? [];
        var counts = record.Item.Counts ?? [];
        if (counts.Length == 0 || bins.Length != counts.Length + 1 || !bins.All(double.IsFinite) || bins.Zip(bins.Skip(1)).Any(p => p.First >= p.Second))
        {
            throw new FormatException("Bins and counts do not match.");
        }

        var nan = record.Item.NaNCount;
        var inf = record.Item.InfinityCount;
        nanTotal += nan;
        infTotal += inf;
        return new { step = record.Step, bins, counts, nan, inf };
    }

    private static object? TableItem(MediaRecord record, ref int missing)
    {
        if (record.FilePath is not { } path || !File.Exists(path))
        {
            missing++;
            return null;
        }

        using var json = JsonDocument.Parse(File.ReadAllBytes(path));
        var data = json.RootElement.GetProperty("data");
        return new
        {
            step = record.Step,
            columns = json.RootElement.GetProperty("columns").EnumerateArray().Select(c => c.ToString()).ToList(),
            rows = data.EnumerateArray().Take(MaxTableRows).Select(row => row.EnumerateArray().Select(Cell).ToList()).ToList(),
            total = data.GetArrayLength(),
        };
    }

    private static object TextItem(MediaRecord record, ref int cut)
    {
        var text = record.Item.Text ?? string.Empty;
        if (text.Length > MaxTextChars)
        {
            cut++;
            text = text[..(char.IsHighSurrogate(text[MaxTextChars - 1]) ? MaxTextChars - 1 : MaxTextChars)];
        }

        return new { step = record.Step, text };
    }

    /// <summary>A table value as the page shows it: numbers, strings, booleans and nulls as they are; anything else as its JSON.</summary>
    private static object? Cell(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => value.GetDouble(),
        JsonValueKind.String => value.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        _ => value.GetRawText(),
    };

    private static string Plural(int count) => count == 1 ? string.Empty : "s";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
