using System.Buffers.Binary;
using System.Data.Common;
using System.Runtime.InteropServices;
using System.Text;

namespace Tracker.Server.Storage;

/// <summary>
/// The metric_pending table: small batches of a live run, one row a batch with every key's
/// points, until <see cref="SeriesTails"/> moves them into chunk rows.
/// </summary>
/// <remarks>
/// Chunk rows are ordered by key: a batch of 50 keys touches 50 places of that b-tree, and SQLite
/// writes every page it touched to its log at commit (~200 KiB a batch, most of the server's CPU
/// for a live run). A pending row is one place, so a small batch costs a few pages; every
/// <see cref="MaxBatches"/> batches (or <see cref="MaxPoints"/> points) the run's pending rows
/// become chunk rows in one go. Only batches whose every key's points follow that key's last
/// step wait here, so a key's pending points come after its chunk rows and after each other:
/// readers show them as chunks after the stored ones (<see cref="VirtualChunkBase"/>).
/// </remarks>
internal static class PendingPoints
{
    /// <summary>Pending batches of a run before they are moved into chunks.</summary>
    public const int MaxBatches = 32;

    /// <summary>Pending points of a run before they are moved into chunks; a batch this large goes to chunks at once.</summary>
    public const int MaxPoints = 16_384;

    /// <summary>Chunk numbers from here on name pending points shown as chunks; stored chunks never get there.</summary>
    public const long VirtualChunkBase = 1L << 60;

    /// <summary>
    /// A batch's points as one pending row: the statement and its parameters, which the caller
    /// sends with the run row's update (one round trip to PostgreSQL instead of two).
    /// </summary>
    public static (string Sql, (string Name, object? Value)[] Parameters) Insert(long runPk, long pendingNo,
        IEnumerable<(string Key, ArraySegment<(long Step, long Time, double Value)> Points)> series)
    {
        var (body, points) = Encode(series);
        return ("INSERT INTO metric_pending (run_pk, pending_no, points, body) VALUES (@prun, @pno, @ppoints, @pbody)",
            [("prun", runPk), ("pno", pendingNo), ("ppoints", points), ("pbody", body)]);
    }

    /// <summary>A run's pending points, per key in step order, with the number of rows and of points and the last row's number.</summary>
    public static async Task<Pending> ReadAsync(DbConnection connection, DbTransaction? transaction, long runPk, CancellationToken cancellationToken)
    {
        var pending = new Pending();
        await using var command = Sql.Command(connection, transaction,
            "SELECT pending_no, body FROM metric_pending WHERE run_pk = @run ORDER BY pending_no", ("run", runPk));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            pending.LastNo = reader.GetInt64(0);
            pending.Rows++;
            pending.Points += Decode((byte[])reader[1], pending.Keys);
        }

