using System.Runtime.InteropServices;

namespace Tracker.Server.Storage;

/// <summary>
/// Packs a chunk's steps, times and values as little-endian arrays, one blob each: decoding is a
/// copy, which is what lets a chart read a million points in a few milliseconds.
/// </summary>
internal static class ChunkCodec
{
    /// <summary>Points per chunk row; a chunk summarises up to this many points.</summary>
    public const int ChunkSize = 1024;

    public static byte[] Pack(ReadOnlySpan<long> values) => MemoryMarshal.AsBytes(values).ToArray();

    public static byte[] Pack(ReadOnlySpan<double> values) => MemoryMarshal.AsBytes(values).ToArray();

    public static long[] UnpackInt64(ReadOnlySpan<byte> blob) => MemoryMarshal.Cast<byte, long>(blob).ToArray();

    public static double[] UnpackDouble(ReadOnlySpan<byte> blob) => MemoryMarshal.Cast<byte, double>(blob).ToArray();

    /// <summary>Min and max ignoring NaN (NaN when there is no other value), and the last value.</summary>
    public static (double Min, double Max, double Last) Summarise(ReadOnlySpan<double> values)
    {
        double min = double.NaN, max = double.NaN;
        foreach (var v in values)
        {
            if (!double.IsNaN(v))
            {
                if (!(v >= min))
                {
                    min = v;
                }

                if (!(v <= max))
                {
                    max = v;
                }
            }
        }

        return (min, max, values[^1]);
    }
}
