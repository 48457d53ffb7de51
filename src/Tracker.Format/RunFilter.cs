using System.Globalization;

namespace Tracker.Format;

/// <summary>What a condition or sort compares: a run attribute, or a config or summary key.</summary>
public enum RunField
{
    /// <summary>The run's name as readers see it (a user's rename where there is one).</summary>
    Name,

    /// <summary>The run id.</summary>
    Id,

    /// <summary>The state as readers see it (<c>crashed</c> for a running run the server stopped hearing from).</summary>
    State,

    /// <summary>The start time, as the text of run.json's <c>start_time</c> (ISO 8601), compared as text.</summary>
    StartTime,

    /// <summary>A tag: <c>=</c> has it, <c>!=</c> has it not.</summary>
    Tag,

    /// <summary>A summary key.</summary>
    Summary,

    /// <summary>A config key, nested objects flattened with '.'.</summary>
    Config,

    /// <summary>A key without prefix: the run's summary value, or its config value where the summary has none.</summary>
    SummaryOrConfig,
}

/// <summary>A literal: a number compares with numbers, text with text.</summary>
/// <param name="Number">The number, when the literal is one (unquoted and reads as a finite number).</param>
/// <param name="Text">The literal as written (without quotes).</param>
public readonly record struct RunLiteral(double? Number, string Text);

/// <summary>
/// One condition: <c>FIELD OP VALUE</c>. <see cref="Op"/> is written as in SQL: <c>=</c>,
/// <c>&lt;&gt;</c> (the filter's <c>!=</c>), <c>&lt;</c>, <c>&lt;=</c>, <c>&gt;</c>, <c>&gt;=</c>, or
/// <c>contains</c> (name or id contains the text, ignoring case: the listing's <c>name=</c>).
/// </summary>
/// <param name="Field">What it compares.</param>
/// <param name="Key">The summary or config key; null for an attribute.</param>
/// <param name="Op">The operator.</param>
/// <param name="Value">The literal compared with.</param>
public sealed record RunCondition(RunField Field, string? Key, string Op, RunLiteral Value);

/// <summary>A sort: a field (and key), ascending or descending; runs without the value go last either way.</summary>
/// <param name="Field">The field.</param>
/// <param name="Key">The summary or config key; null for an attribute.</param>
/// <param name="Descending">Whether it sorts descending.</param>
public sealed record RunSort(RunField Field, string? Key, bool Descending);

/// <summary>
/// The runs listing's <c>filter</c> and <c>sort</c>, modelled on MLflow's <c>search_runs</c>
/// filter string: <c>KEY OP VALUE</c> conditions joined by <c>and</c>, such as
/// <c>summary.val/acc &gt; 0.8 and config.optimizer = 'sgd'</c>. Keys: <c>summary.K</c>
/// (or <c>metrics.K</c>), <c>config.K</c> (or <c>params.K</c>), <c>name</c>, <c>id</c>,
/// <c>state</c>, <c>start_time</c>, <c>tag</c>, or a bare key (the summary's value, else the
/// config's); a key with spaces or operators goes in backquotes. A value in quotes is text;
/// unquoted, it is a number when it reads as one. The one parser of the grammar: the server turns
/// the conditions into SQL, the <c>tracker</c> command evaluates them over local runs
/// (<see cref="Matches(IReadOnlyList{RunCondition}, FilterableRun)"/>), with the same meanings.
/// </summary>
public static class RunFilter
{
    /// <summary>A filter, as error messages show one.</summary>
    public const string Example = "summary.val/acc > 0.8 and config.optimizer = 'sgd'";

    private static readonly string[] Operators = [">=", "<=", "!=", "=", "<", ">"];

