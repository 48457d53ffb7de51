using Tracker.Backends;
using Tracker.Format;
using Tracker.Internal;
using Tracker.Pipeline;

namespace Tracker.Tests;

/// <summary>A bare run.json update rides in a batch without becoming a line or a record.</summary>
public sealed class RecordBatchTests : RunTestBase
{
    [Test]
    public async Task Add_RunJsonWithoutLine_IsNoLineNorRecord_AndRowsAroundItStayApart()
    {
        var keys = new KeyRegistry();
        var x = keys.Add("x", new MetricSummary());
        var chunk = new Chunk(8);
        chunk.Entries[chunk.Count++] = new Entry { Kind = EntryKind.Number, KeyId = x.Id, Step = 0, Number = 1 };
        chunk.Entries[chunk.Count++] = new Entry { Kind = EntryKind.Number, KeyId = x.Id, Step = 1, Number = 2 };
        chunk.Entries[chunk.Count++] = new Entry { Kind = EntryKind.Record, Step = 2, Payload = new RecordPayload("run", [], RunJson: "{\"id\":\"new\"}"u8.ToArray()) { WithoutLine = true } };
        chunk.Entries[chunk.Count++] = new Entry { Kind = EntryKind.Number, KeyId = x.Id, Step = 2, Number = 3 };
        var batch = new RecordBatch(keys) { FirstSeq = 1 };

        batch.Add(chunk);

        Assert.That(batch.EntryCount, Is.EqualTo(3));
        Assert.That(batch.Lines, Is.EqualTo(new[] { new LinePlan(0, 0, Rows: 2, KeysPerRow: 1), new LinePlan(0, 3, Rows: 1, KeysPerRow: 1) }));

        var directory = Path.Combine(Root, "run");
        var backend = LocalFileBackend.Open(directory, "{\"id\":\"old\"}"u8.ToArray());
        await backend.WriteAsync(batch, CancellationToken.None);
        await backend.DisposeAsync();
        Assert.That(File.ReadAllText(Path.Combine(directory, RunFiles.RunFile)), Is.EqualTo("{\"id\":\"new\"}"));
        var lines = File.ReadAllLines(Path.Combine(directory, RunFiles.RecordsFile));
        Assert.That(lines, Has.Length.EqualTo(2));
        Assert.That(lines[1], Does.Contain("\"step\":2").And.Contain("\"x\":3"));
    }
}
