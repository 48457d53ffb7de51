using System.Diagnostics;
using System.Globalization;

namespace Tracker.Benchmarks;

/// <summary>
/// What a short run pays for warm-up: the first calls of a 10-key <c>Log(dictionary)</c> in this
/// (fresh) process, against the steady state after a few million calls. Run it once per process:
/// <c>warmup [local|discard]</c>. <c>local</c> (the default) writes the run directory as a user's
/// run does; <c>discard</c> gives the writer nothing to do, to see what the writer costs the
/// training thread. The first 10,000 calls are split into ranges, timed with a stopwatch each.
/// </summary>
internal static class LogWarmup
{
    private const int First = 10_000;
    private const int SteadyCalls = 2_000_000;

    public static void Run(bool discard)
    {
        var root = Path.Combine(Path.GetTempPath(), "tracker-bench-warmup", Guid.NewGuid().ToString("N"));
        var options = new RunOptions { Project = "warmup", Dir = root, PrintSummary = false, FinishOnProcessExit = false, Capture = EnvironmentCapture.None };
        var run = discard ? Tracker.Run.Init(options, (_, _) => new LogBenchmarks.DiscardBackend()) : Tracker.Run.Init(options);
        var values = Enumerable.Range(0, 10).ToDictionary(k => $"metric{k}", k => (object?)(k * 0.1));
        try
        {
            // Ranges of the first calls: the very first, the rest of the first 10, 100, 1,000, 10,000.
            int[] ends = [1, 10, 100, 1_000, First];
            var ticks = new long[ends.Length];
            var call = 0;
            var total = Stopwatch.StartNew();
            for (var r = 0; r < ends.Length; r++)
            {
                var start = Stopwatch.GetTimestamp();
                for (; call < ends[r]; call++)
                {
                    run.Log(values);
                }

                ticks[r] = Stopwatch.GetTimestamp() - start;
            }

            var firstUs = total.Elapsed.TotalMicroseconds / First;

            // Steady state: the last of several million calls, once every method has reached its final tier.
            for (var i = 0; i < SteadyCalls; i++)
            {
                run.Log(values);
            }

            var steady = Stopwatch.StartNew();
            for (var i = 0; i < 1_000_000; i++)
            {
                run.Log(values);
            }

            var steadyUs = steady.Elapsed.TotalMicroseconds / 1_000_000;
            var ranges = new List<string>();
            var previous = 0;
            for (var r = 0; r < ends.Length; r++)
            {
                var us = Stopwatch.GetElapsedTime(0, ticks[r]).TotalMicroseconds;
                ranges.Add(string.Create(CultureInfo.InvariantCulture, $"{previous + 1}-{ends[r]}: {us / (ends[r] - previous):F2} us/call ({us / 1000:F1} ms)"));
                previous = ends[r];
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"warmup ({(discard ? "discard" : "local")}): first {First:N0} calls {firstUs:F2} us/call; steady {steadyUs:F3} us/call; ratio {firstUs / steadyUs:F1}x"));
            Console.WriteLine("  " + string.Join("; ", ranges));
        }
        finally
        {
            run.Finish();
            Directory.Delete(root, recursive: true);
        }
    }
}
