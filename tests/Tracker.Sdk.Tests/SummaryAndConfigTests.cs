using System.Text.Json;

namespace Tracker.Tests;

public sealed class SummaryAndConfigTests : RunTestBase
{
    [Test]
    public void Summary_DefaultsToEachKeysLastValue()
    {
        var run = Run.Init(Options());
        run.Log("loss", 3);
        run.Log("loss", 1);
        run.Log("loss", 2);
        run.Log(new Dictionary<string, object?> { ["phase"] = "eval" });

        Assert.That(run.Summary["loss"], Is.EqualTo(2.0));
        Assert.That(run.Summary["phase"], Is.EqualTo("eval"));
        run.Finish();
        Assert.That(Read(run).ReadSummary(), Is.EquivalentTo(new Dictionary<string, object?> { ["loss"] = 2.0, ["phase"] = "eval" }));
    }

    [TestCase(SummaryMode.Min, MetricGoal.None, 1.0)]
    [TestCase(SummaryMode.Max, MetricGoal.None, 5.0)]
    [TestCase(SummaryMode.Mean, MetricGoal.None, 3.0)]
    [TestCase(SummaryMode.First, MetricGoal.None, 3.0)]
    [TestCase(SummaryMode.Last, MetricGoal.None, 2.0)]
    [TestCase(SummaryMode.Best, MetricGoal.Maximize, 5.0)]
    [TestCase(SummaryMode.Best, MetricGoal.Minimize, 1.0)]
    public void DefineMetric_ChoosesHowTheSummaryIsComputed(SummaryMode mode, MetricGoal goal, double expected)
    {
        var run = Run.Init(Options());
        run.DefineMetric("val/*", summary: mode, goal: goal);
        foreach (var v in new[] { 3.0, 1.0, 5.0, 4.0, 2.0 })
        {
            run.Log("val/loss", v);
        }

        Assert.That(run.Summary["val/loss"], Is.EqualTo(expected));
        run.Finish();
        Assert.That(Read(run).ReadSummary()["val/loss"], Is.EqualTo(expected));
        Assert.That(Read(run).Info.Metrics.Single(), Is.EqualTo(new Format.MetricDefinition("val/*", null, mode, goal)));
    }

    [Test]
    public void DefineMetric_None_LeavesTheMetricOutAndAppliesToKeysLoggedEarlier()
    {
        using var run = Run.Init(Options());
        run.Log("debug/grad", 1);
        run.DefineMetric("debug/grad", stepMetric: "epoch", summary: SummaryMode.None);

        Assert.That(run.Summary.ContainsKey("debug/grad"), Is.False);
    }

    [Test]
    public void DefineMetric_BestWithoutGoal_Throws()
    {
        using var run = Run.Init(Options());

        Assert.That(() => run.DefineMetric("acc", summary: SummaryMode.Best), Throws.ArgumentException.With.Message.Contains("needs a goal"));
        Assert.That(() => run.DefineMetric("a*b"), Throws.ArgumentException.With.Message.Contains("only at its end"));
    }

    [Test]
    public void Summary_OverrideHoldsUntilTheMetricIsLoggedAgain()
    {
        var run = Run.Init(Options());
        run.Log("acc", 0.5);
        run.Summary["acc"] = 0.99;
        run.Summary["note"] = "best checkpoint";
        Assert.That(run.Summary["acc"], Is.EqualTo(0.99));

        run.Log("acc", 0.6);
        Assert.That(run.Summary["acc"], Is.EqualTo(0.6));
        Assert.That(() => run.Summary["x"] = new object(), Throws.ArgumentException);
        run.Finish();

        Assert.That(Read(run).ReadSummary(), Is.EquivalentTo(new Dictionary<string, object?> { ["acc"] = 0.6, ["note"] = "best checkpoint" }));
    }

