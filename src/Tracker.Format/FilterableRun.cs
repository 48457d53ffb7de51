using System.Globalization;

namespace Tracker.Format;

/// <summary>One filterable value of a run: a number, or text (strings, booleans, NaN and infinities).</summary>
/// <param name="Number">The number, for a finite number.</param>
/// <param name="Text">The text, for anything else filterable.</param>
public readonly record struct RunValue(double? Number, string? Text)
{
    /// <summary>
    /// The filterable value of a plain value (<see cref="RecordValue"/>): numbers as numbers (NaN
    /// and infinities as their text, as in records), strings as text, booleans as the text
    /// <c>true</c>/<c>false</c>; null for what is not filterable (null, lists, objects, media).
    /// </summary>
    /// <param name="value">A plain value.</param>
    /// <returns>The value, or null.</returns>
    public static RunValue? Of(object? value) => value switch
    {
        bool b => new RunValue(null, b ? "true" : "false"),
        string s => new RunValue(null, s),
        _ when RecordValue.AsDouble(value) is { } d => double.IsFinite(d) ? new RunValue(d, null) : new RunValue(null, d.ToString(CultureInfo.InvariantCulture)),
        _ => null,
    };

    /// <summary>The filterable values of a summary: its keys with a value <see cref="Of"/> takes.</summary>
    /// <param name="summary">Summary values by key (plain values).</param>
    /// <returns>Values by key.</returns>
    public static Dictionary<string, RunValue> OfSummary(IEnumerable<KeyValuePair<string, object?>> summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var values = new Dictionary<string, RunValue>(StringComparer.Ordinal);
        foreach (var (key, value) in summary)
        {
            if (Of(value) is { } filterable)
            {
                values[key] = filterable;
            }
        }

        return values;
    }

    /// <summary>The filterable values of a config: nested objects flattened to <c>parent.child</c>, lists left out.</summary>
    /// <param name="config">Config values by key (plain values, objects as dictionaries).</param>
    /// <returns>Values by flattened key.</returns>
    public static Dictionary<string, RunValue> OfConfig(IEnumerable<KeyValuePair<string, object?>> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var values = new Dictionary<string, RunValue>(StringComparer.Ordinal);
        Flatten(values, config, string.Empty);
        return values;
    }

    private static void Flatten(Dictionary<string, RunValue> values, IEnumerable<KeyValuePair<string, object?>> node, string prefix)
    {
        foreach (var (key, child) in node)
        {
            if (child is IEnumerable<KeyValuePair<string, object?>> nested)
            {
                Flatten(values, nested, $"{prefix}{key}.");
            }
            else if (Of(child) is { } value)
            {
                values[prefix + key] = value;
            }
        }
    }
}

/// <summary>
/// What a run filter (<see cref="RunFilter"/>) reads of a run: the run as readers see it, with its
/// config and summary as filterable values (<see cref="RunValue.OfConfig"/>, <see cref="RunValue.OfSummary"/>).
/// </summary>
/// <param name="Id">The run id.</param>
/// <param name="Name">The name readers see.</param>
/// <param name="State">The state readers see.</param>
/// <param name="StartTime">run.json's <c>start_time</c> as written (ISO 8601 text), or null.</param>
/// <param name="Tags">The tags.</param>
/// <param name="Config">Config values by flattened key.</param>
/// <param name="Summary">Summary values by key.</param>
public sealed record FilterableRun(string Id, string Name, string State, string? StartTime, IReadOnlyCollection<string> Tags,
    IReadOnlyDictionary<string, RunValue> Config, IReadOnlyDictionary<string, RunValue> Summary);
