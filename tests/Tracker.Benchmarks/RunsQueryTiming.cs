using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Tracker.Format;
using Tracker.Server.Storage;

namespace Tracker.Benchmarks;

/// <summary>
/// Server time for a page of 50 runs out of many, filtered and sorted by the database:
/// `runs-query sqlite [RUNS]` or `runs-query postgres CONNECTION-STRING [RUNS]`. Runs are seeded
/// straight into runs and run_values (6 config and summary keys and a tag each), in one transaction.
/// Each query is timed without the total (the listing's default) and with it (<c>total=true</c>).
/// </summary>
internal static class RunsQueryTiming
{
    public static async Task RunAsync(string kind, string? postgres, int runs)
    {
        var directory = Path.Combine(Path.GetTempPath(), "tracker-runs-bench");
        Directory.CreateDirectory(directory);
        var store = new SqlRunStore(kind == "postgres"
            ? new PostgresDialect(postgres ?? throw new ArgumentException("runs-query postgres needs a connection string"))
            : new SqliteDialect(Path.Combine(directory, $"{Guid.NewGuid():N}.db")));
        await store.MigrateAsync(CancellationToken.None);
        var seed = Stopwatch.StartNew();
        await SeedAsync(store, runs);
        Console.WriteLine($"{kind}: seeded {runs:N0} runs in {seed.Elapsed.TotalSeconds:F1} s");

        var queries = new (string Name, string? Filter, string? Sort)[]
        {
            ("newest first", null, null),
            ("sort -summary.val/accuracy", null, "-summary.val/accuracy"),
            ("val/accuracy>0.8 and optimizer=sgd, sort -summary.val/accuracy", "val/accuracy>0.8 and optimizer=sgd", "-summary.val/accuracy"),
            ("config.lr<0.001 and tag=baseline, sort summary.loss", "config.lr<0.001 and tag=baseline", "summary.loss"),
            ("state=finished, sort name", "state=finished", "name"),
        };
        foreach (var (name, filter, sort) in queries)
        {
            var conditions = filter is null ? [] : RunFilter.Parse(filter).Conditions;
            var order = sort is null ? null : RunFilter.ParseSort(sort).Sort;
            foreach (var withTotal in new[] { false, true })
            {
                var query = new RunQuery("bench", conditions, order, 0, 50, DateTimeOffset.UtcNow - TimeSpan.FromMinutes(5), withTotal);
                var times = new List<double>();
                long? total = 0;
                for (var i = 0; i < 12; i++)
                {
                    var watch = Stopwatch.StartNew();
                    total = (await store.Runs.QueryRunsAsync(query, CancellationToken.None)).Total;
                    times.Add(watch.Elapsed.TotalMilliseconds);
                }

                times = [.. times.Skip(2).Order()];
                var counted = total is { } t ? string.Create(CultureInfo.InvariantCulture, $"total={t:N0}") : "no total";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{kind} {runs:N0} runs | {name} | {counted} | median {times[times.Count / 2]:F1} ms | max {times[^1]:F1} ms"));
            }
        }
    }

    private static async Task SeedAsync(SqlRunStore store, int runs)
    {
        var random = new Random(13);
        await using var connection = await store.Dialect.OpenAsync(CancellationToken.None);
        await using var transaction = await connection.BeginTransactionAsync();
        for (var i = 0; i < runs; i++)
        {
            var optimizer = random.Next(3) switch { 0 => "sgd", 1 => "adam", _ => "adamw" };
            var config = new JsonObject { ["optimizer"] = optimizer, ["lr"] = Math.Pow(10, -1 - (4 * random.NextDouble())), ["batch"] = 32 << random.Next(4) };
            var tags = new JsonArray(random.Next(4) == 0 ? "baseline" : "sweep");
            var state = random.Next(10) == 0 ? "failed" : "finished";
            var start = Sql.Format(DateTimeOffset.UnixEpoch.AddYears(56).AddSeconds(i));
            await using var insert = Sql.Command(connection, transaction,
                "INSERT INTO runs (project, run_id, name, state, start_time, updated_at, acked_seq, metadata, config, summary) "
                + "VALUES ('bench', @id, @id, @state, @start, @start, 0, @metadata, @config, '{}') RETURNING pk",
                ("id", $"run{i:D6}"), ("state", state), ("start", start),
                ("metadata", new JsonObject { ["tags"] = tags.DeepClone() }.ToJsonString()), ("config", config.ToJsonString()));
            var pk = Convert.ToInt64(await insert.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
            var values = RunValueTable.OfConfig(config, tags);
            var summary = new Dictionary<string, object?> { ["loss"] = random.NextDouble() * 2, ["epoch"] = (long)random.Next(1, 100) };
            if (random.Next(10) != 0)
            {
                summary["val/accuracy"] = random.NextDouble(); // some runs never logged it
            }

            foreach (var (key, value) in RunValueTable.OfSummary(summary))
            {
                values[key] = value;
            }

            await RunValueTable.UpdateAsync(connection, transaction, "bench", pk, [], values, CancellationToken.None);
        }

        await transaction.CommitAsync();

        // PostgreSQL plans by its statistics, which autovacuum gathers within a minute or so of a bulk
        // load; without them it takes every table for one row. SQLite is left as the server leaves it, without.
        if (store.Kind == "postgresql")
        {
            await using var analyze = Sql.Command(connection, null, "ANALYZE runs; ANALYZE run_values");
            await analyze.ExecuteNonQueryAsync();
        }
    }
}
