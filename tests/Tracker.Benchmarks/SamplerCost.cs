using System.Diagnostics;
using System.Globalization;
using Tracker.SystemMetrics;

namespace Tracker.Benchmarks;

/// <summary>CPU one system metrics sample costs with the real probes: `sampler`.</summary>
internal static class SamplerCost
{
    public static void Run()
    {
        var probes = SystemSampler.DefaultProbes(Path.GetTempPath());
        var values = new Dictionary<string, double>();
        foreach (var probe in probes)
        {
            probe.Sample(values); // warm up, and let the GPU probe find out whether nvidia-smi exists
        }

        const int Samples = 200;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < Samples; i++)
        {
            values.Clear();
            foreach (var probe in probes)
            {
                probe.Sample(values);
            }
        }

        var perSample = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / Samples;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"one sample ({values.Count} values): {perSample:F3} ms CPU, {watch.Elapsed.TotalMilliseconds / Samples:F3} ms wall; every 10 s that is {perSample / 10_000 * 100:F4} % of one core"));
    }
}
