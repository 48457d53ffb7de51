using System.Buffers.Binary;
using System.IO.Compression;

namespace Tracker.Internal;

/// <summary>
/// Encodes 8-bit pixels (gray, gray+alpha, RGB or RGBA, rows top to bottom) as PNG: the core SDK
/// takes no imaging dependency. Each row uses the Sub filter, which suits photos and renders
/// alike, and the zlib stream is written at the fastest level: this runs once per logged image.
/// </summary>
internal static class PngEncoder
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly uint[] CrcTable = BuildCrcTable();

    public static byte[] Encode(ReadOnlySpan<byte> pixels, int width, int height, int channels)
    {
        var stride = width * channels;
        using var output = new MemoryStream((pixels.Length / 2) + 1024);
        output.Write(Signature);

        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8; // bit depth
        header[9] = channels switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 }; // colour type
        WriteChunk(output, "IHDR"u8, header);

        using var compressed = new MemoryStream((pixels.Length / 2) + 1024);
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            var row = new byte[stride + 1];
            row[0] = 1; // Sub: each byte minus the same channel of the pixel to its left
            for (var y = 0; y < height; y++)
            {
                var source = pixels.Slice(y * stride, stride);
                source[..channels].CopyTo(row.AsSpan(1));
                for (var x = channels; x < stride; x++)
                {
                    row[x + 1] = (byte)(source[x] - source[x - channels]);
                }

                zlib.Write(row);
            }
        }

        WriteChunk(output, "IDAT"u8, compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        WriteChunk(output, "IEND"u8, []);
        return output.ToArray();
    }

    private static void WriteChunk(Stream output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        output.Write(type);
        output.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, ~Crc(Crc(uint.MaxValue, type), data));
        output.Write(word);
    }

    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
