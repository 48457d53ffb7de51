using System.Buffers.Binary;
using System.Numerics;

namespace Tracker.Extensions.TensorBoard;

/// <summary>
/// The record framing of TensorBoard event files (TensorFlow's TFRecord): a little-endian uint64
/// length, the masked CRC-32C of those 8 bytes, the Event bytes, the masked CRC-32C of the bytes.
/// </summary>
internal static class EventFraming
{
    /// <summary>The <c>file_version</c> of the first Event of every file TensorBoard reads today.</summary>
    public const string FileVersion = "brain.Event:2";

    /// <summary>What TensorBoard's loaders look for in a file name: <c>events.out.tfevents.&lt;seconds&gt;.&lt;host&gt;...</c>.</summary>
    public const string FileNameMarker = "tfevents";

    /// <summary>Length (8) and its checksum (4).</summary>
    public const int HeaderBytes = 12;

    /// <summary>The checksum after the data.</summary>
    public const int FooterBytes = 4;

    /// <summary>The CRC-32C (Castagnoli) of <paramref name="data"/>, with hardware instructions where the CPU has them.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The checksum.</returns>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return ~crc;
    }

    /// <summary>
    /// TFRecord's masked checksum: <c>((crc &gt;&gt; 15) | (crc &lt;&lt; 17)) + 0xa282ead8</c>, so that
    /// the CRC of data that holds CRCs is not itself a CRC (TensorFlow's <c>crc32c::Mask</c>).
    /// </summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The masked checksum.</returns>
    public static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        var crc = Crc32C(data);
        return unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);
    }

    /// <summary>Whether a file name is an event file's, as TensorBoard picks them (the name contains <c>tfevents</c>).</summary>
    /// <param name="fileName">The file name, without folders.</param>
    /// <returns>True for event files.</returns>
    public static bool IsEventFile(string fileName) => fileName.Contains(FileNameMarker, StringComparison.Ordinal);
}
