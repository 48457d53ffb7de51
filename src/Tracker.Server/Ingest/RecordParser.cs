using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tracker.Server.Ingest;

/// <summary>
/// The points of a history line, as columns: one row (a single step) or a block of rows sharing
/// <see cref="Steps"/> and <see cref="Times"/>, with one column of values per key.
/// </summary>
internal sealed class HistoryColumns(long[] steps, long[] times)
{
    public long[] Steps { get; } = steps;

    public long[] Times { get; } = times;

    public List<HistoryColumn> Columns { get; } = [];
}

/// <summary>
/// One key's values in a history line. <see cref="Others"/> is null while every value is a number
/// (NaN and infinities included); otherwise it holds, per row, null for a number, the text or
/// bool logged, or <see cref="RecordParser.Absent"/> where the key was not logged.
/// </summary>
internal sealed class HistoryColumn(string key, int rows)
{
    public string Key { get; } = key;

    public double[] Numbers { get; } = new double[rows];

    public object?[]? Others { get; set; }
}

/// <summary>One record line of a batch. History lines carry columns of points; other lines their JSON.</summary>
internal sealed class ParsedLine(long seq, string type, int lineNumber)
{
    public long Seq { get; } = seq;

    public string Type { get; } = type;

    public int LineNumber { get; } = lineNumber;

    public HistoryColumns? History { get; set; }

    public JsonObject? Body { get; set; }
}

/// <summary>Bad input, named precisely enough to fix: answered with 400 and a problem body.</summary>
internal sealed class IngestValidationException(int line, string field, string detail)
    : Exception($"line {line}: {detail}")
{
    public int Line { get; } = line;

    public string Field { get; } = field;
}

/// <summary>
/// Parses the NDJSON body of an append: the lines of a run's records.jsonl. Every line is
/// validated before anything is stored, so a bad line rejects the batch whole.
/// </summary>
internal static class RecordParser
{
    public const int MaxKeyLength = 256;

    /// <summary>What <see cref="HistoryColumn.Others"/> holds for a null value: the key was not logged at that row.</summary>
    public static readonly object Absent = new();

    /// <summary>Bodies from this size on are parsed on several cores: lines are independent.</summary>
    private const int ParallelFrom = 1 << 20;

    public static List<ParsedLine> Parse(ReadOnlyMemory<byte> body)
    {
        var parts = body.Length >= ParallelFrom ? Math.Min(Environment.ProcessorCount, 4) : 1;
        var segments = new List<(ReadOnlyMemory<byte> Bytes, int FirstLine)>(parts);
        var start = 0;
        var line = 1;
        for (var part = 1; part <= parts; part++)
        {
            var end = part == parts ? body.Length : NextLineStart(body.Span, (int)((long)body.Length * part / parts));
            if (end > start)
            {
                segments.Add((body[start..end], line));
                line += body.Span[start..end].Count((byte)'\n');
                start = end;
            }
        }

        var parsed = new List<ParsedLine>[segments.Count];
        if (segments.Count == 1)
        {
            parsed[0] = ParseSegment(segments[0].Bytes.Span, segments[0].FirstLine);
        }
        else
        {
            Parallel.For(0, segments.Count, i => parsed[i] = ParseSegment(segments[i].Bytes.Span, segments[i].FirstLine));
        }

        var lines = new List<ParsedLine>(parsed.Sum(p => p.Count));
        long previousSeq = 0;
        foreach (var parsedLine in parsed.SelectMany(p => p))
        {
            if (parsedLine.Seq <= previousSeq)
            {
                throw new IngestValidationException(parsedLine.LineNumber, "seq", $"seq {parsedLine.Seq} does not follow {previousSeq}; lines must be in increasing seq order.");
            }

            previousSeq = parsedLine.Seq;
            lines.Add(parsedLine);
        }

        return lines;
    }

    private static int NextLineStart(ReadOnlySpan<byte> body, int from)
    {
        var newline = body[from..].IndexOf((byte)'\n');
        return newline < 0 ? body.Length : from + newline + 1;
    }

    private static List<ParsedLine> ParseSegment(ReadOnlySpan<byte> body, int lineNumber)
    {
        var lines = new List<ParsedLine>();
        lineNumber--;
        while (!body.IsEmpty)
        {
            lineNumber++;
            var end = body.IndexOf((byte)'\n');
            var line = end < 0 ? body : body[..end];
            body = end < 0 ? default : body[(end + 1)..];
            if (!line.Trim(" \r\t"u8).IsEmpty)
            {
                lines.Add(ParseLine(line, lineNumber));
            }
        }

        return lines;
    }

