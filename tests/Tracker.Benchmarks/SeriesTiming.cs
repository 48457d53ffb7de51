using System.Diagnostics;
using System.Globalization;
using System.Text;
using Tracker.Server.Ingest;
using Tracker.Format;
using Tracker.Server.Storage;

namespace Tracker.Benchmarks;

/// <summary>
/// Server time to bucket a 1,000,000-point series into 1,000 buckets (and a 10,000,000-point one),
/// straight on the store: `series sqlite` or `series postgres CONNECTION-STRING`.
/// </summary>
internal static class SeriesTiming
{
    public static async Task RunAsync(string kind, string? postgres)
    {
        var directory = Path.Combine(Path.GetTempPath(), "tracker-series-bench");
        Directory.CreateDirectory(directory);
        var store = new SqlRunStore(kind == "postgres"
            ? new PostgresDialect(postgres ?? throw new ArgumentException("series postgres needs a connection string"))
            : new SqliteDialect(Path.Combine(directory, $"{Guid.NewGuid():N}.db")));
        await store.MigrateAsync(CancellationToken.None);
        var service = new IngestService(store, TimeProvider.System);
        foreach (var points in new[] { 1_000_000, 10_000_000 })
        {
            var runId = $"r{points}";
            await store.Runs.UpsertRunAsync("bench", runId, [], DateTimeOffset.UtcNow, CancellationToken.None);
            var bodies = new List<byte[]>();
            long seq = 1;
            for (var start = 0; start < points; start += 100_000)
            {
                var body = new StringBuilder();
                for (var block = start; block < start + 100_000; block += 1000)
                {
                    body.Append(CultureInfo.InvariantCulture, $"{{\"seq\":{seq++},\"type\":\"history\",\"steps\":[{block}{string.Concat(Enumerable.Repeat(",1", 999))}],\"ts\":[{1_795_736_598_000 + block}{string.Concat(Enumerable.Repeat(",1", 999))}],\"values\":{{\"loss\":[");
                    body.AppendJoin(',', Enumerable.Range(block, 1000).Select(i => (1.0 / (i + 3)).ToString("R", CultureInfo.InvariantCulture)));
                    body.Append("]}}\n");
                }

                bodies.Add(Encoding.UTF8.GetBytes(body.ToString()));
            }

            // Timed: what the server does with a request body (parse, then store in one transaction).
            var ingest = Stopwatch.StartNew();
            foreach (var body in bodies)
            {
                await service.AppendAsync("bench", runId, RecordReader.ParseLines(body), DateTimeOffset.UtcNow, CancellationToken.None);
            }

            ingest.Stop();
            var run = (await store.Runs.GetRunAsync("bench", runId, CancellationToken.None))!;
            var timings = new List<double>();
            for (var i = 0; i < 11; i++)
            {
                var watch = Stopwatch.StartNew();
                var buckets = await SeriesQuery.RunAsync(store, run.Pk, "loss", byTime: false, 1000, null, null, CancellationToken.None);
                timings.Add(watch.Elapsed.TotalMilliseconds);
                if (buckets.Sum(b => b.Count) != points)
                {
                    throw new InvalidOperationException("bucket counts do not add up");
                }
            }

            // The series against a metric (x=metric:KEY), here itself (so its summaries are read once): bucketed as above, plus each bucket's x looked up by step.
            var paired = new List<double>();
            for (var i = 0; i < 11; i++)
            {
                var watch = Stopwatch.StartNew();
                var buckets = await SeriesQuery.AgainstMetricAsync(store, run.Pk, "loss", "loss", 1000, null, null, CancellationToken.None);
                paired.Add(watch.Elapsed.TotalMilliseconds);
                if (buckets.Any(b => b.X != b.Bucket.Last))
                {
                    throw new InvalidOperationException("a series against itself must pair each bucket's last value with itself");
                }
            }

            timings.Sort();
            paired.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{kind,-8} {points,12:N0} points: ingest {points / ingest.Elapsed.TotalSeconds / 1e6:F2} M points/s (store only); 1,000 buckets median {timings[timings.Count / 2]:F1} ms, min {timings[0]:F1} ms; against a metric median {paired[paired.Count / 2]:F1} ms"));
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }
}