    /// <summary>The conditions of <paramref name="text"/>, or what is wrong with it.</summary>
    /// <param name="text">The filter, such as <see cref="Example"/>.</param>
    /// <returns>The conditions, joined by and; or a problem that says where the text is wrong and how to write it.</returns>
    public static (List<RunCondition> Conditions, string? Problem) Parse(string text)
    {
        var conditions = new List<RunCondition>();
        var at = 0;
        while (true)
        {
            SkipSpace(text, ref at);
            if (at >= text.Length)
            {
                return conditions.Count == 0 ? (conditions, Problem(text, at, "the filter is empty")) : (conditions, null);
            }

            var keyStart = at;
            if (ReadKey(text, ref at) is not { Length: > 0 } key)
            {
                return (conditions, Problem(text, keyStart, "expected a key"));
            }

            SkipSpace(text, ref at);
            var op = Operators.FirstOrDefault(o => string.CompareOrdinal(text, at, o, 0, o.Length) == 0);
            if (op is null)
            {
                return (conditions, Problem(text, at, $"expected an operator (=, !=, <, <=, >, >=) after '{key}'"));
            }

            at += op.Length;
            SkipSpace(text, ref at);
            var valueStart = at;
            if (ReadValue(text, ref at, out var quoted) is not { } value)
            {
                return (conditions, Problem(text, valueStart, at >= text.Length && !quoted ? $"expected a value after '{key} {op}'" : "a quoted value has no closing quote"));
            }

            var (field, fieldKey) = Field(key);
            var literal = Literal(value, quoted);
            if (field is RunField.Tag or RunField.State && op is not ("=" or "!="))
            {
                return (conditions, Problem(text, keyStart, $"'{key}' takes = or != only"));
            }

            if (fieldKey is { Length: 0 })
            {
                return (conditions, Problem(text, keyStart, $"'{key}' names no key: write {key}KEY"));
            }

            // Attributes are text: an unquoted number there is the text it reads as.
            conditions.Add(new RunCondition(field, fieldKey, op == "!=" ? "<>" : op, field is RunField.Summary or RunField.Config or RunField.SummaryOrConfig ? literal : literal with { Number = null }));
            SkipSpace(text, ref at);
            if (at >= text.Length)
            {
                return (conditions, null);
            }

            var word = text.AsSpan(at).TrimStart();
            if (word.StartsWith("and", StringComparison.OrdinalIgnoreCase) && (word.Length == 3 || char.IsWhiteSpace(word[3])))
            {
                at += 3;
                continue;
            }

            return (conditions, Problem(text, at, word.StartsWith("or", StringComparison.OrdinalIgnoreCase)
                ? "'or' is not supported: conditions are joined by 'and' only"
                : "expected 'and' between conditions"));
        }
    }

    /// <summary>The sort a <c>sort</c> parameter names (<c>[-]FIELD</c>), or what is wrong with it.</summary>
    /// <param name="text">The sort, such as <c>-summary.val/acc</c>.</param>
    /// <returns>The sort, or a problem that says which fields sort.</returns>
    public static (RunSort? Sort, string? Problem) ParseSort(string text)
    {
        var descending = text.StartsWith('-');
        var name = text.TrimStart('-', '+');
        var (field, key) = Field(name);
        return field switch
        {
            RunField.Tag or RunField.SummaryOrConfig => (null, $"Cannot sort by '{name}': sort by name, id, state, start_time, summary.KEY or config.KEY, with '-' before it for descending, for example sort=-summary.val/acc."),
            _ when key is { Length: 0 } => (null, $"'{name}' names no key: write {name}KEY."),
            _ => (new RunSort(field, key, descending), null),
        };
    }

