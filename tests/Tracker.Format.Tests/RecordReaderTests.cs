using System.Text;

namespace Tracker.Format.Tests;

public sealed class RecordReaderTests
{
    [Test]
    public void Parse_EveryValidCorpusLine_StrictAndLenientAgree()
    {
        foreach (var line in Corpus.ValidLines())
        {
            var strict = RecordReader.Parse(Encoding.UTF8.GetBytes(line));
            Assert.That(RecordReader.TryParse(Encoding.UTF8.GetBytes(line), out var lenient, out var problem), Is.True, line);
            Assert.That(problem, Is.Null);
            Assert.That(lenient!.GetType(), Is.EqualTo(strict.GetType()));
            Assert.That(lenient.Seq, Is.EqualTo(strict.Seq));
        }
    }

    [TestCaseSource(typeof(Corpus), nameof(Corpus.Invalid))]
    public void Parse_InvalidCorpusLine_IsRefusedWithTheFieldAndSkippedLeniently(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line);
        var error = Assert.Throws<RecordFormatException>(() => RecordReader.Parse(bytes, lineNumber: 7))!;
        Assert.That(error.Field, Is.Not.Empty);
        Assert.That(error.Message, Does.StartWith("line 7: "));
        Assert.That(RecordReader.TryParse(bytes, out var record, out var problem), Is.False);
        Assert.That(record, Is.Null);
        Assert.That(problem!.Detail, Is.EqualTo(error.Detail));
    }

    [TestCase("history-nul-in-key", "values")]
    [TestCase("history-duplicate-key", "values.x")]
    [TestCase("config-duplicate-key", "values.lr")]
    [TestCase("media-bad-sha", "media.sha256")]
    [TestCase("finish-exit-code-string", "exit_code")]
    [TestCase("run-tag-object", "tags")]
    [TestCase("seq-zero", "seq")]
    [TestCase("history-block-short-column", "values.x")]
    public void Parse_InvalidLine_NamesTheField(string name, string field)
    {
        var line = File.ReadAllBytes(Path.Combine(Corpus.Folder("invalid"), name + ".jsonl")).AsSpan().TrimEnd((byte)'\n').ToArray();
        Assert.That(() => RecordReader.Parse(line), Throws.TypeOf<RecordFormatException>().With.Property(nameof(RecordFormatException.Field)).EqualTo(field));
    }

    [TestCase("""{"seq":1,"type":"history","step":9007199254740992,"ts":1,"values":{"x":1}}""", "step")]
    [TestCase("""{"seq":1,"type":"history","step":9223372036854775807,"ts":1,"values":{"x":1}}""", "step")]
    [TestCase("""{"seq":1,"type":"history","step":-1,"ts":1,"values":{"x":1}}""", "step")]
    [TestCase("""{"seq":1,"type":"history","steps":[9007199254740991,1],"ts":[1,0],"values":{"x":[1,2]}}""", "steps")]
    [TestCase("""{"seq":1,"type":"history","steps":[1,9223372036854775807],"ts":[1,0],"values":{"x":[1,2]}}""", "steps")]
    [TestCase("""{"seq":1,"type":"history","steps":[9223372036854775807,9223372036854775807,2],"ts":[1,0,0],"values":{"x":[1,2,3]}}""", "steps")]
    [TestCase("""{"seq":1,"type":"system","step":9007199254740992,"ts":1,"values":{"system/cpu":1}}""", "step")]
    [TestCase("""{"seq":1,"type":"media","ts":1,"step":9007199254740992,"key":"h","media":{"_type":"histogram","bins":[0,1],"counts":[1],"nan":0,"inf":0}}""", "step")]
    public void Parse_StepBeyondMaxStep_IsRefusedNamingTheField(string line, string field)
    {
        Assert.That(() => RecordReader.Parse(System.Text.Encoding.UTF8.GetBytes(line)),
            Throws.TypeOf<RecordFormatException>().With.Property(nameof(RecordFormatException.Field)).EqualTo(field).And.Message.Contains(RecordRules.MaxStep.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Test]
    public void Parse_MaxStep_RoundTripsInARowAndABlock()
    {
        var row = (HistoryLine)RecordReader.Parse("""{"seq":1,"type":"history","step":9007199254740991,"ts":1,"values":{"x":1}}"""u8);
        var block = (HistoryLine)RecordReader.Parse("""{"seq":2,"type":"history","steps":[9007199254740990,1],"ts":[1,0],"values":{"x":[1,2]}}"""u8);

        Assert.That(row.Block.Steps, Is.EqualTo(new[] { RecordRules.MaxStep }));
        Assert.That(block.Block.Steps, Is.EqualTo(new[] { RecordRules.MaxStep - 1, RecordRules.MaxStep }));
    }

    [Test]
    public void Parse_HistoryValues_KeepTheirType()
    {
        var line = (HistoryLine)RecordReader.Parse("""{"seq":1,"type":"history","step":4,"ts":10,"values":{"d":3.0,"i":3,"big":9007199254740993,"u":18446744073709551615,"nan":"NaN","text":{"_str":"NaN"},"s":"cat","b":false}}"""u8);
        var values = line.Block.Columns.ToDictionary(c => c.Key, c => c.Value(0));
        Assert.That(values["d"], Is.EqualTo(3.0).And.TypeOf<double>());
        Assert.That(values["i"], Is.EqualTo(3L).And.TypeOf<long>());
        Assert.That(values["big"], Is.EqualTo(9007199254740993L));
        Assert.That(values["u"], Is.EqualTo(ulong.MaxValue));
        Assert.That((double)values["nan"], Is.NaN);
        Assert.That(values["text"], Is.EqualTo("NaN"));
        Assert.That(values["s"], Is.EqualTo("cat"));
        Assert.That(values["b"], Is.EqualTo(false));
        Assert.That(line.Block.Steps, Is.EqualTo(new long[] { 4 }));
    }

    [Test]
    public void Parse_Block_ExpandsDeltasAndMarksAbsentValues()
    {
        var line = (HistoryLine)RecordReader.Parse("""{"seq":2,"type":"history","steps":[5,1,2],"ts":[100,0,3],"values":{"x":[1.5,null,2.5]}}"""u8);
        Assert.That(line.Block.Steps, Is.EqualTo(new long[] { 5, 6, 8 }));
        Assert.That(line.Block.Times, Is.EqualTo(new long[] { 100, 100, 103 }));
        Assert.That(line.Block.Columns[0].Value(1), Is.SameAs(HistoryColumn.Absent));
        Assert.That(line.UnixMs, Is.EqualTo(100));
    }

    [Test]
    public void Parse_LineOverTheLimit_IsRefusedNamingTheLimit()
    {
        var line = Encoding.UTF8.GetBytes("{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{\"t\":\"" + new string('a', RecordRules.MaxLineBytes) + "\"}}");
        Assert.That(() => RecordReader.Parse(line), Throws.TypeOf<RecordFormatException>().With.Message.Contains("at most 16,777,216"));
    }

    [Test]
    public void ParseLines_SeqNotIncreasing_RefusesTheWholeBatch()
    {
        var body = Encoding.UTF8.GetBytes("""
            {"seq":1,"type":"history","step":0,"ts":1,"values":{"x":1.0}}
            {"seq":1,"type":"history","step":1,"ts":1,"values":{"x":2.0}}
            """);
        Assert.That(() => RecordReader.ParseLines(body), Throws.TypeOf<RecordFormatException>().With.Property(nameof(RecordFormatException.Line)).EqualTo(2));
    }

    [Test]
    public void ReadSeq_FastAndGeneralForms_Agree()
    {
        Assert.That(RecordReader.ReadSeq("""{"seq":42,"type":"x","ts":1}"""u8), Is.EqualTo(42));
        Assert.That(RecordReader.ReadSeq("""{"type":"x","seq":43,"ts":1}"""u8), Is.EqualTo(43));
        Assert.That(RecordReader.ReadSeq("not json"u8), Is.EqualTo(-1));
    }

    /// <summary>
    /// Random mutations of valid lines (bytes flipped, cut, duplicated, deleted): the strict reader
    /// either reads a record or throws <see cref="RecordFormatException"/>, never anything else; a
    /// batch with a bad line is refused whole; and whatever reads folds without throwing.
    /// </summary>
    [Test]
    public void Parse_FuzzedLines_NeverThrowAnythingElse()
    {
        var random = new Random(20261129);
        var valid = Corpus.ValidLines().Select(Encoding.UTF8.GetBytes).ToList();
        byte[] alphabet = "{}[]\":,.-0123456789eE \\nul\u0000tfaNI"u8.ToArray();
        var read = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var line = valid[random.Next(valid.Count)].ToList();
            for (var m = random.Next(1, 4); m > 0 && line.Count > 0; m--)
            {
                var at = random.Next(line.Count);
                switch (random.Next(4))
                {
                    case 0: line[at] = alphabet[random.Next(alphabet.Length)]; break;
                    case 1: line.RemoveAt(at); break;
                    case 2: line.Insert(at, alphabet[random.Next(alphabet.Length)]); break;
                    default: line.RemoveRange(at, line.Count - at); break;
                }
            }

            var bytes = line.ToArray();
            try
            {
                var record = RecordReader.Parse(bytes);
                new RunFold().Apply(record);
                read++;
            }
            catch (RecordFormatException) when (bytes.All(b => b != '\n') && !bytes.AsSpan().Trim(" \r\t"u8).IsEmpty)
            {
                var batch = valid[0].Concat("\n"u8.ToArray()).Concat(bytes).ToArray();
                Assert.That(() => RecordReader.ParseLines(batch), Throws.TypeOf<RecordFormatException>(), "a batch with a bad line is refused whole");
            }
            catch (RecordFormatException)
            {
                // a mutation that made blank or several lines
            }
        }

        Assert.That(read, Is.GreaterThan(100), "some mutations stay valid records");
    }
}