    private static ParsedLine ParseLine(ReadOnlySpan<byte> line, int lineNumber)
    {
        try
        {
            var (seq, type) = ReadHeader(line, lineNumber);
            var parsed = new ParsedLine(seq, type, lineNumber);
            if (type is "history" or "system")
            {
                ReadHistory(line, parsed); // system metrics are rows of their own, numbered by sample
            }
            else
            {
                parsed.Body = JsonNode.Parse(line) as JsonObject;
                if (type == "media")
                {
                    ValidateMedia(parsed.Body!, lineNumber);
                }
            }

            return parsed;
        }
        catch (JsonException ex)
        {
            throw new IngestValidationException(lineNumber, "body", $"not valid JSON: {ex.Message}");
        }
        catch (InvalidOperationException ex)
        {
            throw new IngestValidationException(lineNumber, "body", $"a member has the wrong type: {ex.Message}");
        }
        catch (FormatException ex)
        {
            throw new IngestValidationException(lineNumber, "body", $"a number is out of range: {ex.Message}");
        }
    }

    private static (long Seq, string Type) ReadHeader(ReadOnlySpan<byte> line, int lineNumber)
    {
        var reader = new Utf8JsonReader(line);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new IngestValidationException(lineNumber, "body", "each line must be a JSON object.");
        }

