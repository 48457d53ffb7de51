using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Tracker.Benchmarks;

/// <summary>
/// End to end online: one producer logs N points with an online run into a real server process
/// (SQLite file, or PostgreSQL with a connection string), and Finish returns once the server has
/// acknowledged everything. `online N sqlite` / `online N postgres CONN` / `online N down` (no server:
/// the client's memory while the backlog grows).
/// </summary>
internal static class OnlineThroughput
{
    public static async Task RunAsync(long points, string storage, string? postgres)
    {
        var root = Path.Combine(Path.GetTempPath(), "tracker-online-bench");
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }

        Directory.CreateDirectory(root);
        var port = FreePort();
        var storageArgument = storage == "postgres" ? $"--Tracker:Postgres={postgres}" : $"--Tracker:Sqlite={Path.Combine(root, "tracker.db")}";
        Process? server = null;
        string? key = null;
        if (storage != "down")
        {
            key = (await RunServerAsync(false, "keys", "create", "--name", $"bench{Guid.NewGuid():N}", storageArgument)).Trim();
            server = Process.Start(ServerStart("--urls", $"http://127.0.0.1:{port}", storageArgument, "--Logging:LogLevel:Default=Warning"))!;
            await WaitForHealthAsync(port);
        }

        if (server is not null)
        {
            // A server runs for days: measure it warm, after one short run has been through it.
            await LogAsync(root, port, key, 500_000, TimeSpan.FromMinutes(5), handler: null);
        }

        using var peak = new PeakWorkingSet();
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var serverCpu = server?.TotalProcessorTime ?? TimeSpan.Zero;

        var watch = Stopwatch.StartNew();
        var (run, logged) = await LogAsync(root, port, key, points, storage == "down" ? TimeSpan.FromSeconds(2) : TimeSpan.FromMinutes(10), Verbose ? new TimingHandler(watch) : null);
        watch.Stop();
        clientCpu = Process.GetCurrentProcess().TotalProcessorTime - clientCpu;
        server?.Refresh();
        serverCpu = (server?.TotalProcessorTime ?? TimeSpan.Zero) - serverCpu;
        var statistics = run.Statistics;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"online/{storage,-8} {points:N0} points: logged in {logged.TotalSeconds:F2} s, all acknowledged by the server after {watch.Elapsed.TotalSeconds:F2} s = "
            + $"{points / watch.Elapsed.TotalSeconds / 1e6:F2} M points/s end to end; peak working set {peak.MiB:F0} MiB; unsynced lines {statistics.LinesUnsynced:N0}; "
            + $"CPU per point: client {clientCpu.TotalMicroseconds / points:F2} µs, server {serverCpu.TotalMicroseconds / points:F2} µs"));
        server?.Kill();
        server?.WaitForExit();
        Directory.Delete(root, recursive: true);
    }

    private static bool Verbose => Environment.GetEnvironmentVariable("TRACKER_BENCH_VERBOSE") == "1";

    private static async Task<(Run Run, TimeSpan Logged)> LogAsync(string root, int port, string? key, long points, TimeSpan finishTimeout, HttpMessageHandler? handler)
    {
        var watch = Stopwatch.StartNew();
        var run = Run.Init(new RunOptions
        {
            Project = "bench", Dir = Path.Combine(root, "runs"), Mode = RunMode.Online, BaseUrl = new Uri($"http://127.0.0.1:{port}"),
            ApiKey = key, PrintSummary = false, Compression = Enum.Parse<RequestCompression>(Environment.GetEnvironmentVariable("TRACKER_BENCH_COMPRESSION") ?? "Auto"), FinishTimeout = finishTimeout, HttpHandler = handler,
            Diagnostics = d => Console.Error.WriteLine($"{watch.Elapsed.TotalSeconds:F2}s {d}"),
        });
        for (long i = 0; i < points; i++)
        {
            run.Log("loss", 1.0 / (i + 3));
        }

        var logged = watch.Elapsed;
        await run.FinishAsync();
        return (run, logged);
    }

    internal static ProcessStartInfo ServerStart(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Tracker.Server.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }

    internal static async Task<string> RunServerAsync(bool stderr, params string[] args)
    {
        using var process = Process.Start(ServerStart(args))!;
        var output = await process.StandardOutput.ReadToEndAsync();
        _ = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return stderr ? string.Empty : output;
    }

    internal static async Task WaitForHealthAsync(int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 600; i++)
        {
            try
            {
                if ((await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health"))).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException("the server did not start");
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

internal sealed class TimingHandler(Stopwatch watch) : DelegatingHandler(new SocketsHttpHandler())
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var start = watch.Elapsed.TotalSeconds;
        var size = request.Content?.Headers.ContentLength ?? 0;
        var response = await base.SendAsync(request, cancellationToken);
        Console.Error.WriteLine($"{start:F2}s +{watch.Elapsed.TotalSeconds - start:F3}s {size / 1024} KiB {(int)response.StatusCode}");
        return response;
    }
}
