using Tracker.Internal;

namespace Tracker.Pipeline;

/// <summary>
/// One line of a batch: a metadata record (<see cref="Rows"/> = 0), or a block of consecutive
/// history rows that have the same keys in the same order, <see cref="KeysPerRow"/> entries each.
/// </summary>
internal readonly record struct LinePlan(int Chunk, int Start, int Rows, int KeysPerRow);

/// <summary>
/// The chunks the worker hands to a backend in one call, and how they become lines. Its lines
/// are numbered from <see cref="FirstSeq"/>: a retried batch keeps its numbers, so a store can
/// apply it at most once.
/// </summary>
internal sealed class RecordBatch(KeyRegistry keys)
{
    /// <summary>Bounds the length of one line.</summary>
    public const int MaxBlockRows = 1024;

    private readonly List<Chunk> _chunks = [];
    private readonly List<LinePlan> _lines = [];

    public KeyRegistry Keys { get; } = keys;

    public IReadOnlyList<Chunk> Chunks => _chunks;

    public IReadOnlyList<LinePlan> Lines => _lines;

    /// <summary>Sequence number of the first line.</summary>
    public long FirstSeq { get; set; }

    /// <summary>Lines (records with a sequence number) in the batch.</summary>
    public int LineCount => _lines.Count;

    /// <summary>Entries (logged values and metadata records) in the batch; a bare run.json update is none.</summary>
    public int EntryCount { get; private set; }

    /// <summary>A rough size of the batch as text, to bound batches by bytes.</summary>
    public long ApproximateBytes { get; private set; }

    public void Add(Chunk chunk)
    {
        var index = _chunks.Count;
        _chunks.Add(chunk);
        EntryCount += chunk.Count;
        var entries = chunk.Entries.AsSpan(0, chunk.Count);
        var i = 0;
        while (i < entries.Length)
        {
            if (entries[i].Kind == EntryKind.Record && ((RecordPayload)entries[i].Payload!).WithoutLine)
            {
                EntryCount--; // a run.json for the backend, not a record; a block of rows does not span it
                i++;
                continue;
            }

            if (entries[i].Kind == EntryKind.Record)
            {
                _lines.Add(new LinePlan(index, i, Rows: 0, KeysPerRow: 1));
                ApproximateBytes += 64 + ((RecordPayload)entries[i].Payload!).Fields.Length;
                i++;
                continue;
            }

            var width = 1;
            while (i + width < entries.Length && entries[i + width].SameLine)
            {
                width++;
            }

            if (_lines.Count > 0 && _lines[^1] is var last && last.Chunk == index && last.Rows is > 0 and < MaxBlockRows
                && (long)(last.Rows + 1) * width <= RecordRules.MaxValuesPerRecord
                && last.KeysPerRow == width && last.Start + (last.Rows * width) == i && SameKeys(entries, last.Start, i, width))
            {
                _lines[^1] = last with { Rows = last.Rows + 1 };
            }
            else
            {
                _lines.Add(new LinePlan(index, i, Rows: 1, KeysPerRow: width));
                ApproximateBytes += 64;
            }

            ApproximateBytes += 24 * width;
            i += width;
        }
    }

    public void Clear()
    {
        _chunks.Clear();
        _lines.Clear();
        EntryCount = 0;
        ApproximateBytes = 0;
    }

    private static bool SameKeys(ReadOnlySpan<Entry> entries, int first, int row, int width)
    {
        for (var k = 0; k < width; k++)
        {
            if (entries[first + k].KeyId != entries[row + k].KeyId)
            {
                return false;
            }
        }

        return true;
    }
}
