using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Tracker.Internal;

/// <summary>
/// A history key: its name (immutable, read by the writer) and its running summary and
/// sparkline samples (mutated under the run's lock).
/// </summary>
internal sealed class MetricKey
{
    private const int SampleCapacity = 64;
    private readonly double[] _samples = new double[SampleCapacity];
    private int _sampleCount;
    private long _sampleStride = 1;
    private long _skip;

    public MetricKey(int id, string name)
    {
        Id = id;
        Name = name;
        JsonName = Encoding.UTF8.GetBytes($"\"{JsonEncodedText.Encode(name, JavaScriptEncoder.UnsafeRelaxedJsonEscaping)}\":");
    }

    public int Id { get; }

    public string Name { get; }

    /// <summary>The quoted, escaped name followed by a colon, as the writer copies it.</summary>
    public byte[] JsonName { get; }

    public SummaryMode Mode { get; set; }

    public MetricGoal Goal { get; set; }

    public long Count { get; private set; }

    public double First { get; private set; }

    public double Last { get; private set; }

    public double Min { get; private set; } = double.NaN;

    public double Max { get; private set; } = double.NaN;

    public double Sum { get; private set; }

    /// <summary>The last value when it was not a number (text or bool).</summary>
    public object? LastOther { get; private set; }

    /// <summary>Set when the user overrode this key in the summary; the next logged value clears it.</summary>
    public bool Overridden { get; set; }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)] // no tier-0 warm-up (docs/benchmarks.md)
    public void Observe(double value)
    {
        if (Count == 0)
        {
            First = value;
        }

        Count++;
        Last = value;
        LastOther = null;
        Overridden = false;
        if (!double.IsNaN(value))
        {
            Sum += value;
            if (!(value >= Min))
            {
                Min = value; // NaN-safe: the first real value replaces the initial NaN
            }

            if (!(value <= Max))
            {
                Max = value;
            }
        }

        Sample(value);
    }

    public void ObserveOther(object value)
    {
        LastOther = value;
        Overridden = false;
    }

    /// <summary>The summary value for this key, or false when the mode leaves it out.</summary>
    public bool TryGetSummary(out object? value)
    {
        value = null;
        if (Mode == SummaryMode.None || (Count == 0 && LastOther is null))
        {
            return false;
        }

        if (LastOther is not null)
        {
            value = LastOther;
            return true;
        }

        value = Mode switch
        {
            SummaryMode.First => First,
            SummaryMode.Min => Min,
            SummaryMode.Max => Max,
            SummaryMode.Mean => Sum / Count,
            SummaryMode.Best => Goal == MetricGoal.Maximize ? Max : Min,
            _ => Last,
        };
        return true;
    }

    /// <summary>Evenly spaced samples of the history, bounded in size whatever its length.</summary>
    public ReadOnlySpan<double> Samples => _samples.AsSpan(0, _sampleCount);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)] // no tier-0 warm-up (docs/benchmarks.md)
    private void Sample(double value)
    {
        if (_skip > 0)
        {
            _skip--;
            return;
        }

        _samples[_sampleCount++] = value;
        _skip = _sampleStride - 1;
        if (_sampleCount == SampleCapacity)
        {
            for (var i = 0; i < SampleCapacity / 2; i++)
            {
                _samples[i] = _samples[2 * i];
            }

            _sampleCount = SampleCapacity / 2;
            _sampleStride *= 2;
            _skip = _sampleStride - 1;
        }
    }
}

/// <summary>
/// Interns history keys to small ids. Adding happens under the run's lock; the writer reads
/// names by id from another thread, so the id array is replaced, never resized in place.
/// </summary>
internal sealed class KeyRegistry
{
    private const int MaxByReference = 1024;
    private readonly Dictionary<string, MetricKey> _byName = new(StringComparer.Ordinal);

    // Callers pass the same string instances again and again (literals, a reused dictionary's keys):
    // finding them by reference skips hashing their text. Bounded, since keys built per call never repeat.
    private readonly Dictionary<string, MetricKey> _byReference = new(ReferenceEqualityComparer.Instance);
    private MetricKey[] _byId = new MetricKey[16];
    private MetricKey? _last;

    public int Count { get; private set; }

    public MetricKey this[int id] => Volatile.Read(ref _byId)[id];

    public IEnumerable<MetricKey> All => _byId.Take(Count);

    /// <summary>Finds a key; the most recent one is recognised by reference, without hashing.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)] // no tier-0 warm-up (docs/benchmarks.md)
    public MetricKey? Find(string name)
    {
        var last = _last;
        if (last is not null && ReferenceEquals(last.Name, name))
        {
            return last;
        }

        if (_byReference.TryGetValue(name, out var key))
        {
            _last = key;
            return key;
        }

        if (_byName.TryGetValue(name, out key))
        {
            _last = key;
            Remember(name, key);
        }

        return key;
    }

    public bool TryFind(string name, out MetricKey key) => _byName.TryGetValue(name, out key!);

    /// <summary>Adds a key the caller has validated and checked to be new.</summary>
    public MetricKey Add(string name)
    {
        var key = new MetricKey(Count, name);
        if (Count == _byId.Length)
        {
            var grown = new MetricKey[_byId.Length * 2];
            Array.Copy(_byId, grown, Count);
            Volatile.Write(ref _byId, grown);
        }

        _byId[Count] = key;
        Count++;
        _byName.Add(name, key);
        _last = key;
        Remember(name, key);
        return key;
    }

    private void Remember(string name, MetricKey key)
    {
        if (_byReference.Count < MaxByReference)
        {
            _byReference[name] = key;
        }
    }

}
