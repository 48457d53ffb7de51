using System.Globalization;

namespace Tracker.Benchmarks;

/// <summary>
/// Writes offline runs for timing the CLI: `runs DIR`. One run with a 10,000,000-point metric
/// (project "long"), and 10 runs with 20 metrics of 100,000 points each (project "wide").
/// </summary>
internal static class SampleRuns
{
    public static void Write(string root)
    {
        using (var run = Run.Init(new RunOptions { Project = "long", Dir = root, Mode = RunMode.Offline, PrintSummary = false, FinishOnProcessExit = false }))
        {
            for (var i = 0; i < 10_000_000; i++)
            {
                run.Log("train/loss", 1.0 / (i + 3));
            }
        }

        var keys = Enumerable.Range(0, 20).Select(k => string.Create(CultureInfo.InvariantCulture, $"{(k < 10 ? "train" : "val")}/metric{k:D2}")).ToArray();
        for (var r = 0; r < 10; r++)
        {
            using var run = Run.Init(new RunOptions { Project = "wide", Dir = root, Mode = RunMode.Offline, PrintSummary = false, FinishOnProcessExit = false, Config = new Dictionary<string, object?> { ["lr"] = 0.01 * (r + 1), ["seed"] = r } });
            var row = new Dictionary<string, object?>(keys.Length);
            for (var step = 0; step < 100_000; step++)
            {
                for (var k = 0; k < keys.Length; k++)
                {
                    row[keys[k]] = Math.Exp(-step / (20_000.0 * (r + 1))) + (0.02 * Math.Sin((step * 0.01) + k));
                }

                run.Log(row);
            }
        }

        Console.WriteLine($"Wrote runs under {Path.GetFullPath(root)}.");
    }
}
