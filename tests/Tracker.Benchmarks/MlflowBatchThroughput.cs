using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Tracker.Benchmarks;

/// <summary>
/// End to end: MLflow log-batch requests at MLflow's limit (1,000 metrics: 10 keys × 100 steps)
/// against a real server process on SQLite, from one client and from several clients at once, each
/// logging to its own run: `mlflow-batch [REQUESTS] [CLIENTS]`. Prints requests/s and metrics/s.
/// </summary>
internal static class MlflowBatchThroughput
{
    public static async Task RunAsync(int requests, int clients)
    {
        var root = Path.Combine(Path.GetTempPath(), "tracker-mlflow-bench");
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }

        Directory.CreateDirectory(root);
        var port = OnlineThroughput.FreePort();
        var storage = $"--Tracker:Sqlite={Path.Combine(root, "tracker.db")}";
        var key = (await OnlineThroughput.RunServerAsync(false, "keys", "create", "--name", "bench", storage)).Trim();
        using var server = Process.Start(OnlineThroughput.ServerStart("--urls", $"http://127.0.0.1:{port}", storage, "--Logging:LogLevel:Default=Warning"))!;
        await OnlineThroughput.WaitForHealthAsync(port);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/api/2.0/mlflow/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        (await http.PostAsJsonAsync("experiments/create", new { name = "bench" })).EnsureSuccessStatusCode();

        await LogAsync(http, 1, 20); // warm up
        foreach (var count in new[] { 1, clients }.Distinct())
        {
            var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
            var watch = Stopwatch.StartNew();
            await LogAsync(http, count, requests);
            var seconds = watch.Elapsed.TotalSeconds;
            var total = requests * count;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"mlflow log-batch, sqlite, {count} client(s) x {requests} requests of 1,000 metrics: {total / seconds:F0} requests/s = {total * 1000 / seconds / 1e3:F0} k metrics/s ({seconds:F2} s; load average {load} at start)"));
        }

        server.Kill();
        await server.WaitForExitAsync();
        Directory.Delete(root, recursive: true);
    }

    private static async Task LogAsync(HttpClient http, int clients, int requests) =>
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            var created = await (await http.PostAsJsonAsync("runs/create", new { experiment_id = "bench" })).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonObject>();
            var runId = (string)created!["run"]!["info"]!["run_id"]!;
            for (var r = 0; r < requests; r++)
            {
                using var body = new StringContent(Batch(runId, r), Encoding.UTF8, "application/json");
                (await http.PostAsync("runs/log-batch", body)).EnsureSuccessStatusCode();
            }
        }));

    /// <summary>1,000 metrics: keys m0..m9 at 100 steps each, a millisecond apart.</summary>
    private static string Batch(string runId, int request)
    {
        var text = new StringBuilder($"{{\"run_id\":\"{runId}\",\"metrics\":[");
        var t0 = 1_795_736_598_000L + (request * 100L);
        for (var step = 0; step < 100; step++)
        {
            for (var k = 0; k < 10; k++)
            {
                text.Append(CultureInfo.InvariantCulture, $"{(step + k == 0 ? "" : ",")}{{\"key\":\"m{k}\",\"value\":{1.0 / (step + k + 3):R},\"timestamp\":{t0 + step},\"step\":{(request * 100) + step}}}");
            }
        }

        return text.Append("]}").ToString();
    }
}
