namespace Tracker.Server.Storage;

/// <summary>A saved view: the UI's JSON object as stored, and when it was last saved.</summary>
internal sealed record SavedView(string Name, string Body, DateTimeOffset UpdatedAt);

/// <summary>The saved_views table: named views of a project (columns, filters, sort, charts), opaque JSON the web UI owns.</summary>
internal sealed class ViewTable(SqlDialect dialect)
{
    /// <summary>The most a view's JSON may take, in UTF-8 bytes.</summary>
    public const int MaxBodyBytes = 64 * 1024;

    /// <summary>The longest view name, in characters.</summary>
    public const int MaxNameLength = 128;

    /// <summary>Why a view name cannot be stored, or null: 1 to <see cref="MaxNameLength"/> characters, none of them control characters.</summary>
    public static string? NameProblem(string name) =>
        name.Length is 0 or > MaxNameLength || name.Any(char.IsControl) || name.Trim() != name
            ? $"A view name takes 1 to {MaxNameLength} characters, no control characters and no spaces at either end."
            : null;

    public async Task<IReadOnlyList<SavedView>> ListAsync(string project, CancellationToken cancellationToken) =>
        await QueryAsync("SELECT name, '', updated_at FROM saved_views WHERE project = @project ORDER BY name", project, null, cancellationToken);

    public async Task<SavedView?> GetAsync(string project, string name, CancellationToken cancellationToken) =>
        (await QueryAsync("SELECT name, body, updated_at FROM saved_views WHERE project = @project AND name = @name", project, name, cancellationToken)).SingleOrDefault();

    /// <summary>Saves the view, replacing one of the same name; true when it is new.</summary>
    public async Task<bool> PutAsync(string project, string name, string body, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var turn = await dialect.EnterWriteAsync(cancellationToken);
        await using var connection = await dialect.OpenAsync(cancellationToken);
        (string, object?)[] parameters = [("project", project), ("name", name), ("body", body), ("now", Sql.Format(now))];
        await using var insert = Sql.Command(connection, null,
            "INSERT INTO saved_views (project, name, body, updated_at) VALUES (@project, @name, @body, @now) ON CONFLICT (project, name) DO NOTHING", parameters);
        if (await insert.ExecuteNonQueryAsync(cancellationToken) > 0)
        {
            return true;
        }

        await using var update = Sql.Command(connection, null, "UPDATE saved_views SET body = @body, updated_at = @now WHERE project = @project AND name = @name", parameters);
        await update.ExecuteNonQueryAsync(cancellationToken);
        return false;
    }

    /// <summary>Deletes the view; false when there was none.</summary>
    public async Task<bool> DeleteAsync(string project, string name, CancellationToken cancellationToken)
    {
        using var turn = await dialect.EnterWriteAsync(cancellationToken);
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null, "DELETE FROM saved_views WHERE project = @project AND name = @name", ("project", project), ("name", name));
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    private async Task<List<SavedView>> QueryAsync(string sql, string project, string? name, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null, sql, ("project", project), ("name", name));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var views = new List<SavedView>();
        while (await reader.ReadAsync(cancellationToken))
        {
            views.Add(new SavedView(reader.GetString(0), reader.GetString(1), Sql.ParseTime(reader.GetString(2))));
        }

        return views;
    }
}
