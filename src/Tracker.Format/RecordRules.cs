using System.Diagnostics.CodeAnalysis;

namespace Tracker.Format;

/// <summary>
/// The rules of the run format, written once: keys, project and run ids, the largest record line,
/// and the strings that stand for the doubles JSON cannot hold. Each check returns the problem in
/// words that say what to do, or null when the input is fine.
/// </summary>
public static class RecordRules
{
    /// <summary>Most characters a key (metric, config or summary) may have.</summary>
    public const int MaxKeyLength = 256;

    /// <summary>Most characters a project or run id may have.</summary>
    public const int MaxIdLength = 128;

    /// <summary>
    /// Most bytes one record line may have: 16 MiB, half the server's default body limit, so a line
    /// always fits a request (W&amp;B refuses a log call over 25 MB). Larger text belongs in a
    /// <c>Text</c> or media file.
    /// </summary>
    public const int MaxLineBytes = 16 * 1024 * 1024;

    /// <summary>
    /// The largest step: 2^53 - 1, the largest integer a JSON number keeps exactly in JavaScript
    /// (<c>Number.MAX_SAFE_INTEGER</c>), so a step reads back the same in the web UI, reports and
    /// other JSON readers; steps are 0 to this. It also keeps the differences of a history block's
    /// <c>steps</c> and the server's step arithmetic far from overflowing.
    /// </summary>
    public const long MaxStep = (1L << 53) - 1;

    /// <summary>What is wrong with a step, or null when it is within 0 to <see cref="MaxStep"/>.</summary>
    /// <param name="step">The step.</param>
    /// <returns>The problem, or null.</returns>
    public static string? StepProblem(long step) =>
        step is >= 0 and <= MaxStep ? null
        : $"Step {step} is outside 0 to {MaxStep} (2^53 - 1, the largest integer JSON readers such as browsers keep exactly); log at a step in that range.";

    /// <summary>
    /// The states a run can end in (W&amp;B's): <c>finished</c> (Finish), <c>failed</c> (an exception
    /// or a non-zero exit code), <c>killed</c> (stopped by SIGINT or SIGTERM), <c>crashed</c> (it
    /// stopped without finishing). A run that has not ended is <c>running</c>.
    /// </summary>
    public static readonly IReadOnlyList<string> FinalStates = ["finished", "failed", "killed", "crashed"];

    /// <summary>
    /// Most keys one record may hold: a history line (one <c>Log</c> call, or a block of calls with
    /// the same keys), a config or a summary record. A request with more is refused with 400.
    /// </summary>
    public const int MaxKeysPerRecord = 10_000;

    /// <summary>Most values one history line may hold (rows times keys); writers start a new block before it.</summary>
    public const int MaxValuesPerRecord = 1 << 20;

    /// <summary>
    /// Most distinct metric keys one request (batch of lines) may hold; more is refused with 413
    /// and the client sends smaller batches. Any one valid line fits.
    /// </summary>
    public const int MaxKeysPerBatch = 65_536;

    /// <summary>Most history values one request (batch of lines) may hold; more is refused with 413. Any one valid line fits.</summary>
    public const int MaxValuesPerBatch = 4 << 20;

    /// <summary>Most characters of a run's display name.</summary>
    public const int MaxNameLength = 128;

    /// <summary>Most characters of a run's notes (Markdown); runs listings carry them.</summary>
    public const int MaxNotesLength = 65_536;

    /// <summary>Most characters of one tag (W&amp;B refuses tags over 64 characters).</summary>
    public const int MaxTagLength = 64;

    /// <summary>Most tags of a run.</summary>
    public const int MaxTags = 256;

    /// <summary>Most characters of a run's group (W&amp;B's limit for group names).</summary>
    public const int MaxGroupLength = 128;

    /// <summary>Most characters of a run's job type (W&amp;B refuses job types over 64 characters).</summary>
    public const int MaxJobTypeLength = 64;

    /// <summary>
    /// Most distinct keys a run's summary may hold (metrics logged and summary values together).
    /// Every append rewrites the run's summary, and every runs listing carries it, so a run's
    /// keys are bounded as a whole, not only per request. W&amp;B's guidance is to stay under 10,000
    /// metrics a run for a responsive UI; per-item values belong in a Table.
    /// </summary>
    public const int MaxKeysPerRun = 100_000;

