using System.Data.Common;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Tracker.Server.Storage;

/// <summary>The run was never created on this server.</summary>
internal sealed class RunNotFoundException(string project, string runId)
    : Exception($"Run '{runId}' of project '{project}' does not exist on this server. Create it with PUT /api/v1/projects/{project}/runs/{runId} first.");

/// <summary>
/// An upsert names a run the server holds with records, but started at another time: a new run
/// reusing the id, which must not be merged into the one stored.
/// </summary>
internal sealed class RunIdInUseException(string project, string runId, long storedSeq, string? storedStart, string? start)
    : Exception($"Run id '{runId}' of project '{project}' is already used on this server by a run that started at {storedStart} and holds {storedSeq:N0} records; "
        + $"this run started at {start}, so it is another run. Resume the stored run from its own run directory (resume: ResumeMode.Allow), or pick another id.");

/// <summary>The run was deleted on this server: its id takes no more records.</summary>
internal sealed class RunDeletedException(string project, string runId)
    : Exception($"Run '{runId}' of project '{project}' was deleted on this server and takes no more records; its id is not used again. Start a new run (another id) to log again.");

/// <summary>What an append reads of its run's row, locked: metadata and config only when the batch changes them.</summary>
internal sealed record AppendTarget(long Pk, long AckedSeq, string State, string Name, JsonObject? Metadata, JsonObject? Config, bool KeyActive);

/// <summary>A page of the runs listing: its runs, the number matching in all (when asked), whether more follow, and the keys no run has.</summary>
internal sealed record RunPage(IReadOnlyList<StoredRun> Page, long? Total, bool More, IReadOnlyList<string> UnknownKeys);

