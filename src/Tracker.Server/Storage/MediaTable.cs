using System.Data.Common;
using System.Globalization;

namespace Tracker.Server.Storage;

/// <summary>The run_media table (a run's media records) and media_blobs (their files, once per project).</summary>
internal sealed class MediaTable(SqlDialect dialect)
{
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
            ("project", project), ("sha", sha256), ("type", contentType), ("bytes", (long)content.Length), ("now", Sql.Format(now)), ("content", content));
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


    public static async Task InsertAsync(DbConnection connection, DbTransaction transaction, long runPk, List<MediaRecord> media, CancellationToken cancellationToken)
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
}
