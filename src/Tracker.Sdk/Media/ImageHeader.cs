using System.Buffers.Binary;

namespace Tracker.Internal;

/// <summary>Reads the format and size of PNG and JPEG bytes from their headers, without decoding.</summary>
internal static class ImageHeader
{
    /// <summary>The format ("png" or "jpeg") and size, or null when the bytes are neither.</summary>
    public static (string Format, int Width, int Height)? Read(ReadOnlySpan<byte> bytes)
    {
        // PNG: signature, then the IHDR chunk: length, "IHDR", width, height (big-endian).
        if (bytes.Length >= 24 && bytes[..8].SequenceEqual((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A])
            && bytes.Slice(12, 4).SequenceEqual("IHDR"u8))
        {
            return ("png", BinaryPrimitives.ReadInt32BigEndian(bytes[16..]), BinaryPrimitives.ReadInt32BigEndian(bytes[20..]));
        }

        return bytes.Length >= 4 && bytes[0] == 0xFF && bytes[1] == 0xD8 ? ReadJpeg(bytes) : null;
    }

    /// <summary>Walks the JPEG segments to the first start-of-frame, which holds height and width.</summary>
    private static (string, int, int)? ReadJpeg(ReadOnlySpan<byte> bytes)
    {
        var i = 2;
        while (i + 4 <= bytes.Length)
        {
            if (bytes[i] != 0xFF)
            {
                return null;
            }

            var marker = bytes[i + 1];
            if (marker == 0xFF)
            {
                i++; // fill byte
                continue;
            }

            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                i += 2; // markers without a length
                continue;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(bytes[(i + 2)..]);
            var isFrame = marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC);
            if (isFrame && i + 9 <= bytes.Length)
            {
                return ("jpeg", BinaryPrimitives.ReadUInt16BigEndian(bytes[(i + 7)..]), BinaryPrimitives.ReadUInt16BigEndian(bytes[(i + 5)..]));
            }

            if (marker == 0xD9 || length < 2)
            {
                return null;
            }

            i += 2 + length;
        }

        return null;
    }
}
