using System.Text.Json.Nodes;

namespace Tracker.Tests;

/// <summary>The API conveniences W&amp;B users reach for: typed Log overloads, Log(object), histograms of any numbers, tables that grow, nested summaries.</summary>
public sealed class ConvenienceTests : RunTestBase
{
    [Test]
    public void ScalarOverloads_KeepEachValuesType_InTheFileAndTheSummary()
    {
        var run = Run.Init(Options());
        run.Log("flag", true, commit: false);
        run.Log("lr", 0.1m, commit: false);
        run.Log("epochs", 3, commit: false);
        run.Log("big", 9007199254740993L, commit: false);
        run.Log("huge", ulong.MaxValue, commit: false);
        run.Log("small", 12UL, commit: false);
        run.Log("half", 0.5f, commit: false);
        run.Log("label", "cat", commit: false);
        run.Log("word", "NaN", commit: false);
        run.Log("x", double.NaN);
        run.Finish();

        var row = History(run).Single();
        Assert.That(row.Values["flag"], Is.EqualTo(true).And.TypeOf<bool>());
        Assert.That(row.Values["lr"], Is.EqualTo(0.1).And.TypeOf<double>());
        Assert.That(row.Values["epochs"], Is.EqualTo(3L).And.TypeOf<long>());
        Assert.That(row.Values["big"], Is.EqualTo(9007199254740993L).And.TypeOf<long>());
        Assert.That(row.Values["huge"], Is.EqualTo(ulong.MaxValue).And.TypeOf<ulong>());
        Assert.That(row.Values["small"], Is.EqualTo(12L).And.TypeOf<long>());
        Assert.That(row.Values["half"], Is.EqualTo(0.5).And.TypeOf<double>());
        Assert.That(row.Values["label"], Is.EqualTo("cat").And.TypeOf<string>());
        Assert.That(row.Values["word"], Is.EqualTo("NaN").And.TypeOf<string>(), "text, not a number");
        Assert.That((double)row.Values["x"]!, Is.NaN);

        var summary = Read(run).ReadSummary();
        Assert.That(summary["flag"], Is.EqualTo(true).And.TypeOf<bool>());
        Assert.That(summary["big"], Is.EqualTo(9007199254740993L).And.TypeOf<long>());
        Assert.That(summary["huge"], Is.EqualTo(ulong.MaxValue).And.TypeOf<ulong>());
        Assert.That(summary["label"], Is.EqualTo("cat"));
        Assert.That(run.Summary["epochs"], Is.EqualTo(3L), "the live summary agrees");
    }

    [Test]
    public void LogString_LargerThanARecordLine_ThrowsNamingTheLimit_AndLogsNothing()
    {
        var run = Run.Init(Options());
        var error = Assert.Throws<ArgumentException>(() => run.Log("essay", new string('x', 17 * 1024 * 1024)));
        run.Log("essay", "short");
        run.Finish();

        Assert.That(error!.Message, Does.Contain("'essay'").And.Contain("16 MiB").And.Contain("Text value"));
        Assert.That(History(run).Select(r => r.Values["essay"]), Is.EqualTo(new[] { "short" }));
    }