/// <summary>The runs table: each run's indexed columns, acked sequence number, metadata, config and summary.</summary>
internal sealed class RunTable(SqlDialect dialect)
{
    /// <summary>Creates the run or replaces its metadata; returns the highest stored sequence number.</summary>
    public async Task<long> UpsertRunAsync(string project, string runId, JsonObject metadata, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var config = metadata["config"] as JsonObject ?? [];
        var name = (string?)metadata["name"] ?? runId;
        var state = (string?)metadata["state"] ?? "running";
        var start = (string?)metadata["start_time"];
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = Sql.Command(connection, transaction,
            "INSERT INTO runs (project, run_id, name, state, start_time, updated_at, acked_seq, metadata, config, summary) "
            + "SELECT @project, @run, @name, @state, @start, @now, 0, @metadata, @config, '{}' "
            + "WHERE NOT EXISTS (SELECT 1 FROM deleted_runs WHERE project = @project AND run_id = @run) "
            + "ON CONFLICT (project, run_id) DO UPDATE SET name = excluded.name, state = excluded.state, start_time = excluded.start_time, "
            + "updated_at = excluded.updated_at, metadata = excluded.metadata, config = excluded.config "
            + "WHERE runs.acked_seq = 0 OR runs.start_time IS NULL OR excluded.start_time IS NULL OR runs.start_time = excluded.start_time "
            + "RETURNING pk, acked_seq, edits",
            ("project", project), ("run", runId), ("name", name), ("state", state), ("start", start), ("now", Sql.Format(now)),
            ("metadata", metadata.ToJsonString()), ("config", config.ToJsonString()));
        long? pk = null, acked = null;
        string? edits = null;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                (pk, acked, edits) = (reader.GetInt64(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2));
            }
        }

        // A delete that held the row while this statement waited (PostgreSQL: the statement's snapshot
        // predates the delete's tombstone, and the row it conflicted with is gone) would let it insert
        // the run again; a fresh read sees the tombstone, and the run stays deleted.
        if (pk is not null && await IsDeletedAsync(connection, transaction, project, runId, cancellationToken))
        {
            throw new RunDeletedException(project, runId);
        }

        if (pk is not null)
        {
            // A user's edits outlast the client's upsert: the listing filters by the name and tags they show.
            var tags = metadata["tags"];
            if (RunEdits.Apply(name, metadata, edits) is { } shown)
            {
                await SetShownNameAsync(connection, transaction, pk.Value, shown.Name == name ? null : shown.Name, cancellationToken);
                tags = shown.Metadata["tags"];
            }

            await RunValueTable.ReplaceConfigAsync(connection, transaction, project, pk.Value, config, tags, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return acked!.Value;
        }

        if (await IsDeletedAsync(connection, transaction, project, runId, cancellationToken))
        {
            throw new RunDeletedException(project, runId);
        }

        // The row holds records of a run that started at another time: another run under the same id.
        var existing = await ReadRunAsync(connection, transaction, project, runId, forUpdate: false, cancellationToken);
        throw new RunIdInUseException(project, runId, existing?.AckedSeq ?? 0, (string?)existing?.Metadata["start_time"], start);
    }

    /// <summary>Records that the run was heard from (a heartbeat); returns its acked sequence number, or null when there is no such run.</summary>
    public async Task<long?> HeartbeatAsync(string project, string runId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "UPDATE runs SET updated_at = @now WHERE project = @project AND run_id = @run RETURNING acked_seq",
            ("project", project), ("run", runId), ("now", Sql.Format(now)));
        return await command.ExecuteScalarAsync(cancellationToken) is { } acked and not DBNull ? Convert.ToInt64(acked, CultureInfo.InvariantCulture) : null;
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
            ("state", state), ("now", Sql.Format(endTime)), ("metadata", run.Metadata.ToJsonString()), ("pk", run.Pk)))
        {
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<ProjectInfo>> ListProjectsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null, "SELECT project, COUNT(*), MAX(updated_at) FROM runs GROUP BY project ORDER BY project");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var projects = new List<ProjectInfo>();
        while (await reader.ReadAsync(cancellationToken))
        {
            projects.Add(new ProjectInfo(reader.GetString(0), reader.GetInt64(1), Sql.ParseTime(reader.GetString(2))));
        }

        return projects;
    }

    /// <summary>
    /// A page of the runs the query matches; whether more match after it; the number it matches in
    /// all, when <see cref="RunQuery.WithTotal"/> asks for it; and the keys it names that no run of
    /// the project has (a condition on them matches nothing).
    /// </summary>
    public async Task<RunPage> QueryRunsAsync(RunQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        var (where, parameters) = query.WhereClause();
        long? total = null;
        if (query.WithTotal)
        {
            // The count passes over every match: lists of the runs meeting each condition serve it best.
            await using var count = Sql.Command(connection, null, $"SELECT COUNT(*) FROM runs r {where}", [.. parameters]);
            total = Convert.ToInt64(await count.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        }

        if (await ProbedConditionsAsync(connection, query, parameters, cancellationToken) is { Count: > 0 } probed)
        {
            (where, parameters) = query.WhereClause(probed);
        }

        // Sort and page the keys alone, then read the page's rows: sorting whole rows (metadata, config, summary) costs ten times more.
        // One run past the page tells whether more follow. Each part of the sort is read in its order until the page is full;
        // the offset skips the runs of the parts before.
        var pks = new List<long>();
        var skip = (long)query.Offset;
        foreach (var (from, and, orderBy) in query.SortParts(parameters))
        {
            var take = query.Limit + 1 - pks.Count;
            if (take <= 0)
            {
                break;
            }

            var read = 0L;
            await using (var order = Sql.Command(connection, null, $"SELECT r.pk FROM {from} {where}{and} {orderBy} LIMIT {take} OFFSET {skip}", [.. parameters]))
            await using (var reader = await order.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    pks.Add(reader.GetInt64(0));
                    read++;
                }
            }

            if (read > 0 || skip == 0)
            {
                skip = 0; // this part held the offset's end
            }
            else
            {
                // The offset lies past this part: count it, to skip the rest in the next.
                await using var count = Sql.Command(connection, null, $"SELECT COUNT(*) FROM {from} {where}{and}", [.. parameters]);
                skip -= Convert.ToInt64(await count.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
            }
        }

        var more = pks.Count > query.Limit;
        if (more)
        {
            pks.RemoveAt(pks.Count - 1);
        }

        var rows = pks.Count == 0 ? [] : await QueryRunsAsync(connection, null, $"WHERE r.pk IN ({string.Join(", ", pks)})", [], cancellationToken);
        var byPk = rows.ToDictionary(r => r.Pk);
        var page = pks.Select(pk => RunEdits.View(byPk[pk])).ToList();
        var unknown = new List<string>();
        foreach (var (kinds, key) in query.ValueKeys())
        {
            await using var known = Sql.Command(connection, null,
                $"SELECT 1 FROM run_values WHERE project = @project AND kind IN ({kinds}) AND key = @key LIMIT 1", ("project", query.Project), ("key", key));
            if (await known.ExecuteScalarAsync(cancellationToken) is null)
            {
                unknown.Add(key);
            }
        }

        return new RunPage(page, total, more, unknown);
    }

    /// <summary>
    /// Rows of <c>run_values</c> from which a condition is probed per run rather than listed
    /// (<see cref="RunQuery.WhereClause"/>), for a page of <c>offset + limit</c> runs: at 40 times
    /// the page (at least 2,000), a condition alone lets a walk in sort order fill the page within a
    /// fortieth of the project's runs, while its list would cost as many rows as meet it.
    /// Settable so that tests can force either form.
    /// </summary>
    internal Func<RunQuery, long> ProbeFrom { get; set; } = DefaultProbeFrom;

    internal static long DefaultProbeFrom(RunQuery query) => Math.Max(2_000, 40L * (query.Offset + query.Limit + 1));

    /// <summary>
    /// The conditions to probe per run: on SQLite, those that many runs meet (counted up to
    /// <see cref="ProbeFrom"/>, which costs no more than listing them), when the page is read
    /// by walking an index in sort order. SQLite builds each list in full before the walk
    /// (25,000 rows cost 20-30 ms), while the walk stops at the page; PostgreSQL plans the lists as
    /// joins by its statistics, so it keeps them. <c>sort=state</c> sorts every match, so it keeps them too.
    /// </summary>
    internal async Task<IReadOnlySet<int>> ProbedConditionsAsync(DbConnection connection, RunQuery query, List<(string, object?)> parameters, CancellationToken cancellationToken)
    {
        var probed = new HashSet<int>();
        if (dialect is not SqliteDialect || query.Sort?.Field == RunField.State)
        {
            return probed;
        }

        var from = ProbeFrom(query);
        foreach (var i in query.ListedConditions())
        {
            await using var rows = Sql.Command(connection, null, $"SELECT COUNT(*) FROM ({query.MatchingRows(i, (int)Math.Min(from, int.MaxValue))}) m", [.. parameters]);
            if (Convert.ToInt64(await rows.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture) >= from)
            {
                probed.Add(i);
            }
        }

        return probed;
    }

    /// <summary>The keys of those of <paramref name="runIds"/> the project has, in one query: a batch read needs no more of each run.</summary>
    public async Task<Dictionary<string, long>> GetRunPksAsync(string project, IReadOnlyList<string> runIds, CancellationToken cancellationToken)
    {
        var pks = new Dictionary<string, long>(StringComparer.Ordinal);
        if (runIds.Count == 0)
        {
            return pks;
        }

        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            $"SELECT run_id, pk FROM runs WHERE project = @project AND run_id IN ({string.Join(", ", runIds.Select((_, i) => $"@r{i}"))})",
            [("project", project), .. runIds.Select((id, i) => ($"r{i}", (object?)id))]);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            pks[reader.GetString(0)] = reader.GetInt64(1);
        }

        return pks;
    }


    /// <summary>Those of <paramref name="runIds"/> the project has, as readers see them (with users' edits), in one query.</summary>
    public async Task<IReadOnlyList<StoredRun>> GetRunsAsync(string project, IReadOnlyList<string> runIds, CancellationToken cancellationToken)
    {
        if (runIds.Count == 0)
        {
            return [];
        }

        await using var connection = await dialect.OpenAsync(cancellationToken);
        var runs = await QueryRunsAsync(connection, null, $"WHERE r.project = @project AND r.run_id IN ({string.Join(", ", runIds.Select((_, i) => $"@r{i}"))})",
            [("project", project), .. runIds.Select((id, i) => ($"r{i}", (object?)id))], cancellationToken);
        return runs.Select(RunEdits.View).ToList();
    }

    /// <summary>The run as readers see it (with users' edits), or null.</summary>
    public async Task<StoredRun?> GetRunAsync(string project, string runId, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        return await ReadRunAsync(connection, null, project, runId, forUpdate: false, cancellationToken) is { } run ? RunEdits.View(run) : null;
    }

    /// <summary>
    /// A user's change to a run: name, tags and notes as <see cref="RunEdits"/> keeps them, and
    /// whether it is archived; a null argument leaves its field as it is. Returns the run as
    /// readers see it afterwards, or null when there is no such run.
    /// </summary>
    public async Task<StoredRun?> EditRunAsync(string project, string runId, string? name, IReadOnlyList<string>? tags, bool setNotes, string? notes, bool? archived, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (await ReadRunAsync(connection, transaction, project, runId, forUpdate: true, cancellationToken) is not { } run)
        {
            return null;
        }

        var edits = RunEdits.Record(run, name, tags, setNotes, notes);
        var isArchived = archived ?? run.Archived;
        await using (var update = Sql.Command(connection, transaction, "UPDATE runs SET edits = @edits, archived = @archived WHERE pk = @pk",
            ("edits", edits), ("archived", isArchived ? 1 : 0), ("pk", run.Pk)))
        {
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        // What the listing filters and sorts by follows what readers see.
        var shown = RunEdits.Apply(run.Name, run.Metadata, edits);
        await SetShownNameAsync(connection, transaction, run.Pk, shown is { } s && s.Name != run.Name ? s.Name : null, cancellationToken);
        await RunValueTable.ReplaceConfigAsync(connection, transaction, project, run.Pk, run.Config, (shown?.Metadata ?? run.Metadata)["tags"], cancellationToken);

        await transaction.CommitAsync(cancellationToken);
        return RunEdits.View(run with { Edits = edits, Archived = isArchived });
    }

    private static async Task SetShownNameAsync(DbConnection connection, DbTransaction transaction, long runPk, string? shownName, CancellationToken cancellationToken)
    {
        await using var update = Sql.Command(connection, transaction, "UPDATE runs SET shown_name = @shown WHERE pk = @pk", ("shown", shownName), ("pk", runPk));
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Deletes a run with its points, output and media records, and the project's media files that
    /// no other run refers to; its id is kept in deleted_runs, so that a client still sending to it
    /// is told so (410) rather than creating it again. False when there is no such run.
    /// </summary>
    public async Task<bool> DeleteRunAsync(string project, string runId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (await ReadRunAsync(connection, transaction, project, runId, forUpdate: true, cancellationToken) is not { } run)
        {
            return false;
        }

        var files = new List<string>();
        await using (var media = Sql.Command(connection, transaction, "SELECT DISTINCT sha256 FROM run_media WHERE run_pk = @pk AND sha256 IS NOT NULL", ("pk", run.Pk)))
        await using (var reader = await media.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                files.Add(reader.GetString(0));
            }
        }

        await using (var delete = Sql.Command(connection, transaction,
            "DELETE FROM metric_chunks WHERE run_pk = @pk; DELETE FROM metric_pending WHERE run_pk = @pk; DELETE FROM run_output WHERE run_pk = @pk; "
            + "DELETE FROM run_media WHERE run_pk = @pk; DELETE FROM run_values WHERE run_pk = @pk; DELETE FROM runs WHERE pk = @pk; "
            + "INSERT INTO deleted_runs (project, run_id, deleted_at) VALUES (@project, @run, @now) ON CONFLICT (project, run_id) DO NOTHING",
            ("pk", run.Pk), ("project", project), ("run", runId), ("now", Sql.Format(now))))
        {
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }

        // Files are stored once per project: a file goes only when no run of the project refers to it any more.
        await using (var orphan = Sql.Command(connection, transaction,
            "DELETE FROM media_blobs WHERE project = @project AND sha256 = @sha AND NOT EXISTS "
            + "(SELECT 1 FROM run_media m JOIN runs r ON r.pk = m.run_pk WHERE m.sha256 = @sha AND r.project = @project)",
            ("project", project), ("sha", null)))
        {
            foreach (var sha in files)
            {
                orphan.Parameters[1].Value = sha;
                await orphan.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Whether the run was deleted on this server (its id takes no more records).</summary>
    public async Task<bool> IsDeletedAsync(string project, string runId, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        return await IsDeletedAsync(connection, null, project, runId, cancellationToken);
    }

    private static async Task<bool> IsDeletedAsync(DbConnection connection, DbTransaction? transaction, string project, string runId, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction, "SELECT COUNT(*) FROM deleted_runs WHERE project = @project AND run_id = @run", ("project", project), ("run", runId));
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture) > 0;
    }

    /// <summary>
    /// Locks the run's row for an append (PostgreSQL: FOR UPDATE; SQLite: the write transaction
    /// already excludes other writers) and reads what every append needs. Metadata and config
    /// are read only when <paramref name="withMetadata"/>: most batches hold only points. With
    /// <paramref name="keyHash"/>, also whether that key is still active, in the same round trip.
    /// </summary>
    public async Task<AppendTarget?> LockForAppendAsync(DbConnection connection, DbTransaction transaction, string project, string runId, bool withMetadata, string? keyHash, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction,
            "SELECT pk, acked_seq, state, name, (SELECT COUNT(*) FROM api_keys WHERE key_hash = @hash AND revoked_at IS NULL)"
            + $"{(withMetadata ? ", metadata, config" : string.Empty)} FROM runs WHERE project = @project AND run_id = @run{dialect.LockRowSuffix}",
            ("project", project), ("run", runId), ("hash", keyHash));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new AppendTarget(reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3),
            withMetadata ? JsonNode.Parse(reader.GetString(5))!.AsObject() : null, withMetadata ? JsonNode.Parse(reader.GetString(6))!.AsObject() : null,
            reader.GetInt64(4) > 0);
    }

    /// <summary>The fold of the run's records so far, which the summary column keeps beside the summary.</summary>
    public static async Task<RunFold> ReadFoldAsync(DbConnection connection, DbTransaction transaction, long runPk, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction, "SELECT summary FROM runs WHERE pk = @pk", ("pk", runPk));
        return StoredRun.ReadFold((string)(await command.ExecuteScalarAsync(cancellationToken))!);
    }

    /// <summary>
    /// Records an append: the new acked sequence number and summary, and the metadata and config
    /// when they were read; <paramref name="before"/>, a statement of the same append sent in the
    /// same command (one round trip).
    /// </summary>
    public static async Task UpdateAfterAppendAsync(DbConnection connection, DbTransaction transaction, StoredRun run, long ackedSeq, bool withMetadata, DateTimeOffset now,
        (string Sql, (string Name, object? Value)[] Parameters)? before, CancellationToken cancellationToken)
    {
        (string, object?)[] parameters = withMetadata
            ? [("acked", ackedSeq), ("state", (string?)run.Metadata["state"] ?? run.State), ("name", run.Name), ("now", Sql.Format(now)),
                ("metadata", run.Metadata.ToJsonString()), ("config", run.Config.ToJsonString()), ("summary", StoredRun.SummaryColumn(run.Fold!)), ("pk", run.Pk)]
            : [("acked", ackedSeq), ("now", Sql.Format(now)), ("summary", StoredRun.SummaryColumn(run.Fold!)), ("pk", run.Pk)];
        var update = withMetadata
            ? "UPDATE runs SET acked_seq = @acked, state = @state, name = @name, updated_at = @now, metadata = @metadata, config = @config, summary = @summary WHERE pk = @pk"
            : "UPDATE runs SET acked_seq = @acked, updated_at = @now, summary = @summary WHERE pk = @pk";
        await using var command = before is { } first
            ? Sql.Command(connection, transaction, $"{first.Sql}; {update}", [.. first.Parameters, .. parameters])
            : Sql.Command(connection, transaction, update, parameters);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private const string RunColumns = "r.pk, r.project, r.run_id, r.name, r.state, r.start_time, r.updated_at, r.acked_seq, r.metadata, r.config, r.summary, r.archived, r.edits";

    private async Task<StoredRun?> ReadRunAsync(DbConnection connection, DbTransaction? transaction, string project, string runId, bool forUpdate, CancellationToken cancellationToken) =>
        (await QueryRunsAsync(connection, transaction, "WHERE project = @project AND run_id = @run" + (forUpdate ? dialect.LockRowSuffix : string.Empty),
            [("project", project), ("run", runId)], cancellationToken)).SingleOrDefault();

    private static async Task<List<StoredRun>> QueryRunsAsync(DbConnection connection, DbTransaction? transaction, string where, (string, object?)[] parameters, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction, $"SELECT {RunColumns} FROM runs r {where}", parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var runs = new List<StoredRun>();
        while (await reader.ReadAsync(cancellationToken))
        {
            runs.Add(new StoredRun(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.IsDBNull(5) ? null : Sql.ParseTime(reader.GetString(5)), Sql.ParseTime(reader.GetString(6)), reader.GetInt64(7),
                JsonNode.Parse(reader.GetString(8))!.AsObject(), JsonNode.Parse(reader.GetString(9))!.AsObject(), StoredRun.ReadSummary(reader.GetString(10)))
            {
                Archived = Convert.ToInt64(reader.GetValue(11), CultureInfo.InvariantCulture) != 0,
                Edits = reader.IsDBNull(12) ? null : reader.GetString(12),
            });
        }

        return runs;
    }
}
