using System.Globalization;
using System.Text.Json;

namespace Tracker.Format;

/// <summary>
/// The rules of a run's <c>run.json</c> (docs/format.md), as the server applies them to the body
/// of an upsert: each member has its type, the run's text fields their limits
/// (<see cref="RecordRules.RunTextProblem"/>), the config its key rules and size, and no object
/// names a member twice.
/// </summary>
public static class RunJsonRules
{
    private enum Kind
    {
        Text,
        Time,
        Integer,
        Boolean,
        Object,
        Array,
    }

    /// <summary>The members run.json may have and their types; others are kept as they are.</summary>
    private static readonly Dictionary<string, Kind> Members = new(StringComparer.Ordinal)
    {
        ["id"] = Kind.Text, ["project"] = Kind.Text, ["name"] = Kind.Text, ["tags"] = Kind.Array, ["notes"] = Kind.Text,
        ["group"] = Kind.Text, ["job_type"] = Kind.Text, ["mode"] = Kind.Text, ["config"] = Kind.Object, ["metrics"] = Kind.Array,
        ["host"] = Kind.Text, ["os"] = Kind.Text, ["dotnet_version"] = Kind.Text, ["command_line"] = Kind.Text,
        ["sdk_version"] = Kind.Text, ["start_time"] = Kind.Time, ["end_time"] = Kind.Time, ["state"] = Kind.Text,
        ["exit_code"] = Kind.Integer, ["error"] = Kind.Text, ["resumed"] = Kind.Integer,
    };

    /// <summary>Most characters of <c>state</c>, <c>mode</c> and the other short text members.</summary>
    private const int MaxShortText = 256;

    /// <summary>The member at fault and what is wrong with it, or null when <paramref name="runJson"/> is a valid run.json.</summary>
    /// <param name="runJson">The UTF-8 JSON text.</param>
    /// <returns>The field (a run.json member, <c>config.KEY</c> or <c>body</c>) and the problem, or null.</returns>
    public static (string Field, string Problem)? Problem(ReadOnlySpan<byte> runJson)
    {
        if (RecordRules.DuplicateKey(runJson) is { } repeated)
        {
            return (repeated, $"\"{repeated}\" is given twice; JSON readers disagree on which value wins, so give each member once.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(runJson.ToArray());
        }
        catch (JsonException ex)
        {
            return ("body", $"The body is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return ("body", "The body must be the run's run.json: a JSON object.");
            }

            foreach (var member in root.EnumerateObject())
            {
                if (Members.TryGetValue(member.Name, out var kind) && MemberProblem(member.Name, member.Value, kind) is { } problem)
                {
                    return problem;
                }
            }

            return null;
        }
    }

    private static (string, string)? MemberProblem(string name, JsonElement value, Kind kind)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var expected = kind switch
        {
            Kind.Text or Kind.Time => JsonValueKind.String,
            Kind.Integer => JsonValueKind.Number,
            Kind.Object => JsonValueKind.Object,
            Kind.Array => JsonValueKind.Array,
            _ => value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.ValueKind : JsonValueKind.True,
        };
        var what = kind switch
        {
            Kind.Text => "a string",
            Kind.Time => "a date and time as an ISO 8601 string, such as \"2026-11-27T00:10:00+00:00\"",
            Kind.Integer => "an integer",
            Kind.Boolean => "true or false",
            Kind.Object => "an object",
            _ => name == "tags" ? "an array of strings" : "an array",
        };
        if (value.ValueKind != expected || (kind == Kind.Integer && !value.TryGetInt32(out _)))
        {
            return (name, $"\"{name}\" must be {what}, not {Describe(value)}.");
        }

        switch (kind)
        {
            case Kind.Time when !DateTimeOffset.TryParse(value.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _):
                return (name, $"\"{name}\" must be {what}, not \"{RecordRules.Printable(value.GetString()!)}\".");
            case Kind.Text when name is "name" or "notes" or "group" or "job_type":
                return RecordRules.RunTextProblem(value.GetString(), name) is { } textProblem ? (name, textProblem) : null;
            case Kind.Text when name is not ("command_line" or "error") && value.GetString() is { } text
                && (text.Length > MaxShortText || text.Any(char.IsControl)):
                return (name, $"\"{name}\" must be at most {MaxShortText} printable characters.");
            case Kind.Array when name == "tags":
                if (value.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String))
                {
                    return (name, $"\"tags\" must be {what}.");
                }

                return RecordRules.TagsProblem([.. value.EnumerateArray().Select(t => t.GetString()!)]) is { } tagsProblem ? (name, tagsProblem) : null;
            case Kind.Object when name == "config":
                return ConfigProblem(value);
            default:
                return null;
        }
    }

    private static (string, string)? ConfigProblem(JsonElement config)
    {
        var count = 0;
        foreach (var member in config.EnumerateObject())
        {
            count++;
            if (RecordRules.KeyProblem(member.Name, metric: false) is { } keyProblem)
            {
                return ("config", keyProblem);
            }
        }

        return (RecordRules.KeyCountProblem(count, "The config") ?? RecordRules.DocumentSizeProblem(System.Text.Encoding.UTF8.GetByteCount(config.GetRawText()), "The config")) is { } problem
            ? ("config", problem)
            : null;
    }

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
