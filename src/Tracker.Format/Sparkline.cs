using System.Text;

namespace Tracker.Format;

/// <summary>
/// A series as one line of eight-level bars (▁▂▃▄▅▆▇█), as the finish footer and <c>tracker show</c>
/// print it: feed it <see cref="GrowingBuckets.LastValues"/> so both draw the same line.
/// </summary>
public static class Sparkline
{
    /// <summary>The most bars a sparkline has by default.</summary>
    public const int DefaultWidth = 24;

    private const string Bars = "▁▂▃▄▅▆▇█";

    /// <summary>Eight-level bars over the samples, resampled to at most <paramref name="width"/> bars; NaN and infinities show as a space.</summary>
    /// <param name="samples">The values in x order.</param>
    /// <param name="width">The most bars to draw.</param>
    /// <returns>The bars; empty for no samples.</returns>
    public static string Render(ReadOnlySpan<double> samples, int width = DefaultWidth)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if (samples.IsEmpty)
        {
            return string.Empty;
        }

        width = Math.Min(width, samples.Length);
        var points = new double[width];
        for (var i = 0; i < width; i++)
        {
            points[i] = samples[(int)((long)i * samples.Length / width)];
        }

        var finite = points.Where(double.IsFinite).ToList();
        var (min, max) = finite.Count == 0 ? (0, 0) : (finite.Min(), finite.Max());
        var line = new StringBuilder(width);
        foreach (var p in points)
        {
            if (!double.IsFinite(p))
            {
                line.Append(' ');
                continue;
            }

            var level = max > min ? (int)Math.Round((p - min) / (max - min) * (Bars.Length - 1)) : 0;
            line.Append(Bars[level]);
        }

        return line.ToString();
    }
}
