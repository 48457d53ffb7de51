using System.Data.Common;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Tracker.Server.Storage;

/// <summary>
/// Reads the metric_chunks table: per-key overviews, chunk and block summaries, and decoded points.
/// Appending is <see cref="SeriesTails"/>'s job.
/// </summary>
internal sealed class MetricTable(SqlDialect dialect)
{
    public async Task<IReadOnlyList<MetricInfo>> ListMetricsAsync(long runPk, CancellationToken cancellationToken) =>
        (await ListMetricsAsync([runPk], cancellationToken))[runPk];

    /// <summary>Each run's metrics (key, count, steps, min, max, last) from its chunk summaries and pending points: two queries however many runs.</summary>
    public async Task<Dictionary<long, IReadOnlyList<MetricInfo>>> ListMetricsAsync(IReadOnlyList<long> runPks, CancellationToken cancellationToken)
    {
        var summaries = runPks.Distinct().ToDictionary(pk => pk, _ => new Dictionary<string, List<ChunkSummary>>(StringComparer.Ordinal));
        await using var connection = await dialect.OpenAsync(cancellationToken);
        if (summaries.Count > 0)
        {
            await using var command = Sql.Command(connection, null,
                $"SELECT run_pk, key, {SummaryColumns} FROM metric_chunks WHERE run_pk IN ({Sql.InList(summaries.Keys)}) ORDER BY run_pk, key, chunk_no");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var keys = summaries[reader.GetInt64(0)];
                var key = reader.GetString(1);
                if (!keys.TryGetValue(key, out var list))
                {
                    keys[key] = list = [];
                }

                list.Add(ReadSummary(reader, 2));
            }
        }

        foreach (var (runPk, pending) in await PendingPoints.ReadRunsAsync(connection, summaries.Keys, cancellationToken))
        {
            var keys = summaries[runPk];
            foreach (var (key, points) in pending)
            {
                (keys.TryGetValue(key, out var list) ? list : keys[key] = []).AddRange(PendingPoints.AsChunks(points).Select(Summary));
            }
        }

