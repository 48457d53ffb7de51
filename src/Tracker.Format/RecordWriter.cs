using System.Buffers.Text;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Tracker.Format;

/// <summary>
/// The one writer of record lines, straight into a byte buffer: it is the hottest code after
/// <c>Log</c>, so keys come pre-escaped (<see cref="KeyName"/>) and values are formatted without
/// allocating. The caller drives the line's shape (a history row, a block of rows as columns, or
/// any other record); this class owns how every piece is spelled, by the rules of
/// <see cref="RecordValue"/>: doubles with a fraction, integers exact, NaN and infinities as strings,
/// and text that would read as a special double wrapped as <c>{"_str":"NaN"}</c>.
/// Not thread-safe.
/// </summary>
public sealed class RecordWriter
{
    /// <summary>Opens the object that carries a text which would read as a special double: <c>{"_str":</c>.</summary>
    private static readonly byte[] WrappedTextOpen = Encoding.UTF8.GetBytes($"{{\"{RecordValue.TextMember}\":");

    private byte[] _buffer = new byte[1 << 20];
    private int _length;

    /// <summary>The lines written since <see cref="Clear"/>.</summary>
    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _length);

    /// <summary>A key as the writer copies it: quoted, escaped, followed by a colon.</summary>
    /// <param name="key">The key.</param>
    /// <returns>Its bytes, to keep and pass to <see cref="Key"/>.</returns>
    public static byte[] KeyName(string key) =>
        Encoding.UTF8.GetBytes($"\"{JsonEncodedText.Encode(key, JavaScriptEncoder.UnsafeRelaxedJsonEscaping)}\":");

    /// <summary>Starts over, keeping the buffer.</summary>
    public void Clear() => _length = 0;

    /// <summary>Starts a history row: <c>{"seq":1,"type":"history","step":0,"ts":1795736598404,"values":{</c>.</summary>
    /// <param name="seq">The record's sequence number.</param>
    /// <param name="step">The row's step.</param>
    /// <param name="unixMs">The row's time.</param>
    public void BeginRow(long seq, long step, long unixMs)
    {
        Ensure(128);
        Append("{\"seq\":"u8);
        AppendInt64(seq);
        Append(",\"type\":\"history\",\"step\":"u8);
        AppendInt64(step);
        Append(",\"ts\":"u8);
        AppendInt64(unixMs);
        Append(",\"values\":{"u8);
    }

    /// <summary>
    /// Starts a block of rows with the same keys: <c>{"seq":2,"type":"history","steps":[</c>; then
    /// <see cref="Delta"/> for each row's step, <see cref="BeginBlockTimes"/>, <see cref="Delta"/> for
    /// each time, <see cref="BeginBlockValues"/>, and per key <see cref="Key"/>, <see cref="BeginColumn"/>,
    /// the values with <see cref="EndItem"/>.
    /// </summary>
    /// <param name="seq">The record's sequence number.</param>
    public void BeginBlock(long seq)
    {
        Ensure(64);
        Append("{\"seq\":"u8);
        AppendInt64(seq);
        Append(",\"type\":\"history\",\"steps\":["u8);
    }

    /// <summary>One item of <c>steps</c> or <c>ts</c>: the first value, then differences; closes the array after the last.</summary>
    /// <param name="delta">The value (first) or the difference to the previous one.</param>
    /// <param name="last">Whether it is the last item.</param>
    public void Delta(long delta, bool last)
    {
        Ensure(24);
        AppendInt64(delta);
        EndItem(last);
    }

    /// <summary>Between a block's steps and its times: <c>,"ts":[</c>.</summary>
    public void BeginBlockTimes() => Append(",\"ts\":["u8, ensure: true);

    /// <summary>Between a block's times and its columns: <c>,"values":{</c>.</summary>
    public void BeginBlockValues() => Append(",\"values\":{"u8, ensure: true);

    /// <summary>A key of <c>values</c>, from <see cref="KeyName"/>.</summary>
    /// <param name="keyName">The key's bytes.</param>
    /// <param name="first">Whether it is the first key of the line.</param>
    public void Key(ReadOnlySpan<byte> keyName, bool first)
    {
        Ensure(keyName.Length + 2);
        if (!first)
        {
            _buffer[_length++] = (byte)',';
        }

        Append(keyName);
    }

    /// <summary>Opens a key's column in a block.</summary>
    public void BeginColumn() => Append("["u8, ensure: true);

    /// <summary>After a column item: a comma, or the closing bracket after the last.</summary>
    /// <param name="last">Whether it was the last item.</param>
    public void EndItem(bool last)
    {
        Ensure(1);
        _buffer[_length++] = last ? (byte)']' : (byte)',';
    }

    /// <summary>Closes a history line (row or block) and ends it with a newline.</summary>
    public void EndHistory() => Append("}}\n"u8, ensure: true);

    /// <summary>A double: shortest round-trip digits with a fraction; NaN and infinities as their strings.</summary>
    /// <param name="value">The value.</param>
    public void Double(double value)
    {
        Ensure(40);
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

    /// <summary>An integer, exact.</summary>
    /// <param name="value">The value.</param>
    public void Integer(long value)
    {
        Ensure(24);
        AppendInt64(value);
    }

    /// <summary>An unsigned integer above <see cref="long.MaxValue"/>, exact.</summary>
    /// <param name="value">The value.</param>
    public void Integer(ulong value)
    {
        Ensure(24);
        Utf8Formatter.TryFormat(value, _buffer.AsSpan(_length), out var written);
        _length += written;
    }

    /// <summary>A boolean.</summary>
    /// <param name="value">The value.</param>
    public void Bool(bool value) => Append(value ? "true"u8 : "false"u8, ensure: true);

    /// <summary>A text; one that reads as a special double is wrapped as <c>{"_str":"NaN"}</c>.</summary>
    /// <param name="value">The text.</param>
    public void Text(string value)
    {
        Ensure((value.Length * 6) + 16);
        var wrap = RecordValue.IsSpecialText(value);
        if (wrap)
        {
            Append(WrappedTextOpen);
        }

        var encoded = JsonEncodedText.Encode(value, JavaScriptEncoder.UnsafeRelaxedJsonEscaping);
        _buffer[_length++] = (byte)'"';
        Append(encoded.EncodedUtf8Bytes);
        _buffer[_length++] = (byte)'"';
        if (wrap)
        {
            _buffer[_length++] = (byte)'}';
        }
    }

    /// <summary>
    /// A record other than history: <c>{"seq":3,"type":"config","ts":1795736598409,</c> then
    /// <paramref name="fields"/> (JSON members without braces, written by <see cref="RecordValue"/>'s rules), and a newline.
    /// </summary>
    /// <param name="seq">The record's sequence number.</param>
    /// <param name="type">Its type.</param>
    /// <param name="unixMs">Its time.</param>
    /// <param name="fields">Its members, without braces; may be empty.</param>
    public void Record(long seq, string type, long unixMs, ReadOnlySpan<byte> fields)
    {
        Ensure(fields.Length + (type.Length * 3) + 96);
        Append("{\"seq\":"u8);
        AppendInt64(seq);
        Append(",\"type\":\""u8);
        _length += Encoding.UTF8.GetBytes(type, _buffer.AsSpan(_length));
        Append("\",\"ts\":"u8);
        AppendInt64(unixMs);
        if (fields.Length > 0)
        {
            _buffer[_length++] = (byte)',';
            Append(fields);
        }

        Append("}\n"u8);
    }

    private void AppendInt64(long value)
    {
        Utf8Formatter.TryFormat(value, _buffer.AsSpan(_length), out var written);
        _length += written;
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
        _buffer[_length++] = (byte)'.'; // a double reads back as a double, not an integer
        _buffer[_length++] = (byte)('0' + (fraction / 100));
        if (fraction % 100 != 0)
        {
            _buffer[_length++] = (byte)('0' + (fraction / 10 % 10));
            if (fraction % 10 != 0)
            {
                _buffer[_length++] = (byte)('0' + (fraction % 10));
            }
        }

        return true;
    }

    private void Append(ReadOnlySpan<byte> bytes, bool ensure = false)
    {
        if (ensure)
        {
            Ensure(bytes.Length);
        }

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
