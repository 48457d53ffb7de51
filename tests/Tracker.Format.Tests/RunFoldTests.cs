using System.Text;

namespace Tracker.Format.Tests;

public sealed class RunFoldTests
{
    private static RunFold FoldCorpus() => new RunFold().ApplyAll(Corpus.ValidLines().Select(l => RecordReader.Parse(Encoding.UTF8.GetBytes(l))));

    [Test]
    public void Corpus_FoldsToTheExpectedState()
    {
        var fold = FoldCorpus();
        Assert.That(fold.Summary.Snapshot(), Is.EquivalentTo(Corpus.ExpectedSummary));
        Assert.That(fold.Config, Is.EquivalentTo(Corpus.ExpectedConfig));
        Assert.That(fold.Tags, Is.EqualTo(new[] { "baseline", "gpu" }));
        Assert.That(fold.Notes, Is.EqualTo("first try"));
        Assert.That(fold.Finish!.State, Is.EqualTo("finished"));
        Assert.That(fold.NextStep, Is.EqualTo(10), "history up to step 9, media up to 8");
        Assert.That(fold.NextSystemStep, Is.EqualTo(1));
        Assert.That(fold.LastSeq, Is.EqualTo(21));
        Assert.That(fold.Summary.Definition("val/acc")!.StepMetric, Is.EqualTo("epoch"));
    }

    [Test]
    public void SaveAndLoad_ContinueTheFoldExactly()
    {
        var lines = Corpus.ValidLines().Select(l => RecordReader.Parse(Encoding.UTF8.GetBytes(l))).ToList();
        for (var split = 0; split <= lines.Count; split++)
        {
            var first = new RunFold().ApplyAll(lines.Take(split));
            var resumed = RunFold.Load(first.Save()).ApplyAll(lines.Skip(split));
            Assert.That(resumed.Summary.Snapshot(), Is.EquivalentTo(Corpus.ExpectedSummary), $"split at {split}");
            Assert.That(resumed.Config, Is.EquivalentTo(Corpus.ExpectedConfig));
            Assert.That(resumed.NextStep, Is.EqualTo(10));
        }
    }

    [TestCase(SummaryMode.Mean, 2.0)]
    [TestCase(SummaryMode.Min, 1.0)]
    [TestCase(SummaryMode.Max, 3.0)]
    [TestCase(SummaryMode.First, 1.0)]
    public void Summary_SkipsNaNAlike(SummaryMode kind, double expected)
    {
        var metric = new MetricSummary { Kind = kind };
        metric.Add(1.0);
        metric.Add(double.NaN);
        metric.Add(3.0);
        Assert.That(metric.TryGetValue(out var value), Is.True);
        Assert.That(value, Is.EqualTo(expected));
    }

    [Test]
    public void Summary_OfIntegers_StaysInteger()
    {
        var metric = new MetricSummary { Kind = SummaryMode.Max };
        metric.Add(9007199254740993L);
        metric.Add(5L);
        Assert.That(metric.TryGetValue(out var value), Is.True);
        Assert.That(value, Is.TypeOf<long>());
    }

    [TestCase("history")]
    [TestCase("system")]
    public void EmptyBlock_FoldsToNothing(string type)
    {
        var fold = new RunFold();
        fold.Apply(RecordReader.Parse(Encoding.UTF8.GetBytes($$$"""{"seq":1,"type":"{{{type}}}","steps":[],"ts":[],"values":{}}""")));
        Assert.That((fold.NextStep, fold.NextSystemStep, fold.LastSeq), Is.EqualTo((0L, 0L, 1L)));
    }

    [Test]
    public void Summary_OfIntegersUpToULongMax_StaysExact_AlsoAcrossSaveAndLoad()
    {
        var fold = new RunFold();
        fold.Apply(RecordReader.Parse("""{"seq":1,"type":"metric","ts":1,"name":"u","summary":"max"}"""u8));
        fold.Apply(RecordReader.Parse("""{"seq":2,"type":"history","steps":[0,1,1],"ts":[1,0,0],"values":{"u":[1,18446744073709551615,-5]}}"""u8));
        Assert.That(fold.Summary.Snapshot()["u"], Is.EqualTo(ulong.MaxValue).And.TypeOf<ulong>());
        var loaded = RunFold.Load(fold.Save());
        loaded.Summary.Define(new MetricDefinition("u", null, SummaryMode.Min, MetricGoal.None));
        Assert.That(loaded.Summary.Snapshot()["u"], Is.EqualTo(-5L).And.TypeOf<long>());
    }

    [Test]
    public void Override_LastsUntilTheKeyIsLoggedAgain()
    {
        var table = new SummaryTable();
        table.Metric("acc").Add(0.5);
        table.Override("acc", 0.9);
        Assert.That(table.Snapshot()["acc"], Is.EqualTo(0.9));
        table.Metric("acc").Add(0.6);
        Assert.That(table.Snapshot()["acc"], Is.EqualTo(0.6));
        table.Override("acc", null);
        Assert.That(table.Snapshot()["acc"], Is.EqualTo(0.6));
    }
}
