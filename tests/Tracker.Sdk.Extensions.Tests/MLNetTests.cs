using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Tracker.Reading;

namespace Tracker.Extensions.Tests;

/// <summary>The ML.NET integration against real ML.NET training on generated data.</summary>
public sealed class MLNetTests
{
    private string _root = string.Empty;

    [SetUp]
    public void CreateRoot() => _root = Path.Combine(Path.GetTempPath(), "tracker-mlnet-tests", Guid.NewGuid().ToString("N"));

    [TearDown]
    public void DeleteRoot()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Test]
    public void LogMetrics_RegressionMetrics_EveryNumberAsAFlatKey()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Points(500));
        var model = Pipeline(ml).Fit(data);
        var metrics = ml.Regression.Evaluate(model.Transform(data));
        var run = NewRun("metrics");

        run.LogMetrics(metrics, "val");
        run.Finish();

        var row = RunReader.Open(run.Directory!).ReadHistory().Single();
        Assert.That(row.Values, Is.EquivalentTo(new Dictionary<string, object?>
        {
            ["val/RSquared"] = metrics.RSquared, ["val/MeanAbsoluteError"] = metrics.MeanAbsoluteError, ["val/MeanSquaredError"] = metrics.MeanSquaredError,
            ["val/RootMeanSquaredError"] = metrics.RootMeanSquaredError, ["val/LossFunction"] = metrics.LossFunction,
        }));
        Assert.That(metrics.RSquared, Is.GreaterThan(0.9), "the model learned the generated relation");
    }

    [Test]
    public void LogMetrics_ListsBecomeIndexedKeysAndObjectsAreLeftOut()
    {
        var run = NewRun("lists");

        run.LogMetrics(new { MacroAccuracy = 0.75, PerClassLogLoss = new[] { 0.1, 0.2, 0.3 }, ConfusionMatrix = new object(), TopKPredictionCount = 3 }, "test", step: 7);
        run.Finish();

        var row = RunReader.Open(run.Directory!).ReadHistory().Single();
        Assert.That(row.Step, Is.EqualTo(7));
        Assert.That(row.Values.Keys, Is.EquivalentTo(new[] { "test/MacroAccuracy", "test/PerClassLogLoss/0", "test/PerClassLogLoss/1", "test/PerClassLogLoss/2", "test/TopKPredictionCount" }));
        Assert.That(row.Values["test/PerClassLogLoss/2"], Is.EqualTo(0.3));
    }

    [Test]
    public void LogCrossValidation_OneStepPerFoldAndTheMeanAndSpreadInTheSummary()
    {
        var ml = new MLContext(seed: 1);
        var results = ml.Regression.CrossValidate(ml.Data.LoadFromEnumerable(Points(600)), Pipeline(ml), numberOfFolds: 3, seed: 1);
        var run = NewRun("cv");

        run.LogCrossValidation(results);
        run.Finish();

        var reader = RunReader.Open(run.Directory!);
        var rows = reader.ReadHistory().ToList();
        Assert.That(rows.Select(r => r.Values["cv/fold"]), Is.EqualTo(new object[] { 0.0, 1.0, 2.0 }));
        Assert.That(rows.Select(r => r.Values["cv/RSquared"]), Is.EqualTo(results.Select(r => (object)r.Metrics.RSquared)));
        var summary = reader.ReadSummary();
        Assert.That((double)summary["cv/RSquared_mean"]!, Is.EqualTo(results.Average(r => r.Metrics.RSquared)).Within(1e-12));
        Assert.That((double)summary["cv/RSquared_std"]!, Is.GreaterThanOrEqualTo(0));
    }

    [Test]
    public void ConnectLog_KeepsTheContextsMessagesInTheRunUntilDisposed()
    {
        var ml = new MLContext(seed: 1);
        var run = NewRun("log");
        var log = Path.Combine(run.Directory!, "files", "mlnet.log");

        using (run.ConnectLog(ml, ChannelMessageKind.Trace))
        {
            Pipeline(ml).Fit(ml.Data.LoadFromEnumerable(Points(200)));
        }

        var lines = File.ReadAllLines(log);
        Pipeline(ml).Fit(ml.Data.LoadFromEnumerable(Points(200)));
        run.Finish();

        Assert.That(lines, Is.Not.Empty);
        Assert.That(File.ReadAllLines(log), Has.Length.EqualTo(lines.Length), "nothing is written after the subscription is disposed");
    }

    [Test]
    public async Task Sample_TrainsBothModels_AndItsMetricsAndModelFilesReadBack()
    {
        // samples/MLNet/bin/<configuration>/net10.0/MLNet.dll, built with this project in the same configuration.
        var testDirectory = TestContext.CurrentContext.TestDirectory.TrimEnd('/');
        var sample = Path.Combine(testDirectory, "..", "..", "..", "..", "..", "samples", "MLNet", "bin",
            Path.GetFileName(Path.GetDirectoryName(testDirectory))!, "net10.0", "MLNet.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        start.ArgumentList.Add(sample);
        start.Environment["TRACKER_DIR"] = _root;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));

        Assert.That(process.ExitCode, Is.Zero, $"{await output}\n{await error}");
        var runs = RunReader.FindRuns(_root).Select(RunReader.Open).ToList();
        Assert.That(runs.Select(r => r.Info.Name), Is.EquivalentTo(new[] { "fasttree", "sdca" }));
        foreach (var run in runs)
        {
            var summary = run.ReadSummary();
            Assert.That((double)summary["test/RSquared"]!, Is.GreaterThan(0.9), run.Info.Name);
            Assert.That(summary.Keys, Does.Contain("cv/RSquared_mean"));
            Assert.That(run.Info.Config["trainer"]?.ToString(), Is.EqualTo(run.Info.Name == "sdca" ? "SDCA" : "FastTree"));
            Assert.That(new FileInfo(Path.Combine(run.Directory, "files", "model.zip")).Length, Is.GreaterThan(0));
        }
    }

    private Run NewRun(string id) => Run.Init(new RunOptions
    {
        Project = "mlnet", Id = id, Dir = _root, PrintSummary = false, FinishOnProcessExit = false, SystemMetricsInterval = null,
    });

    private static IEstimator<ITransformer> Pipeline(MLContext ml) =>
        ml.Transforms.Concatenate("Features", nameof(Point.X1), nameof(Point.X2))
            .Append(ml.Transforms.NormalizeMinMax("Features"))
            .Append(ml.Regression.Trainers.Sdca(l2Regularization: 0.01f, maximumNumberOfIterations: 100));

    private static IEnumerable<Point> Points(int count)
    {
        var random = new Random(3);
        for (var i = 0; i < count; i++)
        {
            var (x1, x2) = (random.NextSingle(), random.NextSingle());
            yield return new Point { X1 = x1, X2 = x2, Label = (3 * x1) - (2 * x2) + ((random.NextSingle() - 0.5f) * 0.1f) };
        }
    }

    public sealed class Point
    {
        public float X1 { get; set; }

        public float X2 { get; set; }

        [ColumnName("Label")]
        public float Label { get; set; }
    }
}
