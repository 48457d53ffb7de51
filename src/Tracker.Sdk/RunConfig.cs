using System.Collections;
using Tracker.Internal;

namespace Tracker;

/// <summary>
/// A run's hyper-parameters as flat <c>a/b</c> keys. Reading gives a snapshot; setting a key or
/// calling <see cref="Update"/> records the change in the run.
/// </summary>
public sealed class RunConfig : IReadOnlyDictionary<string, object?>
{
    private readonly Run _run;

    internal RunConfig(Run run) => _run = run;

    /// <inheritdoc />
    public int Count => _run.ConfigSnapshot().Count;

    /// <inheritdoc />
    public IEnumerable<string> Keys => _run.ConfigSnapshot().Keys;

    /// <inheritdoc />
    public IEnumerable<object?> Values => _run.ConfigSnapshot().Values;

    /// <summary>Gets a value, or sets one (nested objects flatten under the key).</summary>
    /// <param name="key">The config key.</param>
    /// <exception cref="KeyNotFoundException">Getting a key that is not set.</exception>
    public object? this[string key]
    {
        get => _run.ConfigSnapshot().TryGetValue(key, out var value)
            ? value
            : throw new KeyNotFoundException($"Config has no key '{key}'. Keys: {string.Join(", ", Keys)}.");
        set
        {
            RecordRules.ThrowIfInvalidKey(key, metric: false, nameof(key));
            Update(new Dictionary<string, object?> { [key] = value });
        }
    }

    /// <summary>Adds or replaces config values from an anonymous object, POCO or dictionary.</summary>
    /// <param name="values">The values; nested objects flatten with '/'.</param>
    /// <exception cref="ArgumentException">The values cannot be serialised to JSON.</exception>
    public void Update(object values)
    {
        ArgumentNullException.ThrowIfNull(values);
        _run.UpdateConfig(Json.Flatten(values, "config"));
    }

    /// <inheritdoc />
    public bool ContainsKey(string key) => _run.ConfigSnapshot().ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(string key, out object? value) => _run.ConfigSnapshot().TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _run.ConfigSnapshot().GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// The run's summary: one value per metric (its last value unless <see cref="Run.DefineMetric"/>
/// says otherwise). Setting a key overrides it until the metric is logged again.
/// </summary>
public sealed class RunSummary : IReadOnlyDictionary<string, object?>
{
    private readonly Run _run;

    internal RunSummary(Run run) => _run = run;

    /// <inheritdoc />
    public int Count => _run.SummaryValues().Count;

    /// <inheritdoc />
    public IEnumerable<string> Keys => _run.SummaryValues().Keys;

    /// <inheritdoc />
    public IEnumerable<object?> Values => _run.SummaryValues().Values;

    /// <summary>
    /// Gets a summary value, or overrides one with a number, bool, string or list (null removes the
    /// override). An object or dictionary sets one override per member, flattened to <c>key/member</c>
    /// as <see cref="Run.Config"/> flattens, as W&amp;B's <c>run.summary["best"] = {...}</c>.
    /// </summary>
    /// <param name="key">The metric key.</param>
    /// <exception cref="KeyNotFoundException">Getting a key that has no summary value.</exception>
    /// <exception cref="ArgumentException">Setting an invalid key, or a value that is not one of those.</exception>
    public object? this[string key]
    {
        get => _run.SummaryValues().TryGetValue(key, out var value)
            ? value
            : throw new KeyNotFoundException($"Summary has no key '{key}'. Keys: {string.Join(", ", Keys)}.");
        set
        {
            RecordRules.ThrowIfInvalidKey(key, metric: true, nameof(key));
            if (RecordValue.TryNormalize(value, out var plain) && plain is not Dictionary<string, object?>)
            {
                _run.OverrideSummary(new Dictionary<string, object?>(StringComparer.Ordinal) { [key] = plain });
                return;
            }

            // Objects with members flatten; anything else (a DateTime, a bare object) is not a summary value.
            if (!(Internal.Values.IsNested(value!) || value!.GetType() is { IsClass: true } type && type != typeof(object) && value is not System.Collections.IEnumerable))
            {
                throw Internal.Values.Unsupported(key, value!, nameof(value));
            }

            var members = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (member, memberValue) in Internal.Json.Flatten(value!, $"summary value of '{key}'"))
            {
                RecordRules.ThrowIfInvalidKey($"{key}/{member}", metric: true, nameof(value));
                members[$"{key}/{member}"] = memberValue;
            }

            _run.OverrideSummary(members);
        }
    }

    /// <inheritdoc />
    public bool ContainsKey(string key) => _run.SummaryValues().ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(string key, out object? value) => _run.SummaryValues().TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _run.SummaryValues().GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
