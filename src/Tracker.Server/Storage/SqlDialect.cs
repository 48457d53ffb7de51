using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Tracker.Server.Storage;

/// <summary>What differs between SQLite and PostgreSQL: connections, DDL, locking and bulk insert.</summary>
internal abstract class SqlDialect
{
    public abstract string Name { get; }

    /// <summary>
    /// Versioned schema migrations, applied in order at start-up. In chunk rows the small block
    /// summaries come before the large blobs: SQLite reads a row's overflow pages in column order.
    /// </summary>
    public abstract IReadOnlyList<(int Version, string Sql)> Migrations { get; }

    /// <summary>The migrations whose SQL is the same in both dialects, written once: each dialect's list ends with them.</summary>
    private protected static readonly (int Version, string Sql)[] SharedMigrations =
    [
        // MLflow experiments created before any run (a project otherwise exists through its runs), and run ids looked up without their project (MLflow's run_id).
        (9, """
            CREATE TABLE mlflow_experiments (project TEXT PRIMARY KEY, created_at TEXT NOT NULL);
            CREATE INDEX runs_run_id ON runs (run_id);
            """),
        // Indexes that hold the whole order of a sort by name (ties: newest start first), one per direction, so that a page
        // walks them and stops (SQLite 3.53 sorted every run rather than walk an index holding only the order's first part),
        // and the same under the stored state, for "state = X" (RunQuery.StateCondition) sorted by name or newest first.
        (10, """
            DROP INDEX runs_by_name;
            CREATE INDEX runs_by_name ON runs (project, COALESCE(shown_name, name), (start_time IS NULL), start_time DESC, run_id);
            CREATE INDEX runs_by_name_desc ON runs (project, COALESCE(shown_name, name) DESC, (start_time IS NULL), start_time DESC, run_id);
            CREATE INDEX runs_by_state_name ON runs (project, state, COALESCE(shown_name, name), (start_time IS NULL), start_time DESC, run_id);
            CREATE INDEX runs_by_state_name_desc ON runs (project, state, COALESCE(shown_name, name) DESC, (start_time IS NULL), start_time DESC, run_id);
            CREATE INDEX runs_by_state_newest ON runs (project, state, (start_time IS NULL), start_time DESC, run_id);
            """),
    ];

    /// <summary>Appended to the SELECT of a run row inside a write transaction.</summary>
    public abstract string LockRowSuffix { get; }

    public abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Waits for this process's turn to write, and returns what ends it (null where the database
    /// takes concurrent writers itself).
    /// </summary>
    public virtual ValueTask<IDisposable?> EnterWriteAsync(CancellationToken cancellationToken) => ValueTask.FromResult<IDisposable?>(null);

