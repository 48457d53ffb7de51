using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using Tracker.Format;
using Tracker.Server.Ingest;
using Tracker.Server.Storage;

namespace Tracker.Benchmarks;

/// <summary>
/// What each step of the server's ingest costs per point, in process on a SQLite store:
/// `ingest`. Bodies like the SDK's (4 MiB, 160,000 points in 1,000-row blocks, 17-digit values).
/// </summary>
internal static class IngestPhases
{
    private const int Points = 4_000_000;
    private const int PointsPerBody = 160_000;

    public static async Task RunAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), "tracker-ingest-bench");
        Directory.CreateDirectory(directory);
        var store = new SqlRunStore(new SqliteDialect(Path.Combine(directory, $"{Guid.NewGuid():N}.db")));
        await store.MigrateAsync(CancellationToken.None);
        var ingest = new IngestService(store, TimeProvider.System);
        var bodies = Bodies();
        var compressed = bodies.Select(Gzip).ToList();
        for (var round = 0; round < 3; round++)
        {
            Console.WriteLine(round == 0 ? "round 1 (includes JIT)" : $"round {round + 1}");
            Time("gzip (client)", () => bodies.ForEach(b => Gzip(b)));
            Time("gunzip", () => compressed.ForEach(c => new GZipStream(new MemoryStream(c), CompressionMode.Decompress).CopyTo(Stream.Null)));
            List<List<RecordLine>> parsed = [];
            Time("parse (all cores)", () => parsed = bodies.Select(b => RecordReader.ParseLines(b)).ToList());
            var runId = $"r{round}";
            await store.Runs.UpsertRunAsync("bench", runId, [], DateTimeOffset.UtcNow, CancellationToken.None);
            await TimeAsync("store (one transaction a body)", async () =>
            {
                foreach (var lines in parsed)
                {
                    await ingest.AppendAsync("bench", runId, lines, DateTimeOffset.UtcNow, CancellationToken.None);
                }
            });
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    /// <summary>
    /// `ingest small`: the shape of many live runs, in process: 100 runs, each body one second of
    /// a run (10 steps of 50 keys, one history block), appended round robin; parse and store timed apart.
    /// </summary>
    public static async Task RunSmallBatchesAsync(string kind, string? postgres, int rounds)
    {
        const int Runs = 100, Keys = 50, Steps = 10;
        var directory = Path.Combine(Path.GetTempPath(), "tracker-ingest-bench");
        Directory.CreateDirectory(directory);
        var store = new SqlRunStore(kind == "postgres" ? new PostgresDialect(postgres!) : new SqliteDialect(Path.Combine(directory, $"{Guid.NewGuid():N}.db")));
        await store.MigrateAsync(CancellationToken.None);
        var ingest = new IngestService(store, TimeProvider.System);
        var prefix = Guid.NewGuid().ToString("N")[..8];
        for (var r = 0; r < Runs; r++)
        {
            await store.Runs.UpsertRunAsync("bench", $"{prefix}-{r}", [], DateTimeOffset.UtcNow, CancellationToken.None);
        }

        var points = (long)Runs * Keys * Steps * rounds;
        var parseCpu = TimeSpan.Zero;
        var storeCpu = TimeSpan.Zero;
        var watch = Stopwatch.StartNew();
        for (var round = 0; round < rounds; round++)
        {
            var body = new StringBuilder();
            body.Append(CultureInfo.InvariantCulture, $"{{\"seq\":{round + 1},\"type\":\"history\",\"steps\":[{round * Steps}{string.Concat(Enumerable.Repeat(",1", Steps - 1))}],\"ts\":[{1_795_736_598_000 + (round * 1000)}{string.Concat(Enumerable.Repeat(",100", Steps - 1))}],\"values\":{{");
            body.AppendJoin(',', Enumerable.Range(0, Keys).Select(k => $"\"layer{k / 10}/metric{k % 10}\":[{string.Join(',', Enumerable.Range(0, Steps).Select(i => (1.0 / ((round * Steps) + i + k + 3)).ToString("R", CultureInfo.InvariantCulture)))}]"));
            body.Append("}}\n");
            var bytes = Encoding.UTF8.GetBytes(body.ToString());
            for (var r = 0; r < Runs; r++)
            {
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var lines = RecordReader.ParseLines(bytes);
                var parsed = Process.GetCurrentProcess().TotalProcessorTime;
                await ingest.AppendAsync("bench", $"{prefix}-{r}", lines, DateTimeOffset.UtcNow, CancellationToken.None);
                parseCpu += parsed - cpu;
                storeCpu += Process.GetCurrentProcess().TotalProcessorTime - parsed;
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ingest small/{kind}: {points:N0} points in {Runs * rounds:N0} bodies, wall {watch.Elapsed.TotalMicroseconds / points:F2} µs/point; CPU parse {parseCpu.TotalMicroseconds / points:F2}, store {storeCpu.TotalMicroseconds / points:F2} µs/point"));
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    private static List<byte[]> Bodies()
    {
        var bodies = new List<byte[]>();
        long seq = 1;
        for (var start = 0; start < Points; start += PointsPerBody)
        {
            var body = new StringBuilder();
            for (var block = start; block < start + PointsPerBody; block += 1000)
            {
                body.Append(CultureInfo.InvariantCulture, $"{{\"seq\":{seq++},\"type\":\"history\",\"steps\":[{block}{string.Concat(Enumerable.Repeat(",1", 999))}],\"ts\":[{1_795_736_598_000 + block}{string.Concat(Enumerable.Repeat(",0", 999))}],\"values\":{{\"loss\":[");
                body.AppendJoin(',', Enumerable.Range(block, 1000).Select(i => (1.0 / (i + 3)).ToString("R", CultureInfo.InvariantCulture)));
                body.Append("]}}\n");
            }

            bodies.Add(Encoding.UTF8.GetBytes(body.ToString()));
        }

        return bodies;
    }

    private static byte[] Gzip(byte[] body)
    {
        var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest))
        {
            gzip.Write(body);
        }

        return compressed.ToArray();
    }

    private static void Time(string what, Action action) => TimeAsync(what, () =>
    {
        action();
        return Task.CompletedTask;
    }).GetAwaiter().GetResult();

    private static async Task TimeAsync(string what, Func<Task> action)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        await action();
        var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {what,-32} wall {watch.Elapsed.TotalMicroseconds / Points:F3} µs/point, CPU {used.TotalMicroseconds / Points:F3} µs/point"));
    }
}