        return summaries.ToDictionary(r => r.Key, r => (IReadOnlyList<MetricInfo>)r.Value.Select(p =>
        {
            var chunks = p.Value;
            var last = chunks.MaxBy(c => c.LastStep)!;
            var mins = chunks.Select(c => c.Min).Where(v => !double.IsNaN(v)).ToList();
            var maxs = chunks.Select(c => c.Max).Where(v => !double.IsNaN(v)).ToList();
            return new MetricInfo(p.Key, chunks.Sum(c => (long)c.Count), chunks.Min(c => c.FirstStep), last.LastStep,
                mins.Count > 0 ? mins.Min() : double.NaN, maxs.Count > 0 ? maxs.Max() : double.NaN, last.Last) { LastTime = last.LastTime };
        }).ToList());
    }

    /// <summary>Every run's min and max of every metric in a project, from the chunk summaries (for the runs table).</summary>
    public async Task<IReadOnlyList<(string RunId, string Key, double Min, double Max)>> GetMetricRangesAsync(string project, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "SELECT r.run_id, c.key, MIN(c.min), MAX(c.max) FROM metric_chunks c JOIN runs r ON r.pk = c.run_pk WHERE r.project = @project GROUP BY r.run_id, c.key",
            ("project", project));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ranges = new Dictionary<(string RunId, string Key), (double Min, double Max)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ranges[(reader.GetString(0), reader.GetString(1))] = (Sql.ReadReal(reader, 2), Sql.ReadReal(reader, 3));
        }

        await reader.DisposeAsync();
        foreach (var (runId, keys) in await PendingPoints.ReadProjectAsync(connection, project, cancellationToken))
        {
            foreach (var (key, points) in keys)
            {
                var (min, max) = ranges.GetValueOrDefault((runId, key), (double.NaN, double.NaN));
                foreach (var (_, _, value) in points)
                {
                    (min, max) = double.IsNaN(value) ? (min, max) : (!(value >= min) ? value : min, !(value <= max) ? value : max);
                }

                ranges[(runId, key)] = (min, max);
            }
        }

        return [.. ranges.Select(r => (r.Key.RunId, r.Key.Key, r.Value.Min, r.Value.Max))];
    }

    public async Task<IReadOnlyList<ChunkSummary>> GetChunkSummariesAsync(long runPk, string key, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            $"SELECT {SummaryColumns} FROM metric_chunks WHERE run_pk = @run AND key = @key ORDER BY chunk_no", ("run", runPk), ("key", key));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var chunks = new List<ChunkSummary>();
        while (await reader.ReadAsync(cancellationToken))
        {
            chunks.Add(ReadSummary(reader, 0));
        }

        await reader.DisposeAsync();
        chunks.AddRange((await PendingChunksAsync(connection, runPk, key, cancellationToken)).Select(Summary));
        return chunks;
    }

    /// <summary>The chunk summaries of a series with each chunk's block summaries, in one pass.</summary>
    public async Task<List<(ChunkSummary Chunk, BlockSummary[] Blocks)>> GetChunkAndBlockSummariesAsync(long runPk, string key, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            $"SELECT {SummaryColumns}, blocks FROM metric_chunks WHERE run_pk = @run AND key = @key ORDER BY chunk_no", ("run", runPk), ("key", key));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var chunks = new List<(ChunkSummary, BlockSummary[])>();
        while (await reader.ReadAsync(cancellationToken))
        {
            chunks.Add((ReadSummary(reader, 0), ChunkCodec.UnpackBlocks((byte[])reader[9]).ToArray()));
        }

        await reader.DisposeAsync();
        chunks.AddRange((await PendingChunksAsync(connection, runPk, key, cancellationToken)).Select(r => (Summary(r), ChunkCodec.UnpackBlocks(r.Blocks).ToArray())));
        return chunks;
    }

    /// <summary>
    /// Decodes single blocks of chunks: x (steps or times) and values, sliced out of the blobs by
    /// the database so that only the block's bytes travel.
    /// </summary>
    public async Task<List<(long X, double Value)>> ReadBlockPointsAsync(long runPk, string key, IReadOnlyCollection<(long ChunkNo, int Block)> blocks, bool byTime, CancellationToken cancellationToken)
    {
        var points = new List<(long, double)>(blocks.Count * ChunkCodec.BlockSize);
        if (blocks.Any(b => b.ChunkNo >= PendingPoints.VirtualChunkBase))
        {
            await using var pendingConnection = await dialect.OpenAsync(cancellationToken);
            var pending = await PendingChunksAsync(pendingConnection, runPk, key, cancellationToken);
            foreach (var (chunkNo, block) in blocks.Where(b => b.ChunkNo >= PendingPoints.VirtualChunkBase))
            {
                var row = pending[(int)(chunkNo - PendingPoints.VirtualChunkBase)];
                var decoded = Decode(row);
                for (var i = block * ChunkCodec.BlockSize; i < Math.Min(decoded.Count, (block + 1) * ChunkCodec.BlockSize); i++)
                {
                    points.Add((byTime ? decoded.Times[i] : decoded.Steps[i], decoded.Values[i]));
                }
            }

            blocks = [.. blocks.Where(b => b.ChunkNo < PendingPoints.VirtualChunkBase)];
        }

        if (blocks.Count == 0)
        {
            return points;
        }

        const int Bytes = ChunkCodec.BlockSize * sizeof(long);
        var wanted = string.Join(",", blocks.Select(b => string.Create(CultureInfo.InvariantCulture, $"({b.ChunkNo},{(b.Block * Bytes) + 1})")));
        var x = byTime ? "times" : "steps";
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            $"WITH wanted (chunk_no, offset_byte) AS (VALUES {wanted}) "
            + $"SELECT substr(c.{x}, w.offset_byte, {Bytes}), substr(c.vals, w.offset_byte, {Bytes}), c.first_step, w.offset_byte FROM wanted w "
            + "JOIN metric_chunks c ON c.run_pk = @run AND c.key = @key AND c.chunk_no = w.chunk_no",
            ("run", runPk), ("key", key));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var values = MemoryMarshal.Cast<byte, double>((byte[])reader[1]);
            var blob = reader.IsDBNull(0) ? [] : (byte[])reader[0];
            var xs = byTime ? ChunkCodec.UnpackInt64(blob) : ChunkCodec.UnpackSteps(blob, reader.GetInt64(2), (int)((reader.GetInt64(3) - 1) / sizeof(long)), values.Length);
            for (var i = 0; i < xs.Length; i++)
            {
                points.Add((xs[i], values[i]));
            }
        }

        return points;
    }

    /// <summary>Decodes the given chunks of a series.</summary>
    public async Task<IReadOnlyList<PointBlock>> ReadChunksAsync(long runPk, string key, IReadOnlyCollection<long> chunkNumbers, CancellationToken cancellationToken)
    {
        var blocks = new List<PointBlock>(chunkNumbers.Count);
        if (chunkNumbers.Count == 0)
        {
            return blocks;
        }

        await using var connection = await dialect.OpenAsync(cancellationToken);
        var virtualChunks = chunkNumbers.Where(n => n >= PendingPoints.VirtualChunkBase).ToList();
        if (virtualChunks.Count > 0)
        {
            var pending = await PendingChunksAsync(connection, runPk, key, cancellationToken);
            blocks.AddRange(virtualChunks.Order().Select(n => Decode(pending[(int)(n - PendingPoints.VirtualChunkBase)])));
            chunkNumbers = [.. chunkNumbers.Where(n => n < PendingPoints.VirtualChunkBase)];
            if (chunkNumbers.Count == 0)
            {
                return blocks;
            }
        }

        // Stored chunks come before pending ones.
        var stored = new List<PointBlock>(chunkNumbers.Count);
        await using var command = Sql.Command(connection, null,
            $"SELECT steps, times, vals, first_step, count FROM metric_chunks WHERE run_pk = @run AND key = @key AND chunk_no IN ({Sql.InList(chunkNumbers)}) ORDER BY chunk_no",
            ("run", runPk), ("key", key));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            stored.Add(new PointBlock(
                ChunkCodec.UnpackSteps((byte[])reader[0], reader.GetInt64(3), 0, reader.GetInt32(4)), ChunkCodec.UnpackInt64((byte[])reader[1]), ChunkCodec.UnpackDouble((byte[])reader[2])));
        }

        stored.AddRange(blocks);
        return stored;
    }

    /// <summary>A series' pending points (see <see cref="PendingPoints"/>) as chunks after the stored ones.</summary>
    private static async Task<List<ChunkRow>> PendingChunksAsync(DbConnection connection, long runPk, string key, CancellationToken cancellationToken) =>
        (await PendingPoints.ReadAsync(connection, null, runPk, cancellationToken)).Keys.TryGetValue(key, out var points) ? PendingPoints.AsChunks(points) : [];

    private static ChunkSummary Summary(ChunkRow row) =>
        new(row.ChunkNo, row.FirstStep, row.LastStep, row.FirstTime, row.LastTime, row.Count, row.Min, row.Max, row.Last);

    private static PointBlock Decode(ChunkRow row) =>
        new(ChunkCodec.UnpackSteps(row.Steps, row.FirstStep, 0, row.Count), ChunkCodec.UnpackInt64(row.Times), ChunkCodec.UnpackDouble(row.Values));

    private const string SummaryColumns = "chunk_no, first_step, last_step, first_time, last_time, count, min, max, last";

    internal static ChunkSummary ReadSummary(DbDataReader reader, int at) => new(
        reader.GetInt64(at), reader.GetInt64(at + 1), reader.GetInt64(at + 2), reader.GetInt64(at + 3), reader.GetInt64(at + 4),
        reader.GetInt32(at + 5), Sql.ReadReal(reader, at + 6), Sql.ReadReal(reader, at + 7), Sql.ReadReal(reader, at + 8));

    /// <summary>A chunk row of points sorted by step.</summary>
    public static ChunkRow ToRow(long chunkNo, ReadOnlySpan<(long Step, long Time, double Value)> points)
    {
        // Times and values are filled in place: their blobs are the arrays' bytes.
        var steps = new long[points.Length];
        var timeBlob = new byte[points.Length * sizeof(long)];
        var valueBlob = new byte[points.Length * sizeof(double)];
        var times = MemoryMarshal.Cast<byte, long>(timeBlob.AsSpan());
        var values = MemoryMarshal.Cast<byte, double>(valueBlob.AsSpan());
        long minTime = long.MaxValue, maxTime = long.MinValue;
        for (var i = 0; i < points.Length; i++)
        {
            (steps[i], times[i], values[i]) = points[i];
            minTime = Math.Min(minTime, times[i]);
            maxTime = Math.Max(maxTime, times[i]);
        }

        var (min, max, last) = ChunkCodec.Summarise(values);
        return new ChunkRow(chunkNo, steps[0], steps[^1], minTime, maxTime, points.Length, min, max, last,
            ChunkCodec.PackSteps(steps), timeBlob, valueBlob, ChunkCodec.PackBlocks(steps, times, values));
    }
}
