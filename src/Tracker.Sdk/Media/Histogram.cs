using System.Globalization;
using System.Numerics;
using Tracker.Internal;

namespace Tracker;

/// <summary>
/// A histogram to log at a step: binned from values, or bins you computed. Charted over steps on
/// the run page, as W&amp;B and TensorBoard show weight distributions. NaN and infinite values
/// cannot be binned: they are counted in <see cref="NaNCount"/> and <see cref="InfinityCount"/>,
/// and the run warns, rather than the histogram failing mid-training.
/// </summary>
public sealed class Histogram : Media
{
    /// <summary>Most bins a histogram may have.</summary>
    public const int MaxBins = 512;

    /// <summary>Bins used when none are given.</summary>
    public const int DefaultBins = 64;

    private readonly double[] _edges;
    private readonly long[] _counts;

    private Histogram(double[] edges, long[] counts, long nanCount, long infinityCount)
    {
        _edges = edges;
        _counts = counts;
        NaNCount = nanCount;
        InfinityCount = infinityCount;
    }

    /// <summary>The bin edges, ascending: one more than <see cref="Counts"/>. The last bin includes its upper edge.</summary>
    public IReadOnlyList<double> Edges => _edges;

    /// <summary>How many values fell in each bin.</summary>
    public IReadOnlyList<long> Counts => _counts;

    /// <summary>NaN values, not binned.</summary>
    public long NaNCount { get; }

    /// <summary>Positive and negative infinities, not binned.</summary>
    public long InfinityCount { get; }

    internal override string Kind => "histogram";

    /// <summary>
    /// Bins <paramref name="values"/> into <paramref name="bins"/> equal ranges from their minimum to
    /// their maximum, as <c>numpy.histogram</c> does (all values equal: a range of 1 around them).
    /// </summary>
    /// <param name="values">The values; NaN and infinities are counted, not binned.</param>
    /// <param name="bins">1 to <see cref="MaxBins"/> bins.</param>
    /// <exception cref="ArgumentException">No values, or a bin count out of range.</exception>
    public static Histogram FromValues(ReadOnlySpan<double> values, int bins = DefaultBins) => Compute(values, bins);

    /// <inheritdoc cref="FromValues(ReadOnlySpan{double}, int)"/>
    public static Histogram FromValues(ReadOnlySpan<float> values, int bins = DefaultBins) => Compute(values, bins);

    /// <inheritdoc cref="FromValues(ReadOnlySpan{double}, int)"/>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> is null.</exception>
    public static Histogram FromValues(double[] values, int bins = DefaultBins) => Compute<double>(values ?? throw new ArgumentNullException(nameof(values)), bins);

    /// <inheritdoc cref="FromValues(ReadOnlySpan{double}, int)"/>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> is null.</exception>
    public static Histogram FromValues(float[] values, int bins = DefaultBins) => Compute<float>(values ?? throw new ArgumentNullException(nameof(values)), bins);

    /// <summary>
    /// Bins any numbers (a <c>List&lt;double&gt;</c>, an <c>int[]</c>, a sequence of floats or
    /// decimals), each taken as the nearest double, as <see cref="FromValues(ReadOnlySpan{double}, int)"/> bins doubles.
    /// </summary>
    /// <typeparam name="T">The number type.</typeparam>
    /// <param name="values">The values; NaN and infinities are counted, not binned.</param>
    /// <param name="bins">1 to <see cref="MaxBins"/> bins.</param>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> is null.</exception>
    /// <exception cref="ArgumentException">No values, or a bin count out of range.</exception>
    public static Histogram FromValues<T>(IEnumerable<T> values, int bins = DefaultBins)
        where T : INumberBase<T>
    {
        ArgumentNullException.ThrowIfNull(values);
        return Compute<double>([.. values.Select(double.CreateTruncating)], bins);
    }

