using System.Diagnostics;
using System.Globalization;
using Tracker.Export;
using Tracker.Extensions.TensorBoard;
using Tracker.Reading;

namespace Tracker.Benchmarks;

/// <summary>
/// `tensorboard-out [SCALARS]`: a run logs SCALARS scalars (10 keys a step) without a backend, then
/// with the TensorBoard backend as one dictionary Log a step and as one `Log(string, double, step)` a
/// scalar; each is timed from its first Log until Finish returned (the backend has written and closed
/// its event file). Then the backend alone over the last run's records as pre-decoded batches of
/// 10,000 lines (`WriteAsync` and `FlushAsync` into a fresh log folder), three times.
/// </summary>
internal static class TensorBoardOut
{
    private const int Keys = 10;
    private const int BatchLines = 10_000;

    public static async Task RunAsync(long scalars)
    {
        var root = Path.Combine(Path.GetTempPath(), "tracker-tb-out-bench", Guid.NewGuid().ToString("N"));
        try
        {
            EndToEnd(root, scalars, withBackend: false, rows: false);
            EndToEnd(root, scalars, withBackend: true, rows: true);
            var directory = EndToEnd(root, scalars, withBackend: true, rows: false);
            for (var round = 0; round < 3; round++)
            {
                await BackendAloneAsync(directory, Path.Combine(root, $"logs{round}"), scalars).ConfigureAwait(false);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string EndToEnd(string root, long scalars, bool withBackend, bool rows)
    {
        var keys = Enumerable.Range(0, Keys).Select(k => $"train/metric{k}").ToArray();
        var options = new RunOptions { Project = "bench", Dir = root, FinishOnProcessExit = false, PrintSummary = false, SystemMetricsInterval = null };
        if (withBackend)
        {
            options.Backends.Add(new TensorBoardBackend());
        }

        var run = Run.Init(options);
        var watch = Stopwatch.StartNew();
        if (rows)
        {
            var row = new Dictionary<string, object?>();
            for (long i = 0; i < scalars / Keys; i++)
            {
                for (var k = 0; k < Keys; k++)
                {
                    row[keys[k]] = ((i * Keys) + k) * 0.001;
                }

                run.Log(row, i);
            }
        }
        else
        {
            for (long i = 0; i < scalars; i++)
            {
                run.Log(keys[i % Keys], i * 0.001, i / Keys);
            }
        }

        var logged = watch.Elapsed;
        run.Finish();
        var total = watch.Elapsed;
        if (!withBackend)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"without the backend: {scalars:N0} scalars logged in {logged.TotalSeconds:F2} s, finished after {total.TotalSeconds:F2} s"));
            return run.Directory!;
        }

        var file = Directory.GetFiles(Path.Combine(run.Directory!, "tensorboard"), "events.out.tfevents.*").Single();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"end to end, {(rows ? "10 keys a Log (one record a step)" : "Log(string, double, step) (one record a scalar)")}: {scalars:N0} scalars logged in {logged.TotalSeconds:F2} s, in the event file ({new FileInfo(file).Length / 1e6:F1} MB) after {total.TotalSeconds:F2} s: {scalars / total.TotalSeconds / 1e6:F2} M scalars/s"));
        return run.Directory!;
    }

    private static async Task BackendAloneAsync(string runDirectory, string logDir, long scalars)
    {
        var info = RunReader.Open(runDirectory).Info;
        var lines = File.ReadAllBytes(Path.Combine(runDirectory, "records.jsonl"));
        var batches = new List<BackendBatch>();
        var decoding = Stopwatch.StartNew();
        var start = 0;
        long seq = 0;
        while (start < lines.Length)
        {
            var end = start;
            var count = 0;
            while (end < lines.Length && count < BatchLines)
            {
                end = Array.IndexOf(lines, (byte)'\n', end) + 1;
                count++;
            }

            // records.jsonl numbers its lines 1, 2, 3, ... without gaps.
            batches.Add(new BackendBatch(lines.AsMemory(start, end - start), count, seq + 1, seq + count));
            _ = batches[^1].Records; // decoded before the clock starts: the worker's reading is timed end to end
            seq += count;
            start = end;
        }

        var decoded = decoding.Elapsed;
        await using var backend = new TensorBoardBackend(logDir);
        var watch = Stopwatch.StartNew();
        await backend.OpenAsync(info, runDirectory, CancellationToken.None).ConfigureAwait(false);
        foreach (var batch in batches)
        {
            await backend.WriteAsync(batch, CancellationToken.None).ConfigureAwait(false);
        }

        await backend.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        var elapsed = watch.Elapsed;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"backend alone: {scalars:N0} scalars in {batches.Count:N0} batches written in {elapsed.TotalSeconds:F3} s: {scalars / elapsed.TotalSeconds / 1e6:F2} M scalars/s (decoding the batches' records before: {decoded.TotalSeconds:F3} s)"));
    }
}
