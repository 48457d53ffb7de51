using Tracker.Format;

namespace Tracker.Tests;

/// <summary>Values keep their type from Log, Config and Summary to the run directory; the summary and resume use the one fold.</summary>
public sealed class ValuesAndFoldTests : RunTestBase
{
    [Test]
    public void Mean_SkipsNaN_AsMinAndMaxDo_LiveFinishedAndResumed()
    {
        var run = Run.Init(Options("mean"));
        run.DefineMetric("loss", summary: SummaryMode.Mean);
        run.Log("loss", 1);
        run.Log("loss", double.NaN);
        run.Log("loss", 3);
        Assert.That(run.Summary["loss"], Is.EqualTo(2.0));
        run.Finish();
        Assert.That(Read(run).ReadSummary()["loss"], Is.EqualTo(2.0));

        var resumed = Resume("mean");
        Assert.That(resumed.Summary["loss"], Is.EqualTo(2.0), "the resumed run continues the mean, NaN still skipped");
        resumed.Log("loss", 5);
        Assert.That(resumed.Summary["loss"], Is.EqualTo(3.0));
        resumed.Finish();
    }

    [Test]
    public void TextNaN_StaysText_AndADoubleNaNBesideItStaysADouble()
    {
        var run = Run.Init(Options("text-nan"));
        run.Config["activation"] = "NaN";
        run.Log(new Dictionary<string, object?> { ["word"] = "NaN", ["x"] = double.NaN, ["inf"] = "Infinity" });
        run.Finish();

        var reader = Read(run);
        var row = reader.ReadHistory().Single();
        Assert.That(row.Values["word"], Is.EqualTo("NaN").And.TypeOf<string>());
        Assert.That(row.Values["inf"], Is.EqualTo("Infinity").And.TypeOf<string>());
        Assert.That((double)row.Values["x"]!, Is.NaN);
        Assert.That(reader.Info.Config["activation"], Is.EqualTo("NaN").And.TypeOf<string>());
        Assert.That(reader.ReadSummary()["word"], Is.EqualTo("NaN").And.TypeOf<string>());
        Assert.That(reader.ReadState().Summary.Snapshot()["word"], Is.EqualTo("NaN").And.TypeOf<string>());
    }

    [Test]
    public void KeyGivenFlatAndNested_InOneCall_ThrowsNamingIt_AndLogsNothing()
    {
        var run = Run.Init(Options());
        Assert.That(() => run.Log(new Dictionary<string, object?> { ["a/b"] = 1.0, ["a"] = new Dictionary<string, object?> { ["b"] = 100.0 } }),
            Throws.ArgumentException.With.Message.Contains("'a/b'"));
        Assert.That(run.Step, Is.Zero);
        run.Finish();
        Assert.That(History(run), Is.Empty);
    }

    [Test]
    public void StepsHoldingOnlyMedia_Count_OnResume()
    {
        var run = Run.Init(Options("media-steps"));
        run.Log("loss", 0.5);
        run.Log("sample", new Text("first"));
        run.Log("sample", new Text("second"));
        run.Finish();

        var resumed = Resume("media-steps");
        Assert.That(resumed.Step, Is.EqualTo(3));
        resumed.Finish();
    }

    [Test]
    public void TextLargerThanARecordLine_ThrowsAtLogNamingTheLimit()
    {
        var run = Run.Init(Options());
        var text = new string('x', 33 * 1024 * 1024);
        Assert.That(() => run.Log(new Dictionary<string, object?> { ["dump"] = text }),
            Throws.ArgumentException.With.Message.Contains("16,777,216").And.Message.Contains("Text"));
        run.Log("after", 1.0);
        run.Finish();
        Assert.That(History(run).Single().Values.Keys, Is.EqualTo(new[] { "after" }));
    }

    [Test]
    public void Integers_StayExact_InHistoryConfigAndSummary()
    {
        var options = Options("integers");
        options.Config = new { layers = new[] { 64, 32 }, seed = 9007199254740993L, max = ulong.MaxValue, lr = 1.0 };
        var run = Run.Init(options);
        run.Log(new Dictionary<string, object?> { ["count"] = 9007199254740993L, ["huge"] = ulong.MaxValue, ["flag"] = true, ["half"] = 2.0 });
        run.Finish();

        var reader = Read(run);
        Assert.That(reader.Info.Config["layers"], Is.EqualTo(new List<object?> { 64L, 32L }));
        Assert.That(RecordValue.Display(reader.Info.Config["layers"]), Is.EqualTo("[64, 32]"));
        Assert.That(reader.Info.Config["seed"], Is.EqualTo(9007199254740993L));
        Assert.That(reader.Info.Config["max"], Is.EqualTo(ulong.MaxValue));
        Assert.That(reader.Info.Config["lr"], Is.EqualTo(1.0).And.TypeOf<double>(), "a double stays a double even when integral");
        var row = reader.ReadHistory().Single().Values;
        Assert.That(row["count"], Is.EqualTo(9007199254740993L));
        Assert.That(row["huge"], Is.EqualTo(ulong.MaxValue));
        Assert.That(row["flag"], Is.EqualTo(true));
        Assert.That(row["half"], Is.EqualTo(2.0).And.TypeOf<double>());
        var summary = reader.ReadSummary();
        Assert.That(summary["count"], Is.EqualTo(9007199254740993L));
        Assert.That(summary["huge"], Is.EqualTo(ulong.MaxValue));
    }

