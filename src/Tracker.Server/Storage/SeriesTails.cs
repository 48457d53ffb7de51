using System.Data.Common;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Tracker.Server.Storage;

/// <summary>
/// Appends points to a run's series, and knows where each series stands: its next chunk number,
/// its last step and its open tail.
/// </summary>
/// <remarks>
/// Points of a key are not merged into the key's last chunk row: a live run sends ten points a key
/// a second, and rewriting a row of up to a thousand points to add ten rewrote each point ~50
/// times. They go in as one new small row instead (no read); the rows after the last full chunk
/// are the series' tail. Once the tail and the new points make a chunk's worth (or the tail has
/// <see cref="MaxTailRows"/> rows) the tail is read, deleted and written again, with the new
/// points, as full chunks and a remainder, in the same transaction: a point is written about
/// twice. Small batches first wait as <see cref="PendingPoints"/> and arrive here several at a
/// time. Readers see small rows as they saw the partial last chunk before: chunk summaries cover
/// any number of points. The state is a cache of what the rows say (<see cref="LoadAsync"/>
/// rebuilds it), valid while the run's acked sequence number is unchanged.
/// </remarks>
internal sealed class SeriesTails
{
    /// <summary>Most rows in a tail before it is merged, so that a series logged one point a batch reads back in few rows.</summary>
    public const int MaxTailRows = 128;

    private readonly Dictionary<string, Tail> _keys = new(StringComparer.Ordinal);
    private int _pendingRows;
    private int _pendingPoints;
    private long _nextPendingNo;

    /// <summary>Reads where each series of a run stands from its chunk summaries and pending points.</summary>
    public static async Task<SeriesTails> LoadAsync(DbConnection connection, DbTransaction transaction, long runPk, CancellationToken cancellationToken)
    {
        var tails = new SeriesTails();
        await using var command = Sql.Command(connection, transaction,
            "SELECT key, chunk_no, first_step, last_step, count FROM metric_chunks WHERE run_pk = @run ORDER BY key, chunk_no", ("run", runPk));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            tails.Of(reader.GetString(0)).Follow(reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt32(4));
        }

        await reader.DisposeAsync();
        var pending = await PendingPoints.ReadAsync(connection, transaction, runPk, cancellationToken);
        foreach (var (key, points) in pending.Keys)
        {
            tails.Of(key).PendingLastStep = points[^1].Step;
        }