    [Test]
    public void NumericAndBoolOverloads_InSteadyState_AllocateNothing()
    {
        var options = Options();
        options.MaxQueuedRecords = 4 * 2048;
        var run = Run.Init(options);
        void Step(int i)
        {
            run.Log("i", i, commit: false);
            run.Log("l", (long)i, commit: false);
            run.Log("u", (ulong)i, commit: false);
            run.Log("f", i * 0.5f, commit: false);
            run.Log("m", i * 0.25m, commit: false);
            run.Log("b", i % 2 == 0);
        }

        for (var i = 0; i < 50_000; i++)
        {
            Step(i); // keys registered, the chunk pool filled
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 50_000; i++)
        {
            Step(i);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        run.Finish();

        Assert.That(allocated, Is.Zero, $"{allocated} bytes for 300,000 calls");
        Assert.That(History(run), Has.Count.EqualTo(100_000));
    }

    [Test]
    public void LogObject_AnonymousAndPoco_LogTheirPropertiesAsOneRow_NestedFlattened()
    {
        var run = Run.Init(Options());
        var loss = 0.25;
        var acc = 0.75;
        run.Log(new { loss, acc });
        run.Log(new Metrics { Loss = 0.5, Phase = Phase.Validation, Detail = new Metrics.Inner { Recall = 0.6 } });
        run.Log((object)new Dictionary<string, double> { ["plain"] = 1.5 });
        run.Finish();

        var rows = History(run);
        Assert.That(rows, Has.Count.EqualTo(3));
        Assert.That(rows[0].Values, Is.EquivalentTo(new Dictionary<string, object?> { ["loss"] = 0.25, ["acc"] = 0.75 }));
        Assert.That(rows[1].Values, Is.EquivalentTo(new Dictionary<string, object?> { ["Loss"] = 0.5, ["Phase"] = "Validation", ["Detail/Recall"] = 0.6 }), "nested objects flatten with '/', enums log their names, nulls are skipped");
        Assert.That(rows[2].Values["plain"], Is.EqualTo(1.5));
    }

    [Test]
    public void LogObject_UnsupportedPropertyValue_ThrowsNamingItAndLogsNothing()
    {
        var run = Run.Init(Options());
        var error = Assert.Throws<ArgumentException>(() => run.Log(new { loss = 0.5, when = DateTime.UnixEpoch }));
        run.Finish();

        Assert.That(error!.Message, Does.Contain("'when'").And.Contain("System.DateTime"));
        Assert.That(History(run), Is.Empty);
    }

    [Test]
    public void HistogramFromValues_TakesListsSequencesAndIntegerArrays_AsItBinsDoubles()
    {
        double[] doubles = [0, 1, 1, 2, 3, 5, 8];
        var expected = Histogram.FromValues(doubles, bins: 4);

        foreach (var histogram in new[]
        {
            Histogram.FromValues(doubles.ToList(), bins: 4),
            Histogram.FromValues(new[] { 0, 1, 1, 2, 3, 5, 8 }, bins: 4),
            Histogram.FromValues(new long[] { 0, 1, 1, 2, 3, 5, 8 }, bins: 4),
            Histogram.FromValues(doubles.Select(v => (float)v), bins: 4),
            Histogram.FromValues(new float[] { 0, 1, 1, 2, 3, 5, 8 }, bins: 4),
            Histogram.FromValues(doubles.Select(v => (decimal)v), bins: 4),
        })
        {
            Assert.That(histogram.Edges, Is.EqualTo(expected.Edges));
            Assert.That(histogram.Counts, Is.EqualTo(expected.Counts));
        }

        Assert.Throws<ArgumentException>(() => Histogram.FromValues(new List<double>()));
        Assert.Throws<ArgumentNullException>(() => Histogram.FromValues((IEnumerable<int>)null!));
    }

    [Test]
    public void TableAddRow_EachLogWritesTheTableSoFar()
    {
        var run = Run.Init(Options());
        var table = new Table("epoch", "prediction");
        table.AddRow(0, "cat");
        run.Log("preds", table);
        table.AddRow(1, "dog");
        table.AddRow(2, null);
        run.Log("preds", table);
        run.Log("preds", table); // unchanged since: the same table again
        run.Finish();

        var logged = Read(run).ReadMedia("preds");
        Assert.That(logged.Select(m => (int)JsonNode.Parse(m.Json)!["rows"]!), Is.EqualTo(new[] { 1, 3, 3 }));
        var first = JsonNode.Parse(File.ReadAllText(logged[0].FilePath!))!;
        var last = JsonNode.Parse(File.ReadAllText(logged[1].FilePath!))!;
        Assert.That(first["data"]!.ToJsonString(), Is.EqualTo("""[[0,"cat"]]"""), "the first log keeps the one row it had");
        Assert.That(last["data"]!.ToJsonString(), Is.EqualTo("""[[0,"cat"],[1,"dog"],[2,null]]"""));
        Assert.That(logged[2].FilePath, Is.EqualTo(logged[1].FilePath));
        Assert.That(table.RowCount, Is.EqualTo(3));
    }

    [Test]
    public void TableAddRow_BadRow_ThrowsAndLeavesTheTableAsItWas()
    {
        var table = new Table("id", "label");
        table.AddRow(1, "cat");

        Assert.That(Assert.Throws<ArgumentException>(() => table.AddRow(2))!.Message, Does.Contain("row 1 has 1 values").And.Contain("2 columns"));
        Assert.That(Assert.Throws<ArgumentException>(() => table.AddRow(2, DateTime.UnixEpoch))!.Message, Does.Contain("column 'label'"));
        Assert.That(table.RowCount, Is.EqualTo(1));

        var run = Run.Init(Options());
        table.AddRow(2, "dog");
        run.Log("t", table);
        run.Finish();
        var file = Read(run).ReadMedia("t").Single().FilePath!;
        Assert.That(JsonNode.Parse(File.ReadAllText(file))!["data"]!.ToJsonString(), Is.EqualTo("""[[1,"cat"],[2,"dog"]]"""), "nothing of the refused rows");
    }

    [Test]
    public void SummaryOverride_NestedObjectsFlatten_ListsStayLists_AlsoAfterResume()
    {
        var options = Options("nested-summary");
        var run = Run.Init(options);
        run.Log("acc", 0.5);
        run.Summary["best"] = new { acc = 0.9, epoch = 3 };
        run.Summary["top3"] = new[] { 7, 3, 1 };
        Assert.That(run.Summary["best/acc"], Is.EqualTo(0.9));
        Assert.That(run.Summary["best/epoch"], Is.EqualTo(3L));
        Assert.That(run.Summary.ContainsKey("best"), Is.False, "flattened, as config is");
        run.Finish();

        var summary = Read(run).ReadSummary();
        Assert.That(summary["best/acc"], Is.EqualTo(0.9));
        Assert.That(summary["best/epoch"], Is.EqualTo(3L));
        Assert.That(summary["top3"], Is.EqualTo(new object[] { 7L, 3L, 1L }));

        options.Resume = ResumeMode.Must;
        var resumed = Run.Init(options);
        Assert.That(resumed.Summary["best/epoch"], Is.EqualTo(3L));
        Assert.That(resumed.Summary["top3"], Is.EqualTo(new object[] { 7L, 3L, 1L }));
        resumed.Finish();
    }

    private enum Phase
    {
        Training,
        Validation,
    }

    private sealed class Metrics
    {
        public double Loss { get; init; }

        public Phase Phase { get; init; }

        public Inner? Detail { get; init; }

        public string? Note { get; init; }

        public sealed class Inner
        {
            public double Recall { get; init; }
        }
    }
}
