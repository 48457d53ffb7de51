using System.Text;
using Tracker.Format;
using Tracker.Reading;

namespace Tracker.Tests;

public sealed class ResumeAndReaderTests : RunTestBase
{
    [Test]
    public void Resume_Allow_ContinuesTheStepSequenceAndSummary()
    {
        var first = Run.Init(Options("resumable"));
        first.Config["lr"] = 0.1;
        for (var i = 0; i < 10; i++)
        {
            first.Log("loss", 10 - i);
        }

        first.Finish(1);

        var options = Options("resumable");
        options.Resume = ResumeMode.Allow;
        options.Config = new { epochs = 20 };
        var second = Run.Init(options);
        Assert.That(second.Step, Is.EqualTo(10));
        Assert.That(second.Name, Is.EqualTo(first.Name));
        second.DefineMetric("loss", summary: SummaryMode.Min);
        second.Log("loss", 5);
        second.Finish();

        var reader = Read(second);
        Assert.That(reader.ReadHistory().Select(r => r.Step), Is.EqualTo(Enumerable.Range(0, 11).Select(i => (long)i)));
        Assert.That(reader.ReadRecords().Select(r => r.Seq), Is.Unique.And.Ordered);
        Assert.That(reader.Info.Resumed, Is.EqualTo(1));
        Assert.That(reader.Info.State, Is.EqualTo("finished"));
        Assert.That(reader.Info.Config, Is.EquivalentTo(new Dictionary<string, object?> { ["lr"] = 0.1, ["epochs"] = 20L }));
        Assert.That(reader.ReadSummary()["loss"], Is.EqualTo(1.0), "the minimum includes the history before the resume");
    }

    [Test]
    public void ReadLastSeq_TornLastLine_IsTheLastCompleteRecord()
    {
        var run = Run.Init(Options("tail"));
        for (var i = 0; i < 5; i++)
        {
            run.Log("loss", i);
        }

        run.Finish();
        var reader = Read(run);
        var last = reader.ReadRecords().Last().Seq;
        File.AppendAllText(Path.Combine(run.Directory!, RunFiles.RecordsFile), "{\"seq\":" + (last + 1) + ",\"type\":\"hist");

        Assert.That(RunReader.ReadLastSeq(run.Directory!), Is.EqualTo(last));
        Assert.That(RunReader.ReadLastSeq(Path.Combine(Root, "none")), Is.Zero);
    }

    [Test]
    public void ReadRunJson_IsTheRunAsItsRunFileSays()
    {
        var run = Run.Init(Options("meta"));
        run.Finish();

        var json = Encoding.UTF8.GetString(Read(run).ReadRunJson());

        Assert.That(json, Does.Contain("\"id\":\"meta\"").And.Contain("\"state\":\"finished\""));
    }

    [Test]
    public void Resume_Must_WithoutAnExistingRun_Throws()
    {
        var options = Options("missing");
        options.Resume = ResumeMode.Must;

        Assert.That(() => Run.Init(options), Throws.InvalidOperationException.With.Message.Contains("no run with id 'missing'"));
    }

    [Test]
    public void Resume_Never_WithAnExistingId_Throws()
    {
        Run.Init(Options("taken")).Finish();

        Assert.That(() => Run.Init(Options("taken")), Throws.InvalidOperationException.With.Message.Contains("already exists"));
    }

    [Test]
    public void Reader_ReadPoints_GivesEveryNumericValueThatReadHistoryGives()
    {
        var run = Run.Init(Options("points"));
        for (var i = 0; i < 3000; i++)
        {
            run.Log("train/loss", i % 97 == 0 ? double.NaN : 1.0 / (i + 3)); // blocks of rows
            if (i % 500 == 0)
            {
                run.Log(new Dictionary<string, object?> { ["val/ok"] = i % 1000 == 0, ["val/note"] = "text", ["val/inf"] = double.NegativeInfinity }, commit: false);
            }
        }

        run.Log(new Dictionary<string, object?> { ["late"] = 1.5 }, step: 10_000);
        run.Finish();

        var expected = Read(run).ReadHistory()
            .SelectMany(row => row.Values.Where(v => v.Value is double or bool)
                .Select(v => (v.Key, row.Step, v.Value is bool b ? (b ? 1.0 : 0.0) : (double)v.Value!)))
            .OrderBy(p => p.Key, StringComparer.Ordinal).ThenBy(p => p.Step).ToList();
        var points = new List<(string, long, double)>();
        Read(run).ReadPoints((key, step, value) => points.Add((key, step, value)));

        Assert.That(points.OrderBy(p => p.Item1, StringComparer.Ordinal).ThenBy(p => p.Item2).ToList(), Is.EqualTo(expected));
        Assert.That(points.Count(p => p.Item1 == "train/loss"), Is.EqualTo(3000));
        Assert.That(points.Where(p => p.Item1 == "val/note"), Is.Empty, "text is not a point");
    }

