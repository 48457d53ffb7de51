using System.Collections;
using System.Globalization;

namespace Tracker.Internal;

/// <summary>Converts logged values to the kinds a history can store: numbers, text and booleans.</summary>
internal static class Values
{
    public static bool TryGetNumber(object value, out double number)
    {
        switch (value)
        {
            case double d: number = d; return true;
            case float f: number = f; return true;
            case int i: number = i; return true;
            case long l: number = l; return true;
            case short s: number = s; return true;
            case byte b: number = b; return true;
            case sbyte sb: number = sb; return true;
            case uint ui: number = ui; return true;
            case ulong ul: number = ul; return true;
            case ushort us: number = us; return true;
            case decimal m: number = (double)m; return true;
            case Half h: number = (double)h; return true;
            default: number = 0; return false;
        }
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

    public static ArgumentException Unsupported(string key, object value) => new(
        $"The value logged for key '{key}' has type {value.GetType().FullName}, which a history cannot store. "
        + "Log numbers (double, float, int, long, decimal), bool, string, or a dictionary of those (its keys nest as 'key/child').",
        nameof(value));
}
