using Tracker.Server.Storage;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// A migrated store on a fresh database of its own, in process: "sqlite" a file in a new folder,
/// "postgres" a new database of the test cluster. Disposing deletes the SQLite folder.
/// </summary>
internal sealed class TestStore : IDisposable
{
    private readonly string? _directory;

    private TestStore(SqlRunStore store, string? directory) => (Store, _directory) = (store, directory);

    public SqlRunStore Store { get; }

    public static async Task<TestStore> CreateAsync(string kind)
    {
        string? directory = null;
        SqlDialect dialect;
        if (kind == "sqlite")
        {
            directory = Path.Combine(Path.GetTempPath(), "tracker-store", Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(directory);
            dialect = new SqliteDialect(Path.Combine(directory, "t.db"));
        }
        else
        {
            dialect = new PostgresDialect(Postgres.NewDatabase());
        }

        var store = new SqlRunStore(dialect);
        await store.MigrateAsync(CancellationToken.None);
        return new TestStore(store, directory);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools(); // the file stays open in the pool otherwise
        if (_directory is not null)
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