    /// <summary>Serialises migrations of several server instances starting at once.</summary>
    public abstract Task LockMigrationsAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken);

    /// <summary>Inserts new chunk rows of a run, of any keys; PostgreSQL overrides this with binary COPY.</summary>
    public virtual async Task InsertChunksAsync(DbConnection connection, DbTransaction transaction, long runPk, IReadOnlyList<(string Key, ChunkRow Row)> rows, CancellationToken cancellationToken)
    {
        // One command, prepared once, its parameters set again for each row.
        await using var command = Sql.Command(connection, transaction,
            "INSERT INTO metric_chunks (run_pk, key, chunk_no, first_step, last_step, first_time, last_time, count, min, max, last, steps, times, vals, blocks) "
            + "VALUES (@run, @key, @no, @fs, @ls, @ft, @lt, @count, @min, @max, @last, @steps, @times, @vals, @blocks)",
            ("run", runPk), ("key", null), ("no", null), ("fs", null), ("ls", null), ("ft", null), ("lt", null),
            ("count", null), ("min", null), ("max", null), ("last", null), ("steps", null), ("times", null), ("vals", null), ("blocks", null));
        var parameters = command.Parameters;
        foreach (var (key, row) in rows)
        {
            parameters[1].Value = key;
            parameters[2].Value = row.ChunkNo;
            parameters[3].Value = row.FirstStep;
            parameters[4].Value = row.LastStep;
            parameters[5].Value = row.FirstTime;
            parameters[6].Value = row.LastTime;
            parameters[7].Value = row.Count;
            parameters[8].Value = Sql.Real(row.Min);
            parameters[9].Value = Sql.Real(row.Max);
            parameters[10].Value = Sql.Real(row.Last);
            parameters[11].Value = row.Steps;
            parameters[12].Value = row.Times;
            parameters[13].Value = row.Values;
            parameters[14].Value = row.Blocks;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}

/// <summary>A chunk row ready to write.</summary>
internal sealed record ChunkRow(long ChunkNo, long FirstStep, long LastStep, long FirstTime, long LastTime, int Count, double Min, double Max, double Last, byte[] Steps, byte[] Times, byte[] Values, byte[] Blocks);

internal sealed class SqliteDialect(string path) : SqlDialect
{
    private static readonly ConditionalWeakTable<object, object> Configured = new();

    // SQLite has one writer at a time. Writers of this process queue here rather than in
    // SQLite, whose busy connections retry after sleeping (p99 append latency 0.3-0.9 s with 100 live runs).
    private readonly SemaphoreSlim _writer = new(1, 1);

    private readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Pooling = true,
        DefaultTimeout = 30,
    }.ToString();

    public override string Name => "sqlite";

    public override string LockRowSuffix => string.Empty; // BEGIN IMMEDIATE already serialises writers

    public override IReadOnlyList<(int Version, string Sql)> Migrations { get; } =
    [
        (1, """
            CREATE TABLE api_keys (name TEXT PRIMARY KEY, project TEXT NULL, key_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT NULL);
            CREATE TABLE runs (pk INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, run_id TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
                start_time TEXT NULL, updated_at TEXT NOT NULL, acked_seq INTEGER NOT NULL DEFAULT 0,
                metadata TEXT NOT NULL, config TEXT NOT NULL, summary TEXT NOT NULL, UNIQUE (project, run_id));
            CREATE TABLE metric_chunks (run_pk INTEGER NOT NULL, key TEXT NOT NULL, chunk_no INTEGER NOT NULL,
                first_step INTEGER NOT NULL, last_step INTEGER NOT NULL, first_time INTEGER NOT NULL, last_time INTEGER NOT NULL,
                count INTEGER NOT NULL, min REAL NULL, max REAL NULL, last REAL NULL,
                blocks BLOB NOT NULL, steps BLOB NOT NULL, vals BLOB NOT NULL, times BLOB NOT NULL,
                PRIMARY KEY (run_pk, key, chunk_no)) WITHOUT ROWID;
            """),
        (2, """
            CREATE TABLE run_output (run_pk INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, stream TEXT NOT NULL, line TEXT NOT NULL,
                PRIMARY KEY (run_pk, seq)) WITHOUT ROWID;
            """),
        // Media rows and blobs run to kilobytes and megabytes: rowid tables, which keep large rows out of the key b-tree.
        (3, """
            CREATE TABLE run_media (run_pk INTEGER NOT NULL, seq INTEGER NOT NULL, step INTEGER NOT NULL, ts INTEGER NOT NULL, key TEXT NOT NULL,
                kind TEXT NOT NULL, sha256 TEXT NULL, body TEXT NOT NULL, PRIMARY KEY (run_pk, seq));
            CREATE INDEX run_media_by_key ON run_media (run_pk, key, step, seq);
            CREATE TABLE media_blobs (project TEXT NOT NULL, sha256 TEXT NOT NULL, content_type TEXT NOT NULL, bytes INTEGER NOT NULL,
                created_at TEXT NOT NULL, content BLOB NOT NULL, PRIMARY KEY (project, sha256));
            """),
        // A live run's small batches, one row each, until they move into metric_chunks (PendingPoints).
        (4, """
            CREATE TABLE metric_pending (run_pk INTEGER NOT NULL, pending_no INTEGER NOT NULL, points INTEGER NOT NULL, body BLOB NOT NULL,
                PRIMARY KEY (run_pk, pending_no));
            """),
        // Run management: read-only keys, archived runs, edits made in the UI (RunEdits) and the name they show (shown_name, which the runs listing filters and sorts by), and the ids of deleted runs, which are not taken again.
        (5, """
            ALTER TABLE api_keys ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE runs ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE runs ADD COLUMN edits TEXT NULL;
            ALTER TABLE runs ADD COLUMN shown_name TEXT NULL;
            CREATE TABLE deleted_runs (project TEXT NOT NULL, run_id TEXT NOT NULL, deleted_at TEXT NOT NULL, PRIMARY KEY (project, run_id));
            CREATE INDEX run_media_by_sha256 ON run_media (sha256);
            """),
        // Each run's config, summary and tags, a row per key, for the runs listing (RunValueTable); filled for existing runs by SqlRunStore.
        (6, """
            CREATE TABLE run_values (run_pk INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, project TEXT NOT NULL, num REAL NULL, txt TEXT NULL,
                PRIMARY KEY (run_pk, kind, key)) WITHOUT ROWID;
            CREATE INDEX run_values_by_number ON run_values (project, kind, key, num);
            CREATE INDEX run_values_by_text ON run_values (project, kind, key, txt);
            CREATE INDEX runs_by_start ON runs (project, start_time);
            """),
        (7, """
            CREATE TABLE saved_views (project TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (project, name));
            """),
        // The runs listing's default order and its sort by the name shown, so that a page walks an index instead of sorting every run.
        (8, """
            CREATE INDEX runs_newest ON runs (project, (start_time IS NULL), start_time DESC, run_id);
            CREATE INDEX runs_by_name ON runs (project, COALESCE(shown_name, name));
            """),
        .. SharedMigrations,
    ];

    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);

        // Pooled connections keep their native handle, and the handle keeps its settings: set
        // them once per handle, not on every open (four statements on every request otherwise).
        if (!Configured.TryGetValue(connection.Handle!, out _))
        {
            await using var pragma = Sql.Command(connection, null, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA mmap_size=1073741824; PRAGMA cache_size=-65536; PRAGMA busy_timeout=30000;");
            await pragma.ExecuteNonQueryAsync(cancellationToken);
            Configured.AddOrUpdate(connection.Handle!, true);
        }

        return connection;
    }

    public override Task LockMigrationsAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) => Task.CompletedTask;

    public override async ValueTask<IDisposable?> EnterWriteAsync(CancellationToken cancellationToken)
    {
        await _writer.WaitAsync(cancellationToken);
        return new Turn(this);
    }

    private sealed class Turn(SqliteDialect dialect) : IDisposable
    {
        private int _ended;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _ended, 1) != 0)
            {
                return;
            }

            dialect._writer.Release();
        }
    }
}

