using System.Text.Json;

namespace Tracker.Format;

/// <summary>
/// Reads the payload of every record but history (config, summary, metric, run, finish, media,
/// output, and types of later versions) for <see cref="RecordReader"/>, with its rules and errors.
/// These lines are rare next to history, so a parsed document is cheap enough here.
/// </summary>
internal static class PayloadReader
{
    public static RecordLine Read(ReadOnlySpan<byte> line, long seq, string type, long unixMs, int lineNumber)
    {
        using var document = JsonDocument.Parse(line.ToArray());
        var root = document.RootElement;
        if (RecordRules.DuplicateKey(line) is { } repeated)
        {
            throw new RecordFormatException(lineNumber, repeated, $"\"{repeated}\" is given twice in one record; JSON readers disagree on which value wins, so give each member once.");
        }

        switch (type)
        {
            case RecordTypes.Config or RecordTypes.Summary:
                var summary = type == RecordTypes.Summary;
                if (!root.TryGetProperty("values", out var values) || values.ValueKind != JsonValueKind.Object)
                {
                    throw new RecordFormatException(lineNumber, "values", $"a {type} record needs \"values\", an object of key: value.");
                }

                var count = 0;
                foreach (var _ in values.EnumerateObject())
                {
                    count++;
                }

                if (RecordRules.KeyCountProblem(count, $"This {type} record") is { } tooMany)
                {
                    throw new RecordFormatException(lineNumber, "values", tooMany);
                }

                if (RecordRules.DocumentSizeProblem(System.Text.Encoding.UTF8.GetByteCount(values.GetRawText()), $"This {type} record's values") is { } tooLarge)
                {
                    throw new RecordFormatException(lineNumber, "values", tooLarge);
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
                    if (RecordRules.TagsProblem(tags) is { } tagProblem)
                    {
                        throw new RecordFormatException(lineNumber, "tags", tagProblem);
                    }
                }

                var notes = Members.OptionalString(root, "notes", lineNumber);
                if (RecordRules.RunTextProblem(notes, "notes") is { } notesProblem)
                {
                    throw new RecordFormatException(lineNumber, "notes", notesProblem);
                }

                return new RunLine(seq, unixMs, tags, notes, root.TryGetProperty("notes", out _));
            case RecordTypes.Finish:
                var state = Members.RequiredString(root, "state", lineNumber, "\"finished\"");
                var exit = root.TryGetProperty("exit_code", out var code) && code.ValueKind != JsonValueKind.Null
                    ? code.ValueKind == JsonValueKind.Number && code.TryGetInt32(out var c) ? c : throw new RecordFormatException(lineNumber, "exit_code", "\"exit_code\" must be an integer.")
                    : (int?)null;
                return new FinishLine(seq, unixMs, state, exit, Members.OptionalString(root, "error", lineNumber));
            case RecordTypes.Media:
                return ReadMedia(root, seq, unixMs, lineNumber);
            case RecordTypes.Output:
                // A console line is kept as the program printed it, but for NUL, which PostgreSQL
                // cannot store in text: it becomes U+FFFD on every store, as invalid UTF-8 does.
                var stream = Members.OptionalString(root, "stream", lineNumber) ?? "stdout";
                if (stream is not ("stdout" or "stderr"))
                {
                    throw new RecordFormatException(lineNumber, "stream", $"\"stream\" must be stdout or stderr, not \"{RecordRules.Printable(stream)}\".");
                }

                return new OutputLine(seq, unixMs, stream,
                    Members.RequiredString(root, "line", lineNumber, "\"epoch 3 done\"").Replace('\0', '\uFFFD'));
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

        if (!root.TryGetProperty("step", out var stepElement) || !stepElement.TryGetInt64(out var step))
        {
            throw new RecordFormatException(lineNumber, "step", $"a media record needs \"step\", an integer from 0 to {RecordRules.MaxStep}.");
        }

        if (RecordRules.StepProblem(step) is { } stepProblem)
        {
            throw new RecordFormatException(lineNumber, "step", stepProblem);
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
                if (!RecordReader.IsSha256(sha))
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

                for (var i = 0; i < bins.Length; i++)
                {
                    if (!double.IsFinite(bins[i]) || (i > 0 && bins[i] <= bins[i - 1]))
                    {
                        throw new RecordFormatException(lineNumber, "media.bins", $"histogram edges must be finite and strictly ascending; edge {i} is {bins[i]}.");
                    }
                }

                if (Array.FindIndex(counts, c => !(c >= 0) || c != Math.Floor(c)) is var bad and >= 0)
                {
                    throw new RecordFormatException(lineNumber, "media.counts", $"histogram counts must be non-negative integers; count {bad} is {counts[bad]}.");
                }

                var nanCount = Members.OptionalInt64(media, "nan", lineNumber, 0);
                var infinityCount = Members.OptionalInt64(media, "inf", lineNumber, 0);
                if (nanCount < 0 || infinityCount < 0)
                {
                    throw new RecordFormatException(lineNumber, nanCount < 0 ? "media.nan" : "media.inf", "a histogram's \"nan\" and \"inf\" counts must not be negative.");
                }

                item = item with
                {
                    Bins = bins,
                    Counts = counts,
                    NaNCount = nanCount,
                    InfinityCount = infinityCount,
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
}

/// <summary>Helpers to read typed members of a record line, with errors that name the member.</summary>
internal static class Members
{
    public static string? OptionalString(JsonElement root, string name, int line)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new RecordFormatException(line, name, $"\"{name}\" must be a string, not {Kind(value)}.");
    }

    public static string RequiredString(JsonElement root, string name, int line, string example) =>
        OptionalString(root, name, line) ?? throw new RecordFormatException(line, name, $"this record needs \"{name}\", a string such as {example}.");

    public static long OptionalInt64(JsonElement root, string name, int line, long fallback)
    {
        if (!root.TryGetProperty(name, out var value))
        {
            return fallback;
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number)
            ? number
            : throw new RecordFormatException(line, name, $"\"{name}\" must be an integer, not {Kind(value)}.");
    }

    public static double[] Numbers(JsonElement root, string name, int line, string field)
    {
        if (!root.TryGetProperty(name, out var array) || array.ValueKind != JsonValueKind.Array
            || array.EnumerateArray().Any(n => n.ValueKind != JsonValueKind.Number))
        {
            throw new RecordFormatException(line, field, $"\"{name}\" must be an array of numbers.");
        }

        return [.. array.EnumerateArray().Select(n => n.GetDouble())];
    }

    public static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
