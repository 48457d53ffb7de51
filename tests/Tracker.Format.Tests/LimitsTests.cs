using System.Text;

namespace Tracker.Format.Tests;

/// <summary>The record and run.json limits of RecordRules, as every reader applies them.</summary>
public sealed class LimitsTests
{
    [TestCase("{\"a\":1,\"a\":2}", "a")]
    [TestCase("{\"values\":{\"x\":{\"b\":1,\"b\":2}}}", "values.x.b")]
    [TestCase("{\"l\":[{\"a\":1},{\"a\":1,\"a\":3}]}", "l.a")]
    public void DuplicateKey_NamesThePath(string json, string path) =>
        Assert.That(RecordRules.DuplicateKey(Encoding.UTF8.GetBytes(json)), Is.EqualTo(path));

    [Test]
    public void DuplicateKey_SameNameInSiblingObjects_IsFine() =>
        Assert.That(RecordRules.DuplicateKey("{\"l\":[{\"a\":1},{\"a\":2}],\"o\":{\"a\":1}}"u8), Is.Null);

    [Test]
    public void HistoryLine_OverTheKeyLimit_IsRefused()
    {
        var line = "{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{" + string.Join(',', Enumerable.Range(0, RecordRules.MaxKeysPerRecord + 1).Select(i => $"\"k{i}\":1")) + "}}";

        var error = Assert.Throws<RecordFormatException>(() => RecordReader.Parse(Encoding.UTF8.GetBytes(line)));

        Assert.That(error!.Field, Is.EqualTo("values"));
    }

    [Test]
    public void OutputLine_Nul_BecomesReplacementCharacter()
    {
        var record = (OutputLine)RecordReader.Parse("{\"seq\":1,\"type\":\"output\",\"ts\":1,\"stream\":\"stderr\",\"line\":\"a\\u0000b\\u001b[0m\"}"u8);

        Assert.That(record.Text, Is.EqualTo("a\uFFFDb\u001b[0m"));
    }

    [TestCase("[1,1,2]", "[1,1]", "media.bins")]
    [TestCase("[1,2,3]", "[1,0.5]", "media.counts")]
    public void Histogram_EdgesMustAscend_CountsBeWhole(string bins, string counts, string field)
    {
        var line = $"{{\"seq\":1,\"type\":\"media\",\"ts\":1,\"key\":\"h\",\"step\":0,\"media\":{{\"_type\":\"histogram\",\"bins\":{bins},\"counts\":{counts}}}}}";

        Assert.That(Assert.Throws<RecordFormatException>(() => RecordReader.Parse(Encoding.UTF8.GetBytes(line)))!.Field, Is.EqualTo(field));
    }

    [TestCase("{\"state\":1}", "state")]
    [TestCase("{\"start_time\":\"soon\"}", "start_time")]
    [TestCase("{\"tags\":[\"a\",{}]}", "tags")]
    [TestCase("{\"resumed\":\"yes\"}", "resumed")] // the number of times the run was resumed
    [TestCase("{\"config\":[]}", "config")]
    [TestCase("[]", "body")]
    [TestCase("{\"notes\":\"ok\\nfine\",\"name\":\"a\\u0001\"}", "name")]
    public void RunJson_WrongMember_IsNamed(string json, string field) =>
        Assert.That(RunJsonRules.Problem(Encoding.UTF8.GetBytes(json))?.Field, Is.EqualTo(field));

    [Test]
    public void RunJson_AsTheSdkWritesIt_IsFine() =>
        Assert.That(RunJsonRules.Problem("{\"id\":\"r1\",\"project\":\"p\",\"name\":\"n\",\"tags\":[\"a\"],\"notes\":\"x\\ny\",\"config\":{\"lr\":0.1,\"opt/beta\":[1,2]},\"metrics\":[],\"start_time\":\"2026-11-27T00:10:00+00:00\",\"end_time\":null,\"state\":\"running\",\"exit_code\":null,\"resumed\":0,\"command_line\":\"a\\tb\"}"u8), Is.Null);
}
