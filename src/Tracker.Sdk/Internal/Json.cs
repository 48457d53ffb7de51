using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Tracker.Internal;

/// <summary>JSON settings and conversions shared by the writer and the reader.</summary>
internal static class Json
{
    /// <summary>snake_case members, NaN and infinities as strings, enums as snake_case strings.</summary>
    public static readonly JsonSerializerOptions Options = CreateOptions(indented: true);

    public static readonly JsonSerializerOptions Compact = CreateOptions(indented: false);

    /// <summary>For user objects (config): member names stay as the user wrote them.</summary>
    private static readonly JsonSerializerOptions UserValues = new(Compact) { PropertyNamingPolicy = null, DictionaryKeyPolicy = null };

    private static JsonSerializerOptions CreateOptions(bool indented)
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals | JsonNumberHandling.AllowReadingFromString,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            WriteIndented = indented,
            TypeInfoResolver = JsonTypeInfoResolver.Combine(RunJsonContext.Default, new DefaultJsonTypeInfoResolver()),
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        options.Converters.Add(new PlainValueConverter());
        return options;
    }

    /// <summary>
    /// Turns any object (anonymous, POCO, dictionary) into flat "a/b" keys with plain values:
    /// long, double, string, bool, null, or a list of those for arrays.
    /// </summary>
    public static Dictionary<string, object?> Flatten(object values, string what)
    {
        JsonElement element;
        try
        {
            element = values is JsonElement e ? e : JsonSerializer.SerializeToElement(values, values.GetType(), UserValues);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new ArgumentException(
                $"The {what} of type {values.GetType().FullName} could not be serialised to JSON: {ex.Message} "
                + "Pass numbers, strings, booleans, arrays, dictionaries, or objects made of those.", nameof(values), ex);
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException(
                $"The {what} must be an object with named values (an anonymous object, a class or a dictionary), not a JSON {element.ValueKind.ToString().ToLowerInvariant()}.",
                nameof(values));
        }

        var flat = new Dictionary<string, object?>(StringComparer.Ordinal);
        FlattenInto(flat, element, prefix: null);
        foreach (var key in flat.Keys)
        {
            Keys.ValidateConfig(key, nameof(values));
        }

        return flat;
    }

    private static void FlattenInto(Dictionary<string, object?> flat, JsonElement element, string? prefix)
    {
        foreach (var property in element.EnumerateObject())
        {
            var key = prefix is null ? property.Name : prefix + "/" + property.Name;
            if (property.Value.ValueKind == JsonValueKind.Object)
            {
                FlattenInto(flat, property.Value, key);
            }
            else
            {
                flat[key] = ToPlain(property.Value);
            }
        }
    }

    /// <summary>Converts a JSON value to long, double, string, bool, null, a list or a dictionary.</summary>
    public static object? ToPlain(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Number => element.TryGetInt64(out var l) ? l : element.GetDouble(),
        JsonValueKind.String => ParseSpecialDouble(element.GetString()!) is double d ? d : element.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Array => element.EnumerateArray().Select(ToPlain).ToList(),
        JsonValueKind.Object => element.EnumerateObject().ToDictionary(p => p.Name, p => ToPlain(p.Value), StringComparer.Ordinal),
        _ => null,
    };

    /// <summary>JSON has no NaN or infinities; they travel as these strings.</summary>
    public static double? ParseSpecialDouble(string text) => text switch
    {
        "NaN" => double.NaN,
        "Infinity" => double.PositiveInfinity,
        "-Infinity" => double.NegativeInfinity,
        _ => null,
    };

    /// <summary>Serialises plain values, writing NaN and infinities as strings.</summary>
    public static byte[] Serialize<T>(T value, bool indented = false) =>
        JsonSerializer.SerializeToUtf8Bytes(value, indented ? Options : Compact);

    public static string FormatNumber(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Reads JSON values as plain .NET values rather than <see cref="JsonElement"/>.</summary>
    private sealed class PlainValueConverter : JsonConverter<object>
    {
        public override object? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            using var document = JsonDocument.ParseValue(ref reader);
            return ToPlain(document.RootElement);
        }

        public override void Write(Utf8JsonWriter writer, object value, JsonSerializerOptions options)
        {
            switch (value)
            {
                case double d when !double.IsFinite(d):
                    writer.WriteStringValue(FormatNumber(d));
                    break;
                case float f when !float.IsFinite(f):
                    writer.WriteStringValue(FormatNumber(f));
                    break;
                case JsonNode node:
                    node.WriteTo(writer, options);
                    break;
                default:
                    JsonSerializer.Serialize(writer, value, value.GetType(), options);
                    break;
            }
        }
    }
}
