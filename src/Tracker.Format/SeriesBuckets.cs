using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tracker.Format;

/// <summary>
/// One bucket of a series: how many points fell in it, their min and max (NaN skipped), and the
/// value at its highest x, with its first and last x (step or time). Every chart, sparkline and
/// report of Tracker draws from these, so a spike is never averaged away.
/// </summary>
public struct SeriesBucket
{
    /// <summary>Points in the bucket.</summary>
    public long Count;

    /// <summary>The smallest value; NaN when every value was NaN.</summary>
    public double Min;

    /// <summary>The largest value; NaN when every value was NaN.</summary>
    public double Max;

    /// <summary>The value at <see cref="LastX"/>.</summary>
    public double Last;

    /// <summary>The lowest x of a point in the bucket.</summary>
    public long FirstX;

    /// <summary>The highest x of a point in the bucket.</summary>
    public long LastX;

    /// <summary>Adds one point.</summary>
    /// <param name="x">Its step or time.</param>
    /// <param name="value">Its value.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // into the SDK's fold of logged values (Run.FoldLogged)
    public void Add(long x, double value) => Add(1, value, value, value, x, x);

    /// <summary>Adds a summary of several points (a stored chunk, or another bucket).</summary>
    /// <param name="count">Their number.</param>
    /// <param name="min">Their min.</param>
    /// <param name="max">Their max.</param>
    /// <param name="last">The value at <paramref name="lastX"/>.</param>
    /// <param name="firstX">Their lowest x.</param>
    /// <param name="lastX">Their highest x.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // into the SDK's fold of logged values (Run.FoldLogged)
    public void Add(long count, double min, double max, double last, long firstX, long lastX)
    {
        if (count <= 0)
        {
            return;
        }

        if (Count == 0)
        {
            (Min, Max, Last, FirstX, LastX) = (double.NaN, double.NaN, last, firstX, lastX);
        }
        else
        {
            if (lastX >= LastX)
            {
                (Last, LastX) = (last, lastX);
            }

            FirstX = Math.Min(FirstX, firstX);
        }

        Count += count;
        if (!double.IsNaN(min) && !(min >= Min))
        {
            Min = min;
        }

        if (!double.IsNaN(max) && !(max <= Max))
        {
            Max = max;
        }
    }

    /// <summary>Adds another bucket's points.</summary>
    /// <param name="other">The other bucket.</param>
    public void Add(in SeriesBucket other) => Add(other.Count, other.Min, other.Max, other.Last, other.FirstX, other.LastX);
}

/// <summary>
/// Equal buckets over a known x range <c>[From, To]</c>, at most the number asked for (the server's
/// series endpoint: the range comes from the stored chunks or the zoom).
/// </summary>
public sealed class BucketGrid
{
    /// <summary>Equal buckets covering <paramref name="from"/> to <paramref name="to"/>, at most <paramref name="buckets"/>.</summary>
    /// <param name="from">The lowest x.</param>
    /// <param name="to">The highest x, at least <paramref name="from"/>.</param>
    /// <param name="buckets">Most buckets, at least 1.</param>
    public BucketGrid(long from, long to, int buckets)
    {
        From = from;
        To = to;
        var span = (double)to - from + 1; // in double: an extreme range must not overflow
        Width = (long)Math.Min(Math.Max(1, Math.Ceiling(span / Math.Max(1, buckets))), long.MaxValue / 2);
        Buckets = new SeriesBucket[(int)Math.Min(buckets, Math.Ceiling(span / Width))];
    }

    /// <summary>The lowest x.</summary>
    public long From { get; }

    /// <summary>The highest x.</summary>
    public long To { get; }

    /// <summary>The x range of one bucket.</summary>
    public long Width { get; }

    /// <summary>The buckets, in x order; empty ones have <see cref="SeriesBucket.Count"/> 0.</summary>
    public SeriesBucket[] Buckets { get; }

    /// <summary>Whether x falls in the range.</summary>
    /// <param name="x">The x.</param>
    /// <returns>True inside.</returns>
    public bool Contains(long x) => x >= From && x <= To;

    /// <summary>Whether the points from <paramref name="x0"/> to <paramref name="x1"/> all fall in one bucket.</summary>
    /// <param name="x0">Their lowest x.</param>
    /// <param name="x1">Their highest x.</param>
    /// <returns>True when one bucket holds them.</returns>
    public bool InOneBucket(long x0, long x1) => x0 >= From && x1 <= To && Index(x0) == Index(x1);

    /// <summary>The bucket of x, which must be in the range.</summary>
    /// <param name="x">The x.</param>
    /// <returns>The bucket.</returns>
    public ref SeriesBucket this[long x] => ref Buckets[Index(x)];

    /// <summary>The first x of bucket <paramref name="index"/>.</summary>
    /// <param name="index">The bucket's index.</param>
    /// <returns>Its first x.</returns>
    public long StartOf(int index) => unchecked(From + (index * Width)); // at most To: index * Width < the range

    /// <summary>The last x of bucket <paramref name="index"/>: the next one's first less one, or <see cref="To"/>.</summary>
    /// <param name="index">The bucket's index.</param>
    /// <returns>Its last x.</returns>
    public long EndOf(int index) => (long)Math.Min(To, (decimal)StartOf(index) + Width - 1);

