using System.Text;
using System.Text.Json;
using Tracker.Backends;
using Tracker.Internal;

namespace Tracker.Reading;

/// <summary>One line of <c>records.jsonl</c>.</summary>
/// <param name="Seq">Per-run sequence number.</param>
/// <param name="Type">Record type: <c>history</c>, <c>config</c>, <c>summary</c>, <c>metric</c>, <c>run</c>, <c>system</c>, <c>output</c>, <c>media</c>, <c>finish</c>.</param>
/// <param name="Timestamp">When the record was made.</param>
/// <param name="Json">The whole line as JSON.</param>
public sealed record RunRecord(long Seq, string Type, DateTimeOffset Timestamp, string Json);

/// <summary>One step of a run's history, with the values logged at that step.</summary>
/// <param name="Step">The step (<c>_step</c>).</param>
/// <param name="Timestamp">When the step's first value was logged (<c>_time</c>).</param>
/// <param name="Runtime">Time since the run started (<c>_runtime</c>).</param>
/// <param name="Values">Values by key: double (NaN and infinities included), bool or string.</param>
public sealed record HistoryRow(long Step, DateTimeOffset Timestamp, TimeSpan Runtime, IReadOnlyDictionary<string, object?> Values);

/// <summary>One media value of a run: an image, histogram, table or text logged at a step.</summary>
/// <param name="Step">The step it was logged at.</param>
/// <param name="Key">Its key.</param>
/// <param name="Timestamp">When it was logged.</param>
/// <param name="Kind"><c>image</c>, <c>histogram</c>, <c>table</c> or <c>text</c>.</param>
/// <param name="Json">The record's <c>media</c> object (docs/protocol.md): sizes, bins and counts, text, or the file's hash.</param>
/// <param name="FilePath">The full path of the image or table file; null for histograms and texts.</param>
public sealed record MediaRecord(long Step, string Key, DateTimeOffset Timestamp, string Kind, string Json, string? FilePath);

/// <summary>
/// Reads a run directory written by Tracker. Tolerates a torn last line (a crash mid-write),
/// skips lines that are not valid records, and ignores replayed sequence numbers.
/// </summary>
public sealed class RunReader
{
    private RunReader(string directory, RunInfo info)
    {
        Directory = directory;
        Info = info;
    }

    /// <summary>The run directory.</summary>
    public string Directory { get; }

    /// <summary>The run's metadata from <c>run.json</c>.</summary>
    public RunInfo Info { get; }

    /// <summary>Lines skipped by the last full read: a torn last line or lines that are not valid records.</summary>
    public int SkippedLines { get; private set; }

    /// <summary>Opens a run directory.</summary>
    /// <param name="runDirectory">A folder containing <c>run.json</c>.</param>
    /// <exception cref="DirectoryNotFoundException">The folder or its run.json does not exist.</exception>
    /// <exception cref="InvalidDataException">run.json is not valid.</exception>
    public static RunReader Open(string runDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(runDirectory);
        var runFile = Path.Combine(runDirectory, LocalFileBackend.RunFile);
        if (!File.Exists(runFile))
        {
            throw new DirectoryNotFoundException($"{runDirectory} is not a run directory: it has no {LocalFileBackend.RunFile}.");
        }

        try
        {
            var info = JsonSerializer.Deserialize<RunInfo>(File.ReadAllBytes(runFile), Json.Options)
                ?? throw new InvalidDataException($"{runFile} is empty.");
            return new RunReader(Path.GetFullPath(runDirectory), info);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{runFile} is not a valid run file: {ex.Message}", ex);
        }
    }

    /// <summary>Run directories (<c>&lt;root&gt;/&lt;project&gt;/&lt;id&gt;</c>) under a root folder such as <c>./tracker-runs</c>.</summary>
    /// <param name="root">The root folder.</param>
    /// <returns>The run directories, sorted; empty when the root does not exist.</returns>
    public static IReadOnlyList<string> FindRuns(string root) =>
        !System.IO.Directory.Exists(root) ? [] :
        System.IO.Directory.EnumerateDirectories(root)
            .SelectMany(System.IO.Directory.EnumerateDirectories)
            .Where(d => File.Exists(Path.Combine(d, LocalFileBackend.RunFile)))
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>Streams the records in file order, each sequence number once.</summary>
    /// <param name="afterSeq">Only records with a greater sequence number.</param>
    /// <returns>The records.</returns>
    public IEnumerable<RunRecord> ReadRecords(long afterSeq = 0)
    {
        foreach (var line in ReadLines())
        {
            if (line.Seq > afterSeq)
            {
                yield return new RunRecord(line.Seq, line.Type, line.Timestamp, Encoding.UTF8.GetString(line.Bytes.Span));
            }
        }
    }

