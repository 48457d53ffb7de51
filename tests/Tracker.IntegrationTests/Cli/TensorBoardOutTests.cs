using System.Globalization;
using Tracker.Extensions.TensorBoard;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Reading;

namespace Tracker.IntegrationTests.Cli;

/// <summary>A run written as TensorBoard event files by <see cref="TensorBoardBackend"/>, imported back by <c>tracker import tensorboard</c>.</summary>
public sealed class TensorBoardOutTests
{
    private string _root = string.Empty;

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "tracker-tb-out", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    [Test]
    public async Task Import_BackendOutput_GivesBackTheRunsValues()
    {
        var logDir = Path.Combine(_root, "logs");
        var options = new RunOptions
        {
            Project = "tb-out",
            Name = "baseline",
            Dir = Path.Combine(_root, "tracker"),
            Config = new { lr = 0.01, opt = "adam" },
            FinishOnProcessExit = false,
            PrintSummary = false,
            SystemMetricsInterval = null,
        };
        options.Backends.Add(new TensorBoardBackend(logDir));
        var run = Run.Init(options);
        for (var step = 0; step < 50; step++)
        {
            run.Log(new Dictionary<string, object?> { ["train/loss"] = Math.Exp(-0.1 * step), ["train/acc"] = 1 - Math.Exp(-0.1 * step), ["improved"] = step % 3 == 0 }, step);
        }

        run.Log("edge/nan", double.NaN, 50);
        run.Log("edge/inf", double.PositiveInfinity, 51);
        run.Log("weights", Histogram.FromValues(Enumerable.Range(0, 500).Select(i => Math.Cos(i * 0.7)).ToArray(), bins: 10), 52);
        run.Log("samples", Image.FromPixels(Enumerable.Range(0, 8 * 8 * 3).Select(i => (byte)(i * 5)).ToArray(), 8, 8, 3), 52);
        run.Log("notes", new Text("loss falls"), 52);
        run.Config["batch"] = 64;
        run.Log("edge/big_step", 2.5, 1L << 40);
        run.Finish();
        var original = RunReader.Open(run.Directory!);

        var result = await CliProcess.RunAsync(["import", "tensorboard", logDir, "--dir", Path.Combine(_root, "imported")]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.Contain("0 corrupt records"));
        var imported = RunReader.Open(Directory.GetDirectories(Path.Combine(_root, "imported", "tensorboard")).Single());
        Assert.That(imported.Info.Name, Is.EqualTo($"baseline-{run.Id}"));
        Assert.That(imported.Info.Config["lr"], Is.EqualTo(0.01));
        Assert.That(imported.Info.Config["opt"], Is.EqualTo("adam"));
        Assert.That(imported.Info.Config["batch"], Is.EqualTo(64));

        var rows = imported.ReadHistory().ToList();
        var points = 0;
        foreach (var row in original.ReadHistory())
        {
            foreach (var (key, value) in row.Values)
            {
                var expected = value is bool b ? (b ? 1d : 0d) : (double)(float)Convert.ToDouble(value, CultureInfo.InvariantCulture);
                var match = rows.Single(r => r.Step == row.Step && r.Values.ContainsKey(key));
                Assert.That(match.Values[key], Is.EqualTo(expected), $"{key} at {row.Step}");
                Assert.That(match.Timestamp, Is.EqualTo(row.Timestamp), $"{key} at {row.Step}");
                points++;
            }
        }

        Assert.That(points, Is.EqualTo(rows.Sum(r => r.Values.Count)), "every point once, nothing more");
        Assert.That(rows.Single(r => r.Values.ContainsKey("edge/big_step")).Step, Is.EqualTo(1L << 40));

        var media = imported.ReadMedia();
        var histogram = media.Single(m => m.Key == "weights").Item;
        var loggedHistogram = original.ReadMedia("weights").Single().Item;
        Assert.That((histogram.Bins, histogram.Counts), Is.EqualTo((loggedHistogram.Bins, loggedHistogram.Counts)));
        Assert.That(File.ReadAllBytes(media.Single(m => m.Key == "samples").FilePath!), Is.EqualTo(File.ReadAllBytes(original.ReadMedia("samples").Single().FilePath!)));
        Assert.That(media.Single(m => m.Key == "notes").Item.Text, Is.EqualTo("loss falls"));
        Assert.That(media.Select(m => m.Step), Is.All.EqualTo(52));
    }
}
