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

    /// <summary>Points per block: each chunk also carries a summary of every block of this many points.</summary>
    public const int BlockSize = 64;

    /// <summary>Summaries of consecutive blocks of <see cref="BlockSize"/> points, packed as one blob.</summary>
    public static byte[] PackBlocks(ReadOnlySpan<long> steps, ReadOnlySpan<long> times, ReadOnlySpan<double> values)
    {
        var blocks = new BlockSummary[(steps.Length + BlockSize - 1) / BlockSize];
        for (var b = 0; b < blocks.Length; b++)
        {
            var start = b * BlockSize;
            var length = Math.Min(BlockSize, steps.Length - start);
            var (min, max, last) = Summarise(values.Slice(start, length));
            var blockTimes = times.Slice(start, length);
            long minTime = long.MaxValue, maxTime = long.MinValue;
            foreach (var t in blockTimes)
            {
                minTime = Math.Min(minTime, t);
                maxTime = Math.Max(maxTime, t);
            }

            blocks[b] = new BlockSummary(steps[start], steps[start + length - 1], minTime, maxTime, length, min, max, last);
        }

        return MemoryMarshal.AsBytes(blocks.AsSpan()).ToArray();
    }

    public static ReadOnlySpan<BlockSummary> UnpackBlocks(ReadOnlySpan<byte> blob) => MemoryMarshal.Cast<byte, BlockSummary>(blob);

    /// <summary>
    /// Steps that count up by one from the first, as most runs log them, are stored as an empty
    /// blob: the chunk's first step and count give them back, and a third of the bytes is saved.
    /// </summary>
    public static byte[] PackSteps(ReadOnlySpan<long> steps)
    {
        for (var i = 1; i < steps.Length; i++)
        {
            if (steps[i] != steps[0] + i)
            {
                return MemoryMarshal.AsBytes(steps).ToArray();
            }
        }

        return [];
    }

    /// <summary>Steps <paramref name="from"/> to <paramref name="from"/> + <paramref name="count"/> of a chunk whose steps blob is <paramref name="blob"/>.</summary>
    public static long[] UnpackSteps(ReadOnlySpan<byte> blob, long firstStep, int from, int count)
    {
        if (!blob.IsEmpty)
        {
            return MemoryMarshal.Cast<byte, long>(blob).ToArray();
        }

        var steps = new long[count];
        for (var i = 0; i < count; i++)
        {
            steps[i] = firstStep + from + i;
        }

        return steps;
    }

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

/// <summary>What a block of up to <see cref="ChunkCodec.BlockSize"/> points of a chunk holds.</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly record struct BlockSummary(long FirstStep, long LastStep, long FirstTime, long LastTime, long Count, double Min, double Max, double Last);
