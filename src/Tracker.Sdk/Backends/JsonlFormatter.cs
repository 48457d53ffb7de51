using System.Buffers.Text;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Tracker.Pipeline;

namespace Tracker.Backends;

/// <summary>
/// Writes a batch as JSON lines straight into a byte buffer. Hand-written because it is the
/// hottest code after Log: keys are pre-escaped, and consecutive rows with the same keys share
/// one line as columns, so a point costs its value and two small deltas rather than a whole line.
/// Values follow the format's value codec (<see cref="RecordValue"/>): doubles always with a fraction,
/// integers exact, NaN and infinities as the strings "NaN", "Infinity", "-Infinity", and text that is
/// one of those three wrapped as <c>{"_str":"NaN"}</c>.
/// </summary>
internal sealed class JsonlFormatter
{
    private static readonly byte[] SeqPrefix = "{\"seq\":"u8.ToArray();
    private static readonly byte[] HistoryType = ",\"type\":\"history\",\"step\":"u8.ToArray();
    private static readonly byte[] TsMember = ",\"ts\":"u8.ToArray();
    private static readonly byte[] ValuesOpen = ",\"values\":{"u8.ToArray();
    private static readonly byte[] TypeMember = ",\"type\":\""u8.ToArray();
    private static readonly byte[] BlockSteps = ",\"type\":\"history\",\"steps\":["u8.ToArray();
    private static readonly byte[] BlockTs = ",\"ts\":["u8.ToArray();