        (tails._pendingRows, tails._pendingPoints, tails._nextPendingNo) = (pending.Rows, pending.Points, pending.Rows > 0 ? pending.LastNo + 1 : 0);
        return tails;
    }

    /// <summary>
    /// Stores a batch's points: as a pending row (<see cref="PendingPoints"/>) when each key's
    /// points follow its last step and the run's pending rows have room; otherwise the pending
    /// points and the batch's go into chunk rows, in order. A run's last batch
    /// (<paramref name="finishing"/>) leaves nothing pending.
    /// </summary>
    /// <returns>The pending row's insert, for the caller to run in the same transaction; null when the points are stored.</returns>
    public async Task<(string Sql, (string Name, object? Value)[] Parameters)?> AppendBatchAsync(SqlDialect dialect, DbConnection connection, DbTransaction transaction, long runPk,
        IEnumerable<(string Key, ArraySegment<(long Step, long Time, double Value)> Points)> series, bool finishing, CancellationToken cancellationToken)
    {
        var batch = series.ToList();
        var points = batch.Sum(s => s.Points.Count);
        var follows = batch.TrueForAll(s => s.Points[0].Step > Math.Max(Of(s.Key).LastStep, Of(s.Key).PendingLastStep));
        if (follows && !finishing && points > 0 && _pendingRows + 1 < PendingPoints.MaxBatches && _pendingPoints + points < PendingPoints.MaxPoints)
        {
            foreach (var (key, values) in batch)
            {
                Of(key).PendingLastStep = values[^1].Step;
            }

            _pendingRows++;
            _pendingPoints += points;
            return PendingPoints.Insert(runPk, _nextPendingNo++, batch);
        }

        if (_pendingRows > 0)
        {
            var pending = await PendingPoints.ReadAsync(connection, transaction, runPk, cancellationToken);
            await PendingPoints.DeleteAsync(connection, transaction, runPk, cancellationToken);
            (_pendingRows, _pendingPoints, _nextPendingNo) = (0, 0, 0);
            foreach (var tail in _keys.Values)
            {
                tail.PendingLastStep = long.MinValue;
            }

            if (follows)
            {
                // Each key's batch points follow its pending ones: one run of points per key.
                foreach (var (key, values) in batch)
                {
                    (pending.Keys.TryGetValue(key, out var list) ? list : pending.Keys[key] = []).AddRange(values);
                }

                batch = [];
            }

            await AppendAsync(dialect, connection, transaction, runPk, pending.Keys.Select(p => (p.Key, new ArraySegment<(long, long, double)>([.. p.Value]))), cancellationToken);
        }

        if (batch.Count > 0)
        {
            await AppendAsync(dialect, connection, transaction, runPk, batch, cancellationToken);
        }

        return null;
    }

    /// <summary>
    /// Appends each key's points (sorted by step, one per step) to its chunk rows: a
    /// value logged again at a series' last step replaces it; points before the last step start
    /// new rows (chunks may then overlap, as readers allow).
    /// </summary>
    private async Task AppendAsync(SqlDialect dialect, DbConnection connection, DbTransaction transaction, long runPk,
        IEnumerable<(string Key, ArraySegment<(long Step, long Time, double Value)> Points)> series, CancellationToken cancellationToken)
    {
        var rows = new List<(string Key, ChunkRow Row)>();
        var merges = new List<(string Key, Tail Tail, ArraySegment<(long Step, long Time, double Value)> Points)>();
        foreach (var (key, all) in series)
        {
            var points = all;
            var tail = Of(key);
            if (tail.NextChunkNo > 0 && points[0].Step == tail.LastStep)
            {
                await ReplaceLastPointAsync(connection, transaction, runPk, key, tail.NextChunkNo - 1, points[0], cancellationToken);
                points = points[1..];
                if (points.Count == 0)
                {
                    continue;
                }
            }

            if (points[0].Step < tail.LastStep)
            {
                // Out of order: a new tail starts with these points; the old one is left as one row.
                if (tail.Rows > 1)
                {
                    var old = await TakeTailAsync(connection, transaction, runPk, key, tail, [], cancellationToken);
                    tail.NextChunkNo = tail.Start;
                    tail.Close();
                    AddRows(rows, key, tail, old);
                }

                tail.Close();
            }

            if (tail.Rows > 0 && (tail.Count + points.Count >= ChunkCodec.ChunkSize || tail.Rows >= MaxTailRows))
            {
                merges.Add((key, tail, points));
            }
            else
            {
                AddRows(rows, key, tail, points);
            }
        }

        if (merges.Count > 0)
        {
            // The tails to merge, read and deleted for all keys at once (two round trips, not two a key).
            var tails = await TakeTailsAsync(connection, transaction, runPk, merges.Select(m => (m.Key, m.Tail.Start)).ToList(), cancellationToken);
            foreach (var (key, tail, points) in merges)
            {
                var merged = tails.TryGetValue(key, out var list) ? list : [];
                merged.AddRange(points);
                tail.NextChunkNo = tail.Start;
                tail.Close();
                AddRows(rows, key, tail, CollectionsMarshal.AsSpan(merged));
            }
        }

        if (rows.Count > 0)
        {
            await dialect.InsertChunksAsync(connection, transaction, runPk, rows, cancellationToken);
        }
    }

    private Tail Of(string key)
    {
        if (!_keys.TryGetValue(key, out var tail))
        {
            _keys[key] = tail = new Tail();
        }

        return tail;
    }

    private static void AddRows(List<(string Key, ChunkRow Row)> rows, string key, Tail tail, ReadOnlySpan<(long Step, long Time, double Value)> points)
    {
        for (var start = 0; start < points.Length; start += ChunkCodec.ChunkSize)
        {
            var row = MetricTable.ToRow(tail.NextChunkNo, points.Slice(start, Math.Min(ChunkCodec.ChunkSize, points.Length - start)));
            rows.Add((key, row));
            tail.Follow(row.ChunkNo, row.FirstStep, row.LastStep, row.Count);
        }
    }

    /// <summary>Reads and deletes the tail's rows, and returns their points followed by <paramref name="points"/>.</summary>
    private static async Task<(long Step, long Time, double Value)[]> TakeTailAsync(DbConnection connection, DbTransaction transaction, long runPk, string key,
        Tail tail, ArraySegment<(long Step, long Time, double Value)> points, CancellationToken cancellationToken)
    {
        var merged = new List<(long Step, long Time, double Value)>(tail.Count + points.Count);
        await using (var read = Sql.Command(connection, transaction,
            "SELECT steps, times, vals, first_step, count FROM metric_chunks WHERE run_pk = @run AND key = @key AND chunk_no >= @from ORDER BY chunk_no",
            ("run", runPk), ("key", key), ("from", tail.Start)))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                AddPoints(merged, reader);
            }
        }

        await using (var delete = Sql.Command(connection, transaction,
            "DELETE FROM metric_chunks WHERE run_pk = @run AND key = @key AND chunk_no >= @from", ("run", runPk), ("key", key), ("from", tail.Start)))
        {
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }

        merged.AddRange(points);
        return [.. merged];
    }

    /// <summary>Reads and deletes the rows from each key's tail start on, and returns their points per key.</summary>
    private static async Task<Dictionary<string, List<(long Step, long Time, double Value)>>> TakeTailsAsync(DbConnection connection, DbTransaction transaction, long runPk,
        List<(string Key, long Start)> tails, CancellationToken cancellationToken)
    {
        var parameters = new List<(string, object?)> { ("run", runPk) };
        var where = string.Join(" OR ", tails.Select((t, i) =>
        {
            parameters.Add(($"k{i}", t.Key));
            parameters.Add(($"s{i}", t.Start));
            return string.Create(CultureInfo.InvariantCulture, $"(key = @k{i} AND chunk_no >= @s{i})");
        }));
        var points = new Dictionary<string, List<(long Step, long Time, double Value)>>(StringComparer.Ordinal);
        await using (var read = Sql.Command(connection, transaction,
            $"SELECT steps, times, vals, first_step, count, key FROM metric_chunks WHERE run_pk = @run AND ({where}) ORDER BY key, chunk_no", [.. parameters]))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var key = reader.GetString(5);
                AddPoints(points.TryGetValue(key, out var list) ? list : points[key] = new(ChunkCodec.ChunkSize), reader);
            }
        }

        await using (var delete = Sql.Command(connection, transaction, $"DELETE FROM metric_chunks WHERE run_pk = @run AND ({where})", [.. parameters]))
        {
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }

        return points;
    }

    /// <summary>The same step logged again in a later batch: the later value wins, in place.</summary>
    private static async Task ReplaceLastPointAsync(DbConnection connection, DbTransaction transaction, long runPk, string key, long chunkNo,
        (long Step, long Time, double Value) point, CancellationToken cancellationToken)
    {
        var points = new List<(long Step, long Time, double Value)>(ChunkCodec.ChunkSize);
        await using (var read = Sql.Command(connection, transaction,
            "SELECT steps, times, vals, first_step, count FROM metric_chunks WHERE run_pk = @run AND key = @key AND chunk_no = @no",
            ("run", runPk), ("key", key), ("no", chunkNo)))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                AddPoints(points, reader);
            }
        }

        points[^1] = point;
        var row = MetricTable.ToRow(chunkNo, points.ToArray());
        await using var update = Sql.Command(connection, transaction,
            "UPDATE metric_chunks SET first_time = @ft, last_step = @ls, last_time = @lt, count = @count, min = @min, max = @max, last = @last, steps = @steps, times = @times, vals = @vals, blocks = @blocks "
            + "WHERE run_pk = @run AND key = @key AND chunk_no = @no",
            ("ft", row.FirstTime), ("ls", row.LastStep), ("lt", row.LastTime), ("count", row.Count), ("min", Sql.Real(row.Min)), ("max", Sql.Real(row.Max)),
            ("last", Sql.Real(row.Last)), ("steps", row.Steps), ("times", row.Times), ("vals", row.Values), ("blocks", row.Blocks),
            ("run", runPk), ("key", key), ("no", chunkNo));
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Adds the points of a row read as (steps, times, vals, first_step, count).</summary>
    private static void AddPoints(List<(long Step, long Time, double Value)> points, DbDataReader reader)
    {
        var steps = ChunkCodec.UnpackSteps((byte[])reader[0], reader.GetInt64(3), 0, reader.GetInt32(4));
        var times = ChunkCodec.UnpackInt64((byte[])reader[1]);
        var values = ChunkCodec.UnpackDouble((byte[])reader[2]);
        for (var i = 0; i < steps.Length; i++)
        {
            points.Add((steps[i], times[i], values[i]));
        }
    }

    /// <summary>Where one series stands: rows <see cref="Start"/> to <see cref="NextChunkNo"/> - 1 are its tail.</summary>
    private sealed class Tail
    {
        public long NextChunkNo { get; set; }

        public long LastStep { get; private set; } = long.MinValue;

        /// <summary>The last step of the series' pending points, if it has any.</summary>
        public long PendingLastStep { get; set; } = long.MinValue;

        public long Start { get; private set; } = -1;

        public int Count { get; private set; }

        public int Rows { get; private set; }

        /// <summary>Takes in the series' next row: a small row that follows the tail in step order joins it; a full one ends it.</summary>
        public void Follow(long chunkNo, long firstStep, long lastStep, int count)
        {
            if (count >= ChunkCodec.ChunkSize)
            {
                Close();
            }
            else if (Rows > 0 && firstStep > LastStep)
            {
                Rows++;
                Count += count;
            }
            else
            {
                (Start, Rows, Count) = (chunkNo, 1, count);
            }

            LastStep = lastStep;
            NextChunkNo = chunkNo + 1;
        }

        public void Close() => (Start, Rows, Count) = (-1, 0, 0);
    }
}