internal sealed class PostgresDialect(string connectionString) : SqlDialect
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(connectionString);

    public override string Name => "postgresql";

    public override string LockRowSuffix => " FOR UPDATE";

    public override IReadOnlyList<(int Version, string Sql)> Migrations { get; } =
    [
        (1, """
            CREATE TABLE api_keys (name TEXT PRIMARY KEY, project TEXT NULL, key_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT NULL);
            CREATE TABLE runs (pk BIGSERIAL PRIMARY KEY, project TEXT NOT NULL, run_id TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
                start_time TEXT NULL, updated_at TEXT NOT NULL, acked_seq BIGINT NOT NULL DEFAULT 0,
                metadata TEXT NOT NULL, config TEXT NOT NULL, summary TEXT NOT NULL, UNIQUE (project, run_id));
            CREATE TABLE metric_chunks (run_pk BIGINT NOT NULL, key TEXT NOT NULL, chunk_no BIGINT NOT NULL,
                first_step BIGINT NOT NULL, last_step BIGINT NOT NULL, first_time BIGINT NOT NULL, last_time BIGINT NOT NULL,
                count INTEGER NOT NULL, min DOUBLE PRECISION NULL, max DOUBLE PRECISION NULL, last DOUBLE PRECISION NULL,
                blocks BYTEA NOT NULL, steps BYTEA NOT NULL, vals BYTEA NOT NULL, times BYTEA NOT NULL, PRIMARY KEY (run_pk, key, chunk_no));
            -- Packed numbers do not compress: store them out of line without pglz, which only costs CPU.
            ALTER TABLE metric_chunks ALTER COLUMN blocks SET STORAGE EXTERNAL, ALTER COLUMN steps SET STORAGE EXTERNAL,
                ALTER COLUMN vals SET STORAGE EXTERNAL, ALTER COLUMN times SET STORAGE EXTERNAL;
            """),
        (2, """
            CREATE TABLE run_output (run_pk BIGINT NOT NULL, seq BIGINT NOT NULL, ts BIGINT NOT NULL, stream TEXT NOT NULL, line TEXT NOT NULL,
                PRIMARY KEY (run_pk, seq));
            """),
        (3, """
            CREATE TABLE run_media (run_pk BIGINT NOT NULL, seq BIGINT NOT NULL, step BIGINT NOT NULL, ts BIGINT NOT NULL, key TEXT NOT NULL,
                kind TEXT NOT NULL, sha256 TEXT NULL, body TEXT NOT NULL, PRIMARY KEY (run_pk, seq));
            CREATE INDEX run_media_by_key ON run_media (run_pk, key, step, seq);
            CREATE TABLE media_blobs (project TEXT NOT NULL, sha256 TEXT NOT NULL, content_type TEXT NOT NULL, bytes BIGINT NOT NULL,
                created_at TEXT NOT NULL, content BYTEA NOT NULL, PRIMARY KEY (project, sha256));
            -- PNG and JPEG are compressed already: out of line without pglz.
            ALTER TABLE media_blobs ALTER COLUMN content SET STORAGE EXTERNAL;
            """),
        (4, """
            CREATE TABLE metric_pending (run_pk BIGINT NOT NULL, pending_no BIGINT NOT NULL, points INTEGER NOT NULL, body BYTEA NOT NULL,
                PRIMARY KEY (run_pk, pending_no));
            ALTER TABLE metric_pending ALTER COLUMN body SET STORAGE EXTERNAL;
            """),
        // Run management: read-only keys, archived runs, edits made in the UI (RunEdits) and the name they show (shown_name, which the runs listing filters and sorts by), and the ids of deleted runs, which are not taken again.
        (5, """
            ALTER TABLE api_keys ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE runs ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE runs ADD COLUMN edits TEXT NULL;
            ALTER TABLE runs ADD COLUMN shown_name TEXT NULL;
            CREATE TABLE deleted_runs (project TEXT NOT NULL, run_id TEXT NOT NULL, deleted_at TEXT NOT NULL, PRIMARY KEY (project, run_id));
            CREATE INDEX run_media_by_sha256 ON run_media (sha256);
            """),
        // Text values compare by code point, as in SQLite, whatever the database's collation.
        (6, """
            CREATE TABLE run_values (run_pk BIGINT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, project TEXT NOT NULL, num DOUBLE PRECISION NULL, txt TEXT COLLATE "C" NULL,
                PRIMARY KEY (run_pk, kind, key));
            CREATE INDEX run_values_by_number ON run_values (project, kind, key, num);
            CREATE INDEX run_values_by_text ON run_values (project, kind, key, txt);
            CREATE INDEX runs_by_start ON runs (project, start_time);
            """),
        (7, """
            CREATE TABLE saved_views (project TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (project, name));
            """),
        // The runs listing's default order and its sort by the name shown, so that a page walks an index instead of sorting every run.
        // PostgreSQL also gets statistics over run_values' key columns together: taken one by one, it
        // estimates "kind = 'c' AND key = 'optimizer' AND txt = 'sgd'" at a hundredth of the runs that
        // match, and sorts every match instead of walking the sort's index for a page.
        (8, """
            CREATE INDEX runs_newest ON runs (project, (start_time IS NULL), start_time DESC, run_id);
            CREATE INDEX runs_by_name ON runs (project, COALESCE(shown_name, name));
            CREATE STATISTICS run_values_keys (mcv, dependencies) ON project, kind, key FROM run_values;
            CREATE STATISTICS run_values_texts (mcv, dependencies) ON project, kind, key, txt FROM run_values;
            """),
        .. SharedMigrations,
    ];

    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    public override async Task LockMigrationsAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction, "SELECT pg_advisory_xact_lock(7205846001)");
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public override async Task InsertChunksAsync(DbConnection connection, DbTransaction transaction, long runPk, IReadOnlyList<(string Key, ChunkRow Row)> rows, CancellationToken cancellationToken)
    {
        var npgsql = (NpgsqlConnection)connection;
        await using var import = await npgsql.BeginBinaryImportAsync(
            "COPY metric_chunks (run_pk, key, chunk_no, first_step, last_step, first_time, last_time, count, min, max, last, steps, times, vals, blocks) FROM STDIN (FORMAT BINARY)",
            cancellationToken);
        foreach (var (key, row) in rows)
        {
            await import.StartRowAsync(cancellationToken);
            await import.WriteAsync(runPk, NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
            await import.WriteAsync(key, NpgsqlTypes.NpgsqlDbType.Text, cancellationToken);
            await import.WriteAsync(row.ChunkNo, NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
            await import.WriteAsync(row.FirstStep, NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
            await import.WriteAsync(row.LastStep, NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
            await import.WriteAsync(row.FirstTime, NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
            await import.WriteAsync(row.LastTime, NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
            await import.WriteAsync(row.Count, NpgsqlTypes.NpgsqlDbType.Integer, cancellationToken);
            await import.WriteAsync(row.Min, NpgsqlTypes.NpgsqlDbType.Double, cancellationToken);
            await import.WriteAsync(row.Max, NpgsqlTypes.NpgsqlDbType.Double, cancellationToken);
            await import.WriteAsync(row.Last, NpgsqlTypes.NpgsqlDbType.Double, cancellationToken);
            await import.WriteAsync(row.Steps, NpgsqlTypes.NpgsqlDbType.Bytea, cancellationToken);
            await import.WriteAsync(row.Times, NpgsqlTypes.NpgsqlDbType.Bytea, cancellationToken);
            await import.WriteAsync(row.Values, NpgsqlTypes.NpgsqlDbType.Bytea, cancellationToken);
            await import.WriteAsync(row.Blocks, NpgsqlTypes.NpgsqlDbType.Bytea, cancellationToken);
        }

        await import.CompleteAsync(cancellationToken);
    }
}

/// <summary>Small ADO.NET helpers shared by both dialects.</summary>
internal static class Sql
{
    public static DbCommand Command(DbConnection connection, DbTransaction? transaction, string text, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = text;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    /// <summary>
    /// Numbers the store itself made (run keys, chunk numbers) as an inline IN list, which is safe
    /// and lets both databases take any number of them without a parameter each.
    /// </summary>
    public static string InList(IEnumerable<long> numbers) => string.Join(",", numbers.Select(n => n.ToString(CultureInfo.InvariantCulture)));

    /// <summary>SQLite cannot store NaN (it becomes NULL); NULL reads back as NaN in both.</summary>
    public static object Real(double value) => double.IsNaN(value) ? DBNull.Value : value;

    public static double ReadReal(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? double.NaN : reader.GetDouble(ordinal);

    /// <summary>Times are stored as ISO 8601 text in UTC, which sorts as it reads in both databases.</summary>
    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseTime(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
}