    private byte[] _buffer = new byte[1 << 20];
    private int _length;

    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _length);

    /// <summary>Formats the whole batch, numbering lines from <see cref="RecordBatch.FirstSeq"/>.</summary>
    public void Format(RecordBatch batch)
    {
        _length = 0;
        var seq = batch.FirstSeq;
        foreach (var line in batch.Lines)
        {
            var entries = batch.Chunks[line.Chunk].Entries;
            if (line.Rows == 0)
            {
                WriteRecord(seq++, in entries[line.Start]);
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

    /// <summary><c>{"seq":1,"type":"history","step":0,"ts":1795736598404,"values":{"loss":0.5}}</c></summary>
    private void WriteRow(long seq, RecordBatch batch, ReadOnlySpan<Entry> row)
    {
        Ensure(128);
        Append(SeqPrefix);
        AppendInt64(seq);
        Append(HistoryType);
        AppendInt64(row[0].Step);
        Append(TsMember);
        AppendInt64(row[0].UnixMs);
        Append(ValuesOpen);
        for (var k = 0; k < row.Length; k++)
        {
            var name = batch.Keys[row[k].KeyId].JsonName;
            Ensure(name.Length + 64);
            if (k > 0)
            {
                _buffer[_length++] = (byte)',';
            }

            Append(name);
            AppendValue(in row[k]);
        }

        Ensure(3);
        Append("}}\n"u8);
    }

    /// <summary>
    /// Rows with the same keys as columns; steps and times are the first value then differences:
    /// <c>{"seq":2,"type":"history","steps":[1,1,1],"ts":[1795736598404,0,1],"values":{"loss":[0.4,0.3,0.2]}}</c>
    /// </summary>
    private void WriteBlock(long seq, RecordBatch batch, ReadOnlySpan<Entry> entries, int rows, int width)
    {
        Ensure(128);
        Append(SeqPrefix);
        AppendInt64(seq);
        Append(BlockSteps);
        AppendDeltas(entries, rows, width, time: false);
        Append(BlockTs);
        AppendDeltas(entries, rows, width, time: true);
        Append(ValuesOpen);
        for (var k = 0; k < width; k++)
        {
            var name = batch.Keys[entries[k].KeyId].JsonName;
            Ensure(name.Length + 8);
            if (k > 0)
            {
                _buffer[_length++] = (byte)',';
            }

            Append(name);
            _buffer[_length++] = (byte)'[';
            for (var r = 0; r < rows; r++)
            {
                ref readonly var entry = ref entries[(r * width) + k];
                Ensure(64 + (entry.Payload is string text ? text.Length * 6 : 0));
                AppendValue(in entry);
                _buffer[_length++] = r == rows - 1 ? (byte)']' : (byte)',';
            }
        }

        Ensure(3);
        Append("}}\n"u8);
    }

    /// <summary>Each row's step (or time) as the first value then differences, closing the array.</summary>
    private void AppendDeltas(ReadOnlySpan<Entry> entries, int rows, int width, bool time)
    {
        long previous = 0;
        for (var r = 0; r < rows; r++)
        {
            Ensure(24);
            ref readonly var entry = ref entries[r * width];
            var value = time ? entry.UnixMs : entry.Step;
            AppendInt64(value - previous);
            previous = value;
            _buffer[_length++] = r == rows - 1 ? (byte)']' : (byte)',';
        }
    }

    private void AppendValue(in Entry entry)
    {
        switch (entry.Kind)
        {
            case EntryKind.Number:
                AppendDouble(entry.Number);
                break;
            case EntryKind.Integer:
                AppendInt64(entry.Bits);
                break;
            case EntryKind.UInteger:
                Utf8Formatter.TryFormat(unchecked((ulong)entry.Bits), _buffer.AsSpan(_length), out var written);
                _length += written;
                break;
            case EntryKind.Bool:
                Append(entry.Number != 0 ? "true"u8 : "false"u8);
                break;
            default:
                var text = (string)entry.Payload!;
                Ensure((text.Length * 6) + 16);
                if (RecordValue.IsSpecialText(text))
                {
                    Append("{\"_str\":"u8); // RecordValue.TextMember: text that would read back as a special double
                    AppendString(text);
                    _buffer[_length++] = (byte)'}';
                }
                else
                {
                    AppendString(text);
                }

                break;
        }
    }

    private void WriteRecord(long seq, in Entry entry)
    {
        var payload = (RecordPayload)entry.Payload!;
        Ensure(payload.Fields.Length + payload.Type.Length + 96);
        Append(SeqPrefix);
        AppendInt64(seq);
        Append(TypeMember);
        _length += Encoding.UTF8.GetBytes(payload.Type, _buffer.AsSpan(_length));
        _buffer[_length++] = (byte)'"';
        Append(TsMember);
        AppendInt64(entry.UnixMs);
        if (payload.Fields.Length > 0)
        {
            _buffer[_length++] = (byte)',';
            Append(payload.Fields);
        }

        Append("}\n"u8);
    }

    private void AppendInt64(long value)
    {
        Utf8Formatter.TryFormat(value, _buffer.AsSpan(_length), out var written);
        _length += written;
    }

    private void AppendDouble(double value)
    {
        if (TryAppendShortDecimal(value))
        {
            return;
        }

        if (double.IsFinite(value))
        {
            _length += RecordValue.FormatDouble(value, _buffer.AsSpan(_length));
        }
        else
        {
            Append(double.IsNaN(value) ? "\"NaN\""u8 : value > 0 ? "\"Infinity\""u8 : "\"-Infinity\""u8);
        }
    }

    /// <summary>
    /// Values with at most three decimals (counts, epochs, 0.5, 0.001) written as a scaled integer,
    /// several times faster than the general shortest round-trip formatting. Exact: the text is
    /// m/1000, and the double nearest to m/1000 is <paramref name="value"/> itself.
    /// </summary>
    private bool TryAppendShortDecimal(double value)
    {
        var scaled = value * 1000;
        if (!(Math.Abs(scaled) < 1e15))
        {
            return false;
        }

        var m = (long)scaled;
        if (m != scaled || m / 1000.0 != value || (m == 0 && double.IsNegative(value)))
        {
            return false;
        }

        if (m < 0)
        {
            _buffer[_length++] = (byte)'-';
            m = -m;
        }

        AppendInt64(m / 1000);
        var fraction = (int)(m % 1000);
        if (fraction == 0)
        {
            Append(".0"u8); // a double reads back as a double, not an integer
        }
        else
        {
            _buffer[_length++] = (byte)'.';
            _buffer[_length++] = (byte)('0' + (fraction / 100));
            if (fraction % 100 != 0)
            {
                _buffer[_length++] = (byte)('0' + (fraction / 10 % 10));
                if (fraction % 10 != 0)
                {
                    _buffer[_length++] = (byte)('0' + (fraction % 10));
                }
            }
        }

        return true;
    }

    private void AppendString(string value)
    {
        var encoded = JsonEncodedText.Encode(value, JavaScriptEncoder.UnsafeRelaxedJsonEscaping);
        _buffer[_length++] = (byte)'"';
        Append(encoded.EncodedUtf8Bytes);
        _buffer[_length++] = (byte)'"';
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    private void Ensure(int extra)
    {
        if (_length + extra > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + extra));
        }
    }
}
