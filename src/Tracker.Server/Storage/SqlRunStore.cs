using System.Data.Common;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace Tracker.Server.Storage;

/// <summary>The run was never created on this server.</summary>
internal sealed class RunNotFoundException(string project, string runId)
    : Exception($"Run '{runId}' of project '{project}' does not exist on this server. Create it with PUT /api/v1/projects/{project}/runs/{runId} first.");

/// <summary>
/// The store, written once against ADO.NET for SQLite and PostgreSQL alike; <see cref="SqlDialect"/>
/// holds what differs. Metric points live in chunk rows of up to <see cref="ChunkCodec.ChunkSize"/>
/// points with their step range, min, max and last value.
/// </summary>
internal sealed class SqlRunStore(SqlDialect dialect)
{
    public string Kind => dialect.Name;

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await dialect.LockMigrationsAsync(connection, transaction, cancellationToken);
        await Execute(connection, transaction, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", cancellationToken);
        await using var read = Sql.Command(connection, transaction, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
        var current = Convert.ToInt32(await read.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        foreach (var (version, sql) in dialect.Migrations.Where(m => m.Version > current))
        {
            await Execute(connection, transaction, sql, cancellationToken);
            await using var record = Sql.Command(connection, transaction, "INSERT INTO schema_version (version) VALUES (@v)", ("v", version));
            await record.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    // ---- API keys ----

    public async Task CreateKeyAsync(ApiKey key, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "INSERT INTO api_keys (name, project, key_hash, created_at) VALUES (@name, @project, @hash, @created)",
            ("name", key.Name), ("project", key.Project), ("hash", key.Hash), ("created", Format(key.CreatedAt)));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> RevokeKeyAsync(string name, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "UPDATE api_keys SET revoked_at = @now WHERE name = @name AND revoked_at IS NULL", ("now", Format(now)), ("name", name));
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task<IReadOnlyList<ApiKey>> ListKeysAsync(CancellationToken cancellationToken) =>
        await QueryKeysAsync("SELECT name, project, key_hash, created_at, revoked_at FROM api_keys ORDER BY name", null, cancellationToken);

    public async Task<ApiKey?> FindKeyAsync(string hash, CancellationToken cancellationToken) =>
        (await QueryKeysAsync("SELECT name, project, key_hash, created_at, revoked_at FROM api_keys WHERE key_hash = @hash", hash, cancellationToken))
        .SingleOrDefault();

    // ---- Writing runs ----

    /// <summary>Creates the run or replaces its metadata; returns the highest stored sequence number.</summary>
    public async Task<long> UpsertRunAsync(string project, string runId, JsonObject metadata, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var config = metadata["config"] as JsonObject ?? [];
        var name = (string?)metadata["name"] ?? runId;
        var state = (string?)metadata["state"] ?? "running";
        var start = (string?)metadata["start_time"];
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "INSERT INTO runs (project, run_id, name, state, start_time, updated_at, acked_seq, metadata, config, summary) "
            + "VALUES (@project, @run, @name, @state, @start, @now, 0, @metadata, @config, '{}') "
            + "ON CONFLICT (project, run_id) DO UPDATE SET name = excluded.name, state = excluded.state, start_time = excluded.start_time, "
            + "updated_at = excluded.updated_at, metadata = excluded.metadata, config = excluded.config "
            + "RETURNING acked_seq",
            ("project", project), ("run", runId), ("name", name), ("state", state), ("start", start), ("now", Format(now)),
            ("metadata", metadata.ToJsonString()), ("config", config.ToJsonString()));
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Stores the lines not stored yet, in one transaction: lines at or below the run's acked
    /// sequence number are replays and skipped; the first new one must follow it without a gap.
    /// </summary>
    public async Task<AppendResult> AppendAsync(string project, string runId, IReadOnlyList<RecordLine> lines, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var run = await ReadRunAsync(connection, transaction, project, runId, forUpdate: true, cancellationToken)
            ?? throw new RunNotFoundException(project, runId);

        var fresh = lines.Where(l => l.Seq > run.AckedSeq).ToList();
        var expected = run.AckedSeq + 1;
        foreach (var line in fresh)
        {
            if (line.Seq != expected)
            {
                throw new SequenceGapException(expected, line.Seq);
            }

            expected++;
        }

        if (fresh.Count == 0)
        {
            return new AppendResult(run.AckedSeq, 0, lines.Count);
        }

        using var changes = RunChanges.Apply(run, fresh);
        foreach (var (key, points) in changes.Points)
        {
            await AppendPointsAsync(connection, transaction, run.Pk, key, points, cancellationToken);
        }

        if (changes.Output.Count > 0)
        {
            await InsertOutputAsync(connection, transaction, run.Pk, changes.Output, cancellationToken);
        }

        if (changes.Media.Count > 0)
        {
            await InsertMediaAsync(connection, transaction, run.Pk, changes.Media, cancellationToken);
        }

        var acked = fresh[^1].Seq;
        await using (var update = Sql.Command(connection, transaction,
            "UPDATE runs SET acked_seq = @acked, state = @state, name = @name, updated_at = @now, metadata = @metadata, config = @config, summary = @summary WHERE pk = @pk",
            ("acked", acked), ("state", (string?)run.Metadata["state"] ?? run.State), ("name", run.Name), ("now", Format(now)),
            ("metadata", run.Metadata.ToJsonString()), ("config", run.Config.ToJsonString()), ("summary", SummaryColumn(run)), ("pk", run.Pk)))
        {
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return new AppendResult(acked, fresh.Count, lines.Count - fresh.Count);
    }

    /// <summary>Sets a run's final state without any records, as <c>POST .../finish</c> asks.</summary>
    public async Task FinishRunAsync(string project, string runId, string state, int? exitCode, DateTimeOffset endTime, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var run = await ReadRunAsync(connection, transaction, project, runId, forUpdate: true, cancellationToken)
            ?? throw new RunNotFoundException(project, runId);
        run.Metadata["state"] = state;
        run.Metadata["exit_code"] = exitCode;
        run.Metadata["end_time"] = endTime.ToString("O", CultureInfo.InvariantCulture);
        await using (var update = Sql.Command(connection, transaction,
            "UPDATE runs SET state = @state, updated_at = @now, metadata = @metadata WHERE pk = @pk",
            ("state", state), ("now", Format(endTime)), ("metadata", run.Metadata.ToJsonString()), ("pk", run.Pk)))
        {
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    // ---- Reading ----

    public async Task<IReadOnlyList<ProjectInfo>> ListProjectsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null, "SELECT project, COUNT(*), MAX(updated_at) FROM runs GROUP BY project ORDER BY project");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var projects = new List<ProjectInfo>();
        while (await reader.ReadAsync(cancellationToken))
        {
            projects.Add(new ProjectInfo(reader.GetString(0), reader.GetInt64(1), Parse(reader.GetString(2))));
        }

        return projects;
    }

    public async Task<IReadOnlyList<StoredRun>> ListRunsAsync(string project, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        return await QueryRunsAsync(connection, null, "WHERE project = @project ORDER BY start_time DESC, run_id", [("project", project)], cancellationToken);
    }

    public async Task<StoredRun?> GetRunAsync(string project, string runId, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        return await ReadRunAsync(connection, null, project, runId, forUpdate: false, cancellationToken);
    }

    public async Task<IReadOnlyList<MetricInfo>> ListMetricsAsync(long runPk, CancellationToken cancellationToken)
    {
        var summaries = new Dictionary<string, List<ChunkSummary>>(StringComparer.Ordinal);
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            $"SELECT key, {SummaryColumns} FROM metric_chunks WHERE run_pk = @run ORDER BY key, chunk_no", ("run", runPk));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var key = reader.GetString(0);
            if (!summaries.TryGetValue(key, out var list))
            {
                summaries[key] = list = [];
            }

            list.Add(ReadSummary(reader, 1));
        }

        return summaries.Select(p =>
        {
            var chunks = p.Value;
            var last = chunks.MaxBy(c => c.LastStep)!;
            var mins = chunks.Select(c => c.Min).Where(v => !double.IsNaN(v)).ToList();
            var maxs = chunks.Select(c => c.Max).Where(v => !double.IsNaN(v)).ToList();
            return new MetricInfo(p.Key, chunks.Sum(c => (long)c.Count), chunks.Min(c => c.FirstStep), last.LastStep,
                mins.Count > 0 ? mins.Min() : double.NaN, maxs.Count > 0 ? maxs.Max() : double.NaN, last.Last);
        }).ToList();
    }

    /// <summary>A page of a run's captured console output, after a sequence number.</summary>
    public async Task<List<(long Seq, long Time, string Stream, string Line)>> ReadOutputAsync(long runPk, long afterSeq, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            $"SELECT seq, ts, stream, line FROM run_output WHERE run_pk = @run AND seq > @after ORDER BY seq LIMIT {limit}", ("run", runPk), ("after", afterSeq));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var lines = new List<(long, long, string, string)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            lines.Add((reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3)));
        }

        return lines;
    }

