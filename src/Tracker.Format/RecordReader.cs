using System.Text.Json;

namespace Tracker.Format;

/// <summary>
/// The one reader of record lines. <see cref="Parse"/> is strict: any problem throws a
/// <see cref="RecordFormatException"/> naming the line and the field (the server answers it with 400).
/// <see cref="TryParse"/> is the lenient form for readers of run directories: a torn or corrupt line
/// is reported and skipped. Both apply the same rules, so every consumer reads a line the same way.
/// </summary>
public static class RecordReader
{
    /// <summary>Bodies from this size on are parsed on several cores: lines are independent.</summary>
    private const int ParallelFrom = 1 << 20;

    /// <summary>Parses one line strictly.</summary>
    /// <param name="line">The line's UTF-8 bytes, without its newline.</param>
    /// <param name="lineNumber">Its number, for errors.</param>
    /// <returns>The record.</returns>
    /// <exception cref="RecordFormatException">The line is not a valid record.</exception>
    public static RecordLine Parse(ReadOnlySpan<byte> line, int lineNumber = 1)
    {
        if (line.Length > RecordRules.MaxLineBytes)
        {
            throw new RecordFormatException(lineNumber, "body", $"the line is {line.Length:N0} bytes; a record line may have at most {RecordRules.MaxLineBytes:N0}. Log large text as a Text or media file.");
        }

        try
        {
            var (seq, type, unixMs) = ReadHeader(line, lineNumber);
            return type switch
            {
                RecordTypes.History or RecordTypes.System => HistoryReader.Read(line, seq, unixMs, type == RecordTypes.System, lineNumber),
                _ => PayloadReader.Read(line, seq, type, unixMs, lineNumber),
            };
        }
        catch (JsonException ex)
        {
            throw new RecordFormatException(lineNumber, "body", $"not valid JSON: {ex.Message}");
        }
        catch (InvalidOperationException ex)
        {
            throw new RecordFormatException(lineNumber, "body", $"a member has the wrong type: {ex.Message}");
        }
        catch (FormatException ex) when (ex is not RecordFormatException)
        {
            throw new RecordFormatException(lineNumber, "body", $"a number is out of range: {ex.Message}");
        }
    }

    /// <summary>Parses one line leniently: false, with the problem, for a line that is not a valid record.</summary>
    /// <param name="line">The line's UTF-8 bytes.</param>
    /// <param name="record">The record, when valid.</param>
    /// <param name="problem">The problem, when not.</param>
    /// <returns>Whether the line is a valid record.</returns>
    public static bool TryParse(ReadOnlySpan<byte> line, out RecordLine? record, out RecordFormatException? problem)
    {
        try
        {
            record = Parse(line);
            problem = null;
            return true;
        }
        catch (RecordFormatException ex)
        {
            record = null;
            problem = ex;
            return false;
        }
    }

    /// <summary>
    /// Parses a body of lines (NDJSON, blank lines ignored) strictly: every line valid and the
    /// sequence numbers increasing, or an exception naming the first bad line; never half a batch.
    /// </summary>
    /// <param name="body">The lines.</param>
    /// <returns>The records in order.</returns>
    /// <exception cref="RecordFormatException">A line is not valid, or the sequence numbers do not increase.</exception>
    public static List<RecordLine> ParseLines(ReadOnlyMemory<byte> body)
    {
        var parts = body.Length >= ParallelFrom ? Math.Min(Environment.ProcessorCount, 4) : 1;
        var segments = new List<(ReadOnlyMemory<byte> Bytes, int FirstLine)>(parts);
        var start = 0;
        var lineNumber = 1;
        for (var part = 1; part <= parts; part++)
        {
            var end = part == parts ? body.Length : NextLineStart(body.Span, (int)((long)body.Length * part / parts));
            if (end > start)
            {
                segments.Add((body[start..end], lineNumber));
                lineNumber += body.Span[start..end].Count((byte)'\n');
                start = end;
            }
        }

        var parsed = new List<(RecordLine Record, int Line)>[segments.Count];
        if (segments.Count == 1)
        {
            parsed[0] = ParseSegment(segments[0].Bytes.Span, segments[0].FirstLine);
        }
        else
        {
            Parallel.For(0, segments.Count, i => parsed[i] = ParseSegment(segments[i].Bytes.Span, segments[i].FirstLine));
        }

        var records = new List<RecordLine>(parsed.Sum(p => p.Count));
        long previous = 0;
        foreach (var (record, line) in parsed.SelectMany(p => p))
        {
            if (record.Seq <= previous)
            {
                throw new RecordFormatException(line, "seq", $"seq {record.Seq} does not follow {previous}; lines must be in increasing seq order.");
            }

            previous = record.Seq;
            records.Add(record);
        }

        return records;
    }

