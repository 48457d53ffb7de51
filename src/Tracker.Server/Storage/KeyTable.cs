namespace Tracker.Server.Storage;

/// <summary>The api_keys table: keys as SHA-256 hashes of their secrets, created, listed, found and revoked.</summary>
internal sealed class KeyTable(SqlDialect dialect)
{
    public async Task CreateKeyAsync(ApiKey key, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "INSERT INTO api_keys (name, project, key_hash, created_at, read_only) VALUES (@name, @project, @hash, @created, @readOnly)",
            ("name", key.Name), ("project", key.Project), ("hash", key.Hash), ("created", Sql.Format(key.CreatedAt)), ("readOnly", key.ReadOnly ? 1 : 0));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> RevokeKeyAsync(string name, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "UPDATE api_keys SET revoked_at = @now WHERE name = @name AND revoked_at IS NULL", ("now", Sql.Format(now)), ("name", name));
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task<IReadOnlyList<ApiKey>> ListKeysAsync(CancellationToken cancellationToken) =>
        await QueryKeysAsync("SELECT name, project, key_hash, created_at, revoked_at, read_only FROM api_keys ORDER BY name", null, cancellationToken);

    public async Task<ApiKey?> FindKeyAsync(string hash, CancellationToken cancellationToken) =>
        (await QueryKeysAsync("SELECT name, project, key_hash, created_at, revoked_at, read_only FROM api_keys WHERE key_hash = @hash", hash, cancellationToken))
        .SingleOrDefault();

    private async Task<List<ApiKey>> QueryKeysAsync(string sql, string? hash, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null, sql, ("hash", hash));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var keys = new List<ApiKey>();
        while (await reader.ReadAsync(cancellationToken))
        {
            keys.Add(new ApiKey(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2),
                Sql.ParseTime(reader.GetString(3)), reader.IsDBNull(4) ? null : Sql.ParseTime(reader.GetString(4)),
                Convert.ToInt64(reader.GetValue(5), System.Globalization.CultureInfo.InvariantCulture) != 0));
        }

        return keys;
    }
}
