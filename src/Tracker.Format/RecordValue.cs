using System.Buffers;
using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Tracker.Format;

/// <summary>
/// The one codec of values in the run format (history, config, summary), so a value keeps its type
/// from <c>Log</c> to the file, the server and every export. Plain values are: null, <see cref="bool"/>,
/// <see cref="long"/>, <see cref="ulong"/> (only above <see cref="long.MaxValue"/>), <see cref="double"/>,
/// <see cref="string"/>, <see cref="List{T}"/> of plain values and <see cref="Dictionary{TKey, TValue}"/>
/// of plain values by name.
/// </summary>
/// <remarks>
/// In JSON: integers are written without a fraction (exact, whatever their size); doubles always with
/// one (<c>3.0</c>, <c>0.1</c>, <c>1E+300</c>), so a reader tells them apart by the token's text.
/// JSON has no NaN or infinities: they are the strings <c>"NaN"</c>, <c>"Infinity"</c> and
/// <c>"-Infinity"</c>. A text that is exactly one of those three is written as <c>{"_str":"NaN"}</c>,
/// so logged text never reads back as a number.
/// </remarks>
public static class RecordValue
{
    /// <summary>The member of the object that carries a text which would otherwise read as a special double.</summary>
    public const string TextMember = "_str";

    /// <summary>Writer options of the format: no escaping beyond what JSON needs.</summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Whether the text would read back as a special double unless wrapped.</summary>
    /// <param name="text">The text.</param>
    /// <returns>True for <c>"NaN"</c>, <c>"Infinity"</c> and <c>"-Infinity"</c>.</returns>
    public static bool IsSpecialText(string text) => RecordRules.SpecialDouble(text) is not null;

    /// <summary>
    /// Converts a .NET value to a plain value: integers of any size to <see cref="long"/> (or
    /// <see cref="ulong"/> above <see cref="long.MaxValue"/>), <see cref="float"/>, <see cref="Half"/>
    /// and <see cref="decimal"/> to <see cref="double"/>, enumerables to lists, dictionaries to
    /// dictionaries; false for anything else.
    /// </summary>
    /// <param name="value">The value.</param>
    /// <param name="plain">The plain value.</param>
    /// <returns>Whether the value has a plain form.</returns>
    public static bool TryNormalize(object? value, out object? plain)
    {
        switch (value)
        {
            case null: plain = null; return true;
            case double or string or bool or long: plain = value; return true;
            case int i: plain = (long)i; return true;
            case float f: plain = (double)f; return true;
            case short s: plain = (long)s; return true;
            case byte b: plain = (long)b; return true;
            case sbyte sb: plain = (long)sb; return true;
            case ushort us: plain = (long)us; return true;
            case uint ui: plain = (long)ui; return true;
            case ulong ul: plain = ul <= long.MaxValue ? (long)ul : ul; return true;
            case decimal m: plain = (double)m; return true;
            case Half h: plain = (double)h; return true;
            case char c: plain = c.ToString(); return true;
            case JsonElement element: plain = FromJson(element); return true;
            case IDictionary dictionary:
                var map = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (DictionaryEntry entry in dictionary)
                {
                    if (!TryNormalize(entry.Value, out var item))
                    {
                        plain = null;
                        return false;
                    }

                    map[Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? string.Empty] = item;
                }

                plain = map;
                return true;
            case IEnumerable sequence:
                var list = new List<object?>();
                foreach (var element in sequence)
                {
                    if (!TryNormalize(element, out var item))
                    {
                        plain = null;
                        return false;
                    }

                    list.Add(item);
                }

                plain = list;
                return true;
            default:
                plain = null;
                return false;
        }
    }

    /// <summary>Reads the value at the reader's current token (any JSON value) as a plain value.</summary>
    /// <param name="reader">A reader positioned on the value's first token; left on its last.</param>
    /// <returns>The plain value.</returns>
    public static object? Read(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                return ReadNumber(ref reader);
            case JsonTokenType.String:
                var text = reader.GetString()!;
                return RecordRules.SpecialDouble(text) is double special ? special : text;
            case JsonTokenType.True:
                return true;
            case JsonTokenType.False:
                return false;
            case JsonTokenType.StartArray:
                var list = new List<object?>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    list.Add(Read(ref reader));
                }

                return list;
            case JsonTokenType.StartObject:
                var map = new Dictionary<string, object?>(StringComparer.Ordinal);
                string? wrapped = null;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var name = reader.GetString()!;
                    reader.Read();
                    if (name == TextMember && reader.TokenType == JsonTokenType.String)
                    {
                        wrapped = reader.GetString();
                    }

