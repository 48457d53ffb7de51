using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace Tracker.Benchmarks;

/// <summary>
/// Many live runs against one server: `live SECONDS sqlite` / `live SECONDS postgres CONN`
/// [RUNS [KEYS [STEPS_PER_SECOND]]] (default 100 online runs of 50 keys at 10 steps per second:
/// 50,000 points/s in small batches). Each run is a real SDK run (`Run.Init` with BaseUrl and
/// ApiKey) against a real server process on 127.0.0.1. Prints the points the server holds
/// (counted through the read API) against the points logged, the server's CPU time per point,
/// the latency of POST .../records as the client sees it (p50, p99, max), and how long each run's
/// Finish took (a backlog shows as a long Finish).
/// </summary>
internal static class LiveRuns
{
    public static async Task RunAsync(double seconds, string storage, string? postgres, int runs, int keys, int stepsPerSecond)
    {
        var root = Path.Combine(Path.GetTempPath(), "tracker-live-bench", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var port = OnlineThroughput.FreePort();
        var storageArgument = storage == "postgres" ? $"--Tracker:Postgres={postgres}" : $"--Tracker:Sqlite={Path.Combine(root, "tracker.db")}";
        var key = (await OnlineThroughput.RunServerAsync(false, "keys", "create", "--name", $"live{Guid.NewGuid():N}", storageArgument)).Trim();
        using var server = Process.Start(OnlineThroughput.ServerStart("--urls", $"http://127.0.0.1:{port}", storageArgument))!;
        var baseUrl = new Uri($"http://127.0.0.1:{port}");
        try
        {
            await OnlineThroughput.WaitForHealthAsync(port);

            // A server runs for days: measure it warm, after a few seconds of the same load.
            await LoadAsync(root, baseUrl, key, "warmup", Math.Min(runs, 20), keys, stepsPerSecond, TimeSpan.FromSeconds(3), new Latencies());

            var latencies = new Latencies();
            server.Refresh();
            var serverCpu = server.TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            var result = await LoadAsync(root, baseUrl, key, "live", runs, keys, stepsPerSecond, TimeSpan.FromSeconds(seconds), latencies);
            watch.Stop();
            server.Refresh();
            serverCpu = server.TotalProcessorTime - serverCpu;

            var stored = await CountStoredAsync(baseUrl, "live", result.RunIds);
            var finishes = result.Finishes.Order().ToArray();
            var appends = latencies.Snapshot();
            var serverSide = latencies.ServerSnapshot();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"live/{storage,-10} {runs} runs x {keys} keys x {stepsPerSecond} steps/s for {seconds:F0} s: logged {result.Points:N0} points, stored {stored:N0} ({(stored == result.Points ? "all" : "MISSING " + (result.Points - stored).ToString("N0", CultureInfo.InvariantCulture))}); "
                + $"wall {watch.Elapsed.TotalSeconds:F1} s; server CPU {serverCpu.TotalSeconds:F1} s = {serverCpu.TotalMicroseconds / result.Points:F2} µs per point; "
                + $"appends {appends.Length:N0} ({(double)result.Points / Math.Max(1, appends.Length):F0} points each; other requests {latencies.Others:N0}), latency as the client sees it p50 {Percentile(appends, 0.50):F1} ms, p99 {Percentile(appends, 0.99):F1} ms, max {(appends.Length > 0 ? appends[^1] : 0):F1} ms, "
                + $"in the server p50 {Percentile(serverSide, 0.50):F1} ms, p99 {Percentile(serverSide, 0.99):F1} ms, max {(serverSide.Length > 0 ? serverSide[^1] : 0):F1} ms; "
                + $"Finish p50 {Percentile(finishes, 0.50):F2} s, max {finishes[^1]:F2} s"));
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<(long Points, List<string> RunIds, ConcurrentBag<double> Finishes)> LoadAsync(
        string root, Uri baseUrl, string key, string project, int runs, int keys, int stepsPerSecond, TimeSpan duration, Latencies latencies)
    {
        var names = Enumerable.Range(0, keys).Select(k => $"layer{k / 10}/metric{k % 10}").ToArray();
        var finishes = new ConcurrentBag<double>();
        long points = 0;
        var started = new List<Run>();
        for (var r = 0; r < runs; r++)
        {
            started.Add(Run.Init(new RunOptions
            {
                Project = project, Dir = Path.Combine(root, "runs"), Mode = RunMode.Online, BaseUrl = baseUrl, ApiKey = key,
                PrintSummary = false, SystemMetricsInterval = null, FinishOnProcessExit = false, FinishTimeout = TimeSpan.FromMinutes(5),
                HttpHandler = new LatencyHandler(latencies),
                Diagnostics = d => Console.Error.WriteLine(d),
            }));
        }

        var period = TimeSpan.FromSeconds(1.0 / stepsPerSecond);
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var tasks = started.Select(async (run, index) =>
        {
            // Spread the runs over one period, as independent training processes would be.
            await Task.Delay(period * index / runs);
            var values = new Dictionary<string, object?>(keys);
            using var timer = new PeriodicTimer(period);
            long step = 0;
            while (Stopwatch.GetTimestamp() < end && await timer.WaitForNextTickAsync())
            {
                foreach (var name in names)
                {
                    values[name] = 1.0 / (step + name.Length + 3);
                }

                run.Log(values);
                step++;
            }

            Interlocked.Add(ref points, step * keys);
            var finish = Stopwatch.StartNew();
            await run.FinishAsync();
            finishes.Add(finish.Elapsed.TotalSeconds);
        }).ToList();
        await Task.WhenAll(tasks);
        return (points, started.Select(r => r.Id).ToList(), finishes);
    }

    /// <summary>The points the server holds for the runs, summed over each run's metrics (the read API).</summary>
    private static async Task<long> CountStoredAsync(Uri baseUrl, string project, List<string> runIds)
    {
        using var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromMinutes(2) };
        long total = 0;
        foreach (var id in runIds)
        {
            var metrics = await http.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{project}/runs/{id}/metrics");
            foreach (var metric in metrics.EnumerateArray())
            {
                total += metric.GetProperty("count").GetInt64();
            }
        }

        return total;
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    /// <summary>Durations of POST .../records in milliseconds, as the client saw them.</summary>
    private sealed class Latencies
    {
        private readonly ConcurrentQueue<double> _milliseconds = new();
        private readonly ConcurrentQueue<double> _server = new();
        private int _others;

        /// <summary>Requests other than appends (run upserts, finishes, media files).</summary>
        public int Others => _others;

        public void Add(double milliseconds) => _milliseconds.Enqueue(milliseconds);

        public void AddOther() => Interlocked.Increment(ref _others);

        /// <summary>The server's own time, from its Server-Timing header.</summary>
        public void AddServer(double milliseconds) => _server.Enqueue(milliseconds);

        public double[] ServerSnapshot() => [.. _server.Order()];

        public double[] Snapshot() => [.. _milliseconds.Order()];
    }

    private sealed class LatencyHandler(Latencies latencies) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var start = Stopwatch.GetTimestamp();
            var response = await base.SendAsync(request, cancellationToken);
            if (request.Method == HttpMethod.Post && request.RequestUri?.AbsolutePath.EndsWith("/records", StringComparison.Ordinal) == true)
            {
                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                if (response.Headers.TryGetValues("Server-Timing", out var timing)
                    && timing.FirstOrDefault() is { } value && value.StartsWith("app;dur=", StringComparison.Ordinal)
                    && double.TryParse(value.AsSpan(8), CultureInfo.InvariantCulture, out var serverMilliseconds))
                {
                    latencies.AddServer(serverMilliseconds);
                }
            }
            else
            {
                latencies.AddOther();
            }

            return response;
        }
    }
}
