using System.Data;
using System.Data.Common;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tracker.Server.Storage;

/// <summary>What a value row belongs to: the run's config, its summary, or its tags.</summary>
internal static class ValueKind
{
    public const string Config = "c";

    public const string Summary = "s";

    public const string Tag = "t";
}

/// <summary>
/// <c>run_values</c>: each run's config keys (nested objects flattened with '.'), summary keys
/// and tags, one row each, indexed by (project, kind, key, number) and (project, kind, key, text)
/// so that the runs listing filters and sorts in the database (as MLflow's <c>params</c> and
/// <c>latest_metrics</c> tables). Written in the transaction that writes the run's config and
/// summary columns, from the same values.
/// </summary>
internal static class RunValueTable
{
    /// <summary>Rows per INSERT: 6 parameters each stays far below both databases' limits.</summary>
    private const int RowsPerStatement = 500;

    /// <summary>The rows of a config: <see cref="RunValue.OfConfig"/>, the rule local filters read too.</summary>
    public static Dictionary<(string Kind, string Key), RunValue> OfConfig(JsonObject config, JsonNode? tags)
    {
        var rows = new Dictionary<(string, string), RunValue>();
        // Read by the format's value codec, as the run reader reads run.json's config.
        using var json = JsonDocument.Parse(config.ToJsonString());
        foreach (var (key, value) in RunValue.OfConfig((Dictionary<string, object?>)RecordValue.FromJson(json.RootElement)!))
        {
            rows[(ValueKind.Config, key)] = value;
        }

        foreach (var tag in (tags as JsonArray ?? []).OfType<JsonValue>())
        {
            if (tag.TryGetValue<string>(out var text))
            {
                rows[(ValueKind.Tag, text)] = new RunValue(null, text);
            }
        }

        return rows;
    }

    /// <summary>The rows of a summary (<see cref="SummaryTable.Snapshot"/>): <see cref="RunValue.OfSummary"/>, the rule local filters read too.</summary>
    public static Dictionary<(string Kind, string Key), RunValue> OfSummary(Dictionary<string, object?> summary) =>
        RunValue.OfSummary(summary).ToDictionary(v => (ValueKind.Summary, v.Key), v => v.Value);

    /// <summary>Writes the rows that differ between <paramref name="before"/> and <paramref name="after"/>, and deletes those gone.</summary>
    public static async Task UpdateAsync(DbConnection connection, DbTransaction transaction, string project, long runPk,
        Dictionary<(string Kind, string Key), RunValue> before, Dictionary<(string Kind, string Key), RunValue> after, CancellationToken cancellationToken)
    {
        var changed = after.Where(a => !before.TryGetValue(a.Key, out var old) || old != a.Value).ToList();
        var gone = before.Keys.Where(k => !after.ContainsKey(k)).ToList();
        foreach (var page in gone.Chunk(RowsPerStatement))
        {
            var parameters = new List<(string, object?)> { ("pk", runPk) };
            var pairs = page.Select((k, i) =>
            {
                parameters.Add(($"k{i}", k.Kind));
                parameters.Add(($"n{i}", k.Key));
                return $"(kind = @k{i} AND key = @n{i})";
            }).ToList();
            await using var delete = Sql.Command(connection, transaction, $"DELETE FROM run_values WHERE run_pk = @pk AND ({string.Join(" OR ", pairs)})", [.. parameters]);
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }

        foreach (var page in changed.Chunk(RowsPerStatement))
        {
            var parameters = new List<(string, object?)> { ("pk", runPk), ("project", project) };
            var rows = page.Select((row, i) =>
            {
                parameters.Add(($"k{i}", row.Key.Kind));
                parameters.Add(($"n{i}", row.Key.Key));
                parameters.Add(($"v{i}", row.Value.Number));
                parameters.Add(($"t{i}", row.Value.Text));
                return $"(@pk, @k{i}, @n{i}, @project, @v{i}, @t{i})";
            }).ToList();
            await using var upsert = Sql.Command(connection, transaction,
                $"INSERT INTO run_values (run_pk, kind, key, project, num, txt) VALUES {string.Join(", ", rows)} "
                + "ON CONFLICT (run_pk, kind, key) DO UPDATE SET num = excluded.num, txt = excluded.txt", [.. parameters]);

            // A NULL of unknown type in a VALUES list reads as text in PostgreSQL: say what each column is.
            foreach (DbParameter parameter in upsert.Parameters)
            {
                parameter.DbType = parameter.ParameterName switch { "pk" => DbType.Int64, ['v', ..] => DbType.Double, _ => DbType.String };
            }
            await upsert.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>Replaces a run's config and tag rows, as an upsert of its run.json replaces both.</summary>
    public static async Task ReplaceConfigAsync(DbConnection connection, DbTransaction transaction, string project, long runPk, JsonObject config, JsonNode? tags, CancellationToken cancellationToken)
    {
        await using (var delete = Sql.Command(connection, transaction, "DELETE FROM run_values WHERE run_pk = @pk AND kind IN ('c', 't')", ("pk", runPk)))
        {
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }

        await UpdateAsync(connection, transaction, project, runPk, [], OfConfig(config, tags), cancellationToken);
    }

    /// <summary>
    /// Fills the table for runs stored before it existed, a page of runs at a time (one open
    /// reader per connection in PostgreSQL), from the same columns and rules as every write.
    /// </summary>
    public static async Task FillAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        var after = 0L;
        while (true)
        {
            var page = new List<(long Pk, string Project, string Metadata, string Config, string Summary)>();
            await using (var read = Sql.Command(connection, transaction,
                "SELECT pk, project, metadata, config, summary FROM runs WHERE pk > @after ORDER BY pk LIMIT 500", ("after", after)))
            await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    page.Add((reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4)));
                }
            }

            if (page.Count == 0)
            {
                return;
            }

            foreach (var run in page)
            {
                var rows = OfConfig(JsonNode.Parse(run.Config)!.AsObject(), JsonNode.Parse(run.Metadata)?["tags"]);
                foreach (var (key, value) in OfSummary(StoredRun.ReadFold(run.Summary).Summary.Snapshot()))
                {
                    rows[key] = value;
                }

                await UpdateAsync(connection, transaction, run.Project, run.Pk, [], rows, cancellationToken);
            }

            after = page[^1].Pk;
        }
    }
}