        long? seq = null;
        string? type = null;
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
                type = reader.GetString();
            }
            else
            {
                reader.Read();
                reader.Skip();
            }

            if (seq is not null && type is not null)
            {
                break; // the rest is read, and validated, by the parser for the record's type
            }
        }

        if (seq is null or < 1)
        {
            throw new IngestValidationException(lineNumber, "seq", "each line needs \"seq\", a positive integer.");
        }

        if (string.IsNullOrWhiteSpace(type))
        {
            throw new IngestValidationException(lineNumber, "type", "each line needs \"type\", such as \"history\".");
        }

        return (seq.Value, type);
    }

    private static void ReadHistory(ReadOnlySpan<byte> line, ParsedLine parsed)
    {
        var reader = new Utf8JsonReader(line);
        reader.Read();
        long step = -1;
        long time = 0;
        long[]? steps = null;
        long[]? times = null;
        var columns = new List<HistoryColumn>();
        var scalars = false;
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
                steps = ReadDeltas(ref reader, line, parsed.LineNumber, "steps");
            }
            else if (reader.ValueTextEquals("ts"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    times = ReadDeltas(ref reader, line, parsed.LineNumber, "ts");
                }
                else
                {
                    time = reader.GetInt64();
                }
            }
            else if (reader.ValueTextEquals("values"u8))
            {
                reader.Read();
                Expect(ref reader, JsonTokenType.StartObject, parsed.LineNumber, "values", "an object of key: value");
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var key = ValidKey(reader.GetString()!, parsed.LineNumber);
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        // A block's columns come after its "steps", which the SDK writes first.
                        var rows = steps?.Length ?? throw new IngestValidationException(parsed.LineNumber, "step", "a history row needs scalar \"values\"; a block needs \"steps\", before its array values, and \"ts\".");
                        var column = new HistoryColumn(key, rows);
                        var row = 0;
                        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                        {
                            if (row == rows)
                            {
                                throw new IngestValidationException(parsed.LineNumber, "values", $"the values of \"{key}\" are more than the {rows} \"steps\".");
                            }

                            ReadValue(ref reader, column, row++, parsed.LineNumber);
                        }

                        if (row != rows)
                        {
                            throw new IngestValidationException(parsed.LineNumber, "values", $"the values of \"{key}\" are {row}, not one per step ({rows}).");
                        }

                        columns.Add(column);
                    }
                    else
                    {
                        var column = new HistoryColumn(key, 1);
                        ReadValue(ref reader, column, 0, parsed.LineNumber);
                        columns.Add(column);
                        scalars = true;
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
        {
            throw new IngestValidationException(parsed.LineNumber, "body", "each line must be one JSON object and nothing after it.");
        }

        if (steps is null)
        {
            if (step < 0)
            {
                throw new IngestValidationException(parsed.LineNumber, "step", "a history row needs \"step\" (a non-negative integer) and scalar \"values\"; a block needs \"steps\", \"ts\" and array values.");
            }

            steps = [step];
            times = [time];
        }
        else if (times is null || times.Length != steps.Length || scalars)
        {
            throw new IngestValidationException(parsed.LineNumber, "values", "a history block needs \"ts\" as long as \"steps\", and array values.");
        }

        var history = new HistoryColumns(steps, times!);
        history.Columns.AddRange(columns);
        parsed.History = history;
    }

    /// <summary>Reads an array of a first value and differences, sized by counting its commas first.</summary>
    private static long[] ReadDeltas(ref Utf8JsonReader reader, ReadOnlySpan<byte> line, int lineNumber, string field)
    {
        Expect(ref reader, JsonTokenType.StartArray, lineNumber, field, "an array of integers");
        var rest = line[(int)reader.BytesConsumed..];
        var close = rest.IndexOf((byte)']');
        var text = close < 0 ? rest : rest[..close];
        var values = new long[text.Trim(" \t\r\n"u8).IsEmpty ? 0 : text.Count((byte)',') + 1];
        long current = 0;
        var count = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (count == values.Length)
            {
                throw new IngestValidationException(lineNumber, field, $"\"{field}\" must hold only integers.");
            }

            current += reader.GetInt64();
            if (current < 0)
            {
                throw new IngestValidationException(lineNumber, field, $"\"{field}\" adds up to a negative value.");
            }

            values[count++] = current;
        }

        return values;
    }

    private static void ReadValue(ref Utf8JsonReader reader, HistoryColumn column, int row, int lineNumber)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            column.Numbers[row] = reader.GetDouble();
            return;
        }

        var (number, other) = reader.TokenType switch
        {
            JsonTokenType.True => (1, (object?)true),
            JsonTokenType.False => (0, false),
            JsonTokenType.Null => (double.NaN, Absent),
            JsonTokenType.String => reader.GetString() switch
            {
                "NaN" => (double.NaN, (object?)null),
                "Infinity" => (double.PositiveInfinity, null),
                "-Infinity" => (double.NegativeInfinity, null),
                var text => (double.NaN, text),
            },
            _ => throw new IngestValidationException(lineNumber, $"values.{column.Key}", $"the value of \"{column.Key}\" must be a number, string, bool or null, not a {reader.TokenType}."),
        };
        column.Numbers[row] = number;
        if (other is not null)
        {
            column.Others ??= new object?[column.Numbers.Length];
            column.Others[row] = other;
        }
    }

    /// <summary>Whether <paramref name="text"/> is a SHA-256 as blobs are named: 64 lower-case hex digits.</summary>
    public static bool IsSha256(string? text) => text is { Length: 64 } && text.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    /// <summary>
    /// A media record must be readable as stored: a valid key, a step, and a <c>media</c> object
    /// whose content matches its <c>_type</c> (docs/protocol.md, "Media").
    /// </summary>
    private static void ValidateMedia(JsonObject body, int lineNumber)
    {
        if (body["key"] is not JsonValue key || !key.TryGetValue<string>(out var name))
        {
            throw new IngestValidationException(lineNumber, "key", "a media record needs \"key\", a string such as \"samples\".");
        }

        ValidKey(name, lineNumber, "key");
        if (body["step"] is not JsonValue step || !step.TryGetValue<long>(out var stepNumber) || stepNumber < 0)
        {
            throw new IngestValidationException(lineNumber, "step", "a media record needs \"step\", a non-negative integer.");
        }

        if (body["ts"] is { } ts && (ts is not JsonValue time || !time.TryGetValue<long>(out _)))
        {
            throw new IngestValidationException(lineNumber, "ts", "\"ts\" must be an integer (Unix milliseconds).");
        }

        if (body["media"] is not JsonObject media)
        {
            throw new IngestValidationException(lineNumber, "media", "a media record needs \"media\", an object with \"_type\".");
        }

        var kind = media["_type"] is JsonValue type && type.TryGetValue<string>(out var text) ? text : null;
        switch (kind)
        {
            case "image" or "table":
                if (media["sha256"] is not JsonValue sha || !sha.TryGetValue<string>(out var hash) || !IsSha256(hash))
                {
                    throw new IngestValidationException(lineNumber, "media.sha256", $"\"_type\":\"{kind}\" needs \"sha256\", the SHA-256 of its file as 64 lower-case hex digits.");
                }

                break;
            case "histogram":
                var bins = Numbers(media["bins"], lineNumber, "media.bins");
                var counts = Numbers(media["counts"], lineNumber, "media.counts");
                if (bins != counts + 1)
                {
                    throw new IngestValidationException(lineNumber, "media.bins", $"a histogram has one edge more than counts: {counts} counts need {counts + 1} \"bins\", not {bins}.");
                }

                break;
            case "text":
                if (media["text"] is not JsonValue value || !value.TryGetValue<string>(out _))
                {
                    throw new IngestValidationException(lineNumber, "media.text", "a text needs \"text\", a string.");
                }

                break;
            default:
                var actual = media["_type"] is { } given ? $", not {given.ToJsonString()}" : string.Empty;
                throw new IngestValidationException(lineNumber, "media._type", $"\"media\" needs \"_type\": image, histogram, table or text{actual}.");
        }
    }

    /// <summary>The length of an array that must hold only numbers.</summary>
    private static int Numbers(JsonNode? node, int lineNumber, string field)
    {
        if (node is not JsonArray array || array.Any(n => n is not JsonValue value || value.GetValueKind() != JsonValueKind.Number))
        {
            throw new IngestValidationException(lineNumber, field, $"\"{field["media.".Length..]}\" must be an array of numbers.");
        }

        return array.Count;
    }

    private static string ValidKey(string key, int lineNumber, string field = "values")
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            throw new IngestValidationException(lineNumber, field, "a key is empty.");
        }

        if (key.Length > MaxKeyLength)
        {
            throw new IngestValidationException(lineNumber, field, $"key \"{key[..32]}...\" is {key.Length} characters long; at most {MaxKeyLength} are allowed.");
        }

        return key;
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType token, int lineNumber, string field, string what)
    {
        if (reader.TokenType != token)
        {
            throw new IngestValidationException(lineNumber, field, $"\"{field}\" must be {what}.");
        }
    }
}