    /// <summary>Why a run's distinct keys are too many, or null: at most <see cref="MaxKeysPerRun"/>.</summary>
    /// <param name="count">The distinct keys the run would hold.</param>
    /// <returns>The problem, or null.</returns>
    public static string? RunKeyCountProblem(int count) =>
        count > MaxKeysPerRun
            ? $"The run would hold {count:N0} distinct keys; a run may hold at most {MaxKeysPerRun:N0} (metrics logged and summary values together). Log fewer distinct keys, or put per-item values in a Table."
            : null;

    /// <summary>Most bytes of a config or summary document as JSON: a config or summary record's values, or run.json's <c>config</c>.</summary>
    public const int MaxDocumentBytes = 1 << 20;

    /// <summary>The text of a NaN double in JSON, which has no NaN.</summary>
    public const string NaN = "NaN";

    /// <summary>The text of positive infinity in JSON.</summary>
    public const string PositiveInfinity = "Infinity";

    /// <summary>The text of negative infinity in JSON.</summary>
    public const string NegativeInfinity = "-Infinity";

    /// <summary>The double a special string stands for (<c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>), or null.</summary>
    /// <param name="text">A JSON string value.</param>
    /// <returns>The double, or null for any other text.</returns>
    public static double? SpecialDouble(string text) => text switch
    {
        NaN => double.NaN,
        PositiveInfinity => double.PositiveInfinity,
        NegativeInfinity => double.NegativeInfinity,
        _ => null,
    };

