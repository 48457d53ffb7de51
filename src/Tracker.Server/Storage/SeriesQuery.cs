namespace Tracker.Server.Storage;

/// <summary>One bucket of a series: the x range it covers and its points' count, min, max and last value.</summary>
internal sealed record SeriesBucket(long X0, long X1, long Count, double Min, double Max, double Last, long LastX);

/// <summary>
/// Buckets a series server-side: the x range splits into at most N equal buckets. A chunk or a
/// 64-point block that falls inside one bucket is taken from its summary; only blocks that
/// straddle buckets are decoded. So a 10-million-point series answers in the same size, and nearly the same time, as a
/// small one, and min/max keep every spike.
/// </summary>
internal static class SeriesQuery
{
    public const int DefaultBuckets = 1000;
    public const int MaxBuckets = 10_000;

    public static async Task<IReadOnlyList<SeriesBucket>> RunAsync(
        SqlRunStore store, long runPk, string key, bool byTime, int buckets, long? from, long? to, CancellationToken cancellationToken)
    {
        var chunks = await store.Metrics.GetChunkAndBlockSummariesAsync(runPk, key, cancellationToken);
        if (chunks.Count == 0)
        {
            return [];
        }

        long First(ChunkSummary c) => byTime ? c.FirstTime : c.FirstStep;
        long Last(ChunkSummary c) => byTime ? c.LastTime : c.LastStep;
        var lo = from ?? chunks.Min(c => First(c.Chunk));
        var hi = to ?? chunks.Max(c => Last(c.Chunk));
        if (hi < lo)
        {
            return [];
        }

        var width = Math.Max(1, (long)Math.Ceiling((hi - lo + 1) / (double)buckets));
        var count = (int)((hi - lo) / width) + 1;
        var acc = new Accumulator[count];

        // Whole chunks inside one bucket come from their summary row. Of the others, whole blocks
        // inside one bucket come from the block summaries; only blocks that straddle are decoded.
        // For x = time, "last" assumes times rise with steps inside a block, as a run's clock does.
        bool InOneBucket(long x0, long x1) => x0 >= lo && x1 <= hi && (x0 - lo) / width == (x1 - lo) / width;
        var straddling = new List<(long ChunkNo, int Block)>();
        foreach (var (chunk, blocks) in chunks)
        {
            if (Last(chunk) < lo || First(chunk) > hi)
            {
                continue;
            }

            if (InOneBucket(First(chunk), Last(chunk)))
            {
                acc[(First(chunk) - lo) / width].Add(chunk.Count, chunk.Min, chunk.Max, chunk.Last, Last(chunk));
                continue;
            }

            for (var b = 0; b < blocks.Length; b++)
            {
                var block = blocks[b];
                var (x0, x1) = byTime ? (block.FirstTime, block.LastTime) : (block.FirstStep, block.LastStep);
                if (x1 < lo || x0 > hi)
                {
                    continue;
                }

                if (InOneBucket(x0, x1))
                {
                    acc[(x0 - lo) / width].Add(block.Count, block.Min, block.Max, block.Last, x1);
                }
                else
                {
                    straddling.Add((chunk.ChunkNo, b));
                }
            }
        }

        foreach (var (x, v) in await store.Metrics.ReadBlockPointsAsync(runPk, key, straddling, byTime, cancellationToken))
        {
            if (x >= lo && x <= hi)
            {
                acc[(x - lo) / width].Add(1, v, v, v, x);
            }
        }

        var result = new List<SeriesBucket>(count);
        for (var b = 0; b < count; b++)
        {
            if (acc[b].Count > 0)
            {
                var x0 = lo + (b * width);
                result.Add(new SeriesBucket(x0, Math.Min(hi, x0 + width - 1), acc[b].Count, acc[b].Min, acc[b].Max, acc[b].Last, acc[b].LastX));
            }
        }

        return result;
    }

    private struct Accumulator
    {
        public long Count;
        public double Min;
        public double Max;
        public double Last;
        public long LastX;

        public void Add(long count, double min, double max, double last, long lastX)
        {
            if (Count == 0)
            {
                (Min, Max, Last, LastX) = (double.NaN, double.NaN, last, lastX);
            }
            else if (lastX >= LastX)
            {
                (Last, LastX) = (last, lastX);
            }

            Count += count;
            if (!double.IsNaN(min) && !(min >= Min))
            {
                Min = min;
            }

            if (!double.IsNaN(max) && !(max <= Max))
            {
                Max = max;
            }
        }
    }
}
