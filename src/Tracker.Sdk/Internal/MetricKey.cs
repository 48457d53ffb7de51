namespace Tracker.Internal;

/// <summary>
/// A history key: its name (immutable, read by the writer), its running summary (the format's
/// <see cref="MetricSummary"/>, shared with the run's <see cref="SummaryTable"/>) and the buckets its
/// sparkline is drawn from (mutated under the run's lock).
/// </summary>
internal sealed class MetricKey(int id, string name, MetricSummary summary)
{
    public int Id { get; } = id;

    public string Name { get; } = name;

    /// <summary>The quoted, escaped name followed by a colon, as the writer copies it.</summary>
    public byte[] JsonName { get; } = RecordWriter.KeyName(name);

    public MetricSummary Summary { get; } = summary;

    /// <summary>The numeric history by step, bucketed as every chart is, for the finish footer's sparkline.</summary>
    public GrowingBuckets Buckets { get; } = new(16);

    /// <summary>The key found after this one the last time (a training loop logs its keys in the same order each step).</summary>
    public MetricKey? Next { get; set; }
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

    /// <summary>
    /// Finds a key. The one found last, and the one that followed it the time before, are recognised
    /// by reference without hashing: a loop logging the same keys in the same order finds each so.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining | System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)] // inlined into Log's code; optimised at first call elsewhere (docs/benchmarks.md)
    public MetricKey? Find(string name)
    {
        var last = _last;
        if (last is not null)
        {
            if (ReferenceEquals(last.Name, name))
            {
                return last;
            }

            var next = last.Next;
            if (next is not null && ReferenceEquals(next.Name, name))
            {
                _last = next;
                return next;
            }
        }

        if (!_byReference.TryGetValue(name, out var key) && _byName.TryGetValue(name, out key))
        {
            Remember(name, key);
        }

        if (key is not null)
        {
            if (last is not null)
            {
                last.Next = key;
            }

            _last = key;
        }

        return key;
    }

    public bool TryFind(string name, out MetricKey key) => _byName.TryGetValue(name, out key!);

    /// <summary>Adds a key the caller has validated and checked to be new, with its summary.</summary>
    public MetricKey Add(string name, MetricSummary summary)
    {
        var key = new MetricKey(Count, name, summary);
        if (Count == _byId.Length)
        {
            var grown = new MetricKey[_byId.Length * 2];
            Array.Copy(_byId, grown, Count);
            Volatile.Write(ref _byId, grown);
        }

        _byId[Count] = key;
        Count++;
        _byName.Add(name, key);
        if (_last is not null)
        {
            _last.Next = key;
        }

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