    [Test]
    public void Summary_OfARunThatDidNotFinish_IsComputedFromTheRecords()
    {
        using var run = Run.Init(Options());
        run.Log("acc", 0.5);
        run.Summary["best"] = 7;
        run.Flush(TimeSpan.FromSeconds(10));

        Assert.That(Read(run).ReadSummary(), Is.EquivalentTo(new Dictionary<string, object?> { ["acc"] = 0.5, ["best"] = 7.0 }));
    }

    private sealed class Hyper
    {
        public double LearningRate { get; set; } = 0.01;

        public int[] Layers { get; set; } = [64, 32];

        public Dictionary<string, object> Optimizer { get; set; } = new() { ["name"] = "adam", ["beta1"] = 0.9 };
    }

    [Test]
    public void Config_FromAnonymousObjectPocoOrDictionary_IsStoredFlat()
    {
        var options = Options();
        options.Config = new { epochs = 10, model = new { hidden = 16, act = "tanh" }, eps = double.NaN };
        var run = Run.Init(options);
        run.Config.Update(new Hyper());
        run.Config.Update(new Dictionary<string, object?> { ["seed"] = 42 });
        run.Config["model/hidden"] = 32;
        run.Finish();

        var config = Read(run).Info.Config;
        Assert.That(config["epochs"], Is.EqualTo(10L));
        Assert.That(config["model/hidden"], Is.EqualTo(32L));
        Assert.That(config["model/act"], Is.EqualTo("tanh"));
        Assert.That((double)config["eps"]!, Is.NaN);
        Assert.That(config["LearningRate"], Is.EqualTo(0.01));
        Assert.That(config["Layers"], Is.EqualTo(new object[] { 64L, 32L }));
        Assert.That(config["Optimizer/name"], Is.EqualTo("adam"));
        Assert.That(config["seed"], Is.EqualTo(42L));
        Assert.That(run.Config["model/hidden"], Is.EqualTo(32L));
    }

    [Test]
    public void Config_UpdatesDuringTheRun_AreRecordedAndReplaceRunJson()
    {
        using var run = Run.Init(Options());
        run.Config["lr"] = 0.1;
        run.Flush(TimeSpan.FromSeconds(10));

        var reader = Read(run);
        Assert.That(reader.Info.Config["lr"], Is.EqualTo(0.1));
        var record = reader.ReadRecords().Single(r => r.Type == "config");
        Assert.That(JsonDocument.Parse(record.Json).RootElement.GetProperty("values").GetProperty("lr").GetDouble(), Is.EqualTo(0.1));
    }

    private sealed class Cyclic
    {
        public Cyclic? Self { get; set; }
    }

    [Test]
    public void Config_ThatCannotBeSerialised_ThrowsAClearException()
    {
        var cyclic = new Cyclic();
        cyclic.Self = cyclic;
        var options = Options();
        options.Config = cyclic;

        Assert.That(() => Run.Init(options), Throws.ArgumentException.With.Message.Contains("could not be serialised to JSON"));
        options.Config = 42;
        Assert.That(() => Run.Init(options), Throws.ArgumentException.With.Message.Contains("must be an object with named values"));
        options.Config = new Dictionary<string, object> { [""] = 1 };
        Assert.That(() => Run.Init(options), Throws.ArgumentException.With.Message.Contains("must not be empty"));
        Assert.That(Directory.Exists(Root), Is.False, "a rejected Init writes nothing");
    }

    [Test]
    public void TagsAndNotes_CanBeEditedDuringTheRun()
    {
        var options = Options();
        options.Tags = ["baseline"];
        var run = Run.Init(options);
        run.Tags = ["baseline", "lr-sweep"];
        run.Notes = "tried a larger batch";
        run.Finish();

        var info = Read(run).Info;
        Assert.That(info.Tags, Is.EqualTo(new[] { "baseline", "lr-sweep" }));
        Assert.That(info.Notes, Is.EqualTo("tried a larger batch"));
        Assert.That(() => run.Notes = "late", Throws.InvalidOperationException);
    }
}
