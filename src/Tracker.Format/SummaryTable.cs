namespace Tracker.Format;

/// <summary>
/// A run's summary: each metric's <see cref="MetricSummary"/> under the metric definitions that
/// match it (the last definition wins, globs included), and the user's overrides, which last until
/// the key is logged again. Not thread-safe: the owner serialises calls.
/// </summary>
public sealed class SummaryTable
{
    private readonly Dictionary<string, MetricSummary> _metrics = new(StringComparer.Ordinal);
    private readonly Dictionary<string, object?> _overrides = new(StringComparer.Ordinal);
    private readonly List<MetricDefinition> _definitions = [];

    /// <summary>The metric definitions, in the order given (a redefinition replaces its name's earlier one).</summary>
    public IReadOnlyList<MetricDefinition> Definitions => _definitions;

    /// <summary>The metrics logged so far, by key.</summary>
    public IReadOnlyDictionary<string, MetricSummary> Metrics => _metrics;

    /// <summary>The summary overrides still set, by key.</summary>
    public IReadOnlyDictionary<string, object?> Overrides => _overrides;

    /// <summary>The distinct keys of the summary: metrics logged and overrides, each counted once.</summary>
    public int KeyCount => _metrics.Count + _overrides.Keys.Count(k => !_metrics.ContainsKey(k));

    /// <summary>Whether <paramref name="key"/> is a metric logged or an override already.</summary>
    /// <param name="key">A key.</param>
    /// <returns>True when the summary holds it.</returns>
    public bool Contains(string key) => _metrics.ContainsKey(key) || _overrides.ContainsKey(key);

    /// <summary>The summary of <paramref name="key"/>, made (under the definitions that match it) when new.</summary>
    /// <param name="key">A metric key.</param>
    /// <returns>Its summary.</returns>
    public MetricSummary Metric(string key)
    {
        if (!_metrics.TryGetValue(key, out var metric))
        {
            metric = new MetricSummary();
            if (Definition(key) is { } definition)
            {
                metric.Kind = definition.Summary;
                metric.Goal = definition.Goal;
            }

            _metrics[key] = metric;
        }

        return metric;
    }

    /// <summary>The definition that applies to <paramref name="key"/>: the last one that matches, or null.</summary>
    /// <param name="key">A metric key.</param>
    /// <returns>The definition, or null.</returns>
    public MetricDefinition? Definition(string key)
    {
        for (var i = _definitions.Count - 1; i >= 0; i--)
        {
            if (_definitions[i].Matches(key))
            {
                return _definitions[i];
            }
        }

        return null;
    }

    /// <summary>Adds a definition (replacing one of the same name) and applies it to the metrics it matches.</summary>
    /// <param name="definition">The definition.</param>
    public void Define(MetricDefinition definition)
    {
        _definitions.RemoveAll(d => d.Name == definition.Name);
        _definitions.Add(definition);
        foreach (var (key, metric) in _metrics)
        {
            if (definition.Matches(key))
            {
                metric.Kind = definition.Summary;
                metric.Goal = definition.Goal;
            }
        }
    }

    /// <summary>Overrides a key's summary value until the key is logged again; null removes the override.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">A plain value, or null.</param>
    public void Override(string key, object? value)
    {
        if (value is null)
        {
            _overrides.Remove(key);
            if (_metrics.TryGetValue(key, out var logged))
            {
                logged.Overridden = false;
            }

            return;
        }

        _overrides[key] = value;
        if (_metrics.TryGetValue(key, out var metric))
        {
            metric.Overridden = true;
        }
    }

    /// <summary>The summary now: each metric's value unless overridden, then the overrides still in force.</summary>
    /// <returns>Plain values by key.</returns>
    public Dictionary<string, object?> Snapshot()
    {
        var summary = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, metric) in _metrics)
        {
            if (!metric.Overridden && metric.TryGetValue(out var value))
            {
                summary[key] = value;
            }
        }

        foreach (var (key, value) in _overrides)
        {
            if (!_metrics.TryGetValue(key, out var metric) || metric.Overridden)
            {
                summary[key] = value;
            }
        }

        return summary;
    }
}