    /// <summary>Reads only <c>seq</c>, <c>type</c> and <c>ts</c> of a line (a block's <c>ts</c> is its first row's), without checking the rest.</summary>
    /// <param name="line">The line.</param>
    /// <param name="lineNumber">Its number, for errors.</param>
    /// <returns>The header.</returns>
    /// <exception cref="RecordFormatException">The line is no JSON object, or lacks a positive <c>seq</c> or a <c>type</c>.</exception>
    public static (long Seq, string Type, long UnixMs) ReadHeader(ReadOnlySpan<byte> line, int lineNumber = 1)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new RecordFormatException(lineNumber, "body", "each line must be a JSON object.");
            }

            long? seq = null;
            string? type = null;
            long unixMs = 0;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("seq"u8))
                {
                    reader.Read();
                    seq = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var s) ? s
                        : throw new RecordFormatException(lineNumber, "seq", "\"seq\" must be a positive integer.");
                }
                else if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    type = reader.TokenType == JsonTokenType.String ? reader.GetString()
                        : throw new RecordFormatException(lineNumber, "type", "\"type\" must be a string such as \"history\".");
                }
                else if (reader.ValueTextEquals("ts"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        if (reader.Read() && reader.TokenType == JsonTokenType.Number)
                        {
                            unixMs = reader.GetInt64();
                        }

                        while (reader.TokenType != JsonTokenType.EndArray && reader.Read())
                        {
                        }
                    }
                    else
                    {
                        unixMs = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var t) ? t
                            : throw new RecordFormatException(lineNumber, "ts", "\"ts\" must be an integer (Unix milliseconds).");
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }

                if (seq is not null && type is not null && unixMs != 0)
                {
                    break; // the rest is read, and validated, by the reader of the record's type
                }
            }

            if (seq is null or < 1)
            {
                throw new RecordFormatException(lineNumber, "seq", "each line needs \"seq\", a positive integer.");
            }

            if (string.IsNullOrWhiteSpace(type))
            {
                throw new RecordFormatException(lineNumber, "type", "each line needs \"type\", such as \"history\".");
            }

            return (seq.Value, type, unixMs);
        }
        catch (JsonException ex)
        {
            throw new RecordFormatException(lineNumber, "body", $"not valid JSON: {ex.Message}");
        }
    }

    /// <summary>
    /// The seq of a line, read fast where the line starts <c>{"seq":N,</c> as Tracker writes it, and by
    /// <see cref="ReadHeader"/> otherwise; -1 when the line has no valid header.
    /// </summary>
    /// <param name="line">The line.</param>
    /// <returns>The seq, or -1.</returns>
    public static long ReadSeq(ReadOnlySpan<byte> line)
    {
        var prefix = "{\"seq\":"u8;
        if (line.StartsWith(prefix) && System.Buffers.Text.Utf8Parser.TryParse(line[prefix.Length..], out long seq, out var consumed)
            && line.Length > prefix.Length + consumed && line[prefix.Length + consumed] == (byte)',' && seq > 0)
        {
            return seq;
        }

        try
        {
            return ReadHeader(line).Seq;
        }
        catch (RecordFormatException)
        {
            return -1;
        }
    }

    private static int NextLineStart(ReadOnlySpan<byte> body, int from)
    {
        var newline = body[from..].IndexOf((byte)'\n');
        return newline < 0 ? body.Length : from + newline + 1;
    }

    private static List<(RecordLine, int)> ParseSegment(ReadOnlySpan<byte> body, int lineNumber)
    {
        var records = new List<(RecordLine, int)>();
        lineNumber--;
        while (!body.IsEmpty)
        {
            lineNumber++;
            var end = body.IndexOf((byte)'\n');
            var line = end < 0 ? body : body[..end];
            body = end < 0 ? default : body[(end + 1)..];
            if (!line.Trim(" \r\t"u8).IsEmpty)
            {
                records.Add((Parse(line, lineNumber), lineNumber));
            }
        }

        return records;
    }

    /// <summary>Whether <paramref name="text"/> is a SHA-256 as media files and blobs are named: 64 lower-case hex digits.</summary>
    /// <param name="text">The text.</param>
    /// <returns>True for a SHA-256.</returns>
    public static bool IsSha256(string? text) => text is { Length: 64 } && text.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');
}