    [Test]
    public void SummaryOverride_LastsAcrossResume_UntilTheKeyIsLoggedAgain()
    {
        var run = Run.Init(Options("override"));
        run.Log("acc", 0.5);
        run.Summary["acc"] = 0.9;
        run.Summary["note"] = "best so far";
        run.Finish();

        var resumed = Resume("override");
        Assert.That(resumed.Summary["acc"], Is.EqualTo(0.9));
        Assert.That(resumed.Summary["note"], Is.EqualTo("best so far"));
        resumed.Log("acc", 0.6);
        Assert.That(resumed.Summary["acc"], Is.EqualTo(0.6));
        resumed.Finish();
        Assert.That(Read(resumed).ReadSummary()["acc"], Is.EqualTo(0.6));
    }

    [Test]
    public void SummaryKey_StartingWithUnderscore_IsRefused() =>
        Assert.That(() => Run.Init(Options()).Summary["_fold"] = 1, Throws.ArgumentException.With.Message.Contains("reserved"));

    [Test]
    public void Reader_RunningRun_FoldsTheSameSummaryAsTheRun()
    {
        var run = Run.Init(Options());
        run.DefineMetric("val/*", summary: SummaryMode.Best, goal: MetricGoal.Maximize);
        foreach (var acc in new[] { 0.2, 0.8, 0.5 })
        {
            run.Log(new Dictionary<string, object?> { ["val/acc"] = acc, ["loss"] = 1 - acc });
        }

        run.Flush(TimeSpan.FromSeconds(10));
        var live = run.Summary.ToDictionary(p => p.Key, p => p.Value);
        Assert.That(Read(run).ReadSummary(), Is.EquivalentTo(live));
        Assert.That(live["val/acc"], Is.EqualTo(0.8));
        run.Finish();
    }

    [Test]
    public void Summary_ReadBetweenAndAcrossChunkHandOffs_CountsEveryValueOnce()
    {
        // Log only appends entries; the live summary is folded from them when a chunk is handed off and
        // when it is read. 7,000 rows of 3 values are 10 chunks and more: reads land inside chunks and after hand-offs.
        var run = Run.Init(Options());
        run.DefineMetric("loss", summary: SummaryMode.Mean);
        run.DefineMetric("acc", summary: SummaryMode.Max);
        var row = new Dictionary<string, object?>();
        for (var step = 0; step < 7_000; step++)
        {
            row["loss"] = (double)step;
            row["acc"] = step % 1000;
            row["phase"] = step % 2 == 0 ? "train" : "eval";
            run.Log(row);
            if (step % 997 == 0)
            {
                Assert.That(run.Summary["loss"], Is.EqualTo(step / 2.0), $"the mean of 0..{step}");
                Assert.That(run.Summary["acc"], Is.EqualTo((long)Math.Min(step, 999)));
            }
        }

        run.Summary["acc"] = 2_000L; // after every value logged before it
        Assert.That(run.Summary["acc"], Is.EqualTo(2_000L));
        run.Log("loss", 7_000.0);
        Assert.That(run.Summary["loss"], Is.EqualTo(3_500.0));
        Assert.That(run.Summary["phase"], Is.EqualTo("eval"));
        run.Finish();

        Assert.That(Read(run).ReadSummary(), Is.EquivalentTo(new Dictionary<string, object?> { ["loss"] = 3_500.0, ["acc"] = 2_000L, ["phase"] = "eval" }));
        Assert.That(Output.ToString(), Does.Contain("loss"), "the footer's sparkline, drawn from the folded buckets");
    }

    [Test]
    public void Reader_RunJsonWithoutOptionalMembers_ReadsEmptyCollections()
    {
        var directory = Path.Combine(Root, "minimal", "m1");
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "run.json"), """{"id":"m1","project":"minimal","name":"m","start_time":"2026-11-29T00:00:00+00:00","state":"finished"}""");
        var info = Reading.RunReader.Open(directory).Info;
        Assert.That(info.Gpus, Is.Empty);
        Assert.That(info.Tags, Is.Empty);
        Assert.That(info.Metrics, Is.Empty);
        Assert.That(info.Config, Is.Empty);
        Assert.That(info.Libraries, Is.Empty);
    }
}
