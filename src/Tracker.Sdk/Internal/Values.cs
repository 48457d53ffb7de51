using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using Tracker.Pipeline;

namespace Tracker.Internal;

/// <summary>Converts logged values to the kinds a history can store: numbers, text and booleans.</summary>
internal static class Values
{
    /// <summary>
    /// Classifies a logged scalar without boxing it again: doubles (float, decimal and Half too),
    /// integers kept exact (<paramref name="bits"/> holds the long, or the ulong's bits), bools and text.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining | System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)] // inlined into Log's code; optimised at first call elsewhere (docs/benchmarks.md)
    public static EntryKind Classify(object value, out double number, out long bits)
    {
        bits = 0;
        number = 0;
        switch (value)
        {
            case double d: number = d; return EntryKind.Number;
            case float f: number = f; return EntryKind.Number;
            case int i: bits = i; break;
            case long l: bits = l; break;
            case short s: bits = s; break;
            case byte b: bits = b; break;
            case sbyte sb: bits = sb; break;
            case uint ui: bits = ui; break;
            case ushort us: bits = us; break;
            case ulong ul when ul > long.MaxValue:
                bits = unchecked((long)ul);
                number = ul;
                return EntryKind.UInteger;
            case ulong ul: bits = (long)ul; break;
            case decimal m: number = (double)m; return EntryKind.Number;
            case Half h: number = (double)h; return EntryKind.Number;
            case bool flag: number = flag ? 1 : 0; return EntryKind.Bool;
            case string: return EntryKind.Text;
            default: return EntryKind.Record; // not a history value
        }

        number = bits;
        return EntryKind.Integer;
    }

    /// <summary>Whether the value is a nested map whose entries flatten into "parent/child" keys.</summary>
    public static bool IsNested(object value) => value is IDictionary or IReadOnlyDictionary<string, object?> or IReadOnlyDictionary<string, double>;

    /// <summary>Enumerates a nested map's entries; keys are converted with the invariant culture.</summary>
    public static IEnumerable<KeyValuePair<string, object?>> Entries(object nested)
    {
        switch (nested)
        {
            case IReadOnlyDictionary<string, object?> d:
                return d;
            case IReadOnlyDictionary<string, double> d:
                return d.Select(p => new KeyValuePair<string, object?>(p.Key, p.Value));
            default:
                return ((IDictionary)nested).Cast<DictionaryEntry>()
                    .Select(e => new KeyValuePair<string, object?>(Convert.ToString(e.Key, CultureInfo.InvariantCulture) ?? string.Empty, e.Value));
        }
    }

    /// <summary>
    /// The row <c>Log(object)</c> logs: a map's entries, or the object's public readable properties
    /// by name. Nested objects (classes, not lists) become nested maps, whose keys flatten to
    /// <c>parent/child</c>; enums become their names; other values stay for Log to check.
    /// </summary>
    public static Dictionary<string, object?> Properties(object values, int depth = 0)
    {
        if (IsNested(values))
        {
            var entries = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (key, value) in Entries(values))
            {
                entries[key] = value;
            }

            return entries;
        }

        if (depth > 32)
        {
            throw new ArgumentException($"The object logged nests more than 32 levels deep (at a {values.GetType().FullName}).", nameof(values));
        }

        var row = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in ReadableProperties.GetOrAdd(values.GetType(), static type =>
            [.. type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanRead && p.GetIndexParameters().Length == 0)]))
        {
            row[property.Name] = property.GetValue(values) switch
            {
                Enum e => e.ToString(),
                { } nested when nested.GetType().IsClass && nested is not (string or Media or IEnumerable) => Properties(nested, depth + 1),
                var value => value,
            };
        }

        return row;
    }

    private static readonly ConcurrentDictionary<Type, PropertyInfo[]> ReadableProperties = new();

    public static ArgumentException Unsupported(string key, object value, string paramName = "values") => new(
        $"The value logged for key '{key}' has type {value.GetType().FullName}, which a history cannot store. "
        + "Log numbers (double, float, decimal, Half, or any integer type up to ulong), bool, string, or a dictionary of those (its keys nest as 'key/child').",
        paramName);
}
