namespace Tracker.Server.Storage;

/// <summary>One bucket of the grid a series is answered on: the x range it covers and the summary of its points.</summary>
/// <param name="X0">The first x of the bucket's range.</param>
/// <param name="X1">The last x of the bucket's range.</param>
/// <param name="Points">Its points' count, min, max and last value, with their first and last x.</param>
internal readonly record struct BucketSpan(long X0, long X1, SeriesBucket Points)
{
    public long Count => Points.Count;

    public double Min => Points.Min;

    public double Max => Points.Max;

    public double Last => Points.Last;

    public long LastX => Points.LastX;
}

/// <summary>A bucket of a series by step, with the value another metric had at the bucket's last step.</summary>
/// <param name="Bucket">The bucket, by step.</param>
/// <param name="X">The other metric's value at <see cref="BucketSpan.LastX"/>, carried forward from its last point at or before it.</param>
internal readonly record struct PairedBucket(BucketSpan Bucket, double X);

/// <summary>
/// Buckets a series server-side on Tracker.Format's <see cref="BucketGrid"/>: the x range splits
/// into at most N equal buckets. A chunk or a 64-point block that falls inside one bucket is taken
/// from its summary; only blocks that straddle buckets are decoded. So a 10-million-point series
/// answers in the same size, and nearly the same time, as a small one, and min/max keep every spike.
/// </summary>
internal static class SeriesQuery
{
    public const int DefaultBuckets = 1000;
    public const int MaxBuckets = 10_000;

    public static async Task<IReadOnlyList<BucketSpan>> RunAsync(
        SqlRunStore store, long runPk, string key, bool byTime, int buckets, long? from, long? to, CancellationToken cancellationToken)
    {
        var chunks = await store.Metrics.GetChunkAndBlockSummariesAsync(runPk, key, cancellationToken);
        return await BucketAsync(store, runPk, key, chunks, byTime, buckets, from, to, cancellationToken);
    }

    /// <summary>
    /// The series of <paramref name="key"/> bucketed by step, each bucket paired with the value
    /// <paramref name="xKey"/> had at the bucket's last step (W&amp;B's step metric): the one logged
    /// at that step, or else the last one before it. Steps before <paramref name="xKey"/>'s first
    /// point are left out.
    /// </summary>
    public static async Task<IReadOnlyList<PairedBucket>> AgainstMetricAsync(
        SqlRunStore store, long runPk, string key, string xKey, int buckets, long? from, long? to, CancellationToken cancellationToken)
    {
        // Both series' summaries at once, on two connections.
        var xRead = store.Metrics.GetChunkAndBlockSummariesAsync(runPk, xKey, cancellationToken);
        var chunks = key == xKey ? await xRead : await store.Metrics.GetChunkAndBlockSummariesAsync(runPk, key, cancellationToken);
        var xChunks = await xRead;
        if (xChunks.Count == 0 || chunks.Count == 0)
        {
            return [];
        }

        var xFirst = xChunks.Min(c => c.Chunk.FirstStep);
        var lo = Math.Max(from ?? chunks.Min(c => c.Chunk.FirstStep), xFirst);
        var spans = await BucketAsync(store, runPk, key, chunks, byTime: false, buckets, lo, to, cancellationToken);
        var values = await ValuesAtAsync(store, runPk, xKey, xChunks, spans.Select(s => s.LastX).ToList(), cancellationToken);
        var paired = new List<PairedBucket>(spans.Count);
        for (var i = 0; i < spans.Count; i++)
        {
            if (values.TryGet(i, out var x))
            {
                paired.Add(new PairedBucket(spans[i], x));
            }
        }

        return paired;
    }

    private static async Task<IReadOnlyList<BucketSpan>> BucketAsync(
        SqlRunStore store, long runPk, string key, List<(ChunkSummary Chunk, BlockSummary[] Blocks)> chunks, bool byTime, int buckets, long? from, long? to, CancellationToken cancellationToken)
    {
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

        var grid = new BucketGrid(lo, hi, buckets);

        // Whole chunks inside one bucket come from their summary row. Of the others, whole blocks
        // inside one bucket come from the block summaries; only blocks that straddle are decoded.
        // For x = time, "last" assumes times rise with steps inside a block, as a run's clock does.
        var straddling = new List<(long ChunkNo, int Block)>();
        foreach (var (chunk, blocks) in chunks)
        {
            if (Last(chunk) < lo || First(chunk) > hi)
            {
                continue;
            }

            if (grid.InOneBucket(First(chunk), Last(chunk)))
            {
                grid[First(chunk)].Add(chunk.Count, chunk.Min, chunk.Max, chunk.Last, First(chunk), Last(chunk));
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

                if (grid.InOneBucket(x0, x1))
                {
                    grid[x0].Add(block.Count, block.Min, block.Max, block.Last, x0, x1);
                }
                else
                {
                    straddling.Add((chunk.ChunkNo, b));
                }
            }
        }

        foreach (var (x, v) in await store.Metrics.ReadBlockPointsAsync(runPk, key, straddling, byTime, cancellationToken))
        {
            if (grid.Contains(x))
            {
                grid[x].Add(x, v);
            }
        }

        var result = new List<BucketSpan>(grid.Buckets.Length);
        for (var b = 0; b < grid.Buckets.Length; b++)
        {
            if (grid.Buckets[b].Count > 0)
            {
                result.Add(new BucketSpan(grid.StartOf(b), grid.EndOf(b), grid.Buckets[b]));
            }
        }

        return result;
    }

    /// <summary>
    /// The values of a series at <paramref name="steps"/> (ascending), carried forward. A chunk or
    /// block with none of the steps inside its range stands for its last point alone; only blocks
    /// that have one of the steps inside are decoded.
    /// </summary>
    private static async Task<StepValues> ValuesAtAsync(
        SqlRunStore store, long runPk, string key, List<(ChunkSummary Chunk, BlockSummary[] Blocks)> chunks, List<long> steps, CancellationToken cancellationToken)
    {
        // A step strictly inside [first, last) of a range needs the points before it; at or past the last, the range's last point will do.
        bool StepInside(long first, long last)
        {
            var at = steps.BinarySearch(first);
            at = at < 0 ? ~at : at;
            return at < steps.Count && steps[at] < last;
        }

        var points = new List<(long Step, double Value)>();
        var inside = new List<(long ChunkNo, int Block)>();
        foreach (var (chunk, blocks) in chunks)
        {
            if (!StepInside(chunk.FirstStep, chunk.LastStep))
            {
                points.Add((chunk.LastStep, chunk.Last));
                continue;
            }

            for (var b = 0; b < blocks.Length; b++)
            {
                if (StepInside(blocks[b].FirstStep, blocks[b].LastStep))
                {
                    inside.Add((chunk.ChunkNo, b));
                }
                else
                {
                    points.Add((blocks[b].LastStep, blocks[b].Last));
                }
            }
        }

        points.AddRange(await store.Metrics.ReadBlockPointsAsync(runPk, key, inside, byTime: false, cancellationToken));
        var pointSteps = new long[points.Count];
        var pointValues = new double[points.Count];
        for (var i = 0; i < points.Count; i++)
        {
            (pointSteps[i], pointValues[i]) = points[i];
        }

        Array.Sort(pointSteps, pointValues); // a step is stored once per series, so the order of equal steps does not matter
        var values = new StepValues(steps);
        for (var i = 0; i < pointSteps.Length; i++)
        {
            values.Add(pointSteps[i], pointValues[i]);
        }

        return values;
    }
}
