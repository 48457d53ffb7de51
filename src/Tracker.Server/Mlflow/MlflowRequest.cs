using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tracker.Server.Api;

namespace Tracker.Server.Mlflow;

/// <summary>
/// A request's parameters as MLflow's server reads them: the JSON body of a POST, the query of a
/// GET. As in MLflow's protobuf JSON, an int64 may come as a number or a string, and a double as a
/// number or as <c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>.
/// </summary>
internal sealed class MlflowRequest
{
    private readonly JsonObject? _body;
    private readonly IQueryCollection? _query;

    private MlflowRequest(JsonObject? body, IQueryCollection? query)
    {
        _body = body;
        _query = query;
    }

    public static async Task<MlflowRequest> ReadAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (HttpMethods.IsGet(context.Request.Method))
        {
            return new MlflowRequest(null, context.Request.Query);
        }

        if (context.Request.ContentLength > MlflowRules.MaxBatchRequestBytes)
        {
            throw TooLarge(context.Request.ContentLength.Value);
        }

        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, cancellationToken);
        if (buffer.Length > MlflowRules.MaxBatchRequestBytes)
        {
            throw TooLarge(buffer.Length);
        }

        if (buffer.Length == 0)
        {
            return new MlflowRequest([], null);
        }

        return JsonBody.Parse(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), "Send the request's parameters as one JSON object, as MLflow's REST API documents them.", out var problem) is { } body
            ? new MlflowRequest(body, null)
            : throw MlflowException.Invalid(problem.Detail);
    }

    /// <summary>The run a request names: <c>run_id</c>, or the older <c>run_uuid</c>.</summary>
    public string RunId => Text("run_id") ?? Text("run_uuid") ?? throw Missing("run_id");

    public string Required(string name) => Text(name) is { Length: > 0 } value ? value : throw Missing(name);

    public string? Text(string name)
    {
        if (_query is not null)
        {
            return _query.TryGetValue(name, out var values) ? values.ToString() : null;
        }

        return _body![name] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.ToJsonString(),
            _ => throw MlflowException.Invalid($"Invalid value for parameter '{name}': expected a string."),
        };
    }

    public long? Int64(string name) => Int64(name, Node(name));

    public double? Double(string name) => Double(name, Node(name));

    internal static double? Double(string name, JsonNode? node)
    {
        if (node is null)
        {
            return null;
        }

        if (node.GetValueKind() == JsonValueKind.Number)
        {
            return node.GetValue<double>();
        }

        var text = node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : null;
        return text is not null && (RecordRules.SpecialDouble(text) ?? (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) ? parsed : null)) is { } value
            ? value
            : throw MlflowException.Invalid($"Invalid value {node.ToJsonString()} for parameter '{name}': expected a double (a number, \"NaN\", \"Infinity\" or \"-Infinity\").");
    }

    /// <summary>A repeated field: a JSON array, or the values of a repeated query parameter.</summary>
    public IReadOnlyList<JsonNode?> Array(string name)
    {
        if (_query is not null)
        {
            return _query.TryGetValue(name, out var values) ? values.Select(v => (JsonNode?)JsonValue.Create(v)).ToList() : [];
        }

        return _body![name] switch
        {
            null => [],
            JsonArray array => [.. array],
            _ => throw MlflowException.Invalid($"Invalid value for parameter '{name}': expected a list."),
        };
    }

    /// <summary>A list of <c>{"key", "value"}</c> objects (params, tags) as pairs.</summary>
    public List<(string Key, string Value)> Pairs(string name) => Array(name).Select((item, i) =>
    {
        if (item is not JsonObject pair)
        {
            throw MlflowException.Invalid($"Invalid value for parameter '{name}': item {i} is not a {{\"key\", \"value\"}} object.");
        }

        var value = pair["value"] switch
        {
            null => string.Empty,
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            var other => throw MlflowException.Invalid($"Invalid value for parameter '{name}': the value of item {i} is {other.ToJsonString()}, not a string."),
        };
        return (pair["key"] is JsonValue k && k.GetValueKind() == JsonValueKind.String ? k.GetValue<string>() : string.Empty, value);
    }).ToList();

    public static MlflowException Missing(string name) =>
        MlflowException.Invalid($"Missing value for required parameter '{name}'. See the API docs for more information about request parameters.");

    internal static long? Int64(string name, JsonNode? node)
    {
        if (node is null)
        {
            return null;
        }

        var kind = node.GetValueKind();
        var text = kind == JsonValueKind.Number ? node.ToJsonString() : kind == JsonValueKind.String ? node.GetValue<string>() : null;
        return text is not null && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw MlflowException.Invalid($"Invalid value {node.ToJsonString()} for parameter '{name}': expected a 64-bit integer.");
    }

    private JsonNode? Node(string name) =>
        _query is not null ? (_query.TryGetValue(name, out var values) ? JsonValue.Create(values.ToString()) : null) : _body![name];

    private static MlflowException TooLarge(long bytes) => MlflowException.Invalid(string.Create(CultureInfo.InvariantCulture,
        $"Batched logging API requests must be at most {MlflowRules.MaxBatchRequestBytes} bytes, got a request of size {bytes}."));

    /// <summary>An opaque page token for an offset, and back.</summary>
    public static string PageToken(int offset) => Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"offset:{offset}")));

    public int Offset()
    {
        if (Text("page_token") is not { Length: > 0 } token)
        {
            return 0;
        }

        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(token));
            if (text.StartsWith("offset:", StringComparison.Ordinal) && int.TryParse(text.AsSpan(7), NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            {
                return offset;
            }
        }
        catch (FormatException)
        {
        }

        throw MlflowException.Invalid($"Invalid page token '{token}': pass the next_page_token of the previous answer as it came.");
    }

    public int MaxResults(int defaultValue, int limit) => Int64("max_results") switch
    {
        null => defaultValue,
        < 1 => throw MlflowException.Invalid("Invalid value for max_results: it must be a positive integer."),
        var n when n > limit => throw MlflowException.Invalid($"Invalid value for max_results. It must be at most {limit}, but got value {n}"),
        var n => (int)n.Value,
    };
}
