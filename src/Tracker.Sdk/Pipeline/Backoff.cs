namespace Tracker.Pipeline;

/// <summary>
/// Exponential back-off with jitter between attempts to write a failed batch:
/// <c>initial * 2^attempt</c>, capped at <c>max</c>, then scaled down by up to <c>jitter</c>
/// so that several runs failing together do not retry in step.
/// </summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan max, double jitter = 0.25, Random? random = null)
{
    private readonly Random _random = random ?? Random.Shared;

    public static Backoff Default { get; } = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10));

    /// <summary>The delay before retry number <paramref name="attempt"/> (0 for the first retry).</summary>
    public TimeSpan GetDelay(int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(attempt);
        var exponential = initial.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30));
        var capped = Math.Min(exponential, max.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (1 - (jitter * _random.NextDouble())));
    }
}
