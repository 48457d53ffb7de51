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

    /// <summary>
    /// For user objects (config): member names stay as the user wrote them, and numbers and text are
    /// written by the format's value codec, so a double stays a double and the text "NaN" stays text.
    /// </summary>
    private static readonly JsonSerializerOptions UserValues = CreateUserValues();

    private static JsonSerializerOptions CreateUserValues()
    {
        var options = new JsonSerializerOptions(Compact) { PropertyNamingPolicy = null, DictionaryKeyPolicy = null };
        options.Converters.Insert(0, new CodecConverter<float>());
        options.Converters.Insert(0, new CodecConverter<decimal>());
        options.Converters.Insert(0, new CodecConverter<string>());
        return options;
    }

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
        options.Converters.Add(new CodecConverter<double>()); // a double reads back as a double, not an integer
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
            RecordRules.ThrowIfInvalidKey(key, metric: false, nameof(values));
        }

        if ((RecordRules.KeyCountProblem(flat.Count, $"The {what}") ?? RecordRules.DocumentSizeProblem(Serialize(flat).Length, $"The {what}")) is { } problem)
        {
            throw new ArgumentException(problem, nameof(values));
        }

        return flat;
    }

    private static void FlattenInto(Dictionary<string, object?> flat, JsonElement element, string? prefix)
    {
        foreach (var property in element.EnumerateObject())
        {
            var key = prefix is null ? property.Name : prefix + "/" + property.Name;
            var value = RecordValue.FromJson(property.Value); // {"_str": "NaN"} is text, not a nested object
            if (value is Dictionary<string, object?>)
            {
                FlattenInto(flat, property.Value, key);
            }
            else
            {
                flat[key] = value;
            }
        }
    }

    /// <summary>Serialises plain values, writing NaN and infinities as strings.</summary>
    public static byte[] Serialize<T>(T value, bool indented = false) =>
        JsonSerializer.SerializeToUtf8Bytes(value, indented ? Options : Compact);

    /// <summary>Reads JSON values as plain .NET values rather than <see cref="JsonElement"/>.</summary>
    private sealed class PlainValueConverter : JsonConverter<object>
    {
        public override object? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => RecordValue.Read(ref reader);

        public override void Write(Utf8JsonWriter writer, object value, JsonSerializerOptions options)
        {
            switch (value)
            {
                case JsonNode node:
                    node.WriteTo(writer, options);
                    break;
                case var _ when RecordValue.TryNormalize(value, out var plain):
                    RecordValue.Write(writer, plain);
                    break;
                case var _ when value.GetType() == typeof(object):
                    writer.WriteStartObject(); // a bare object has no members; serialising it as object again would recurse forever
                    writer.WriteEndObject();
                    break;
                default:
                    JsonSerializer.Serialize(writer, value, value.GetType(), options);
                    break;
            }
        }
    }

    /// <summary>Writes numbers and text of user objects with the format's value codec.</summary>
    private sealed class CodecConverter<T> : JsonConverter<T>
    {
        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            (T)Convert.ChangeType(RecordValue.Read(ref reader)!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => RecordValue.Write(writer, value);
    }
}
