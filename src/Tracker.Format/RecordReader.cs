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

    private static readonly object[] SmallIntegers = [.. Enumerable.Range(0, 1024).Select(i => (object)(long)i)];

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
                RecordTypes.History or RecordTypes.System => ReadHistory(line, seq, unixMs, type == RecordTypes.System, lineNumber),
                _ => ReadOther(line, seq, type, unixMs, lineNumber),
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

    private static HistoryLine ReadHistory(ReadOnlySpan<byte> line, long seq, long unixMs, bool system, int lineNumber)
    {
        var reader = new Utf8JsonReader(line);
        reader.Read();
        long step = -1;
        long time = 0;
        long[]? steps = null;
        long[]? times = null;
        var columns = new List<HistoryColumn>();
        HashSet<string>? seen = null;
        var scalars = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("step"u8))
            {
                reader.Read();
                step = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var s) && s >= 0 ? s
                    : throw new RecordFormatException(lineNumber, "step", "\"step\" must be a non-negative integer.");
            }
            else if (reader.ValueTextEquals("steps"u8))
            {
                reader.Read();
                steps = ReadDeltas(ref reader, line, lineNumber, "steps");
            }
            else if (reader.ValueTextEquals("ts"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    times = ReadDeltas(ref reader, line, lineNumber, "ts");
                }
                else
                {
                    time = reader.GetInt64();
                }
            }
            else if (reader.ValueTextEquals("values"u8))
            {
                reader.Read();
                Expect(ref reader, JsonTokenType.StartObject, lineNumber, "values", "an object of key: value");
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var key = reader.GetString()!;
                    if (RecordRules.KeyProblem(key, metric: true) is { } problem)
                    {
                        throw new RecordFormatException(lineNumber, "values", problem);
                    }

                    if (!(seen ??= new(StringComparer.Ordinal)).Add(key))
                    {
                        throw new RecordFormatException(lineNumber, $"values.{key}", $"key \"{key}\" appears twice in one line; a key has one value per step.");
                    }

                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        // A block's columns come after its "steps", which the writer puts first.
                        var rows = steps?.Length ?? throw new RecordFormatException(lineNumber, "steps", "a history row needs scalar \"values\"; a block needs \"steps\", before its array values, and \"ts\".");
                        var column = new HistoryColumn(key, rows);
                        var row = 0;
                        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                        {
                            if (row == rows)
                            {
                                throw new RecordFormatException(lineNumber, $"values.{key}", $"the values of \"{key}\" are more than the {rows} \"steps\".");
                            }

                            ReadValue(ref reader, column, row++, lineNumber, system);
                        }

                        if (row != rows)
                        {
                            throw new RecordFormatException(lineNumber, $"values.{key}", $"the values of \"{key}\" are {row}, not one per step ({rows}).");
                        }

                        columns.Add(column);
                    }
                    else
                    {
                        var column = new HistoryColumn(key, 1);
                        ReadValue(ref reader, column, 0, lineNumber, system);
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
            throw new RecordFormatException(lineNumber, "body", "each line must be one JSON object and nothing after it.");
        }

        if (steps is null)
        {
            if (step < 0)
            {
                throw new RecordFormatException(lineNumber, "step", "a history row needs \"step\" (a non-negative integer) and scalar \"values\"; a block needs \"steps\", \"ts\" and array values.");
            }

            steps = [step];
            times = [time];
        }
        else if (times is null || times.Length != steps.Length || scalars)
        {
            throw new RecordFormatException(lineNumber, "values", "a history block needs \"ts\" as long as \"steps\", and array values.");
        }

        var block = new HistoryBlock(steps, times!);
        block.Columns.AddRange(columns);
        return new HistoryLine(seq, times!.Length > 0 ? times[0] : unixMs, block, system);
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
            if (count == values.Length || reader.TokenType != JsonTokenType.Number)
            {
                throw new RecordFormatException(lineNumber, field, $"\"{field}\" must hold only integers.");
            }

            current += reader.GetInt64();
            if (current < 0)
            {
                throw new RecordFormatException(lineNumber, field, $"\"{field}\" adds up to a negative value.");
            }

            values[count++] = current;
        }

        return values;
    }

    private static void ReadValue(ref Utf8JsonReader reader, HistoryColumn column, int row, int lineNumber, bool system)
    {
        object? other;
        switch (reader.TokenType)
        {
            case JsonTokenType.Number when !RecordValue.IsIntegerText(reader.ValueSpan):
                column.Numbers[row] = reader.GetDouble();
                return;
            case JsonTokenType.Number:
                if (reader.TryGetInt64(out var integer))
                {
                    column.Numbers[row] = integer;
                    other = integer is >= 0 and < 1024 ? SmallIntegers[integer] : integer;
                }
                else if (reader.TryGetUInt64(out var unsigned))
                {
                    column.Numbers[row] = unsigned;
                    other = unsigned;
                }
                else
                {
                    column.Numbers[row] = reader.GetDouble();
                    return;
                }

                break;
            case JsonTokenType.True or JsonTokenType.False:
                column.Numbers[row] = reader.TokenType == JsonTokenType.True ? 1 : 0;
                other = reader.TokenType == JsonTokenType.True;
                break;
            case JsonTokenType.Null:
                column.Numbers[row] = double.NaN;
                other = HistoryColumn.Absent;
                break;
            case JsonTokenType.String:
                var text = reader.GetString()!;
                if (RecordRules.SpecialDouble(text) is double special)
                {
                    column.Numbers[row] = special;
                    return;
                }

                column.Numbers[row] = double.NaN;
                other = text;
                break;
            case JsonTokenType.StartObject:
                // {"_str": "NaN"}: text that would otherwise read as a special double.
                if (RecordValue.Read(ref reader) is string wrapped)
                {
                    column.Numbers[row] = double.NaN;
                    other = wrapped;
                    break;
                }

                throw new RecordFormatException(lineNumber, $"values.{column.Key}", $"the value of \"{column.Key}\" must be a number, string, bool or null, not an object.");
            default:
                throw new RecordFormatException(lineNumber, $"values.{column.Key}", $"the value of \"{column.Key}\" must be a number, string, bool or null, not a {reader.TokenType}.");
        }

        if (system && other is not (long or ulong) && other != HistoryColumn.Absent)
        {
            throw new RecordFormatException(lineNumber, $"values.{column.Key}", $"system metric \"{column.Key}\" must be a number.");
        }

        column.Others ??= new object?[column.Numbers.Length];
        column.Others[row] = other;
    }

    private static RecordLine ReadOther(ReadOnlySpan<byte> line, long seq, string type, long unixMs, int lineNumber)
    {
        using var document = JsonDocument.Parse(line.ToArray());
        var root = document.RootElement;
        switch (type)
        {
            case RecordTypes.Config or RecordTypes.Summary:
                var summary = type == RecordTypes.Summary;
                if (!root.TryGetProperty("values", out var values) || values.ValueKind != JsonValueKind.Object)
                {
                    throw new RecordFormatException(lineNumber, "values", $"a {type} record needs \"values\", an object of key: value.");
                }

                var map = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var property in values.EnumerateObject())
                {
                    if (RecordRules.KeyProblem(property.Name, metric: false) is { } problem)
                    {
                        throw new RecordFormatException(lineNumber, "values", problem);
                    }

                    if (!map.TryAdd(property.Name, RecordValue.FromJson(property.Value)))
                    {
                        throw new RecordFormatException(lineNumber, $"values.{property.Name}", $"key \"{property.Name}\" appears twice in one {type} record; give each key one value.");
                    }
                }

                var final = root.TryGetProperty("final", out var f) && f.ValueKind == JsonValueKind.True;
                return new ValuesLine(seq, unixMs, summary, map, final);
            case RecordTypes.Metric:
                var name = Members.RequiredString(root, "name", lineNumber, "\"val/loss\" or \"val/*\"");
                if (RecordRules.MetricNameProblem(name) is { } nameProblem)
                {
                    throw new RecordFormatException(lineNumber, "name", nameProblem);
                }

                var summaryText = Members.OptionalString(root, "summary", lineNumber) ?? "last";
                var kind = Enum.TryParse<SummaryMode>(summaryText, ignoreCase: true, out var k) && !int.TryParse(summaryText, out _) ? k
                    : throw new RecordFormatException(lineNumber, "summary", $"\"summary\" must be last, first, min, max, mean, best or none, not \"{summaryText}\".");
                var goal = Members.OptionalString(root, "goal", lineNumber) switch
                {
                    null or "none" => MetricGoal.None,
                    "maximize" => MetricGoal.Maximize,
                    "minimize" => MetricGoal.Minimize,
                    var other => throw new RecordFormatException(lineNumber, "goal", $"\"goal\" must be minimize, maximize or none, not \"{other}\"."),
                };
                return new MetricLine(seq, unixMs, new MetricDefinition(name, Members.OptionalString(root, "step_metric", lineNumber), kind, goal));
            case RecordTypes.Run:
                IReadOnlyList<string>? tags = null;
                if (root.TryGetProperty("tags", out var tagArray) && tagArray.ValueKind != JsonValueKind.Null)
                {
                    if (tagArray.ValueKind != JsonValueKind.Array || tagArray.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String))
                    {
                        throw new RecordFormatException(lineNumber, "tags", "\"tags\" must be an array of strings.");
                    }

                    tags = [.. tagArray.EnumerateArray().Select(t => t.GetString()!)];
                }

                return new RunLine(seq, unixMs, tags, Members.OptionalString(root, "notes", lineNumber), root.TryGetProperty("notes", out _));
            case RecordTypes.Finish:
                var state = Members.RequiredString(root, "state", lineNumber, "\"finished\"");
                var exit = root.TryGetProperty("exit_code", out var code) && code.ValueKind != JsonValueKind.Null
                    ? code.ValueKind == JsonValueKind.Number && code.TryGetInt32(out var c) ? c : throw new RecordFormatException(lineNumber, "exit_code", "\"exit_code\" must be an integer.")
                    : (int?)null;
                return new FinishLine(seq, unixMs, state, exit, Members.OptionalString(root, "error", lineNumber));
            case RecordTypes.Media:
                return ReadMedia(root, seq, unixMs, lineNumber);
            case RecordTypes.Output:
                return new OutputLine(seq, unixMs, Members.OptionalString(root, "stream", lineNumber) ?? "stdout",
                    Members.RequiredString(root, "line", lineNumber, "\"epoch 3 done\""));
            default:
                return new CustomLine(seq, unixMs, type);
        }
    }

    /// <summary>
    /// A media record must be readable as stored: a valid key, a step, and a <c>media</c> object
    /// whose content matches its <c>_type</c> (docs/protocol.md, "Media").
    /// </summary>
    private static MediaLine ReadMedia(JsonElement root, long seq, long unixMs, int lineNumber)
    {
        var key = Members.OptionalString(root, "key", lineNumber)
            ?? throw new RecordFormatException(lineNumber, "key", "a media record needs \"key\", a string such as \"samples\".");
        if (RecordRules.KeyProblem(key, metric: true) is { } problem)
        {
            throw new RecordFormatException(lineNumber, "key", problem);
        }

        if (!root.TryGetProperty("step", out var stepElement) || !stepElement.TryGetInt64(out var step) || step < 0)
        {
            throw new RecordFormatException(lineNumber, "step", "a media record needs \"step\", a non-negative integer.");
        }

        if (!root.TryGetProperty("media", out var media) || media.ValueKind != JsonValueKind.Object)
        {
            throw new RecordFormatException(lineNumber, "media", "a media record needs \"media\", an object with \"_type\".");
        }

        var kind = media.TryGetProperty("_type", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString() : null;
        var item = new MediaItem(kind ?? string.Empty, media.GetRawText())
        {
            Caption = Members.OptionalString(media, "caption", lineNumber),
        };
        switch (kind)
        {
            case "image" or "table":
                var sha = Members.OptionalString(media, "sha256", lineNumber);
                if (!IsSha256(sha))
                {
                    throw new RecordFormatException(lineNumber, "media.sha256", $"\"_type\":\"{kind}\" needs \"sha256\", the SHA-256 of its file as 64 lower-case hex digits.");
                }

                item = item with
                {
                    Sha256 = sha,
                    Path = Members.OptionalString(media, "path", lineNumber),
                    ImageFormat = Members.OptionalString(media, "format", lineNumber),
                    Width = (int)Math.Clamp(Members.OptionalInt64(media, "width", lineNumber, 0), 0, int.MaxValue),
                    Height = (int)Math.Clamp(Members.OptionalInt64(media, "height", lineNumber, 0), 0, int.MaxValue),
                    Bytes = Members.OptionalInt64(media, "bytes", lineNumber, 0),
                    Rows = kind == "table" ? Members.OptionalInt64(media, "rows", lineNumber, 0) : 0,
                    Columns = kind == "table" && media.TryGetProperty("columns", out var columns) && columns.ValueKind == JsonValueKind.Array
                        ? [.. columns.EnumerateArray().Select(c => c.ValueKind == JsonValueKind.String ? c.GetString()! : c.GetRawText())]
                        : null,
                };
                break;
            case "histogram":
                var bins = Members.Numbers(media, "bins", lineNumber, "media.bins");
                var counts = Members.Numbers(media, "counts", lineNumber, "media.counts");
                if (bins.Length != counts.Length + 1)
                {
                    throw new RecordFormatException(lineNumber, "media.bins", $"a histogram has one edge more than counts: {counts.Length} counts need {counts.Length + 1} \"bins\", not {bins.Length}.");
                }

                item = item with
                {
                    Bins = bins,
                    Counts = counts,
                    NaNCount = Members.OptionalInt64(media, "nan", lineNumber, 0),
                    InfinityCount = Members.OptionalInt64(media, "inf", lineNumber, 0),
                };
                break;
            case "text":
                item = item with
                {
                    Text = media.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String ? text.GetString()
                        : throw new RecordFormatException(lineNumber, "media.text", "a text needs \"text\", a string."),
                };
                break;
            default:
                var actual = media.TryGetProperty("_type", out var given) ? $", not {given.GetRawText()}" : string.Empty;
                throw new RecordFormatException(lineNumber, "media._type", $"\"media\" needs \"_type\": image, histogram, table or text{actual}.");
        }

        return new MediaLine(seq, unixMs, step, key, item);
    }

    /// <summary>Whether <paramref name="text"/> is a SHA-256 as media files and blobs are named: 64 lower-case hex digits.</summary>
    /// <param name="text">The text.</param>
    /// <returns>True for a SHA-256.</returns>
    public static bool IsSha256(string? text) => text is { Length: 64 } && text.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType token, int lineNumber, string field, string what)
    {
        if (reader.TokenType != token)
        {
            throw new RecordFormatException(lineNumber, field, $"\"{field}\" must be {what}.");
        }
    }
}