    /// <summary>The run's media records in step order (a media record is written when its file is, so the file's order may differ).</summary>
    /// <param name="key">Only this key's media; all when null.</param>
    /// <returns>The media records.</returns>
    public IReadOnlyList<MediaRecord> ReadMedia(string? key = null) => [.. ReadMediaLines(key).OrderBy(m => m.Step)];

    private IEnumerable<MediaRecord> ReadMediaLines(string? key)
    {
        foreach (var line in ReadLines())
        {
            if (line.Type != "media")
            {
                continue;
            }

            using var json = JsonDocument.Parse(line.Bytes);
            var root = json.RootElement;
            if (!root.TryGetProperty("key", out var name) || name.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("media", out var media) || media.ValueKind != JsonValueKind.Object
                || !media.TryGetProperty("_type", out var kind) || kind.ValueKind != JsonValueKind.String
                || (key is not null && !name.ValueEquals(key)))
            {
                continue;
            }

            var path = media.TryGetProperty("path", out var relative) && relative.ValueKind == JsonValueKind.String
                ? MediaFiles.PathIn(Directory, relative.GetString())
                : null;
            var step = root.TryGetProperty("step", out var s) && s.TryGetInt64(out var n) ? n : 0;
            yield return new MediaRecord(step, name.GetString()!, line.Timestamp, kind.GetString()!, media.GetRawText(), path);
        }
    }

    /// <summary>Streams the history, one row per step; lines of the same step are merged, later values winning.</summary>
    /// <returns>The history rows in step order.</returns>
    public IEnumerable<HistoryRow> ReadHistory()
    {
        Dictionary<string, object?>? values = null;
        long step = 0;
        DateTimeOffset timestamp = default;
        var rows = new List<(long Step, long UnixMs, Dictionary<string, object?> Values)>();
        foreach (var line in ReadLines())
        {
            if (line.Type != "history")
            {
                continue;
            }

            rows.Clear();
            if (!TryReadRows(line.Bytes.Span, rows))
            {
                SkippedLines++;
                continue;
            }

            foreach (var (rowStep, unixMs, rowValues) in rows)
            {
                if (values is not null && rowStep == step)
                {
                    foreach (var (key, value) in rowValues)
                    {
                        values[key] = value;
                    }

                    continue;
                }

                if (values is not null)
                {
                    yield return Row(step, timestamp, values);
                }

                step = rowStep;
                timestamp = DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
                values = rowValues;
            }
        }

        if (values is not null)
        {
            yield return Row(step, timestamp, values);
        }
    }

    /// <summary>
    /// Every numeric history value as (key, step, value), in file order, without building rows:
    /// the fast way to chart or bucket a long run. Bools count as 1 and 0; text and nulls are left out.
    /// </summary>
    internal void ReadPoints(Action<string, long, double> onPoint)
    {
        var points = new List<(string Key, long Step, double Value)>();
        var rows = new List<(long Step, long UnixMs, Dictionary<string, object?> Values)>();
        foreach (var line in ReadLines())
        {
            if (line.Type != "history")
            {
                continue;
            }

            points.Clear();
            if (!TryReadPoints(line.Bytes.Span, points))
            {
                // Not in the order the SDK writes: the general parser decides.
                points.Clear();
                rows.Clear();
                if (!TryReadRows(line.Bytes.Span, rows))
                {
                    SkippedLines++;
                    continue;
                }

                foreach (var (step, _, values) in rows)
                {
                    foreach (var (key, value) in values)
                    {
                        if (value is double or bool)
                        {
                            points.Add((key, step, value is bool b ? (b ? 1 : 0) : (double)value));
                        }
                    }
                }
            }

            foreach (var (key, step, value) in points)
            {
                onPoint(key, step, value);
            }
        }
    }

