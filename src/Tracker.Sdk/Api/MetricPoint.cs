namespace Tracker.Api;

/// <summary>
/// One logged value of a metric, exactly as stored: the step, the time the value was logged, and
/// the value (NaN and infinities included).
/// </summary>
public readonly struct MetricPoint
{
    internal MetricPoint(long step, DateTimeOffset timestamp, double value) =>
        (Step, Timestamp, Value) = (step, timestamp, value);

    /// <summary>The step (<c>_step</c>), 0 to 2^53 - 1.</summary>
    public long Step { get; }

    /// <summary>When the value was logged, to the millisecond.</summary>
    public DateTimeOffset Timestamp { get; }

    /// <summary>
    /// The value. The server charts values as doubles: integers come back as the double of the same
    /// value and booleans as 1 and 0; text is not charted (it is in the run's summary).
    /// </summary>
    public double Value { get; }
}
