namespace Tracker.Cli.Report;

/// <summary>
/// One metric of one run reduced, in a single pass, to between <see cref="Target"/> and twice as
/// many buckets of equal step width, each with its last, min and max: the chart keeps every spike
/// without holding every point. When the steps outgrow the buckets, neighbours merge and the width doubles.
/// </summary>
internal sealed class Downsampler
{
    public const int Target = 250;

    private readonly List<Bucket> _buckets = [];
    private long _first = long.MinValue;
    private long _width = 1;

    public IReadOnlyList<Bucket> Buckets => _buckets;

    public void Add(long step, double value)
    {
        if (_first == long.MinValue)
        {
            _first = step;
        }

        var index = (int)Math.Max(0, (step - _first) / _width);
        while (index >= 2 * Target)
        {
            Merge();
            index = (int)Math.Max(0, (step - _first) / _width);
        }

        while (_buckets.Count <= index)
        {
            _buckets.Add(new Bucket());
        }

        _buckets[index].Add(step, value);
    }

    private void Merge()
    {
        for (var i = 0; i < _buckets.Count; i += 2)
        {
            var merged = _buckets[i];
            if (i + 1 < _buckets.Count)
            {
                merged.Absorb(_buckets[i + 1]);
            }

            _buckets[i / 2] = merged;
        }

        _buckets.RemoveRange((_buckets.Count + 1) / 2, _buckets.Count / 2);
        _width *= 2;
    }

    /// <summary>The points of one step range: the last one's step and value, and the min and max ignoring NaN.</summary>
    internal sealed class Bucket
    {
        public long Count { get; private set; }

        public long LastStep { get; private set; }

        public double Last { get; private set; } = double.NaN;

        public double Min { get; private set; } = double.NaN;

        public double Max { get; private set; } = double.NaN;

        public void Add(long step, double value)
        {
            Count++;
            if (Count == 1 || step >= LastStep)
            {
                (LastStep, Last) = (step, value);
            }

            if (!double.IsNaN(value))
            {
                Min = double.IsNaN(Min) ? value : Math.Min(Min, value);
                Max = double.IsNaN(Max) ? value : Math.Max(Max, value);
            }
        }

        public void Absorb(Bucket other)
        {
            if (other.Count == 0)
            {
                return;
            }

            if (Count == 0 || other.LastStep >= LastStep)
            {
                (LastStep, Last) = (other.LastStep, other.Last);
            }

            Min = double.IsNaN(Min) ? other.Min : double.IsNaN(other.Min) ? Min : Math.Min(Min, other.Min);
            Max = double.IsNaN(Max) ? other.Max : double.IsNaN(other.Max) ? Max : Math.Max(Max, other.Max);
            Count += other.Count;
        }
    }
}
