using System.Globalization;
using Tracker.Extensions.TensorBoard;

namespace Tracker.Benchmarks;

/// <summary>
/// `tensorboard-file DIR [SCALARS]`: writes one event file of SCALARS scalars (10 tags a step, one
/// Event each, as PyTorch's <c>add_scalar</c> does) into DIR/run, for timing
/// <c>tracker import tensorboard DIR</c> (docs/benchmarks.md, "TensorBoard event files").
/// </summary>
internal static class TensorBoardImportFile
{
    public static void Write(string directory, long scalars)
    {
        var run = Path.Combine(directory, "run");
        Directory.CreateDirectory(run);
        using var writer = new EventFileWriter(run);
        for (long i = 0; i < scalars; i++)
        {
            writer.Write(EventSummaries.Scalar($"train/metric{i % 10}", (float)(i * 0.001), i / 10, 1_795_736_598 + (i / 10 * 0.01)));
        }

        writer.Flush();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{scalars:N0} scalars in {writer.Path} ({writer.Length / 1e6:F1} MB)"));
    }
}
