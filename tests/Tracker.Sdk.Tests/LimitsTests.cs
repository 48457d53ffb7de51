using Tracker.Format;
using Tracker.Internal;
using Tracker.Pipeline;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>The SDK applies the server's limits (RecordRules) itself, so it never sends what the server refuses.</summary>
public sealed class LimitsTests : RunTestBase
{
    [Test]
    public void Log_MoreKeysThanOneRecordHolds_ThrowsAndLogsNothing()
    {
        var run = Run.Init(Options());
        var values = Enumerable.Range(0, RecordRules.MaxKeysPerRecord + 1).ToDictionary(i => $"k{i}", i => (object?)i);

        var error = Assert.Throws<ArgumentException>(() => run.Log(values));

        Assert.That(error!.Message, Does.Contain("10,000"));
        Assert.That(run.Summary, Is.Empty);
        run.Finish();
    }

    [Test]
    public void KeysOverTheRunsLimit_Throw_AndWhatWasLoggedStays()
    {
        var run = Run.Init(Options());
        for (var i = 0; i < RecordRules.MaxKeysPerRun; i++)
        {
            run.Log($"k{i}", i, commit: false);
        }

        var error = Assert.Throws<ArgumentException>(() => run.Log("one/more", 1.0));
        Assert.That(error!.Message, Does.Contain("100,000").And.Contain("Table"));
        Assert.Throws<ArgumentException>(() => run.Summary["another"] = 1.0);
        run.Log("k7", 7.5); // a key the run has is still fine
        run.Summary["k8"] = "best"; // and so is overriding one
        run.Finish();

        Assert.That(RunReader.Open(run.Directory!).ReadState().Summary.KeyCount, Is.EqualTo(RecordRules.MaxKeysPerRun));
    }

    [Test]
    public void DictionaryCrossingTheRunsKeyLimit_Throws_AndLogsNothingOfTheCall()
    {
        var run = Run.Init(Options());
        for (var i = 0; i < RecordRules.MaxKeysPerRun - 1; i++)
        {
            run.Log($"k{i}", i, commit: false);
        }

        run.Log("k0", -1); // commits the step: the row of 99,999 keys
        var stepBefore = run.Step;

        // A known key first, then two new ones where only one fits: nothing of it may be applied.
        var error = Assert.Throws<ArgumentException>(() => run.Log(new Dictionary<string, object?> { ["k0"] = 5.0, ["new/a"] = 1.0, ["new/b"] = 2.0 }, step: stepBefore + 10));
        Assert.That(error!.Message, Does.Contain("100,000"));
        Assert.That(run.Step, Is.EqualTo(stepBefore), "the explicit step did not move");
        Assert.That(run.Summary["k0"], Is.EqualTo(-1L), "the known key's value was not taken");
        Assert.That(run.Summary.ContainsKey("new/a"), Is.False);

        run.Log(new Dictionary<string, object?> { ["k0"] = 6.0, ["new/a"] = 1.0 }); // exactly at the limit is fine
        run.Finish();

        var rows = History(run);
        Assert.That(rows.Select(r => r.Step), Is.EqualTo(new[] { 0L, stepBefore }));
        Assert.That(rows[^1].Values, Is.EquivalentTo(new Dictionary<string, object?> { ["k0"] = 6.0, ["new/a"] = 1.0 }));
    }

    [Test]
    public void RunTextOverItsLimits_Throws()
    {
        var run = Run.Init(Options());

        Assert.Throws<ArgumentException>(() => run.Tags = [new string('t', RecordRules.MaxTagLength + 1)]);
        Assert.Throws<ArgumentException>(() => run.Notes = "a\0b");
        Assert.That(Assert.Throws<ArgumentException>(() => run.Config["big"] = new string('x', RecordRules.MaxDocumentBytes))!.Message, Does.Contain("1,048,576"));
        Assert.Throws<ArgumentException>(() => run.Summary["big"] = new string('x', RecordRules.MaxDocumentBytes));
        run.Finish();

        var options = Options();
        options.JobType = new string('j', RecordRules.MaxJobTypeLength + 1);
        Assert.That(Assert.Throws<ArgumentException>(() => Run.Init(options))!.Message, Does.Contain("job_type"));
    }

    [Test]
    public void Batch_SplitsABlockBeforeItHoldsMoreValuesThanALineMay()
    {
        var keys = new KeyRegistry();
        var ids = Enumerable.Range(0, 2048).Select(i => keys.Add($"k{i}", new MetricSummary()).Id).ToArray();
        var rows = (RecordRules.MaxValuesPerRecord / ids.Length) + 1;
        var chunk = new Chunk(rows * ids.Length);
        for (var row = 0; row < rows; row++)
        {
            for (var k = 0; k < ids.Length; k++)
            {
                chunk.Entries[chunk.Count++] = new Entry { Kind = EntryKind.Number, KeyId = ids[k], Step = row, Number = k, SameLine = k > 0 };
            }
        }

        var batch = new RecordBatch(keys) { FirstSeq = 1 };
        batch.Add(chunk);

        Assert.That(batch.Lines.Select(l => l.Rows), Is.EqualTo(new[] { rows - 1, 1 }));
        Assert.That(batch.Lines.Max(l => (long)l.Rows * l.KeysPerRow), Is.LessThanOrEqualTo(RecordRules.MaxValuesPerRecord));
    }
}
