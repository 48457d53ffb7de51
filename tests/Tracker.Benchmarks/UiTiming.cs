using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Playwright;

namespace Tracker.Benchmarks;

/// <summary>
/// The web UI's figures in headless Chromium against a real server process: `ui`. Seeds a project of
/// 1,000 runs with 20 config keys and 10 metrics (the project workspace), a run with 50 metrics of
/// 100,000 points, a run with one 10,000,000-point metric, and 300 runs of 7 metrics to compare
/// (straight through the ingest API), then times the pages until drawn, and counts the compare view's requests.
/// </summary>
internal static class UiTiming
{
    /// <param name="compareOnly">Seeds and times only the compare view (`ui compare`), with where its time goes.</param>
    public static async Task RunAsync(bool compareOnly)
    {
        var root = Path.Combine(Path.GetTempPath(), "tracker-ui-bench");
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }

        Directory.CreateDirectory(root);
        var port = OnlineThroughput.FreePort();
        var storage = $"--Tracker:Sqlite={Path.Combine(root, "tracker.db")}";
        var key = (await OnlineThroughput.RunServerAsync(false, "keys", "create", "--name", "ui", storage)).Trim();
        using var server = Process.Start(OnlineThroughput.ServerStart("--urls", $"http://127.0.0.1:{port}", storage, "--Logging:LogLevel:Default=Warning"))!;
        try
        {
            await OnlineThroughput.WaitForHealthAsync(port);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/api/v1/projects/"), Timeout = TimeSpan.FromMinutes(5) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            var seeding = Stopwatch.StartNew();
            if (!compareOnly)
            {
                await SeedTableAsync(http);
                await SeedRunAsync(http, "wide", Enumerable.Range(0, 50).Select(i => $"train/metric{i:D2}").ToArray(), 100_000);
                await SeedRunAsync(http, "long", ["train/loss"], 10_000_000);
            }

            await SeedCompareAsync(http);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seeded in {seeding.Elapsed.TotalSeconds:F1} s; the UI at http://127.0.0.1:{port}/"));
            if (Environment.GetEnvironmentVariable("TRACKER_BENCH_HOLD") == "1")
            {
                Console.WriteLine("holding the server open; press Enter to go on");
                Console.ReadLine();
            }

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new()
            {
                ExecutablePath = "/usr/bin/chromium", Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
            });
            var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1600, Height = 1000 } });
            var site = $"http://127.0.0.1:{port}/";
            await page.GotoAsync(site); // scripts cached, as for a user who has the UI open
            for (var round = 1; round <= 3; round++)
            {
                await page.EvaluateAsync("() => localStorage.clear()"); // the workspace keeps each project's last state: every round starts from the defaults
                if (compareOnly)
                {
                    await TimeCompareAsync(page, site, round);
                    continue;
                }

                var table = await TimeAsync(page, $"{site}#/projects/table", "document.querySelectorAll('#runs tbody tr').length === 200 && document.getElementById('more').textContent.includes('of 800')");
                var before = await page.GetAttributeAsync("th[data-col='config.c07']", "data-sort");
                var sort = Stopwatch.StartNew();
                await page.ClickAsync("th[data-col='config.c07']");
                await page.WaitForFunctionAsync($"document.querySelector(\"th[data-col='config.c07']\").dataset.sort !== '{before}'");
                var sorted = sort.Elapsed.TotalMilliseconds;
                var split = await page.EvaluateAsync<double[]>("""
                    () => { const t0 = performance.now(); document.querySelector("th[data-col='config.c03']").click();
                            const t1 = performance.now(); void document.body.offsetHeight; return [t1 - t0, performance.now() - t1]; }
                    """);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  sort again in page: script {split[0]:F0} ms, layout {split[1]:F0} ms"));
                await page.GotoAsync($"{site}#/");
                await page.EvaluateAsync("() => localStorage.clear()");
                var charts = "document.querySelectorAll('.chart[data-points] canvas').length";
                var firstChart = await TimeAsync(page, $"{site}#/projects/table", $"document.querySelectorAll('#runs tbody tr').length === 200 && {charts} >= 1");
                await page.GotoAsync($"{site}#/");
                await page.EvaluateAsync("() => localStorage.clear()");
                var workspace = await TimeAsync(page, $"{site}#/projects/table", $"document.querySelectorAll('#runs tbody tr').length === 200 && {charts} === 10");
                var wide = await TimeAsync(page, $"{site}#/projects/charts/runs/wide", "document.querySelectorAll('.chart[data-points] canvas').length === 50");
                var longChart = await TimeAsync(page, $"{site}#/projects/charts/runs/long", "document.querySelector(\".chart[data-key='train/loss'][data-points] canvas\") !== null");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round}: runs table 1,000 x 20 config {table:F0} ms (sort {sorted:F0} ms); workspace of it: table and first chart {firstChart:F0} ms, all 10 charts of 10 runs {workspace:F0} ms; 50 charts x 100,000 points {wide:F0} ms; one 10,000,000-point chart {longChart:F0} ms"));

                await TimeCompareAsync(page, site, round);
            }
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The compare view of 300 runs x 7 metrics: every chart drawn with every run, the requests it took, and where the time went.</summary>
    private static async Task TimeCompareAsync(IPage page, string site, int round)
    {
        var requests = new List<string>();
        var failed = new List<string>();
        void Count(object? sender, IRequest request) => requests.Add(request.Url);
        void Fail(object? sender, IRequest request) => failed.Add($"{request.Url}: {request.Failure}");
        page.Request += Count;
        page.RequestFailed += Fail;
        var navigation = await page.EvaluateAsync<double>("() => { performance.clearResourceTimings(); return performance.now(); }");
        // TRACKER_BENCH_PROFILE=1: a Chromium trace of the view, summed up by event below.
        var tracing = Environment.GetEnvironmentVariable("TRACKER_BENCH_PROFILE") == "1" ? await page.Context.NewCDPSessionAsync(page) : null;
        var traceEvents = new List<System.Text.Json.JsonElement>();
        var traced = new TaskCompletionSource();
        if (tracing is not null)
        {
            tracing.Event("Tracing.dataCollected").OnEvent += (_, data) => traceEvents.AddRange(data!.Value.GetProperty("value").EnumerateArray().Select(e => e.Clone()));
            tracing.Event("Tracing.tracingComplete").OnEvent += (_, _) => traced.TrySetResult();
            await tracing.SendAsync("Tracing.start", new() { ["categories"] = "devtools.timeline,v8.execute,blink,disabled-by-default-devtools.timeline", ["transferMode"] = "ReportEvents" });
        }

        var compare = await TimeAsync(page, $"{site}#/projects/compare/compare?runs={string.Join(',', Enumerable.Range(0, CompareRuns).Select(i => $"c{i:D3}"))}",
            $"document.querySelectorAll('.chart[data-series=\"{CompareRuns}\"]').length === {CompareKeys.Length}");
        page.Request -= Count;
        page.RequestFailed -= Fail;

        if (tracing is not null)
        {
            // Where the renderer's main thread spent the time: the trace's events there, by name (nested ones overlap).
            await tracing.SendAsync("Tracing.end");
            await traced.Task.WaitAsync(TimeSpan.FromSeconds(60));
            var events = traceEvents;
            var main = events.Where(e => e.GetProperty("name").GetString() == "thread_name" && e.GetProperty("args").GetProperty("name").GetString() == "CrRendererMain")
                .Select(e => (e.GetProperty("pid").GetInt32(), e.GetProperty("tid").GetInt32())).ToHashSet();
            var totals = events.Where(e => e.GetProperty("ph").GetString() == "X" && e.TryGetProperty("dur", out _) && main.Contains((e.GetProperty("pid").GetInt32(), e.GetProperty("tid").GetInt32())))
                .GroupBy(e => e.GetProperty("name").GetString()!).Select(g => (Name: g.Key, Ms: g.Sum(e => e.GetProperty("dur").GetDouble()) / 1000, Count: g.Count()))
                .OrderByDescending(t => t.Ms).Take(16);
            Console.WriteLine("  main thread: " + string.Join("; ", totals.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Name} {t.Ms:F0} ms x{t.Count}"))));
        }

        if (tracing is not null)
        {
            Console.WriteLine("  DOM: " + await page.EvaluateAsync<string>("""() => `${document.getElementsByTagName('*').length} elements, ${document.querySelectorAll('.chart-legend *').length} in legends, ${document.querySelectorAll('table *').length} in tables, ${document.querySelectorAll('canvas').length} canvases`"""));
        }

        // The series requests from the page's own resource timings: server wait, bytes, and when the last answer was in.
        var series = await page.EvaluateAsync<double[][]>("""
            () => performance.getEntriesByType('resource').filter(e => e.name.endsWith('/series'))
              .map(e => [e.startTime, e.responseStart - e.requestStart, e.responseEnd - e.responseStart, e.encodedBodySize, e.decodedBodySize, e.responseEnd])
            """);
        var waits = series.Select(e => e[1]).Order().ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"round {round}: compare {CompareRuns} runs x {CompareKeys.Length} metrics {compare:F0} ms; {requests.Count(u => u.Contains("/series", StringComparison.Ordinal))} series requests, {requests.Count(u => u.Contains("/api/", StringComparison.Ordinal))} API requests in all, {failed.Count} failed"));
        if (series.Length > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  series: first sent {series.Min(e => e[0]) - navigation:F0} ms in, last answer in {series.Max(e => e[5]) - navigation:F0} ms in; server wait median {waits[waits.Count / 2]:F0} ms, max {waits[^1]:F0} ms; download {series.Sum(e => e[2]):F0} ms in all; {series.Sum(e => e[3]) / 1e6:F1} MB sent, {series.Sum(e => e[4]) / 1e6:F1} MB of JSON"));
        }

        await page.GotoAsync($"{site}#/");
    }

    /// <summary>From navigation until <paramref name="drawn"/> holds, in milliseconds.</summary>
    private static async Task<double> TimeAsync(IPage page, string url, string drawn)
    {
        var watch = Stopwatch.StartNew();
        await page.GotoAsync(url);
        await page.WaitForFunctionAsync(drawn, null, new() { Timeout = 60_000, PollingInterval = 10 });
        return watch.Elapsed.TotalMilliseconds;
    }

    private static async Task SeedTableAsync(HttpClient http)
    {
        var runs = Enumerable.Range(0, 1000).Select(async i =>
        {
            var config = string.Join(',', Enumerable.Range(0, 20).Select(c => string.Create(CultureInfo.InvariantCulture, $"\"c{c:D2}\":{(i * 7 + c) % 13}")));
            await PostAsync(http, HttpMethod.Put, $"table/runs/r{i:D4}", $"{{\"name\":\"run-{i:D4}\",\"state\":\"running\",\"config\":{{{config}}}}}");
            var values = string.Join(',', Enumerable.Range(0, 10).Select(m => string.Create(CultureInfo.InvariantCulture, $"\"{(m < 5 ? "val" : "train")}/m{m}\":{(i * 31 + m) % 97 / 97.0}")));
            await PostAsync(http, HttpMethod.Post, $"table/runs/r{i:D4}/records", $"{{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1795736598000,\"values\":{{{values}}}}}\n");
        });
        foreach (var batch in runs.Chunk(8))
        {
            await Task.WhenAll(batch);
        }
    }

    private const int CompareRuns = 300;
    private static readonly string[] CompareKeys = ["train/loss", "train/acc", "train/lr", "val/loss", "val/acc", "system/cpu", "system/memory"];

    /// <summary>The compare project: 300 runs, each with 7 metrics of 1,000 points.</summary>
    private static async Task SeedCompareAsync(HttpClient http)
    {
        var runs = Enumerable.Range(0, CompareRuns).Select(async i =>
        {
            await PostAsync(http, HttpMethod.Put, $"compare/runs/c{i:D3}", $"{{\"name\":\"compare-{i:D3}\",\"state\":\"finished\",\"config\":{{\"seed\":{i}}}}}");
            var body = new StringBuilder();
            for (var step = 0; step < 1000; step++)
            {
                var values = string.Join(',', CompareKeys.Select((k, m) => string.Create(CultureInfo.InvariantCulture, $"\"{k}\":{Math.Exp(-step / (300.0 + i)) * (m + 1):R}")));
                body.Append(CultureInfo.InvariantCulture, $"{{\"seq\":{step + 1},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000 + (step * 100)},\"values\":{{{values}}}}}\n");
            }

            await PostAsync(http, HttpMethod.Post, $"compare/runs/c{i:D3}/records", body.ToString());
        });
        foreach (var batch in runs.Chunk(8))
        {
            await Task.WhenAll(batch);
        }
    }

    /// <summary>One run whose keys each get <paramref name="points"/> points, in 1,000-row blocks.</summary>
    private static async Task SeedRunAsync(HttpClient http, string runId, string[] keys, int points)
    {
        await PostAsync(http, HttpMethod.Put, $"charts/runs/{runId}", $"{{\"name\":\"{runId}\",\"state\":\"finished\",\"config\":{{}}}}");
        var body = new StringBuilder();
        long seq = 1;
        var deltas = string.Concat(Enumerable.Repeat(",1", 999));
        for (var start = 0; start < points; start += 1000)
        {
            body.Append(CultureInfo.InvariantCulture, $"{{\"seq\":{seq++},\"type\":\"history\",\"steps\":[{start}{deltas}],\"ts\":[{1_795_736_598_000L + start}{deltas}],\"values\":{{");
            for (var k = 0; k < keys.Length; k++)
            {
                body.Append(CultureInfo.InvariantCulture, $"{(k > 0 ? "," : "")}\"{keys[k]}\":[");
                for (var i = start; i < start + 1000; i++)
                {
                    body.Append((Math.Round(Math.Exp(-i / (points / 4.0)) + (0.05 * Math.Sin(i * 0.37 + k)), 4)).ToString(CultureInfo.InvariantCulture)).Append(i < start + 999 ? "," : "");
                }

                body.Append(']');
            }

            body.Append("}}\n");
            if (body.Length > 8_000_000 || start + 1000 >= points)
            {
                await PostAsync(http, HttpMethod.Post, $"charts/runs/{runId}/records", body.ToString());
                body.Clear();
            }
        }
    }

    private static async Task PostAsync(HttpClient http, HttpMethod method, string path, string body)
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{method} {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }
}