    [Test]
    public void Reader_TornLastLine_IsSkippedAndResumeCutsItOff()
    {
        var run = Run.Init(Options("torn"));
        for (var i = 0; i < 5; i++)
        {
            run.Log("x", i);
        }

        run.Finish();
        var records = Path.Combine(run.Directory!, "records.jsonl");
        File.AppendAllText(records, "{\"seq\":99,\"type\":\"history\",\"step\":5,\"ts\":1,\"values\":{\"x\":5");

        var reader = Read(run);
        Assert.That(reader.ReadHistory().Select(r => r.Step), Is.EqualTo(new long[] { 0, 1, 2, 3, 4 }));
        Assert.That(reader.SkippedLines, Is.EqualTo(1));

        var options = Options("torn");
        options.Resume = ResumeMode.Must;
        var resumed = Run.Init(options);
        resumed.Log("x", 5);
        resumed.Finish();

        var after = Read(resumed);
        Assert.That(after.ReadHistory().Select(r => r.Step), Is.EqualTo(new long[] { 0, 1, 2, 3, 4, 5 }));
        Assert.That(after.SkippedLines, Is.Zero);
        Assert.That(File.ReadAllText(records), Does.Not.Contain("\"seq\":99"));
    }

    [Test]
    public void Reader_CorruptOrReplayedLines_AreSkipped()
    {
        var run = Run.Init(Options("corrupt"));
        run.Log("x", 1);
        run.Log("x", 2);
        run.Finish();
        var records = Path.Combine(run.Directory!, "records.jsonl");
        var lines = File.ReadAllLines(records).ToList();
        lines.Insert(1, "not json at all");
        lines.Insert(2, lines[0]); // a replayed sequence number
        lines.Insert(3, "{\"type\":\"history\"}");
        File.WriteAllLines(records, lines);

        var reader = Read(run);
        Assert.That(reader.ReadHistory().Select(r => r.Values["x"]), Is.EqualTo(new object[] { 1.0, 2.0 }));
        Assert.That(reader.SkippedLines, Is.EqualTo(3));
    }

    [Test]
    public void Reader_LineLongerThanItsBuffer_IsRead()
    {
        var run = Run.Init(Options("wide"));
        run.Log(new Dictionary<string, object?> { ["text"] = new string('a', 3_000_000) });
        run.Finish();

        Assert.That(((string)History(run).Single().Values["text"]!).Length, Is.EqualTo(3_000_000));
    }

    [Test]
    public void Reader_NotARunDirectory_ThrowsAClearException()
    {
        Directory.CreateDirectory(Root);

        Assert.That(() => RunReader.Open(Root), Throws.InstanceOf<DirectoryNotFoundException>().With.Message.Contains("no run.json"));
        File.WriteAllText(Path.Combine(Root, "run.json"), "{ nope");
        Assert.That(() => RunReader.Open(Root), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("not a valid run file"));
    }

    [Test]
    public void FindRuns_ListsEveryRunDirectoryUnderTheRoot()
    {
        Run.Init(Options("a")).Finish();
        Run.Init(Options("b")).Finish();

        Assert.That(RunReader.FindRuns(Root).Select(Path.GetFileName), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(RunReader.FindRuns(Path.Combine(Root, "nothing")), Is.Empty);
    }

    [Test]
    public void RunJson_IsReplacedAtomicallyAndLeavesNoTemporaryFile()
    {
        var run = Run.Init(Options("atomic"));
        run.Notes = "one";
        run.Finish();

        Assert.That(Directory.GetFiles(run.Directory!).Select(Path.GetFileName), Is.EquivalentTo(new[] { "run.json", "records.jsonl", "summary.json", RunFiles.LockFile }));
        Assert.That(Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(run.Directory!, "run.json"))), Does.Contain("\"state\": \"finished\""));
    }
}
