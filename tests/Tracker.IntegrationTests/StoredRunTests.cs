using Tracker.Format;
using Tracker.Server.Storage;

namespace Tracker.IntegrationTests;

/// <summary>The summary column keeps the fold's state beside the summary, and reads runs stored before it.</summary>
public sealed class StoredRunTests
{
    [Test]
    public void SummaryColumnWithoutFoldState_KeepsItsValuesAsOverrides()
    {
        const string column = """{"acc":0.5,"note":"best","epochs":3}""";
        Assert.That(StoredRun.ReadSummary(column).Count, Is.EqualTo(3));
        var fold = StoredRun.ReadFold(column);
        Assert.That(fold.Summary.Snapshot(), Is.EquivalentTo(new Dictionary<string, object?> { ["acc"] = 0.5, ["note"] = "best", ["epochs"] = 3L }));

        var row = (HistoryLine)RecordReader.Parse("""{"seq":1,"type":"history","step":0,"ts":1,"values":{"acc":0.7}}"""u8);
        fold.Apply(row);
        Assert.That(fold.Summary.Snapshot()["acc"], Is.EqualTo(0.7), "logged again: summarised afresh");
        Assert.That(fold.Summary.Snapshot()["note"], Is.EqualTo("best"));
    }

    [Test]
    public void SummaryColumn_RoundTripsTheFold_AndHidesIt()
    {
        var fold = new RunFold();
        fold.Apply(RecordReader.Parse("""{"seq":1,"type":"metric","ts":1,"name":"loss","summary":"mean"}"""u8));
        fold.Apply(RecordReader.Parse("""{"seq":2,"type":"history","steps":[0,1,1],"ts":[1,0,0],"values":{"loss":[1.0,"NaN",3.0]}}"""u8));
        var column = StoredRun.SummaryColumn(fold);

        var summary = StoredRun.ReadSummary(column);
        Assert.That(summary.Select(p => p.Key), Is.EqualTo(new[] { "loss" }));
        Assert.That((double)summary["loss"]!, Is.EqualTo(2.0), "the mean of 1 and 3: NaN is skipped");
        var read = StoredRun.ReadFold(column);
        read.Apply(RecordReader.Parse("""{"seq":3,"type":"history","step":3,"ts":1,"values":{"loss":5.0}}"""u8));
        Assert.That(read.Summary.Snapshot()["loss"], Is.EqualTo(3.0), "the mean continues: (1 + 3 + 5) / 3");
    }
}
