using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Tracker.Internal;

namespace Tracker.Benchmarks;

/// <summary>
/// Wall time of <see cref="Run.Init(RunOptions)"/> as a user sees it: each run in a fresh root
/// folder, from the current directory (run it from a git working tree, the normal case), Init
/// timed alone and Finish afterwards. The first Init of the process is reported apart (cold),
/// then the median and range of the rest (warm). <c>parts</c> times the pieces Init is made of.
/// </summary>
internal static class InitTiming
{
    public static void Run(int runs, bool parts)
    {
        if (parts)
        {
            Parts();
            return;
        }

        var root = Path.Combine(Path.GetTempPath(), "tracker-bench-init", Guid.NewGuid().ToString("N"));
        var times = new List<double>(runs);
        var finishTimes = new List<double>(runs);
        try
        {
            for (var i = 0; i < runs; i++)
            {
                var options = new RunOptions { Project = "init", Dir = Path.Combine(root, i.ToString(CultureInfo.InvariantCulture)), PrintSummary = false, FinishOnProcessExit = true };
                var watch = Stopwatch.StartNew();
                var run = Tracker.Run.Init(options);
                times.Add(watch.Elapsed.TotalMilliseconds);
                watch.Restart();
                run.Finish();
                finishTimes.Add(watch.Elapsed.TotalMilliseconds);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }

        var warm = times.Skip(1).Order().ToList();
        var finish = finishTimes.Skip(1).Order().ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"init: cold (first in process) {times[0]:F1} ms; warm median {Median(warm):F1} ms (min {warm[0]:F1}, p90 {warm[(int)(warm.Count * 0.9)]:F1}, max {warm[^1]:F1}) over {warm.Count} runs; finish median {Median(finish):F1} ms, first {finishTimes[0]:F1} ms"));
    }

    private static void Parts()
    {
        var directory = Environment.CurrentDirectory;

        // First uses in the process: what a cold Init pays once.
        Time("json options", () => Json.Options);
        Time("json empty dictionary", () => Json.Serialize(new Dictionary<string, object?>(), indented: true));
        Time("json run info (first)", () => Json.Serialize(new Tracker.Reading.RunInfo { Id = "a", Project = "b", Name = "c", StartTime = DateTimeOffset.UtcNow }, indented: true));
        for (var round = 0; round < 3; round++)
        {
            Console.WriteLine($"round {round + 1}:");
            Time("git (commit, branch, remote, status)", () => EnvironmentInfo.ReadGit(directory, withDiff: false));
            Time("git with diff", () => EnvironmentInfo.ReadGit(directory, withDiff: true));
            Time("nvidia-smi", () => EnvironmentInfo.Gpus());
            Time("cpu model", () => EnvironmentInfo.CpuModel());
            Time("libraries", () => EnvironmentInfo.Libraries(AppDomain.CurrentDomain.GetAssemblies()));
            Time("entry assembly", () => EnvironmentInfo.EntryAssembly());
            Time("os description", () => RuntimeInformation.OSDescription);
            Time("framework description", () => RuntimeInformation.FrameworkDescription);
            Time("machine name", () => Environment.MachineName);
            Time("command line", () => Environment.CommandLine);
            Time("one process (true)", () => EnvironmentInfo.Run("true", directory));
        }
    }

    private static void Time(string what, Func<object?> action)
    {
        var watch = Stopwatch.StartNew();
        action();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {what,-40} {watch.Elapsed.TotalMilliseconds,8:F2} ms"));
    }

    private static double Median(List<double> sorted) =>
        sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
}
