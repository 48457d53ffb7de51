using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tracker.Server.Ingest;

/// <summary>One value of a history row: a number (NaN and infinities included), or text or a bool.</summary>
internal readonly record struct HistoryPoint(string Key, long Step, long Time, double Number, object? Other);

/// <summary>One record line of a batch. History lines carry points; other lines their JSON.</summary>
internal sealed class ParsedLine(long seq, string type, int lineNumber)
{
    public long Seq { get; } = seq;

    public string Type { get; } = type;

    public int LineNumber { get; } = lineNumber;

    public List<HistoryPoint> Points { get; } = [];

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

    /// <summary>The <see cref="HistoryPoint.Other"/> of a null value: the key was not logged at that row.</summary>
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
            if (type == "history")
            {
                ReadHistory(line, parsed);
            }
            else
            {
                parsed.Body = JsonNode.Parse(line) as JsonObject;
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
        List<long>? steps = null;
        List<long>? times = null;
        var scalars = new List<(string Key, double Number, object? Other)>();
        var columns = new List<(string Key, List<(double Number, object? Other)> Values)>();
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
                steps = ReadDeltas(ref reader, parsed.LineNumber, "steps");
            }
            else if (reader.ValueTextEquals("ts"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    times = ReadDeltas(ref reader, parsed.LineNumber, "ts");
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
                        var column = new List<(double, object?)>();
                        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                        {
                            column.Add(ReadValue(ref reader, key, parsed.LineNumber));
                        }

                        columns.Add((key, column));
                    }
                    else
                    {
                        var (number, other) = ReadValue(ref reader, key, parsed.LineNumber);
                        scalars.Add((key, number, other));
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
            if (step < 0 || columns.Count > 0)
            {
                throw new IngestValidationException(parsed.LineNumber, "step", "a history row needs \"step\" (a non-negative integer) and scalar \"values\"; a block needs \"steps\", \"ts\" and array values.");
            }

            foreach (var (key, number, other) in scalars)
            {
                parsed.Points.Add(new HistoryPoint(key, step, time, number, other));
            }

            return;
        }

        if (times is null || times.Count != steps.Count || scalars.Count > 0 || columns.Any(c => c.Values.Count != steps.Count))
        {
            throw new IngestValidationException(parsed.LineNumber, "values", "a history block needs \"ts\" and every value array as long as \"steps\".");
        }

        // Column by column: consecutive points share their key, which the store takes advantage of.
        foreach (var (key, values) in columns)
        {
            for (var r = 0; r < steps.Count; r++)
            {
                var (number, other) = values[r];
                parsed.Points.Add(new HistoryPoint(key, steps[r], times[r], number, other));
            }
        }
    }

    private static List<long> ReadDeltas(ref Utf8JsonReader reader, int lineNumber, string field)
    {
        Expect(ref reader, JsonTokenType.StartArray, lineNumber, field, "an array of integers");
        var values = new List<long>();
        long current = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            current += reader.GetInt64();
            if (current < 0)
            {
                throw new IngestValidationException(lineNumber, field, $"\"{field}\" adds up to a negative value.");
            }

            values.Add(current);
        }

        return values;
    }

    private static (double Number, object? Other) ReadValue(ref Utf8JsonReader reader, string key, int lineNumber) => reader.TokenType switch
    {
        JsonTokenType.Number => (reader.GetDouble(), null),
        JsonTokenType.True => (1, true),
        JsonTokenType.False => (0, false),
        JsonTokenType.Null => (double.NaN, Absent),
        JsonTokenType.String => reader.GetString() switch
        {
            "NaN" => (double.NaN, null),
            "Infinity" => (double.PositiveInfinity, null),
            "-Infinity" => (double.NegativeInfinity, null),
            var text => (double.NaN, text),
        },
        _ => throw new IngestValidationException(lineNumber, $"values.{key}", $"the value of \"{key}\" must be a number, string, bool or null, not a {reader.TokenType}."),
    };

    private static string ValidKey(string key, int lineNumber)
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            throw new IngestValidationException(lineNumber, "values", "a key is empty.");
        }

        if (key.Length > MaxKeyLength)
        {
            throw new IngestValidationException(lineNumber, "values", $"key \"{key[..32]}...\" is {key.Length} characters long; at most {MaxKeyLength} are allowed.");
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