    /// <summary>A histogram from bins already computed.</summary>
    /// <param name="edges">The <c>n + 1</c> bin edges: finite and strictly ascending.</param>
    /// <param name="counts">The <c>n</c> counts, none negative.</param>
    /// <exception cref="ArgumentException">The lengths do not match, or an edge or count is invalid.</exception>
    public static Histogram FromBins(IReadOnlyList<double> edges, IReadOnlyList<long> counts)
    {
        ArgumentNullException.ThrowIfNull(edges);
        ArgumentNullException.ThrowIfNull(counts);
        if (counts.Count is < 1 or > MaxBins || edges.Count != counts.Count + 1)
        {
            throw new ArgumentException(
                $"A histogram has 1 to {MaxBins} counts and one more edge than counts; got {edges.Count} edges and {counts.Count} counts.", nameof(edges));
        }

        for (var i = 0; i < edges.Count; i++)
        {
            if (!double.IsFinite(edges[i]) || (i > 0 && edges[i] <= edges[i - 1]))
            {
                throw new ArgumentException(
                    string.Create(CultureInfo.InvariantCulture, $"Histogram edges must be finite and strictly ascending; edge {i} is {edges[i]}{(i > 0 ? $" after {edges[i - 1]}" : string.Empty)}."),
                    nameof(edges));
            }
        }

        if (counts.Any(c => c < 0))
        {
            throw new ArgumentException("Histogram counts must not be negative.", nameof(counts));
        }

        return new Histogram(edges.ToArray(), counts.ToArray(), 0, 0);
    }

    private protected override (byte[] Json, string? File) Write(string mediaDirectory) => (MediaFiles.Json(json =>
    {
        json.WriteString("_type", Kind);
        json.WriteStartArray("bins");
        foreach (var edge in _edges)
        {
            json.WriteNumberValue(edge);
        }

        json.WriteEndArray();
        json.WriteStartArray("counts");
        foreach (var count in _counts)
        {
            json.WriteNumberValue(count);
        }

        json.WriteEndArray();
        json.WriteNumber("nan", NaNCount);
        json.WriteNumber("inf", InfinityCount);
    }), null);

    private static Histogram Compute<T>(ReadOnlySpan<T> values, int bins)
        where T : struct, IBinaryFloatingPointIeee754<T>
    {
        if (bins is < 1 or > MaxBins)
        {
            throw new ArgumentOutOfRangeException(nameof(bins), bins, $"A histogram has 1 to {MaxBins} bins.");
        }

        if (values.IsEmpty)
        {
            throw new ArgumentException("A histogram needs at least one value; this one has none.", nameof(values));
        }

        long nan = 0, infinite = 0;
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var value in values)
        {
            var v = double.CreateTruncating(value);
            if (double.IsFinite(v))
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
            else if (double.IsNaN(v))
            {
                nan++;
            }
            else
            {
                infinite++;
            }
        }

        if (min > max)
        {
            (min, max) = (0, 1); // nothing finite: empty bins, every value counted as NaN or infinite
        }
        else if (min == max)
        {
            (min, max) = (min - 0.5, max + 0.5);
        }

        // Edges and offsets from halves, so that a range as wide as double's does not overflow.
        var edges = new double[bins + 1];
        for (var i = 0; i <= bins; i++)
        {
            var t = (double)i / bins;
            edges[i] = i == bins ? max : (min * (1 - t)) + (max * t);
        }

        var counts = new long[bins];
        var scale = bins / ((max / 2) - (min / 2));
        foreach (var value in values)
        {
            var v = double.CreateTruncating(value);
            if (double.IsFinite(v))
            {
                // As numpy: the computed bin, moved by one where rounding put a value on the wrong side of an edge.
                var bin = Math.Clamp((int)(((v / 2) - (min / 2)) * scale), 0, bins - 1);
                if (v < edges[bin])
                {
                    bin--;
                }
                else if (bin < bins - 1 && v >= edges[bin + 1])
                {
                    bin++;
                }

                counts[bin]++;
            }
        }

        return new Histogram(edges, counts, nan, infinite);
    }
}
