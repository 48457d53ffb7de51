namespace Tracker;

/// <summary>How a metric's value in the run's summary is computed from its history (W&amp;B's <c>define_metric(summary=...)</c>).</summary>
public enum SummaryMode
{
    /// <summary>The last logged value (the default).</summary>
    Last,

    /// <summary>The first logged value.</summary>
    First,

    /// <summary>The smallest value; NaN is skipped.</summary>
    Min,

    /// <summary>The largest value; NaN is skipped.</summary>
    Max,

    /// <summary>The mean of the values; NaN is skipped.</summary>
    Mean,

    /// <summary>The minimum or maximum, depending on the metric's <see cref="MetricGoal"/>.</summary>
    Best,

    /// <summary>The metric is left out of the summary.</summary>
    None,
}

/// <summary>Whether smaller or larger values of a metric are better.</summary>
public enum MetricGoal
{
    /// <summary>No goal.</summary>
    None,

    /// <summary>Smaller is better (a loss).</summary>
    Minimize,

    /// <summary>Larger is better (an accuracy).</summary>
    Maximize,
}