    // In unsigned arithmetic: x - From of an extreme range (From near long.MinValue) overflows a long, never a ulong.
    private int Index(long x) => (int)Math.Min((ulong)(Buckets.Length - 1), unchecked((ulong)x - (ulong)From) / (ulong)Width);
}

/// <summary>
/// Buckets over a range not known in advance (points arrive in x order, as a run is read or logged):
/// buckets of equal width that double, pairs merging, whenever there would be more than twice the
/// target. The report, <c>tracker show</c> and the finish footer draw from these.
/// </summary>
/// <param name="target">The least number of buckets kept once there are enough points; at most twice as many.</param>
public sealed class GrowingBuckets(int target)
{
    private readonly List<SeriesBucket> _buckets = [];
    private long _first = long.MinValue;
    private int _widthShift; // a bucket is 2^_widthShift wide: an index is a shift, not a division

    /// <summary>The buckets, in x order; empty ones have <see cref="SeriesBucket.Count"/> 0.</summary>
    public IReadOnlyList<SeriesBucket> Buckets => _buckets;

    /// <summary>Points added.</summary>
    public long Count { get; private set; }

    /// <summary>Adds a point; an x lower than the first point's joins the first bucket.</summary>
    /// <param name="x">Its step or time.</param>
    /// <param name="value">Its value.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // into the SDK's fold of logged values (Run.FoldLogged)
    public void Add(long x, double value)
    {
        if (_first == long.MinValue)
        {
            _first = x;
        }

        var index = Math.Max(0, (x - _first) >> _widthShift);
        while (index >= 2 * target)
        {
            Merge();
            index = Math.Max(0, (x - _first) >> _widthShift);
        }

        while (_buckets.Count <= index)
        {
            _buckets.Add(default);
        }

        CollectionsMarshal.AsSpan(_buckets)[(int)index].Add(x, value);
        Count++;
    }

    /// <summary>Each non-empty bucket's last value, in order: a sparkline's points.</summary>
    /// <returns>The values.</returns>
    public double[] LastValues() => [.. _buckets.Where(b => b.Count > 0).Select(b => b.Last)];

    private void Merge()
    {
        for (var i = 0; i < _buckets.Count; i += 2)
        {
            var merged = _buckets[i];
            if (i + 1 < _buckets.Count)
            {
                merged.Add(_buckets[i + 1]);
            }

            _buckets[i / 2] = merged;
        }

        _buckets.RemoveRange((_buckets.Count + 1) / 2, _buckets.Count / 2);
        _widthShift++;
    }
}

/// <summary>
/// Another metric's value at given steps, as W&amp;B pairs a metric with its step metric: the value
/// logged at that step, or else the last one logged before it (carried forward); none before the
/// metric's first point. The server's series endpoint (<c>x=metric:KEY</c>) and the report pair
/// one chart's points with their x this way.
/// </summary>
public sealed class StepValues
{
    private readonly long[] _steps;
    private readonly double[] _values;
    private readonly bool[] _known;
    private int _next;
    private long _lastStep = long.MinValue;
    private double _last;
    private bool _any;

    /// <summary>Values wanted at <paramref name="steps"/>, which must be in ascending order.</summary>
    /// <param name="steps">The steps, ascending.</param>
    public StepValues(IReadOnlyList<long> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        _steps = [.. steps];
        for (var i = 1; i < _steps.Length; i++)
        {
            if (_steps[i] < _steps[i - 1])
            {
                throw new ArgumentException("The steps must be in ascending order.", nameof(steps));
            }
        }

        _values = new double[_steps.Length];
        _known = new bool[_steps.Length];
    }

    /// <summary>The steps asked for.</summary>
    public IReadOnlyList<long> Steps => _steps;

    /// <summary>
    /// Adds a point of the metric. Points must come in ascending step order; of several at one step,
    /// the last added wins. A point below the last one's step is ignored.
    /// </summary>
    /// <param name="step">Its step.</param>
    /// <param name="value">Its value.</param>
    public void Add(long step, double value)
    {
        if (_any && step < _lastStep)
        {
            return;
        }

        if (_any && step > _lastStep)
        {
            Settle(step);
        }

        (_lastStep, _last, _any) = (step, value, true);
    }

    /// <summary>The metric's value at step number <paramref name="index"/> of <see cref="Steps"/>, given the points added so far.</summary>
    /// <param name="index">An index into <see cref="Steps"/>.</param>
    /// <param name="value">The value at that step, or the last one before it; NaN when there is none.</param>
    /// <returns>False when the metric has no point at or before that step.</returns>
    public bool TryGet(int index, out double value)
    {
        if (index >= _next && _any && _steps[index] >= _lastStep)
        {
            value = _last; // no later point has come to close it yet
            return true;
        }

        value = _known[index] ? _values[index] : double.NaN;
        return _known[index];
    }

    /// <summary>Steps below <paramref name="step"/> that are still open take the last value.</summary>
    private void Settle(long step)
    {
        while (_next < _steps.Length && _steps[_next] < step)
        {
            if (_steps[_next] >= _lastStep)
            {
                (_values[_next], _known[_next]) = (_last, true);
            }

            _next++;
        }
    }
}