    /// <summary>The run's media keys, in ordinal key order.</summary>
    public async Task<IReadOnlyList<MediaKeyInfo>> ListMediaKeysAsync(long runPk, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "SELECT key, kind, COUNT(*), MIN(step), MAX(step), MAX(seq) FROM run_media WHERE run_pk = @run GROUP BY key, kind", ("run", runPk));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var groups = new List<(string Key, string Kind, long Count, long FirstStep, long LastStep, long LastSeq)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            groups.Add((reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5)));
        }

        // A key logged with more than one kind is listed once, as the kind it had last.
        return groups.GroupBy(g => g.Key, StringComparer.Ordinal)
            .Select(k => new MediaKeyInfo(k.Key, k.MaxBy(g => g.LastSeq).Kind, k.Sum(g => g.Count), k.Min(g => g.FirstStep), k.Max(g => g.LastStep)))
            .OrderBy(k => k.Key, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// A page of one key's media in (step, seq) order, after the item with sequence number
    /// <paramref name="afterSeq"/>: paging by that position, not by seq alone, returns every item
    /// once even when steps were logged out of order. A number that is no item of the key pages
    /// by seq (the items logged after it); with steps in seq order, the two agree.
    /// </summary>
    public async Task<List<MediaItem>> ReadMediaAsync(string project, long runPk, string key, long afterSeq, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        long? afterStep = null;
        if (afterSeq > 0)
        {
            await using var cursor = Sql.Command(connection, null,
                "SELECT step FROM run_media WHERE run_pk = @run AND key = @key AND seq = @after", ("run", runPk), ("key", key), ("after", afterSeq));
            if (await cursor.ExecuteScalarAsync(cancellationToken) is { } step and not DBNull)
            {
                afterStep = Convert.ToInt64(step, CultureInfo.InvariantCulture);
            }
        }

        (string, object?)[] parameters = [("project", project), ("run", runPk), ("key", key), ("after", afterSeq)];
        var after = "m.seq > @after";
        if (afterStep is { } position)
        {
            after = "(m.step > @step OR (m.step = @step AND m.seq > @after))";
            parameters = [.. parameters, ("step", position)];
        }

        await using var command = Sql.Command(connection, null,
            "SELECT m.seq, m.step, m.ts, m.kind, m.sha256, m.body, "
            + "CASE WHEN EXISTS (SELECT 1 FROM media_blobs b WHERE b.project = @project AND b.sha256 = m.sha256) THEN 1 ELSE 0 END "
            + $"FROM run_media m WHERE m.run_pk = @run AND m.key = @key AND {after} ORDER BY m.step, m.seq LIMIT {limit}",
            parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var items = new List<MediaItem>();
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(new MediaItem(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetString(5), Convert.ToInt64(reader.GetValue(6), CultureInfo.InvariantCulture) != 0));
        }

        return items;
    }

    // ---- Blobs ----

    /// <summary>Stores a project's file unless it has it already; true when this call stored it.</summary>
    public async Task<bool> PutBlobAsync(string project, string sha256, string contentType, byte[] content, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "INSERT INTO media_blobs (project, sha256, content_type, bytes, created_at, content) VALUES (@project, @sha, @type, @bytes, @now, @content) "
            + "ON CONFLICT (project, sha256) DO NOTHING",
            ("project", project), ("sha", sha256), ("type", contentType), ("bytes", (long)content.Length), ("now", Format(now)), ("content", content));
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    /// <summary>A project's file, or null; its bytes only when <paramref name="withContent"/>.</summary>
    public async Task<StoredBlob?> GetBlobAsync(string project, string sha256, bool withContent, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            $"SELECT content_type, bytes{(withContent ? ", content" : string.Empty)} FROM media_blobs WHERE project = @project AND sha256 = @sha",
            ("project", project), ("sha", sha256));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new StoredBlob(reader.GetString(0), reader.GetInt64(1), withContent ? (byte[])reader[2] : null)
            : null;
    }

    /// <summary>Every run's min and max of every metric in a project, from the chunk summaries (for the runs table).</summary>
    public async Task<IReadOnlyList<(string RunId, string Key, double Min, double Max)>> GetMetricRangesAsync(string project, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "SELECT r.run_id, c.key, MIN(c.min), MAX(c.max) FROM metric_chunks c JOIN runs r ON r.pk = c.run_pk WHERE r.project = @project GROUP BY r.run_id, c.key",
            ("project", project));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ranges = new List<(string, string, double, double)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ranges.Add((reader.GetString(0), reader.GetString(1), Sql.ReadReal(reader, 2), Sql.ReadReal(reader, 3)));
        }

        return ranges;
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

        return chunks;
    }

    /// <summary>
    /// Decodes single blocks of chunks: x (steps or times) and values, sliced out of the blobs by
    /// the database so that only the block's bytes travel.
    /// </summary>
    public async Task<List<(long X, double Value)>> ReadBlockPointsAsync(long runPk, string key, IReadOnlyCollection<(long ChunkNo, int Block)> blocks, bool byTime, CancellationToken cancellationToken)
    {
        var points = new List<(long, double)>(blocks.Count * ChunkCodec.BlockSize);
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

        await using var command = Sql.Command(connection, null,
            $"SELECT steps, times, vals, first_step, count FROM metric_chunks WHERE run_pk = @run AND key = @key AND chunk_no IN ({InList(chunkNumbers)}) ORDER BY chunk_no",
            ("run", runPk), ("key", key));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            blocks.Add(new PointBlock(
                ChunkCodec.UnpackSteps((byte[])reader[0], reader.GetInt64(3), 0, reader.GetInt32(4)), ChunkCodec.UnpackInt64((byte[])reader[1]), ChunkCodec.UnpackDouble((byte[])reader[2])));
        }

        return blocks;
    }

    // ---- Internals ----

    private const string SummaryColumns = "chunk_no, first_step, last_step, first_time, last_time, count, min, max, last";

    private const string RunColumns = "pk, project, run_id, name, state, start_time, updated_at, acked_seq, metadata, config, summary";

    private static ChunkSummary ReadSummary(DbDataReader reader, int at) => new(
        reader.GetInt64(at), reader.GetInt64(at + 1), reader.GetInt64(at + 2), reader.GetInt64(at + 3), reader.GetInt64(at + 4),
        reader.GetInt32(at + 5), Sql.ReadReal(reader, at + 6), Sql.ReadReal(reader, at + 7), Sql.ReadReal(reader, at + 8));

    /// <summary>
    /// Appends points (sorted by step) to a series: fills the last chunk while it has room and
    /// the points come after it, replaces a value logged again at the last step, and writes the
    /// rest as new chunks.
    /// </summary>
    private async Task AppendPointsAsync(DbConnection connection, DbTransaction transaction, long runPk, string key, ArraySegment<(long Step, long Time, double Value)> points, CancellationToken cancellationToken)
    {
        long nextChunkNo = 0;
        await using (var last = Sql.Command(connection, transaction,
            "SELECT chunk_no, count, last_step, steps, times, vals, first_step FROM metric_chunks WHERE run_pk = @run AND key = @key ORDER BY chunk_no DESC LIMIT 1",
            ("run", runPk), ("key", key)))
        await using (var reader = await last.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                var chunkNo = reader.GetInt64(0);
                var count = reader.GetInt32(1);
                var lastStep = reader.GetInt64(2);
                nextChunkNo = chunkNo + 1;
                if (points[0].Step >= lastStep && (count < ChunkCodec.ChunkSize || points[0].Step == lastStep))
                {
                    var merged = new List<(long Step, long Time, double Value)>(ChunkCodec.ChunkSize);
                    var steps = ChunkCodec.UnpackSteps((byte[])reader[3], reader.GetInt64(6), 0, count);
                    var times = ChunkCodec.UnpackInt64((byte[])reader[4]);
                    var values = ChunkCodec.UnpackDouble((byte[])reader[5]);
                    for (var i = 0; i < steps.Length; i++)
                    {
                        merged.Add((steps[i], times[i], values[i]));
                    }

                    var taken = 0;
                    if (points[0].Step == lastStep)
                    {
                        merged[^1] = points[0]; // the same step logged again: the later value wins
                        taken = 1;
                    }

                    while (taken < points.Count && merged.Count < ChunkCodec.ChunkSize)
                    {
                        merged.Add(points[taken++]);
                    }

                    await reader.DisposeAsync();
                    var row = ToRow(chunkNo, merged.ToArray());
                    await using var update = Sql.Command(connection, transaction,
                        "UPDATE metric_chunks SET first_time = @ft, last_step = @ls, last_time = @lt, count = @count, min = @min, max = @max, last = @last, steps = @steps, times = @times, vals = @vals, blocks = @blocks "
                        + "WHERE run_pk = @run AND key = @key AND chunk_no = @no",
                        ("ft", row.FirstTime), ("ls", row.LastStep), ("lt", row.LastTime), ("count", row.Count), ("min", Sql.Real(row.Min)), ("max", Sql.Real(row.Max)),
                        ("last", Sql.Real(row.Last)), ("steps", row.Steps), ("times", row.Times), ("vals", row.Values), ("blocks", row.Blocks),
                        ("run", runPk), ("key", key), ("no", chunkNo));
                    await update.ExecuteNonQueryAsync(cancellationToken);
                    points = points[taken..];
                }
            }
        }

        var rows = new List<ChunkRow>();
        for (var start = 0; start < points.Count; start += ChunkCodec.ChunkSize)
        {
            rows.Add(ToRow(nextChunkNo++, points.Slice(start, Math.Min(ChunkCodec.ChunkSize, points.Count - start))));
        }

        if (rows.Count > 0)
        {
            await dialect.InsertChunksAsync(connection, transaction, runPk, key, rows, cancellationToken);
        }
    }

    private static async Task InsertOutputAsync(DbConnection connection, DbTransaction transaction, long runPk, List<(long Seq, long Time, string Stream, string Line)> lines, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction,
            "INSERT INTO run_output (run_pk, seq, ts, stream, line) VALUES (@run, @seq, @ts, @stream, @line)",
            ("run", runPk), ("seq", null), ("ts", null), ("stream", null), ("line", null));
        foreach (var (seq, time, stream, line) in lines)
        {
            (command.Parameters[1].Value, command.Parameters[2].Value, command.Parameters[3].Value, command.Parameters[4].Value) = (seq, time, stream, line);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private static async Task InsertMediaAsync(DbConnection connection, DbTransaction transaction, long runPk, List<MediaRecord> media, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction,
            "INSERT INTO run_media (run_pk, seq, step, ts, key, kind, sha256, body) VALUES (@run, @seq, @step, @ts, @key, @kind, @sha, @body)",
            ("run", runPk), ("seq", null), ("step", null), ("ts", null), ("key", null), ("kind", null), ("sha", null), ("body", null));
        var parameters = command.Parameters;
        foreach (var item in media)
        {
            parameters[1].Value = item.Seq;
            parameters[2].Value = item.Step;
            parameters[3].Value = item.Time;
            parameters[4].Value = item.Key;
            parameters[5].Value = item.Kind;
            parameters[6].Value = (object?)item.Sha256 ?? DBNull.Value;
            parameters[7].Value = item.Body;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private static ChunkRow ToRow(long chunkNo, ReadOnlySpan<(long Step, long Time, double Value)> points)
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

    private async Task<StoredRun?> ReadRunAsync(DbConnection connection, DbTransaction? transaction, string project, string runId, bool forUpdate, CancellationToken cancellationToken) =>
        (await QueryRunsAsync(connection, transaction, "WHERE project = @project AND run_id = @run" + (forUpdate ? dialect.LockRowSuffix : string.Empty),
            [("project", project), ("run", runId)], cancellationToken)).SingleOrDefault();

    private static async Task<List<StoredRun>> QueryRunsAsync(DbConnection connection, DbTransaction? transaction, string where, (string, object?)[] parameters, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction, $"SELECT {RunColumns} FROM runs {where}", parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var runs = new List<StoredRun>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var summary = JsonNode.Parse(reader.GetString(10))!.AsObject();
            var fold = summary[StoredRun.FoldMember]?.ToJsonString();
            summary.Remove(StoredRun.FoldMember);
            runs.Add(new StoredRun(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.IsDBNull(5) ? null : Parse(reader.GetString(5)), Parse(reader.GetString(6)), reader.GetInt64(7),
                JsonNode.Parse(reader.GetString(8))!.AsObject(), JsonNode.Parse(reader.GetString(9))!.AsObject(), summary) { FoldState = fold });
        }

        return runs;
    }

    /// <summary>The summary with the fold's state beside it, as the summary column keeps them.</summary>
    private static string SummaryColumn(StoredRun run)
    {
        var column = (JsonObject)run.Summary.DeepClone();
        if (run.FoldState is { } fold)
        {
            column[StoredRun.FoldMember] = JsonNode.Parse(fold);
        }

        return column.ToJsonString();
    }

    private async Task<List<ApiKey>> QueryKeysAsync(string sql, string? hash, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null, sql, ("hash", hash));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var keys = new List<ApiKey>();
        while (await reader.ReadAsync(cancellationToken))
        {
            keys.Add(new ApiKey(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2),
                Parse(reader.GetString(3)), reader.IsDBNull(4) ? null : Parse(reader.GetString(4))));
        }

        return keys;
    }

    private static async Task Execute(DbConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Chunk numbers come from our own summary query, so listing them inline is safe.</summary>
    private static string InList(IEnumerable<long> numbers) => string.Join(",", numbers.Select(n => n.ToString(CultureInfo.InvariantCulture)));

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    private static DateTimeOffset Parse(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
}
