using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Tracker.Benchmarks;

/// <summary>
/// What a short run pays for warm-up: the first calls of a 10-key <c>Log(dictionary)</c> in this
/// (fresh) process, against the steady state after a few million calls. Run it once per process:
/// <c>warmup [local|discard] [scalar]</c>. <c>local</c> (the default) writes the run directory as a user's
/// run does; <c>discard</c> gives the writer nothing to do, to see what the writer costs the
/// training thread. <c>scalar</c> logs each row as 10 <c>Log(key, double)</c> calls instead. The first 10,000 calls are split into ranges, timed with a stopwatch each.
/// On Linux the calling thread's CPU time is reported too: on a shared machine it leaves out the
/// time other processes took the core, which wall time cannot.
/// </summary>
internal static class LogWarmup
{
    private const int First = 10_000;
    private const int SteadyCalls = 2_000_000;

    public static void Run(bool discard, bool scalar)
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
            var jitTicks = new TimeSpan[ends.Length];
            var cpu = new double[ends.Length];
            var methods = new long[ends.Length];
            var call = 0;
            var jitStart = System.Runtime.JitInfo.GetCompilationTime(currentThread: true);
            var jitMethodsStart = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true);
            var gcStart = GC.CollectionCount(0);
            var gcPauseStart = GC.GetTotalPauseDuration();
            var allocatedStart = GC.GetAllocatedBytesForCurrentThread();
            var cpuStart = ThreadCpuMicroseconds();
            var total = Stopwatch.StartNew();
            for (var r = 0; r < ends.Length; r++)
            {
                var jitBefore = System.Runtime.JitInfo.GetCompilationTime(currentThread: true);
                var methodsBefore = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true);
                var cpuBefore = ThreadCpuMicroseconds();
                var start = Stopwatch.GetTimestamp();
                Calls(run, values, ends[r] - call, scalar);
                call = ends[r];

                ticks[r] = Stopwatch.GetTimestamp() - start;
                cpu[r] = ThreadCpuMicroseconds() - cpuBefore;
                methods[r] = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true) - methodsBefore;
                jitTicks[r] = System.Runtime.JitInfo.GetCompilationTime(currentThread: true) - jitBefore;
            }

            var firstUs = total.Elapsed.TotalMicroseconds / First;
            var firstCpuUs = (ThreadCpuMicroseconds() - cpuStart) / First;
            var jit = System.Runtime.JitInfo.GetCompilationTime(currentThread: true) - jitStart;
            var jitMethods = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true) - jitMethodsStart;
            var gcs = GC.CollectionCount(0) - gcStart;
            var gcPause = GC.GetTotalPauseDuration() - gcPauseStart;
            var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedStart;

            // Steady state: the last of several million calls, once every method has reached its final tier.
            Calls(run, values, SteadyCalls, scalar);

            var steadyCpuStart = ThreadCpuMicroseconds();
            var steady = Stopwatch.StartNew();
            Calls(run, values, 1_000_000, scalar);

            var steadyUs = steady.Elapsed.TotalMicroseconds / 1_000_000;
            var steadyCpuUs = (ThreadCpuMicroseconds() - steadyCpuStart) / 1_000_000;
            var ranges = new List<string>();
            var previous = 0;
            for (var r = 0; r < ends.Length; r++)
            {
                var us = Stopwatch.GetElapsedTime(0, ticks[r]).TotalMicroseconds;
                ranges.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{previous + 1}-{ends[r]}: {us / (ends[r] - previous):F2} us/call ({us / 1000:F1} ms, CPU {cpu[r] / 1000:F1} ms, JIT {jitTicks[r].TotalMilliseconds:F1} ms, {methods[r]} methods)"));
                previous = ends[r];
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"warmup ({(discard ? "discard" : "local")}{(scalar ? ", scalar" : string.Empty)}): first {First:N0} calls {firstUs:F2} us/call; steady {steadyUs:F3} us/call; ratio {firstUs / steadyUs:F1}x; thread CPU: first {firstCpuUs:F2}, steady {steadyCpuUs:F3} us/call, ratio {firstCpuUs / steadyCpuUs:F1}x"));
            Console.WriteLine("  " + string.Join("; ", ranges));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  first {First:N0} calls on this thread: JIT {jit.TotalMilliseconds:F1} ms for {jitMethods} methods; {gcs} gen0 GCs, {gcPause.TotalMilliseconds:F1} ms paused; {allocated / 1024.0:F0} KiB allocated"));
        }
        finally
        {
            run.Finish();
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    /// <summary>
    /// The calls, in a method of their own as a training loop is: a loop in the long method above
    /// would have the runtime recompile all of it (on-stack replacement, ~20 ms) after about a
    /// thousand iterations, on this thread, and that would be counted as Log's warm-up.
    /// </summary>
    private static void Calls(Run run, Dictionary<string, object?> values, int count, bool scalar)
    {
        if (scalar)
        {
            ScalarCalls(run, [.. values.Keys], count);
            return;
        }

        for (var i = 0; i < count; i++)
        {
            run.Log(values);
        }
    }

    /// <summary>The same rows as 10 scalar calls each, the last one committing the step.</summary>
    private static void ScalarCalls(Run run, string[] keys, int count)
    {
        for (var i = 0; i < count; i++)
        {
            for (var k = 0; k < keys.Length; k++)
            {
                run.Log(keys[k], k * 0.1, commit: k == keys.Length - 1);
            }
        }
    }

    /// <summary>CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID); NaN where there is none.</summary>
    private static double ThreadCpuMicroseconds()
    {
        if (!OperatingSystem.IsLinux())
        {
            return double.NaN;
        }

        return ClockGetTime(3, out var time) == 0 ? (time.Seconds * 1e6) + (time.Nanoseconds / 1e3) : double.NaN;
    }

#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code in this project
    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);
#pragma warning restore SYSLIB1054

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
