using System.Diagnostics;
using System.Globalization;
using Tracker.Reading;

namespace Tracker.Benchmarks;

/// <summary>
/// End to end: one producer thread logs N points with Log(string, double) into local files,
/// then Finish. Reports points per second (Init to Finish returned) and the peak working set.
/// </summary>
internal static class Throughput
{
    public static void Run(long points, bool shortValues)
    {
        var root = Path.Combine(Path.GetTempPath(), "tracker-throughput");
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }

        using var peak = new PeakWorkingSet();

        var watch = Stopwatch.StartNew();
        var run = Tracker.Run.Init(new RunOptions { Project = "throughput", Dir = root, PrintSummary = false });
        for (long i = 0; i < points; i++)
        {
            run.Log("loss", shortValues ? i * 0.5 : 1.0 / (i + 3));
        }

        run.Finish();
        watch.Stop();
        var rate = points / watch.Elapsed.TotalSeconds;
        var file = new FileInfo(Path.Combine(run.Directory!, "records.jsonl"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(shortValues ? "short" : "realistic"),-10} {points:N0} points in {watch.Elapsed.TotalSeconds:F2} s = {rate / 1e6:F2} M points/s; "
            + $"peak working set {peak.MiB:F0} MiB; records.jsonl {file.Length / 1048576.0:F0} MiB; dropped {run.Statistics.RecordsDropped}"));

        // Check the file holds every point once (cheap for the counts used here).
        if (points <= 5_000_000)
        {
            var rows = RunReader.Open(run.Directory!).ReadHistory().LongCount();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"           read back {rows:N0} rows"));
        }

        Directory.Delete(root, recursive: true);
    }
}

/// <summary>Samples the process's working set every 50 ms and keeps the highest value.</summary>
internal sealed class PeakWorkingSet : IDisposable
{
    private readonly Process _process = Process.GetCurrentProcess();
    private readonly Timer _timer;
    private long _peak;

    public PeakWorkingSet() => _timer = new Timer(_ =>
    {
        _process.Refresh();
        Interlocked.Exchange(ref _peak, Math.Max(Interlocked.Read(ref _peak), _process.WorkingSet64));
    }, null, 0, 50);

    public double MiB => Interlocked.Read(ref _peak) / 1048576.0;

    public void Dispose()
    {
        _timer.Dispose();
        _process.Dispose();
    }
}