    /// <summary>A history line as the SDK writes it (steps before values); false for anything else.</summary>
    private static bool TryReadPoints(ReadOnlySpan<byte> line, List<(string Key, long Step, double Value)> points)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            long step = -1;
            List<long>? steps = null;
            reader.Read();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("step"u8))
                {
                    reader.Read();
                    step = reader.GetInt64();
                }
                else if (reader.ValueTextEquals("steps"u8))
                {
                    reader.Read();
                    steps = ReadDeltas(ref reader);
                }
                else if (reader.ValueTextEquals("values"u8) && (steps is not null || step >= 0))
                {
                    reader.Read();
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var key = reader.GetString()!;
                        reader.Read();
                        if (reader.TokenType != JsonTokenType.StartArray)
                        {
                            AddNumber(ref reader, key, step, points);
                            continue;
                        }

                        var row = 0;
                        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                        {
                            if (steps is null || row >= steps.Count)
                            {
                                return false;
                            }

                            AddNumber(ref reader, key, steps[row++], points);
                        }

                        if (row != steps?.Count)
                        {
                            return false;
                        }
                    }
                }
                else if (reader.ValueTextEquals("values"u8))
                {
                    return false; // values before the steps
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            return reader.TokenType == JsonTokenType.EndObject;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }

    private static void AddNumber(ref Utf8JsonReader reader, string key, long step, List<(string Key, long Step, double Value)> points)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                points.Add((key, step, reader.GetDouble()));
                break;
            case JsonTokenType.True or JsonTokenType.False:
                points.Add((key, step, reader.TokenType == JsonTokenType.True ? 1 : 0));
                break;
            case JsonTokenType.String when Json.ParseSpecialDouble(reader.GetString()!) is double special:
                points.Add((key, step, special));
                break;
            case JsonTokenType.StartObject or JsonTokenType.StartArray:
                reader.Skip();
                break;
            default:
                break; // text and nulls are not points
        }
    }

    /// <summary>
    /// The run's summary: <c>summary.json</c> when the run finished, otherwise each key's last
    /// value from the history with the user's summary overrides applied.
    /// </summary>
    /// <returns>Summary values by key.</returns>
    public IReadOnlyDictionary<string, object?> ReadSummary()
    {
        var summaryFile = Path.Combine(Directory, LocalFileBackend.SummaryFile);
        if (Info.State != RunStates.Running && File.Exists(summaryFile))
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(summaryFile));
            return document.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => HistoryValue(p.Value), StringComparer.Ordinal);
        }

        var summary = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var row in ReadHistory())
        {
            foreach (var (key, value) in row.Values)
            {
                summary[key] = value;
            }
        }

        foreach (var record in ReadRecords().Where(r => r.Type == "summary"))
        {
            using var document = JsonDocument.Parse(record.Json);
            foreach (var property in document.RootElement.GetProperty("values").EnumerateObject())
            {
                summary[property.Name] = HistoryValue(property.Value);
            }
        }

        return summary;
    }

    /// <summary>History and summary values: every number is a double, as it was logged.</summary>
    private static object? HistoryValue(JsonElement element) =>
        element.ValueKind == JsonValueKind.Number ? element.GetDouble() : Json.ToPlain(element);

    private HistoryRow Row(long step, DateTimeOffset timestamp, Dictionary<string, object?> values) =>
        new(step, timestamp, timestamp - Info.StartTime, values);

    /// <summary>
    /// Parses a history line: one row (<c>step</c>, <c>ts</c>, <c>values</c> of scalars) or a block
    /// (<c>steps</c> and <c>ts</c> as first value then differences, <c>values</c> of equal-length arrays).
    /// </summary>
    private static bool TryReadRows(ReadOnlySpan<byte> line, List<(long Step, long UnixMs, Dictionary<string, object?> Values)> rows)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            long step = 0;
            long ts = 0;
            List<long>? steps = null;
            List<long>? times = null;
            Dictionary<string, object?>? scalars = null;
            Dictionary<string, List<object?>>? columns = null;
            reader.Read();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("step"u8))
                {
                    reader.Read();
                    step = reader.GetInt64();
                }
                else if (reader.ValueTextEquals("steps"u8))
                {
                    reader.Read();
                    steps = ReadDeltas(ref reader);
                }
                else if (reader.ValueTextEquals("ts"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        times = ReadDeltas(ref reader);
                    }
                    else
                    {
                        ts = reader.GetInt64();
                    }
                }
                else if (reader.ValueTextEquals("values"u8))
                {
                    reader.Read();
                    ReadValues(ref reader, out scalars, out columns);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (steps is null)
            {
                rows.Add((step, ts, scalars ?? []));
                return columns is null;
            }

            if (times is null || times.Count != steps.Count || scalars is { Count: > 0 }
                || (columns ?? []).Values.Any(c => c.Count != steps.Count))
            {
                return false;
            }

            for (var r = 0; r < steps.Count; r++)
            {
                var row = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, column) in columns ?? [])
                {
                    row[key] = column[r];
                }

                rows.Add((steps[r], times[r], row));
            }

            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }

    private static List<long> ReadDeltas(ref Utf8JsonReader reader)
    {
        var values = new List<long>();
        long current = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.Number)
        {
            current += reader.GetInt64();
            values.Add(current);
        }

        return values;
    }

    private static void ReadValues(ref Utf8JsonReader reader, out Dictionary<string, object?>? scalars, out Dictionary<string, List<object?>>? columns)
    {
        scalars = null;
        columns = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType == JsonTokenType.StartArray)
            {
                var column = new List<object?>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    column.Add(ReadValue(ref reader));
                }

                (columns ??= new(StringComparer.Ordinal))[key] = column;
            }
            else
            {
                (scalars ??= new(StringComparer.Ordinal))[key] = ReadValue(ref reader);
            }
        }
    }

    private static object? ReadValue(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.Number => reader.GetDouble(),
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        JsonTokenType.String => Json.ParseSpecialDouble(reader.GetString()!) is double d ? d : reader.GetString(),
        JsonTokenType.Null => null,
        _ => SkipAndNull(ref reader),
    };

    private static object? SkipAndNull(ref Utf8JsonReader reader)
    {
        reader.Skip();
        return null;
    }

    private readonly record struct Line(long Seq, string Type, DateTimeOffset Timestamp, ReadOnlyMemory<byte> Bytes);

    /// <summary>Valid lines in order; a line is valid when it is complete JSON with seq, type and ts.</summary>
    private IEnumerable<Line> ReadLines()
    {
        SkippedLines = 0;
        var path = Path.Combine(Directory, LocalFileBackend.RecordsFile);
        if (!File.Exists(path))
        {
            yield break;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        var buffer = new byte[1 << 20];
        var filled = 0;
        long lastSeq = 0;
        while (true)
        {
            var read = stream.Read(buffer, filled, buffer.Length - filled);
            filled += read;
            var start = 0;
            while (true)
            {
                var newline = Array.IndexOf(buffer, (byte)'\n', start, filled - start);
                if (newline < 0)
                {
                    break;
                }

                var bytes = buffer.AsMemory(start, newline - start);
                start = newline + 1;
                if (TryParseHeader(bytes.Span, out var seq, out var type, out var ts) && seq > lastSeq)
                {
                    lastSeq = seq;
                    yield return new Line(seq, type, DateTimeOffset.FromUnixTimeMilliseconds(ts), bytes);
                }
                else if (bytes.Length > 0)
                {
                    SkippedLines++;
                }
            }

            // Keep the unfinished line; grow the buffer if one line is larger than it.
            Array.Copy(buffer, start, buffer, 0, filled - start);
            filled -= start;
            if (read == 0)
            {
                if (filled > 0)
                {
                    SkippedLines++; // a torn last line: the writer died mid-line
                }

                yield break;
            }

            if (filled == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
        }
    }

    private static bool TryParseHeader(ReadOnlySpan<byte> line, out long seq, out string type, out long ts)
    {
        seq = 0;
        ts = 0;
        type = string.Empty;
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("seq"u8))
                {
                    reader.Read();
                    seq = reader.GetInt64();
                }
                else if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    type = reader.GetString() ?? string.Empty;
                }
                else if (reader.ValueTextEquals("ts"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        reader.Read(); // a block's first time is absolute
                        ts = reader.GetInt64();
                        reader.Skip();
                        while (reader.TokenType != JsonTokenType.EndArray && reader.Read())
                        {
                        }
                    }
                    else
                    {
                        ts = reader.GetInt64();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            return reader.TokenType == JsonTokenType.EndObject && seq > 0 && type.Length > 0
                && !reader.Read(); // nothing after the object
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }
}
