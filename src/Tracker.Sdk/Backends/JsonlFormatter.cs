using Tracker.Pipeline;

namespace Tracker.Backends;

/// <summary>
/// Turns a batch into record lines with the format's <see cref="RecordWriter"/>: a record per
/// metadata entry, a row per step, and consecutive rows with the same keys as one block of columns,
/// so a point costs its value and two small deltas rather than a whole line.
/// </summary>
internal sealed class JsonlFormatter
{
    private readonly RecordWriter _writer = new();

    public ReadOnlyMemory<byte> Written => _writer.Written;

    /// <summary>Formats the whole batch, numbering lines from <see cref="RecordBatch.FirstSeq"/>.</summary>
    public void Format(RecordBatch batch)
    {
        _writer.Clear();
        var seq = batch.FirstSeq;
        foreach (var line in batch.Lines)
        {
            var entries = batch.Chunks[line.Chunk].Entries;
            if (line.Rows == 0)
            {
                ref readonly var entry = ref entries[line.Start];
                var payload = (RecordPayload)entry.Payload!;
                _writer.Record(seq++, payload.Type, entry.UnixMs, payload.Fields);
            }
            else if (line.Rows == 1)
            {
                WriteRow(seq++, batch, entries.AsSpan(line.Start, line.KeysPerRow));
            }
            else
            {
                WriteBlock(seq++, batch, entries.AsSpan(line.Start, line.Rows * line.KeysPerRow), line.Rows, line.KeysPerRow);
            }
        }
    }

    /// <summary>One row (<see cref="RecordWriter.BeginRow"/>).</summary>
    private void WriteRow(long seq, RecordBatch batch, ReadOnlySpan<Entry> row)
    {
        _writer.BeginRow(seq, row[0].Step, row[0].UnixMs);
        for (var k = 0; k < row.Length; k++)
        {
            _writer.Key(batch.Keys[row[k].KeyId].JsonName, first: k == 0);
            WriteValue(in row[k]);
        }

        _writer.EndHistory();
    }

    /// <summary>Rows with the same keys as one block of columns (<see cref="RecordWriter.BeginBlock"/>); steps and times are the first value then differences.</summary>
    private void WriteBlock(long seq, RecordBatch batch, ReadOnlySpan<Entry> entries, int rows, int width)
    {
        _writer.BeginBlock(seq);
        WriteDeltas(entries, rows, width, time: false);
        _writer.BeginBlockTimes();
        WriteDeltas(entries, rows, width, time: true);
        _writer.BeginBlockValues();
        for (var k = 0; k < width; k++)
        {
            _writer.Key(batch.Keys[entries[k].KeyId].JsonName, first: k == 0);
            _writer.BeginColumn();
            for (var r = 0; r < rows; r++)
            {
                WriteValue(in entries[(r * width) + k]);
                _writer.EndItem(last: r == rows - 1);
            }
        }

        _writer.EndHistory();
    }

    /// <summary>Each row's step (or time) as the first value then differences.</summary>
    private void WriteDeltas(ReadOnlySpan<Entry> entries, int rows, int width, bool time)
    {
        long previous = 0;
        for (var r = 0; r < rows; r++)
        {
            ref readonly var entry = ref entries[r * width];
            var value = time ? entry.UnixMs : entry.Step;
            _writer.Delta(value - previous, last: r == rows - 1);
            previous = value;
        }
    }

    private void WriteValue(in Entry entry)
    {
        switch (entry.Kind)
        {
            case EntryKind.Number:
                _writer.Double(entry.Number);
                break;
            case EntryKind.Integer:
                _writer.Integer(entry.Bits);
                break;
            case EntryKind.UInteger:
                _writer.Integer(unchecked((ulong)entry.Bits));
                break;
            case EntryKind.Bool:
                _writer.Bool(entry.Number != 0);
                break;
            default:
                _writer.Text((string)entry.Payload!);
                break;
        }
    }
}
