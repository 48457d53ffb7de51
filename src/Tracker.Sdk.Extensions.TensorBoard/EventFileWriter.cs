using System.Buffers.Binary;
using System.Globalization;
using Google.Protobuf;
using Tracker.Extensions.TensorBoard.Protos;

namespace Tracker.Extensions.TensorBoard;

/// <summary>
/// Writes one TensorBoard event file, <c>events.out.tfevents.&lt;seconds&gt;.&lt;host&gt;.&lt;pid&gt;.&lt;n&gt;</c>
/// (the name TensorFlow and PyTorch's <c>SummaryWriter</c> give it), whose first record is an Event
/// with <c>file_version: "brain.Event:2"</c>. Records are framed as <see cref="EventFraming"/> says and
/// buffered; <see cref="Flush"/> hands them to the OS (TensorBoard reads what is flushed). Not thread-safe.
/// </summary>
internal sealed class EventFileWriter : IDisposable
{
    /// <summary>The last number of the file name: a counter of the files this process opened, as PyTorch's.</summary>
    private static int _fileCount = -1;

    private readonly FileStream _stream;
    private byte[] _buffer = new byte[256];

    /// <summary>Creates the file in <paramref name="directory"/> (created when missing) and writes the file_version Event.</summary>
    /// <param name="directory">The run's log folder.</param>
    /// <param name="time">The clock for the name and the first Event's wall time; the system clock when null.</param>
    /// <exception cref="IOException">The file cannot be created.</exception>
    public EventFileWriter(string directory, TimeProvider? time = null)
    {
        var now = (time ?? TimeProvider.System).GetUtcNow();
        Directory.CreateDirectory(directory);

        // TensorBoard reads a folder's event files in name order: a new file must sort after those there.
        // Within one second the counter decides, and "10" sorts before "9"; the clock may go back too.
        // Then the name takes the second after the last file's, which is all the name's time is for.
        var seconds = now.ToUnixTimeSeconds();
        var number = Interlocked.Increment(ref _fileCount);
        var name = FileName(seconds, Environment.MachineName, Environment.ProcessId, number);
        var last = Directory.EnumerateFiles(directory).Select(System.IO.Path.GetFileName).Where(f => EventFraming.IsEventFile(f!)).Max(StringComparer.Ordinal);
        if (last is not null && string.CompareOrdinal(name, last) <= 0 && SecondsOf(last) is { } lastSeconds)
        {
            name = FileName(Math.Max(seconds, lastSeconds + 1), Environment.MachineName, Environment.ProcessId, number);
        }

        Path = System.IO.Path.Combine(directory, name);
        _stream = new FileStream(Path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16);
        Write(new Event { WallTime = now.ToUnixTimeMilliseconds() / 1000.0, FileVersion = EventFraming.FileVersion });
    }

    /// <summary>The file's full path.</summary>
    public string Path { get; }

    /// <summary>The bytes written, buffered ones included: the file's length after <see cref="Flush"/>.</summary>
    public long Length => _stream.Position;

    /// <summary>The name of an event file: <c>events.out.tfevents.&lt;seconds&gt;.&lt;host&gt;.&lt;pid&gt;.&lt;n&gt;</c>.</summary>
    /// <param name="seconds">When the file is created, in whole seconds since the Unix epoch.</param>
    /// <param name="host">The machine name.</param>
    /// <param name="processId">The writing process.</param>
    /// <param name="number">A counter that tells apart files one process creates in the same second.</param>
    /// <returns>The file name.</returns>
    private static string FileName(long seconds, string host, int processId, int number) =>
        string.Create(CultureInfo.InvariantCulture, $"events.out.{EventFraming.FileNameMarker}.{seconds}.{host}.{processId}.{number}");

    /// <summary>The seconds in an event file's name, or null when it is not named the usual way.</summary>
    private static long? SecondsOf(string name) =>
        name.Split('.') is [_, _, _, var seconds, ..] && long.TryParse(seconds, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    /// <summary>Frames and buffers one Event.</summary>
    /// <param name="value">The Event.</param>
    public void Write(Event value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var length = value.CalculateSize();
        var size = EventFraming.HeaderBytes + length + EventFraming.FooterBytes;
        if (_buffer.Length < size)
        {
            _buffer = new byte[Math.Max(size, _buffer.Length * 2)];
        }

        var record = _buffer.AsSpan(0, size);
        BinaryPrimitives.WriteUInt64LittleEndian(record, (ulong)length);
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], EventFraming.MaskedCrc(record[..8]));
        var data = record.Slice(EventFraming.HeaderBytes, length);
        value.WriteTo(data);
        BinaryPrimitives.WriteUInt32LittleEndian(record[(EventFraming.HeaderBytes + length)..], EventFraming.MaskedCrc(data));
        _stream.Write(record);
    }

    /// <summary>Writes the buffered records to the file.</summary>
    public void Flush() => _stream.Flush();

    /// <summary>Flushes and closes the file.</summary>
    public void Dispose() => _stream.Dispose();
}
