using Tracker.Reading;
using static TorchSharp.torch;

namespace Tracker.Extensions.Tests;

/// <summary>
/// The TorchSharp integration: statistics and the watch schedule are plain code and tested here;
/// what needs libtorch is tested only where it loads.
/// </summary>
public sealed class TorchSharpTests
{
    private string _root = string.Empty;

    [SetUp]
    public void CreateRoot() => _root = Path.Combine(Path.GetTempPath(), "tracker-torch-tests", Guid.NewGuid().ToString("N"));

    [TearDown]
    public void DeleteRoot()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Test]
    public void Statistics_MatchAHandComputation_LeavingOutNonFiniteValues()
    {
        // 3, -4, 0: norm sqrt(9 + 16) = 5, mean -1/3, E[x²] = 25/3, so std = sqrt(25/3 - 1/9) = sqrt(74/9).
        var statistics = TensorStatistics.Of([3f, -4f, 0f, float.NaN, float.PositiveInfinity]);

        Assert.That(statistics.Norm, Is.EqualTo(5).Within(1e-12));
        Assert.That(statistics.Mean, Is.EqualTo(-1.0 / 3).Within(1e-12));
        Assert.That(statistics.Std, Is.EqualTo(Math.Sqrt(74.0 / 9)).Within(1e-12));
        Assert.That((statistics.Min, statistics.Max, statistics.NonFinite), Is.EqualTo((-4.0, 3.0, 2L)));
    }

    [Test]
    public void Statistics_OfOnlyNonFiniteValues_AreNaNAndCountThem()
    {
        var statistics = TensorStatistics.Of([float.NaN, float.NegativeInfinity]);

        Assert.That(new[] { statistics.Norm, statistics.Mean, statistics.Std, statistics.Min, statistics.Max }, Has.All.NaN);
        Assert.That(statistics.NonFinite, Is.EqualTo(2));
    }

    [Test]
    public void Watch_LogsEveryNthStepWithThatStepsValues()
    {
        var run = Run.Init(new RunOptions { Project = "torch", Dir = _root, PrintSummary = false, FinishOnProcessExit = false, SystemMetricsInterval = null });
        var samples = 0;
        using (var watch = new ModuleWatch(run, new WatchSchedule(3), () => new Dictionary<string, object?> { ["gradients/fc.weight/norm"] = (double)++samples }))
        {
            for (var step = 0; step < 7; step++)
            {
                watch.Step();
                run.Log("train/loss", 1.0 / (step + 1));
            }
        }

        run.Finish();
        var rows = RunReader.Open(run.Directory!).ReadHistory().ToList();
        Assert.That(rows.Where(r => r.Values.ContainsKey("gradients/fc.weight/norm")).Select(r => r.Step), Is.EqualTo(new long[] { 0, 3, 6 }));
        Assert.That(rows, Has.Count.EqualTo(7), "the watch joins the step's row instead of adding steps");
        Assert.That(() => new WatchSchedule(0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void LogTensorAndWatch_WithLibTorch()
    {
        try
        {
            _ = ones(1);
        }
        catch (TypeInitializationException ex)
        {
            Assert.Ignore($"libtorch cannot be loaded here, so what needs it is not tested: {ex.InnerException?.Message ?? ex.Message} "
                + "(TorchSharp 0.107's native library needs GLIBCXX_3.4.32, which Debian 12 does not have; this test project adds no libtorch package).");
        }

        var run = Run.Init(new RunOptions { Project = "torch", Dir = _root, PrintSummary = false, FinishOnProcessExit = false, SystemMetricsInterval = null });
        var model = nn.Linear(2, 1);
        using var watch = run.Watch(model, logEvery: 1);
        using var loss = model.forward(ones(4, 2)).sum();
        loss.backward();
        watch.Step();
        run.Log("train/loss", loss);
        Assert.That(() => run.Log("bad", ones(3)), Throws.ArgumentException.With.Message.Contains("3 elements"));
        run.Finish();

        var row = RunReader.Open(run.Directory!).ReadHistory().Single();
        Assert.That((double)row.Values["train/loss"]!, Is.EqualTo(loss.item<float>()).Within(1e-6));
        Assert.That(row.Values.Keys, Does.Contain("gradients/weight/norm").And.Contain("parameters/bias/mean"));
    }
}
