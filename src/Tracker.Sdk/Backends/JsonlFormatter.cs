using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Tracker.Pipeline;

namespace Tracker.Backends;

/// <summary>
/// Writes a batch as JSON lines straight into a byte buffer. Hand-written because it is the
/// hottest code after Log: one line per history row, numbers formatted once, keys pre-escaped.
/// NaN and infinities become the strings "NaN", "Infinity", "-Infinity".
/// </summary>
internal sealed class JsonlFormatter
{
    private static readonly byte[] SeqPrefix = "{\"seq\":"u8.ToArray();
    private static readonly byte[] HistoryType = ",\"type\":\"history\",\"step\":"u8.ToArray();
    private static readonly byte[] TsMember = ",\"ts\":"u8.ToArray();
    private static readonly byte[] ValuesOpen = ",\"values\":{"u8.ToArray();
    private static readonly byte[] TypeMember = ",\"type\":\""u8.ToArray();

    private byte[] _buffer = new byte[1 << 20];
    private int _length;

    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _length);

    /// <summary>Formats the whole batch, numbering lines from <see cref="RecordBatch.FirstSeq"/>.</summary>
    public void Format(RecordBatch batch)
    {
        _length = 0;
        var seq = batch.FirstSeq;
        var lineOpen = false;
        foreach (var chunk in batch.Chunks)
        {
            var entries = chunk.Entries.AsSpan(0, chunk.Count);
            for (var i = 0; i < entries.Length; i++)
            {
                ref readonly var entry = ref entries[i];
                if (entry.Kind == EntryKind.Record)
                {
                    CloseLine(ref lineOpen);
                    WriteRecord(seq++, in entry);
                    continue;
                }

                var key = batch.Keys[entry.KeyId];
                Ensure(key.JsonName.Length + 128 + (entry.Payload is string s ? s.Length * 6 : 0));
                if (entry.SameLine && lineOpen)
                {
                    _buffer[_length++] = (byte)',';
                }
                else
                {
                    CloseLine(ref lineOpen);
                    Append(SeqPrefix);
                    AppendInt64(seq++);
                    Append(HistoryType);
                    AppendInt64(entry.Step);
                    Append(TsMember);
                    AppendInt64(entry.UnixMs);
                    Append(ValuesOpen);
                    lineOpen = true;
                }

                Append(key.JsonName);
                switch (entry.Kind)
                {
                    case EntryKind.Number:
                        AppendDouble(entry.Number);
                        break;
                    case EntryKind.Bool:
                        Append(entry.Number != 0 ? "true"u8 : "false"u8);
                        break;
                    default:
                        AppendString((string)entry.Payload!);
                        break;
                }
            }
        }

        CloseLine(ref lineOpen);
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

    private void CloseLine(ref bool lineOpen)
    {
        if (lineOpen)
        {
            Ensure(3);
            Append("}}\n"u8);
            lineOpen = false;
        }
    }

    private void AppendInt64(long value)
    {
        Utf8Formatter.TryFormat(value, _buffer.AsSpan(_length), out var written);
        _length += written;
    }

    private void AppendDouble(double value)
    {
        if (double.IsFinite(value))
        {
            value.TryFormat(_buffer.AsSpan(_length), out var written, default, CultureInfo.InvariantCulture);
            _length += written;
        }
        else
        {
            Append(double.IsNaN(value) ? "\"NaN\""u8 : value > 0 ? "\"Infinity\""u8 : "\"-Infinity\""u8);
        }
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