        return pending;
    }

    /// <summary>Several runs' pending points, per run and key in step order, read in one query (runs without any are absent).</summary>
    public static async Task<Dictionary<long, Dictionary<string, List<(long Step, long Time, double Value)>>>> ReadRunsAsync(
        DbConnection connection, IReadOnlyCollection<long> runPks, CancellationToken cancellationToken)
    {
        var runs = new Dictionary<long, Dictionary<string, List<(long Step, long Time, double Value)>>>();
        if (runPks.Count == 0)
        {
            return runs;
        }

        await using var command = Sql.Command(connection, null,
            $"SELECT run_pk, body FROM metric_pending WHERE run_pk IN ({Sql.InList(runPks)}) ORDER BY run_pk, pending_no");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var runPk = reader.GetInt64(0);
            if (!runs.TryGetValue(runPk, out var keys))
            {
                runs[runPk] = keys = new(StringComparer.Ordinal);
            }

            Decode((byte[])reader[1], keys);
        }

        return runs;
    }

    public static async Task DeleteAsync(DbConnection connection, DbTransaction transaction, long runPk, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction, "DELETE FROM metric_pending WHERE run_pk = @run", ("run", runPk));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Each run's pending points of a project, per key (for the runs table's ranges).</summary>
    public static async Task<List<(string RunId, Dictionary<string, List<(long Step, long Time, double Value)>> Keys)>> ReadProjectAsync(
        DbConnection connection, string project, CancellationToken cancellationToken)
    {
        var runs = new Dictionary<string, Dictionary<string, List<(long Step, long Time, double Value)>>>(StringComparer.Ordinal);
        await using var command = Sql.Command(connection, null,
            "SELECT r.run_id, p.body FROM metric_pending p JOIN runs r ON r.pk = p.run_pk WHERE r.project = @project ORDER BY p.run_pk, p.pending_no", ("project", project));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var runId = reader.GetString(0);
            if (!runs.TryGetValue(runId, out var keys))
            {
                runs[runId] = keys = new(StringComparer.Ordinal);
            }

            Decode((byte[])reader[1], keys);
        }

        return [.. runs.Select(r => (r.Key, r.Value))];
    }

    /// <summary>A key's pending points as chunk rows numbered from <see cref="VirtualChunkBase"/>.</summary>
    public static List<ChunkRow> AsChunks(List<(long Step, long Time, double Value)> points)
    {
        var span = CollectionsMarshal.AsSpan(points);
        var rows = new List<ChunkRow>((span.Length / ChunkCodec.ChunkSize) + 1);
        for (var start = 0; start < span.Length; start += ChunkCodec.ChunkSize)
        {
            rows.Add(MetricTable.ToRow(VirtualChunkBase + rows.Count, span.Slice(start, Math.Min(ChunkCodec.ChunkSize, span.Length - start))));
        }

        return rows;
    }

    /// <summary>Per key: its UTF-8 name's length and bytes, the number of points, then their steps, times and values (little-endian).</summary>
    private static (byte[] Body, int Points) Encode(IEnumerable<(string Key, ArraySegment<(long Step, long Time, double Value)> Points)> series)
    {
        var buffer = new MemoryStream();
        var points = 0;
        Span<byte> number = stackalloc byte[8];
        foreach (var (key, values) in series)
        {
            var name = Encoding.UTF8.GetBytes(key);
            BinaryPrimitives.WriteInt32LittleEndian(number, name.Length);
            buffer.Write(number[..4]);
            buffer.Write(name);
            BinaryPrimitives.WriteInt32LittleEndian(number, values.Count);
            buffer.Write(number[..4]);
            foreach (var point in values)
            {
                BinaryPrimitives.WriteInt64LittleEndian(number, point.Step);
                buffer.Write(number);
            }

            foreach (var point in values)
            {
                BinaryPrimitives.WriteInt64LittleEndian(number, point.Time);
                buffer.Write(number);
            }

            foreach (var point in values)
            {
                BinaryPrimitives.WriteDoubleLittleEndian(number, point.Value);
                buffer.Write(number);
            }

            points += values.Count;
        }

        return (buffer.ToArray(), points);
    }

    private static int Decode(ReadOnlySpan<byte> body, Dictionary<string, List<(long Step, long Time, double Value)>> keys)
    {
        var points = 0;
        while (!body.IsEmpty)
        {
            var nameLength = BinaryPrimitives.ReadInt32LittleEndian(body);
            var key = Encoding.UTF8.GetString(body.Slice(4, nameLength));
            body = body[(4 + nameLength)..];
            var count = BinaryPrimitives.ReadInt32LittleEndian(body);
            body = body[4..];
            if (!keys.TryGetValue(key, out var list))
            {
                keys[key] = list = [];
            }

            for (var i = 0; i < count; i++)
            {
                list.Add((BinaryPrimitives.ReadInt64LittleEndian(body[(i * 8)..]), BinaryPrimitives.ReadInt64LittleEndian(body[((count + i) * 8)..]),
                    BinaryPrimitives.ReadDoubleLittleEndian(body[(((2 * count) + i) * 8)..])));
            }

            body = body[(count * 24)..];
            points += count;
        }

        return points;
    }

    /// <summary>A run's pending rows, decoded.</summary>
    internal sealed class Pending
    {
        public Dictionary<string, List<(long Step, long Time, double Value)>> Keys { get; } = new(StringComparer.Ordinal);

        public int Rows { get; set; }

        public int Points { get; set; }

        public long LastNo { get; set; }
    }
}
