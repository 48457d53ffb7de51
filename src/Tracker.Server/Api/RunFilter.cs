using System.Globalization;
using Tracker.Server.Storage;

namespace Tracker.Server.Api;

/// <summary>
/// The runs listing's <c>filter</c> and <c>sort</c>, modelled on MLflow's <c>search_runs</c>
/// filter string: <c>KEY OP VALUE</c> conditions joined by <c>and</c>, such as
/// <c>summary.val/acc &gt; 0.8 and config.optimizer = 'sgd'</c>. Keys: <c>summary.K</c>
/// (or <c>metrics.K</c>), <c>config.K</c> (or <c>params.K</c>), <c>name</c>, <c>id</c>,
/// <c>state</c>, <c>start_time</c>, <c>tag</c>, or a bare key (the summary's value, else the
/// config's); a key with spaces or operators goes in backquotes. A value in quotes is text;
/// unquoted, it is a number when it reads as one.
/// </summary>
internal static class RunFilter
{
    public const string Example = "summary.val/acc > 0.8 and config.optimizer = 'sgd'";

    private static readonly string[] Operators = [">=", "<=", "!=", "=", "<", ">"];

    /// <summary>The conditions of <paramref name="text"/>, or what is wrong with it.</summary>
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
            var literal = RunQuery.Literal(value, quoted);
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
