using System.Diagnostics;
using System.Globalization;

namespace Tracker.Benchmarks;

/// <summary>
/// Does logging an image every step slow the scalar path? 1,000 steps, each logging one 256×256 RGB
/// image and 1,000 scalars through Log(string, double), into a real run directory; the same loop
/// without images is the baseline. Times the scalar calls, per step, and the image calls apart: an
/// image call copies the pixels, and encodes them itself only when the writer is 128 MiB behind.
/// </summary>
internal static class MediaLogging
{
    private const int Steps = 1_000;
    private const int ScalarsPerStep = 1_000;
    private const int Side = 256;

    /// <param name="stepWorkMicroseconds">Busy work per step standing in for the training step (0: scalars and images back to back, the worst case).</param>
    public static void Run(int stepWorkMicroseconds)
    {
        var pixels = new byte[Side * Side * 3];
        for (var y = 0; y < Side; y++)
        {
            for (var x = 0; x < Side; x++)
            {
                var i = ((y * Side) + x) * 3;
                (pixels[i], pixels[i + 1], pixels[i + 2]) = ((byte)x, (byte)y, (byte)(x ^ y));
            }
        }

        Console.WriteLine($"{stepWorkMicroseconds} us of work per step");
        Measure("warm-up", pixels, images: true, stepWorkMicroseconds);
        for (var i = 0; i < 2; i++)
        {
            Measure("scalars only", pixels, images: false, stepWorkMicroseconds);
            Measure("scalars + a 256x256 image every step", pixels, images: true, stepWorkMicroseconds);
        }
    }

    private static void Measure(string label, byte[] pixels, bool images, int stepWorkMicroseconds)
    {
        var root = Path.Combine(Path.GetTempPath(), "tracker-bench-media");
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }

        var run = Tracker.Run.Init(new RunOptions { Project = "bench", Dir = root, PrintSummary = false, FinishOnProcessExit = false, SystemMetricsInterval = null });
        var perStep = new double[Steps];
        var imageLog = new double[Steps];
        var started = Stopwatch.GetTimestamp();
        for (var step = 0; step < Steps; step++)
        {
            pixels[step % pixels.Length]++; // a different image each step: no deduplication
            if (images)
            {
                var before = Stopwatch.GetTimestamp();
                run.Log("samples", Image.FromPixels(pixels, Side, Side, 3), step: step);
                imageLog[step] = Stopwatch.GetElapsedTime(before).TotalMicroseconds;
            }

            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < ScalarsPerStep; i++)
            {
                run.Log("loss", i * 0.001, step: step);
            }

            perStep[step] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / ScalarsPerStep;
            var work = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(work).TotalMicroseconds < stepWorkMicroseconds)
            {
                Thread.SpinWait(20);
            }
        }

        var logged = Stopwatch.GetElapsedTime(started);
        var finishing = Stopwatch.GetTimestamp();
        run.Finish();
        var finish = Stopwatch.GetElapsedTime(finishing);
        Array.Sort(perStep);
        var imageMean = imageLog.Average();
        Array.Sort(imageLog);
        var files = Directory.GetFiles(Path.Combine(run.Directory!, "media")).Length;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{label,-40} Log(string,double): median {perStep[Steps / 2],6:F1} ns, p90 {perStep[Steps * 9 / 10],6:F1} ns | image Log (copy, queue) median {imageLog[Steps / 2],5:F1} us, mean {imageMean,5:F1} us | loop {logged.TotalSeconds:F2} s, finish {finish.TotalSeconds:F2} s | {files} files, peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576} MiB"));
    }
}
