using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;
using Tracker.Extensions.TensorBoard.Protos;

namespace Tracker.Extensions.TensorBoard;

/// <summary>
/// Reads the Events of one TensorBoard event file, from the start or from an offset a previous
/// reader reached (<see cref="Offset"/>), so that a file that grew is read on from where it was.
/// A record whose data does not match its checksum, or that is not an Event, is skipped and
/// counted in <see cref="CorruptRecords"/>; a record whose length does not match its checksum
/// (its end is unknown) is counted and the reader looks for the next valid header byte by byte.
/// An incomplete record at the end (a writer still writing it) stops the reading before it, and
/// <see cref="Offset"/> stays at its start. Not thread-safe.
/// </summary>
internal sealed class EventFileReader : IDisposable
{
    /// <summary>
    /// The largest record it reads: TensorBoard's own readers refuse nothing smaller, and a length
    /// over this with a valid checksum is not an Event a summary writer wrote.
    /// </summary>
    public const long MaxRecordBytes = 1L << 30;

    private readonly FileStream _stream;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(1 << 16);

    /// <summary>Opens <paramref name="path"/> at <paramref name="offset"/>.</summary>
    /// <param name="path">The event file.</param>
    /// <param name="offset">Where to start: 0, or an <see cref="Offset"/> a previous reader reached.</param>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The offset is negative.</exception>
    public EventFileReader(string path, long offset = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.SequentialScan);
        _stream.Position = Math.Min(offset, _stream.Length);
        Offset = _stream.Position;
    }

    /// <summary>Bytes of the file read: the end of the last complete record (valid or skipped).</summary>
    public long Offset { get; private set; }

    /// <summary>Records skipped because a checksum did not match or the bytes were not an Event.</summary>
    public int CorruptRecords { get; private set; }

    /// <summary>Reads the next Event.</summary>
    /// <param name="value">The Event; null at the end.</param>
    /// <returns>False at the end of the complete records.</returns>
    public bool TryRead(out Event? value)
    {
        Span<byte> header = stackalloc byte[EventFraming.HeaderBytes];
        while (true)
        {
            value = null;
            if (_stream.Position != Offset)
            {
                _stream.Position = Offset; // after a partial record or a resynchronisation only: a seek drops the read buffer
            }

            if (_stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadUInt64LittleEndian(header);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[8..]) != EventFraming.MaskedCrc(header[..8]) || length > MaxRecordBytes)
            {
                CorruptRecords++;
                if (!Resynchronize())
                {
                    return false;
                }

                continue;
            }

            var size = (int)length + EventFraming.FooterBytes;
            if (_buffer.Length < size)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = ArrayPool<byte>.Shared.Rent(size);
            }

            if (_stream.ReadAtLeast(_buffer.AsSpan(0, size), size, throwOnEndOfStream: false) < size)
            {
                return false; // still being written: read it next time
            }

            Offset += EventFraming.HeaderBytes + size;
            var data = _buffer.AsSpan(0, (int)length);
            if (BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan((int)length)) != EventFraming.MaskedCrc(data))
            {
                CorruptRecords++;
                continue;
            }

            try
            {
                value = Event.Parser.ParseFrom(data);
                return true;
            }
            catch (InvalidProtocolBufferException)
            {
                CorruptRecords++;
            }
        }
    }

    /// <summary>All the Events from <see cref="Offset"/> to the end of the complete records.</summary>
    /// <returns>The Events, read as they are enumerated.</returns>
    public IEnumerable<Event> ReadAll()
    {
        while (TryRead(out var value))
        {
            yield return value!;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _stream.Dispose();
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }

    /// <summary>
    /// After a header whose length fails its checksum: moves <see cref="Offset"/> to the next byte
    /// where a valid header starts. False when none is left (then the rest is read once more
    /// bytes arrive, from the byte after the bad header).
    /// </summary>
    private bool Resynchronize()
    {
        var start = Offset + 1;
        _stream.Position = start;
        var window = new byte[Math.Max(1, (int)Math.Min(_stream.Length - start, 1 << 20))];
        while (true)
        {
            var read = _stream.ReadAtLeast(window, window.Length, throwOnEndOfStream: false);
            for (var i = 0; i + EventFraming.HeaderBytes <= read; i++)
            {
                var candidate = window.AsSpan(i, EventFraming.HeaderBytes);
                if (BinaryPrimitives.ReadUInt32LittleEndian(candidate[8..]) == EventFraming.MaskedCrc(candidate[..8])
                    && BinaryPrimitives.ReadUInt64LittleEndian(candidate) <= MaxRecordBytes)
                {
                    Offset = start + i;
                    return true;
                }
            }

            if (read < window.Length)
            {
                Offset = start + Math.Max(0, read - EventFraming.HeaderBytes + 1);
                return false;
            }

            start += read - EventFraming.HeaderBytes + 1;
            _stream.Position = start;
        }
    }
}