    /// <summary>
    /// Why <paramref name="key"/> cannot name a value, or null when it can: keys are non-empty, at most
    /// <see cref="MaxKeyLength"/> characters, without control characters (NUL included) or empty
    /// <c>/</c> segments; metric keys must not start with <c>_</c>, which is reserved for automatic
    /// values (<c>_step</c>, <c>_time</c>, <c>_runtime</c>) as in W&amp;B.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="metric">Whether it names a logged metric (the <c>_</c> prefix is reserved) rather than a config key.</param>
    /// <returns>The problem, or null.</returns>
    public static string? KeyProblem(string? key, bool metric)
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            return "A key must not be empty, whitespace or null. Give the value a name such as \"train/loss\".";
        }

        if (key.Length > MaxKeyLength)
        {
            return $"Key '{key[..40]}...' is {key.Length} characters long; keys may have at most {MaxKeyLength}. Use a shorter name.";
        }

        foreach (var c in key)
        {
            if (char.IsControl(c))
            {
                return $"Key '{Printable(key)}' contains a control character (U+{(int)c:X4}). Use printable characters only.";
            }
        }

        if (key[0] == '/' || key[^1] == '/' || key.Contains("//", StringComparison.Ordinal))
        {
            return $"Key '{key}' has an empty path segment; '/' separates non-empty parts, as in \"train/loss\".";
        }

        if (metric && key[0] == '_')
        {
            return $"Key '{key}' starts with '_', which is reserved for automatic values such as _step, _time and _runtime. Rename it, for example to '{key.TrimStart('_')}'.";
        }

        return null;
    }

    /// <summary>Throws <see cref="ArgumentException"/> with <see cref="KeyProblem"/>'s words when the key is not valid.</summary>
    /// <param name="key">The key.</param>
    /// <param name="metric">Whether it names a logged metric.</param>
    /// <param name="paramName">The parameter to name in the exception.</param>
    /// <exception cref="ArgumentException">The key is not valid.</exception>
    public static void ThrowIfInvalidKey([NotNull] string? key, bool metric, string paramName = "key")
    {
        if (key is null)
        {
            throw new ArgumentNullException(paramName, "A key must not be null. Give the value a name such as \"train/loss\".");
        }

        if (KeyProblem(key, metric) is { } problem)
        {
            throw new ArgumentException(problem, paramName);
        }
    }

    /// <summary>
    /// Why <paramref name="name"/> cannot name a metric definition, or null when it can: a metric key,
    /// or a prefix glob ending with <c>*</c> (<c>val/*</c>, as W&amp;B's <c>define_metric</c>).
    /// </summary>
    /// <param name="name">The key or glob.</param>
    /// <returns>The problem, or null.</returns>
    public static string? MetricNameProblem(string? name)
    {
        var star = name?.IndexOf('*', StringComparison.Ordinal) ?? -1;
        if (star < 0)
        {
            return KeyProblem(name, metric: false);
        }

        var prefix = name![..^1].TrimEnd('/');
        return star != name.Length - 1
            ? $"Metric name '{Printable(name)}' may contain '*' only at its end, as in \"val/*\"."
            : prefix.Length == 0 ? null : KeyProblem(prefix, metric: false);
    }

    /// <summary>
    /// Why <paramref name="id"/> cannot be a project or run id, or null when it can: ids name folders,
    /// so they are 1 to <see cref="MaxIdLength"/> ASCII letters, digits, <c>-</c>, <c>_</c> or <c>.</c>,
    /// and neither <c>.</c> nor <c>..</c>.
    /// </summary>
    /// <param name="id">The id.</param>
    /// <param name="what">What it names, for the message: "project" or "run id".</param>
    /// <returns>The problem, or null.</returns>
    public static string? IdProblem(string? id, string what) =>
        id is null || id.Length is 0 or > MaxIdLength || id is "." or ".." || id.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            ? $"The {what} '{Printable(id ?? string.Empty)}' is not valid: use 1 to {MaxIdLength} letters, digits, '-', '_' or '.' (it names a folder)."
            : null;

    /// <summary>
    /// Why a run's text field (name, notes, a tag, group or job type) cannot be stored, or null
    /// when it can: at most its limit in characters, and no control characters (notes may hold
    /// line breaks and tabs). NUL and other control characters are refused, never stored, so
    /// every store (SQLite and PostgreSQL alike) holds the same text.
    /// </summary>
    /// <param name="value">The text; null is fine (not set).</param>
    /// <param name="field">The run.json member: <c>name</c>, <c>notes</c>, <c>tags</c>, <c>group</c> or <c>job_type</c>.</param>
    /// <returns>The problem, or null.</returns>
    /// <exception cref="ArgumentException"><paramref name="field"/> is none of the five.</exception>
    public static string? RunTextProblem(string? value, string field)
    {
        if (value is null)
        {
            return null;
        }

        var (limit, multiline) = field switch
        {
            "name" => (MaxNameLength, false),
            "notes" => (MaxNotesLength, true),
            "tags" => (MaxTagLength, false),
            "group" => (MaxGroupLength, false),
            "job_type" => (MaxJobTypeLength, false),
            _ => throw new ArgumentException($"'{field}' is not a run text field.", nameof(field)),
        };
        var what = field == "tags" ? $"tag '{Printable(value)}'" : $"\"{field}\"";
        if (value.Length > limit)
        {
            return $"The {what} is {value.Length:N0} characters long; at most {limit:N0} are allowed. Shorten it.";
        }

        foreach (var c in value)
        {
            if (char.IsControl(c) && !(multiline && c is '\n' or '\r' or '\t'))
            {
                return $"The {what} contains a control character (U+{(int)c:X4}). Use printable characters only.";
            }
        }

        return null;
    }

    /// <summary>
    /// Tags as a run keeps them, from the SDK's <c>Tags</c> or an edit through the server: each
    /// trimmed, and each once in the order first given. Null when one is null, empty or whitespace.
    /// </summary>
    /// <param name="tags">The tags as given.</param>
    /// <returns>The tags to keep, or null when one is blank.</returns>
    public static string[]? NormalizeTags(IEnumerable<string?> tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var kept = new List<string>();
        foreach (var tag in tags)
        {
            if (string.IsNullOrWhiteSpace(tag))
            {
                return null;
            }

            kept.Add(tag.Trim());
        }

        return [.. kept.Distinct(StringComparer.Ordinal)];
    }

    /// <summary>Why a run's tags cannot be stored, or null: at most <see cref="MaxTags"/>, each as <see cref="RunTextProblem"/> says.</summary>
    /// <param name="tags">The tags.</param>
    /// <returns>The problem, or null.</returns>
    public static string? TagsProblem(IReadOnlyCollection<string> tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        return tags.Count > MaxTags
            ? $"A run has {tags.Count} tags; at most {MaxTags} are allowed."
            : tags.Select(t => RunTextProblem(t, "tags")).FirstOrDefault(p => p is not null);
    }

    /// <summary>Why one record's keys are too many, or null: at most <see cref="MaxKeysPerRecord"/>.</summary>
    /// <param name="count">The number of keys.</param>
    /// <param name="what">What holds them, for the message: "one Log call", "a config update".</param>
    /// <returns>The problem, or null.</returns>
    public static string? KeyCountProblem(int count, string what) =>
        count > MaxKeysPerRecord
            ? $"{what} has {count:N0} keys; one record may have at most {MaxKeysPerRecord:N0}. Split the values over several calls."
            : null;

    /// <summary>Why a config or summary document is too large, or null: at most <see cref="MaxDocumentBytes"/> bytes of JSON.</summary>
    /// <param name="bytes">Its size as UTF-8 JSON.</param>
    /// <param name="what">What it is, for the message: "the config", "a summary update".</param>
    /// <returns>The problem, or null.</returns>
    public static string? DocumentSizeProblem(long bytes, string what) =>
        bytes > MaxDocumentBytes
            ? $"{what} is {bytes:N0} bytes as JSON; a config or summary document may have at most {MaxDocumentBytes:N0}. Keep large values in a file or a Table."
            : null;

    /// <summary>
    /// The path of the first member named twice in one JSON object of <paramref name="json"/>
    /// (<c>values.lr</c>, <c>config.optimizer.beta</c>), or null when no object repeats a name.
    /// JSON readers disagree on which of two values wins, so a document that repeats one is refused.
    /// </summary>
    /// <param name="json">A UTF-8 JSON document (an invalid one reads as far as it is valid).</param>
    /// <returns>The dotted path of the repeated member, or null.</returns>
    public static string? DuplicateKey(ReadOnlySpan<byte> json)
    {
        var reader = new System.Text.Json.Utf8JsonReader(json);
        var scopes = new Stack<(HashSet<string>? Names, string Path)>();
        var pending = string.Empty;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case System.Text.Json.JsonTokenType.StartObject:
                        scopes.Push((new HashSet<string>(StringComparer.Ordinal), pending));
                        break;
                    case System.Text.Json.JsonTokenType.StartArray:
                        scopes.Push((null, pending));
                        break;
                    case System.Text.Json.JsonTokenType.EndObject or System.Text.Json.JsonTokenType.EndArray:
                        scopes.Pop();
                        pending = scopes.Count > 0 ? scopes.Peek().Path : string.Empty;
                        break;
                    case System.Text.Json.JsonTokenType.PropertyName:
                        var (names, path) = scopes.Peek();
                        var name = reader.GetString()!;
                        pending = path.Length == 0 ? name : path + "." + name;
                        if (!names!.Add(name))
                        {
                            return pending;
                        }

                        break;
                    default:
                        pending = scopes.Count > 0 ? scopes.Peek().Path : string.Empty;
                        break;
                }
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Not valid JSON: the caller's parser says so.
        }

        return null;
    }

    /// <summary>
    /// Why a batch of lines (one request) is too large to take at once, or null: at most
    /// <see cref="MaxKeysPerBatch"/> distinct history keys and <see cref="MaxValuesPerBatch"/> values.
    /// A server answers it with 413, and a client sends fewer lines; any one valid line fits.
    /// </summary>
    /// <param name="lines">The batch's records.</param>
    /// <returns>The problem, or null.</returns>
    public static string? BatchProblem(IReadOnlyList<RecordLine> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        HashSet<string>? keys = null;
        long values = 0;
        foreach (var line in lines)
        {
            if (line is not HistoryLine history)
            {
                continue;
            }

            values += (long)history.Block.Rows * history.Block.Columns.Count;
            foreach (var column in history.Block.Columns)
            {
                (keys ??= new(StringComparer.Ordinal)).Add(column.Key);
            }

            if (keys?.Count > MaxKeysPerBatch || values > MaxValuesPerBatch)
            {
                return keys?.Count > MaxKeysPerBatch
                    ? $"The batch holds more than {MaxKeysPerBatch:N0} distinct keys. Send fewer lines per request."
                    : $"The batch holds more than {MaxValuesPerBatch:N0} values. Send fewer lines per request.";
            }
        }

        return null;
    }

    /// <summary>Text with control characters shown as <c>\uXXXX</c>, safe to print in an error.</summary>
    /// <param name="text">Any text.</param>
    /// <returns>The printable text, cut to 64 characters.</returns>
    public static string Printable(string text)
    {
        var cut = text.Length > 64 ? text[..64] + "..." : text;
        return cut.Any(char.IsControl) ? string.Concat(cut.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString())) : cut;
    }
}