                    map[name] = Read(ref reader);
                }

                return map.Count == 1 && wrapped is not null ? wrapped : map;
            default:
                return null;
        }
    }

    /// <summary>The plain value of a JSON element, by the same rules as <see cref="Read"/>.</summary>
    /// <param name="element">The element.</param>
    /// <returns>The plain value.</returns>
    public static object? FromJson(JsonElement element)
    {
        var bytes = Encoding.UTF8.GetBytes(element.GetRawText());
        var reader = new Utf8JsonReader(bytes);
        reader.Read();
        return Read(ref reader);
    }

    /// <summary>Writes a value in the format's JSON (see the remarks of <see cref="RecordValue"/>).</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="value">A plain value or any .NET value <see cref="TryNormalize"/> accepts.</param>
    /// <exception cref="ArgumentException">The value has no plain form.</exception>
    public static void Write(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNullValue();
                break;
            case double d:
                WriteDouble(writer, d);
                break;
            case long l:
                writer.WriteNumberValue(l);
                break;
            case ulong ul:
                writer.WriteNumberValue(ul);
                break;
            case bool b:
                writer.WriteBooleanValue(b);
                break;
            case string s when IsSpecialText(s):
                writer.WriteStartObject();
                writer.WriteString(TextMember, s);
                writer.WriteEndObject();
                break;
            case string s:
                writer.WriteStringValue(s);
                break;
            case IReadOnlyDictionary<string, object?> map:
                writer.WriteStartObject();
                foreach (var (name, item) in map)
                {
                    writer.WritePropertyName(name);
                    Write(writer, item);
                }

                writer.WriteEndObject();
                break;
            case IReadOnlyList<object?> list:
                writer.WriteStartArray();
                foreach (var item in list)
                {
                    Write(writer, item);
                }

                writer.WriteEndArray();
                break;
            default:
                if (!TryNormalize(value, out var plain) || plain?.GetType() == value.GetType())
                {
                    throw new ArgumentException($"A value of type {value.GetType().FullName} cannot be stored: use numbers, bool, string, lists or dictionaries of those.", nameof(value));
                }

                Write(writer, plain);
                break;
        }
    }

    /// <summary>A value written as one JSON text (see <see cref="Write(Utf8JsonWriter, object?)"/>).</summary>
    /// <param name="value">The value.</param>
    /// <returns>Its JSON.</returns>
    public static string ToJson(object? value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            Write(writer, value);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// A value as people read it: numbers in round-trip form (<c>1E-05</c>, <c>3</c>, <c>NaN</c>), text
    /// as is, booleans as <c>true</c>/<c>false</c>, lists as <c>[64, 32]</c>; the same in every table
    /// and report.
    /// </summary>
    /// <param name="value">A plain value.</param>
    /// <returns>The text.</returns>
    public static string Display(object? value) => value switch
    {
        null => string.Empty,
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        string s => s,
        IReadOnlyDictionary<string, object?> map => "{" + string.Join(", ", map.Select(p => $"{p.Key}: {Display(p.Value)}")) + "}",
        IReadOnlyList<object?> list => "[" + string.Join(", ", list.Select(Display)) + "]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => TryNormalize(value, out var plain) && plain?.GetType() != value.GetType() ? Display(plain) : value.ToString() ?? string.Empty,
    };

    /// <summary>A number's value as a double (charts, bucketing); null for text, null and lists. Bools are 1 and 0.</summary>
    /// <param name="value">A plain value.</param>
    /// <returns>The double, or null.</returns>
    public static double? AsDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        ulong ul => ul,
        bool b => b ? 1 : 0,
        _ => null,
    };

    /// <summary>Writes a double so that it reads back as a double: shortest round-trip text, with a fraction; NaN and infinities as their strings.</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="value">The double.</param>
    public static void WriteDouble(Utf8JsonWriter writer, double value)
    {
        Span<byte> text = stackalloc byte[32];
        var length = FormatDouble(value, text);
        if (double.IsFinite(value))
        {
            writer.WriteRawValue(text[..length], skipInputValidation: true);
        }
        else
        {
            writer.WriteStringValue(text[..length]);
        }
    }

    /// <summary>
    /// Formats a double as the format writes it (without quotes for NaN and infinities): shortest
    /// round-trip digits, with <c>.0</c> added when the digits alone would read as an integer.
    /// </summary>
    /// <param name="value">The double.</param>
    /// <param name="destination">At least 32 bytes.</param>
    /// <returns>The bytes written.</returns>
    public static int FormatDouble(double value, Span<byte> destination)
    {
        if (!double.IsFinite(value))
        {
            var special = double.IsNaN(value) ? "NaN"u8 : value > 0 ? "Infinity"u8 : "-Infinity"u8;
            special.CopyTo(destination);
            return special.Length;
        }

        value.TryFormat(destination, out var written, "R", CultureInfo.InvariantCulture);
        if (destination[..written].IndexOfAny(".E"u8) < 0)
        {
            destination[written++] = (byte)'.';
            destination[written++] = (byte)'0';
        }

        return written;
    }

    /// <summary>Whether a JSON number's text is an integer (no fraction, no exponent).</summary>
    /// <param name="token">The number's UTF-8 text.</param>
    /// <returns>True for integers.</returns>
    public static bool IsIntegerText(ReadOnlySpan<byte> token) => token.IndexOfAny("."u8[0], (byte)'e', (byte)'E') < 0;

    private static object ReadNumber(ref Utf8JsonReader reader)
    {
        var integer = reader.HasValueSequence ? IsIntegerText(reader.ValueSequence.ToArray()) : IsIntegerText(reader.ValueSpan);
        if (integer)
        {
            if (reader.TryGetInt64(out var l))
            {
                return l;
            }

            if (reader.TryGetUInt64(out var ul))
            {
                return ul;
            }
        }

        return reader.GetDouble();
    }
}
