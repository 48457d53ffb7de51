using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using Tracker.Server.Storage;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// A dialect that counts the commands the store creates on its connections (one a query), and
/// otherwise passes everything to the real SQLite or PostgreSQL dialect underneath.
/// </summary>
internal sealed class CountingDialect(SqlDialect inner) : SqlDialect
{
    private int _commands;

    /// <summary>Commands created since the dialect was made.</summary>
    public int Commands => Volatile.Read(ref _commands);

    public override string Name => inner.Name;

    public override IReadOnlyList<(int Version, string Sql)> Migrations => inner.Migrations;

    public override string LockRowSuffix => inner.LockRowSuffix;

    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        new CountingConnection(await inner.OpenAsync(cancellationToken), this);

    public override ValueTask<IDisposable?> EnterWriteAsync(CancellationToken cancellationToken) => inner.EnterWriteAsync(cancellationToken);

    public override Task LockMigrationsAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        inner.LockMigrationsAsync(((CountingConnection)connection).Inner, transaction, cancellationToken);

    public override Task InsertChunksAsync(DbConnection connection, DbTransaction transaction, long runPk, IReadOnlyList<(string Key, ChunkRow Row)> rows, CancellationToken cancellationToken) =>
        inner.InsertChunksAsync(((CountingConnection)connection).Inner, transaction, runPk, rows, cancellationToken);

    private sealed class CountingConnection(DbConnection connection, CountingDialect dialect) : DbConnection
    {
        public DbConnection Inner => connection;

        [AllowNull]
        public override string ConnectionString
        {
            get => connection.ConnectionString;
            set => connection.ConnectionString = value;
        }

        public override string Database => connection.Database;

        public override string DataSource => connection.DataSource;

        public override string ServerVersion => connection.ServerVersion;

        public override ConnectionState State => connection.State;

        public override void ChangeDatabase(string databaseName) => connection.ChangeDatabase(databaseName);

        public override void Close() => connection.Close();

        public override void Open() => connection.Open();

        public override ValueTask DisposeAsync() => connection.DisposeAsync();

        protected override DbTransaction BeginDbTransaction(IsolationLevel isolationLevel) => connection.BeginTransaction(isolationLevel);

        protected override async ValueTask<DbTransaction> BeginDbTransactionAsync(IsolationLevel isolationLevel, CancellationToken cancellationToken) =>
            await connection.BeginTransactionAsync(isolationLevel, cancellationToken);

        protected override DbCommand CreateDbCommand()
        {
            Interlocked.Increment(ref dialect._commands);
            return connection.CreateCommand();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                connection.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
