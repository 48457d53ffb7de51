namespace Tracker.Server.Storage;

/// <summary>One bucket of a series: the x range it covers and its points' count, min, max and last value.</summary>
internal sealed record SeriesBucket(long X0, long X1, long Count, double Min, double Max, double Last, long LastX);

/// <summary>
/// Buckets a series server-side: the x range splits into at most N equal buckets. A chunk that
/// falls inside one bucket is taken from its summary row; only chunks that straddle buckets are
/// decoded. So a 10-million-point series answers in the same size, and nearly the same time, as a
/// small one, and min/max keep every spike.
/// </summary>
internal static class SeriesQuery
{
    public const int DefaultBuckets = 1000;
    public const int MaxBuckets = 10_000;

    public static async Task<IReadOnlyList<SeriesBucket>> RunAsync(
        SqlRunStore store, long runPk, string key, bool byTime, int buckets, long? from, long? to, CancellationToken cancellationToken)
    {
        var chunks = await store.GetChunkSummariesAsync(runPk, key, cancellationToken);
        if (chunks.Count == 0)
        {
            return [];
        }

        long First(ChunkSummary c) => byTime ? c.FirstTime : c.FirstStep;
        long Last(ChunkSummary c) => byTime ? c.LastTime : c.LastStep;
        var lo = from ?? chunks.Min(First);
        var hi = to ?? chunks.Max(Last);
        if (hi < lo)
        {
            return [];
        }

        var width = Math.Max(1, (long)Math.Ceiling((hi - lo + 1) / (double)buckets));
        var count = (int)((hi - lo) / width) + 1;
        var acc = new Accumulator[count];
        var decode = new List<long>();
        foreach (var chunk in chunks)
        {
            if (Last(chunk) < lo || First(chunk) > hi)
            {
                continue;
            }

            var b0 = (First(chunk) - lo) / width;
            var b1 = (Last(chunk) - lo) / width;

            // Times within a chunk need not be sorted, so only step summaries are trusted for "last".
            if (First(chunk) >= lo && Last(chunk) <= hi && b0 == b1 && !byTime)
            {
                acc[b0].Add(chunk.Count, chunk.Min, chunk.Max, chunk.Last, chunk.LastStep);
            }
            else
            {
                decode.Add(chunk.ChunkNo);
            }
        }

        foreach (var block in await store.ReadChunksAsync(runPk, key, decode, cancellationToken))
        {
            var xs = byTime ? block.Times : block.Steps;
            for (var i = 0; i < block.Count; i++)
            {
                var x = xs[i];
                if (x >= lo && x <= hi)
                {
                    var v = block.Values[i];
                    acc[(x - lo) / width].Add(1, v, v, v, x);
                }
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
