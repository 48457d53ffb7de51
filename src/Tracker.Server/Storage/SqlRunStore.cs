using System.Data.Common;
using System.Globalization;

namespace Tracker.Server.Storage;

/// <summary>
/// The store, written once against ADO.NET for SQLite and PostgreSQL alike; <see cref="SqlDialect"/>
/// holds what differs. One class per table family: <see cref="RunTable"/> (runs and their
/// metadata), <see cref="MetricTable"/> and <see cref="SeriesTails"/> (metric chunks and series),
/// <see cref="MediaTable"/> (media and blobs), <see cref="OutputTable"/> (console output) and
/// <see cref="KeyTable"/> (API keys). Writes that span tables, in one transaction, are
/// <see cref="Ingest.IngestService"/>'s.
/// </summary>
internal sealed class SqlRunStore(SqlDialect dialect)
{
    /// <summary>The migration that creates <c>run_values</c>, which runs stored before it need filled.</summary>
    private const int RunValuesVersion = 6;

    public string Kind => dialect.Name;

    public SqlDialect Dialect => dialect;

    public RunTable Runs { get; } = new(dialect);

    public MetricTable Metrics { get; } = new(dialect);

    public MediaTable Media { get; } = new(dialect);

    public OutputTable Output { get; } = new(dialect);

    public KeyTable Keys { get; } = new(dialect);

    public ViewTable Views { get; } = new(dialect);

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
            if (version == RunValuesVersion)
            {
                await RunValueTable.FillAsync(connection, transaction, cancellationToken);
            }
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task Execute(DbConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