    /// <summary>A literal as written: unquoted and reading as a finite number, a number; else text.</summary>
    /// <param name="text">The literal without its quotes.</param>
    /// <param name="quoted">Whether it was in quotes (then it is text).</param>
    /// <returns>The literal.</returns>
    public static RunLiteral Literal(string text, bool quoted) =>
        !quoted && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number)
            ? new RunLiteral(number, text)
            : new RunLiteral(null, text);

    /// <summary>Whether the run meets every condition (they are joined by and).</summary>
    /// <param name="conditions">The conditions, from <see cref="Parse"/>.</param>
    /// <param name="run">The run's filterable values.</param>
    /// <returns>True when it meets them all (or there are none).</returns>
    public static bool Matches(IReadOnlyList<RunCondition> conditions, FilterableRun run)
    {
        ArgumentNullException.ThrowIfNull(conditions);
        ArgumentNullException.ThrowIfNull(run);
        foreach (var condition in conditions)
        {
            if (!Matches(condition, run))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Whether the run meets the condition, with the meanings the server's listing gives it: a
    /// condition on a key matches only runs that have the key with a value of the literal's kind
    /// (number or text), so <c>!=</c> too needs the key; <c>tag != x</c> matches runs without the
    /// tag; text compares by code point, case and all.
    /// </summary>
    /// <param name="condition">The condition.</param>
    /// <param name="run">The run's filterable values.</param>
    /// <returns>True when the run meets it.</returns>
    public static bool Matches(RunCondition condition, FilterableRun run)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(run);
        var literal = condition.Value;
        switch (condition.Field)
        {
            case RunField.Name when condition.Op == "contains":
                return run.Name.Contains(literal.Text, StringComparison.OrdinalIgnoreCase) || run.Id.Contains(literal.Text, StringComparison.OrdinalIgnoreCase);
            case RunField.Name:
                return Compare(CompareText(run.Name, literal.Text), condition.Op);
            case RunField.Id:
                return Compare(CompareText(run.Id, literal.Text), condition.Op);
            case RunField.State:
                return Compare(CompareText(run.State, literal.Text), condition.Op);
            case RunField.StartTime:
                return run.StartTime is { } start && Compare(CompareText(start, literal.Text), condition.Op);
            case RunField.Tag:
                return run.Tags.Contains(literal.Text) == (condition.Op == "=");
        }

        RunValue value;
        var found = condition.Field switch
        {
            RunField.Summary => run.Summary.TryGetValue(condition.Key!, out value),
            RunField.Config => run.Config.TryGetValue(condition.Key!, out value),
            _ => run.Summary.TryGetValue(condition.Key!, out value) || run.Config.TryGetValue(condition.Key!, out value),
        };
        if (!found)
        {
            return false;
        }

        return literal.Number is { } number
            ? value.Number is { } have && Compare(have.CompareTo(number), condition.Op)
            : value.Text is { } text && Compare(CompareText(text, literal.Text), condition.Op);
    }

    /// <summary>The keys the conditions name that none of <paramref name="runs"/> has, as the server names them (<c>Tracker-Unknown-Keys</c>).</summary>
    /// <param name="conditions">The conditions.</param>
    /// <param name="runs">The runs filtered.</param>
    /// <returns>The keys no run has, each once.</returns>
    public static IReadOnlyList<string> UnknownKeys(IReadOnlyList<RunCondition> conditions, IReadOnlyCollection<FilterableRun> runs)
    {
        ArgumentNullException.ThrowIfNull(conditions);
        ArgumentNullException.ThrowIfNull(runs);
        return conditions.Where(c => c.Key is not null).Where(c => !runs.Any(r => c.Field switch
        {
            RunField.Summary => r.Summary.ContainsKey(c.Key!),
            RunField.Config => r.Config.ContainsKey(c.Key!),
            _ => r.Summary.ContainsKey(c.Key!) || r.Config.ContainsKey(c.Key!),
        })).Select(c => c.Key!).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>Text by code point, as the databases compare UTF-8 bytes (ordinal UTF-16 would put surrogates before U+E000-U+FFFF).</summary>
    private static int CompareText(string a, string b)
    {
        var left = a.EnumerateRunes();
        var right = b.EnumerateRunes();
        while (true)
        {
            var moreLeft = left.MoveNext();
            var moreRight = right.MoveNext();
            if (!moreLeft || !moreRight)
            {
                return moreLeft.CompareTo(moreRight);
            }

            if (left.Current.Value != right.Current.Value)
            {
                return left.Current.Value.CompareTo(right.Current.Value);
            }
        }
    }

    private static bool Compare(int order, string op) => op switch
    {
        "=" => order == 0,
        "<>" => order != 0,
        "<" => order < 0,
        "<=" => order <= 0,
        ">" => order > 0,
        ">=" => order >= 0,
        _ => throw new ArgumentException($"Unknown operator '{op}': a condition's operator is =, <>, <, <=, >, >= or contains.", nameof(op)),
    };

    private static (RunField Field, string? Key) Field(string key)
    {
        foreach (var (prefix, field) in (ReadOnlySpan<(string, RunField)>)[("summary.", RunField.Summary), ("metrics.", RunField.Summary), ("config.", RunField.Config), ("params.", RunField.Config)])
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                return (field, key[prefix.Length..]);
            }
        }

        return (key.StartsWith("attributes.", StringComparison.Ordinal) ? key["attributes.".Length..] : key) switch
        {
            "name" or "run_name" => (RunField.Name, null),
            "id" or "run_id" => (RunField.Id, null),
            "state" or "status" => (RunField.State, null),
            "start_time" => (RunField.StartTime, null),
            "tag" or "tags" => (RunField.Tag, null),
            _ => (RunField.SummaryOrConfig, key),
        };
    }

    private static string? ReadKey(string text, ref int at)
    {
        if (at < text.Length && text[at] == '`')
        {
            var end = text.IndexOf('`', at + 1);
            if (end < 0)
            {
                return null;
            }

            var quotedKey = text[(at + 1)..end];
            at = end + 1;

            // summary.`val acc`: a prefix then a quoted key.
            return quotedKey;
        }

        var start = at;
        while (at < text.Length && !char.IsWhiteSpace(text[at]) && text[at] is not ('=' or '!' or '<' or '>' or '\'' or '"'))
        {
            if (text[at] == '`')
            {
                var prefix = text[start..at];
                var rest = ReadKey(text, ref at);
                return rest is null ? null : prefix + rest;
            }

            at++;
        }

        return text[start..at];
    }

    private static string? ReadValue(string text, ref int at, out bool quoted)
    {
        quoted = at < text.Length && text[at] is '\'' or '"';
        if (quoted)
        {
            var quote = text[at];
            var end = text.IndexOf(quote, at + 1);
            if (end < 0)
            {
                at = text.Length;
                return null;
            }

            var value = text[(at + 1)..end];
            at = end + 1;
            return value;
        }

        var start = at;
        while (at < text.Length && !char.IsWhiteSpace(text[at]))
        {
            at++;
        }

        return at > start ? text[start..at] : null;
    }

    private static void SkipSpace(string text, ref int at)
    {
        while (at < text.Length && char.IsWhiteSpace(text[at]))
        {
            at++;
        }
    }

    private static string Problem(string text, int at, string what) => string.Create(CultureInfo.InvariantCulture,
        $"filter, at character {at + 1} of \"{text}\": {what}. Write conditions as KEY OP VALUE joined by 'and', with OP one of =, !=, <, <=, >, >=; "
        + $"KEY is summary.K, config.K, name, id, state, start_time, tag, or a bare key; quote text values; for example: {Example}");
}
