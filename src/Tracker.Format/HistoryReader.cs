using System.Text.Json;

namespace Tracker.Format;

/// <summary>
/// Reads a <c>history</c> or <c>system</c> line for <see cref="RecordReader"/> straight into columns,
/// without a document: one row (<c>step</c>, <c>ts</c>, scalar <c>values</c>) or a block (<c>steps</c>
/// and <c>ts</c> as first value then differences, array <c>values</c>). The server's ingest runs here.
/// </summary>
internal static class HistoryReader
{
    /// <summary>Boxes of the small integers most columns hold (epochs, counts), made once.</summary>
    private static readonly object[] SmallIntegers = [.. Enumerable.Range(0, 1024).Select(i => (object)(long)i)];

    public static HistoryLine Read(ReadOnlySpan<byte> line, long seq, long unixMs, bool system, int lineNumber)
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
                step = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var s) && RecordRules.StepProblem(s) is null ? s
                    : throw new RecordFormatException(lineNumber, "step", $"\"step\" must be an integer from 0 to {RecordRules.MaxStep}.");
            }
            else if (reader.ValueTextEquals("steps"u8))
            {
                reader.Read();
                steps = ReadDeltas(ref reader, line, lineNumber, "steps", RecordRules.MaxStep);
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

                    if (columns.Count == RecordRules.MaxKeysPerRecord)
                    {
                        throw new RecordFormatException(lineNumber, "values", RecordRules.KeyCountProblem(columns.Count + 1, "This line")!);
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
                        if ((long)rows * (columns.Count + 1) > RecordRules.MaxValuesPerRecord)
                        {
                            throw new RecordFormatException(lineNumber, "values", $"this block holds more than {RecordRules.MaxValuesPerRecord:N0} values ({rows:N0} rows); split it into blocks of fewer rows.");
                        }

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
    private static long[] ReadDeltas(ref Utf8JsonReader reader, ReadOnlySpan<byte> line, int lineNumber, string field, long max = long.MaxValue)
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

            if (!reader.TryGetInt64(out var delta))
            {
                throw new RecordFormatException(lineNumber, field, $"\"{field}\" must hold only integers.");
            }

            // Checked: a crafted difference must not wrap around into a plausible value.
            current = delta > 0 && current > long.MaxValue - delta ? -1 : current + delta;
            if (current < 0 || current > max)
            {
                throw new RecordFormatException(lineNumber, field, $"\"{field}\" adds up to a value outside 0 to {max}.");
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

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType token, int lineNumber, string field, string what)
    {
        if (reader.TokenType != token)
        {
            throw new RecordFormatException(lineNumber, field, $"\"{field}\" must be {what}.");
        }
    }
}
