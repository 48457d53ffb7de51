namespace Tracker.Export;

/// <summary>
/// Consecutive records of a run for an <see cref="IRecordBackend"/>: as decoded records
/// (<see cref="Records"/>, read by Tracker.Format's <see cref="RecordReader"/>, so a backend never parses
/// JSON) and as the raw lines of <c>records.jsonl</c> (<see cref="Lines"/>) for a backend that forwards them.
/// </summary>
public sealed class BackendBatch
{
    private IReadOnlyList<RecordLine>? _records;

    internal BackendBatch(ReadOnlyMemory<byte> lines, int count, long firstSeq, long lastSeq)
    {
        Lines = lines;
        Count = count;
        FirstSeq = firstSeq;
        LastSeq = lastSeq;
    }

    /// <summary>The sequence number of the first record; a batch that comes again keeps its numbers.</summary>
    public long FirstSeq { get; }

    /// <summary>The sequence number of the last record.</summary>
    public long LastSeq { get; }

    /// <summary>The number of lines (records) in the batch.</summary>
    public int Count { get; }

    /// <summary>
    /// The records' lines as UTF-8 JSON, each ending with a newline (docs/format.md). Valid only until
    /// <see cref="IRecordBackend.WriteAsync"/>'s task completes: copy what you keep.
    /// </summary>
    public ReadOnlyMemory<byte> Lines { get; }

    /// <summary>
    /// The records in sequence-number order: <see cref="HistoryLine"/> (metrics at steps, with times),
    /// <see cref="ValuesLine"/> (config changes, summary overrides, the final summary),
    /// <see cref="MetricLine"/>, <see cref="RunLine"/> (tags, notes), <see cref="MediaLine"/>,
    /// <see cref="OutputLine"/>, <see cref="FinishLine"/> (the final state), and <see cref="CustomLine"/>
    /// for types of later versions. Decoded on first use and kept: these objects outlive the call.
    /// </summary>
    public IReadOnlyList<RecordLine> Records => _records ??= Decode(Lines.Span);

    private static List<RecordLine> Decode(ReadOnlySpan<byte> lines)
    {
        var records = new List<RecordLine>();
        while (!lines.IsEmpty)
        {
            var newline = lines.IndexOf((byte)'\n');
            var line = newline < 0 ? lines : lines[..newline];
            lines = newline < 0 ? default : lines[(newline + 1)..];

            // Lines come from the run's own writer; one that is not a record (a damaged file) is left out, as every reader of a run directory does.
            if (!line.IsEmpty && RecordReader.TryParse(line, out var record, out _))
            {
                records.Add(record!);
            }
        }

        return records;
    }
}
