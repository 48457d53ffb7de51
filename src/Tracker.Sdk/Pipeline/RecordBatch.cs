using Tracker.Internal;

namespace Tracker.Pipeline;

/// <summary>
/// The chunks the worker hands to a backend in one call. Its records are numbered from
/// <see cref="FirstSeq"/>: a retried batch keeps its numbers, so a store can apply it at most once.
/// </summary>
internal sealed class RecordBatch(KeyRegistry keys)
{
    private readonly List<Chunk> _chunks = [];

    public KeyRegistry Keys { get; } = keys;

    public IReadOnlyList<Chunk> Chunks => _chunks;

    /// <summary>Sequence number of the first line; one line per history row or metadata record.</summary>
    public long FirstSeq { get; set; }

    /// <summary>Lines (records with a sequence number) in the batch.</summary>
    public int LineCount { get; private set; }

    /// <summary>Entries (logged values and metadata records) in the batch.</summary>
    public int EntryCount { get; private set; }

    /// <summary>A rough size of the batch as text, to bound batches by bytes.</summary>
    public long ApproximateBytes { get; private set; }

    public void Add(Chunk chunk)
    {
        _chunks.Add(chunk);
        EntryCount += chunk.Count;
        foreach (ref readonly var entry in chunk.Entries.AsSpan(0, chunk.Count))
        {
            if (!entry.SameLine)
            {
                LineCount++;
                ApproximateBytes += 64;
            }

            ApproximateBytes += entry.Payload is RecordPayload p ? p.Fields.Length : 32;
        }
    }

    public void Clear()
    {
        _chunks.Clear();
        LineCount = 0;
        EntryCount = 0;
        ApproximateBytes = 0;
    }
}
