using Tracker.Extensions.TensorBoard;
using Tracker.Extensions.TensorBoard.Protos.HParams;

namespace Tracker.Extensions.Tests.TensorBoard;

/// <summary>The event-file reader and writer, against the files PyTorch's SummaryWriter wrote (tests/Fixtures/tensorboard).</summary>
public sealed class EventFileTests
{
    private const int FixtureEvents = 416; // file_version + 2 x 200 scalars + 4 x (histogram, image, text) + 3 edge values
    private string _temp = string.Empty;

    private static string Fixtures => Path.Combine(TestContext.CurrentContext.TestDirectory, "Fixtures", "tensorboard");

    private static string MainFile(string run) => Directory.GetFiles(Path.Combine(Fixtures, run), "events.out.tfevents.*").Single();

    private static string HParamsFile(string run) => Directory.GetFiles(Path.Combine(Fixtures, run), "events.out.tfevents.*", SearchOption.AllDirectories).Single(f => Path.GetDirectoryName(f) != Path.Combine(Fixtures, run));

    [SetUp]
    public void CreateTemp()
    {
        _temp = Path.Combine(Path.GetTempPath(), "tracker-tb", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_temp);
    }

    [TearDown]
    public void DeleteTemp() => Directory.Delete(_temp, recursive: true);

    [TestCase("lr0.1", 0.1)]
    [TestCase("lr0.01", 0.01)]
    public void Read_PyTorchFixture_EveryValueGeneratePyLogged(string run, double lr)
    {
        using var reader = new EventFileReader(MainFile(run));
        var events = reader.ReadAll().ToList();

        Assert.That(events, Has.Count.EqualTo(FixtureEvents));
        Assert.That(reader.CorruptRecords, Is.Zero);
        Assert.That(reader.Offset, Is.EqualTo(new FileInfo(MainFile(run)).Length));
        Assert.That(events[0].FileVersion, Is.EqualTo("brain.Event:2"));
        var values = events.Skip(1).SelectMany(e => e.Summary.Value.Select(v => (e.Step, v))).ToList();
        for (var step = 0; step < 200; step++)
        {
            var loss = Math.Exp(-lr * step) + (0.01 * Math.Sin(step));
            Assert.That(values.Single(x => x.v.Tag == "train/loss" && x.Step == step).v.SimpleValue, Is.EqualTo((float)loss), $"loss at {step}");
            Assert.That(values.Single(x => x.v.Tag == "train/acc" && x.Step == step).v.SimpleValue, Is.EqualTo((float)(1 - (loss / 2))), $"acc at {step}");
        }

        Assert.That(values.Single(x => x.v.Tag == "edge/nan").v.SimpleValue, Is.NaN);
        Assert.That(values.Single(x => x.v.Tag == "edge/nan").Step, Is.Zero);
        Assert.That(values.Single(x => x.v.Tag == "edge/inf").v.SimpleValue, Is.EqualTo(float.PositiveInfinity));
        Assert.That(values.Single(x => x.v.Tag == "edge/inf").Step, Is.EqualTo(1));
        Assert.That(values.Single(x => x.v.Tag == "edge/big_step").Step, Is.EqualTo(1L << 40));
        long[] mediaSteps = [0, 50, 100, 150];
        foreach (var step in mediaSteps)
        {
            var histogram = values.Single(x => x.v.Tag == "weights/fc1" && x.Step == step).v.Histo;
            Assert.That(histogram.Num, Is.EqualTo(1000));
            Assert.That(histogram.Bucket.Sum(), Is.EqualTo(1000));
            Assert.That(histogram.BucketLimit, Has.Count.EqualTo(histogram.Bucket.Count));
            var image = values.Single(x => x.v.Tag == "samples" && x.Step == step).v.Image;
            Assert.That((image.Width, image.Height, image.Colorspace), Is.EqualTo((16, 16, 3)));
            Assert.That(image.EncodedImageString.Span[..8].ToArray(), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }));
            var text = values.Single(x => x.v.Tag == "notes/text_summary" && x.Step == step).v;
            Assert.That(text.Metadata.PluginData.PluginName, Is.EqualTo("text"));
            Assert.That(EventSummaries.TensorText(text.Tensor), Is.EqualTo(FormattableString.Invariant($"step {step}: lr={lr}")));
        }
    }

    [Test]
    public void Read_PyTorchHParamsFile_SessionStartInfoHoldsTheValues()
    {
        using var reader = new EventFileReader(HParamsFile("lr0.1"));
        var values = reader.ReadAll().Skip(1).SelectMany(e => e.Summary.Value).ToList();

        var start = HParamsPluginData.Parser.ParseFrom(values.Single(v => v.Tag == EventSummaries.SessionStartInfoTag).Metadata.PluginData.Content).SessionStartInfo;
        Assert.That(start.Hparams["lr"].NumberValue, Is.EqualTo(0.1));
        Assert.That(start.Hparams["opt"].StringValue, Is.EqualTo("adam"));
        Assert.That(values.Single(v => v.Tag == "hparam/final_loss").SimpleValue, Is.EqualTo((float)(Math.Exp(-0.1 * 199) + (0.01 * Math.Sin(199)))));
    }

    [Test]
    public void Write_FixtureEvents_SameBytesAsPyTorchAfterTheFirstRecord()
    {
        var fixture = File.ReadAllBytes(MainFile("lr0.1"));
        using var reader = new EventFileReader(MainFile("lr0.1"));
        var events = reader.ReadAll().ToList();
        string path;
        using (var writer = new EventFileWriter(_temp))
        {
            path = writer.Path;
            foreach (var e in events.Skip(1))
            {
                writer.Write(e);
            }
        }

        var written = File.ReadAllBytes(path);
        var fixtureFirst = FirstRecordLength(fixture);
        var writtenFirst = FirstRecordLength(written);
        Assert.That(written.AsSpan(writtenFirst).SequenceEqual(fixture.AsSpan(fixtureFirst)), Is.True, "records after file_version differ from PyTorch's bytes");
    }

    [Test]
    public void Write_Record_FramedAsTfRecordWithMaskedCrc32C()
    {
        var fixture = File.ReadAllBytes(MainFile("lr0.1"));
        var length = (int)BitConverter.ToUInt64(fixture, 0);
        var data = fixture.AsSpan(12, length);

        // TensorFlow's masked CRC-32C, computed here from its definition, equals the fixture's and ours.
        Assert.That(BitConverter.ToUInt32(fixture, 8), Is.EqualTo(ReferenceMask(fixture.AsSpan(0, 8))).And.EqualTo(EventFraming.MaskedCrc(fixture.AsSpan(0, 8))));
        Assert.That(BitConverter.ToUInt32(fixture, 12 + length), Is.EqualTo(ReferenceMask(data)).And.EqualTo(EventFraming.MaskedCrc(data)));
        Assert.That(EventFraming.Crc32C("123456789"u8), Is.EqualTo(0xE3069283u), "the CRC-32C check value");
    }

    [Test]
    public void Writer_NamesFileAndWritesFileVersionFirst()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(1_795_989_388_920));
        using var writer = new EventFileWriter(_temp, time);
        writer.Flush();

        Assert.That(Path.GetFileName(writer.Path), Does.Match($@"^events\.out\.tfevents\.1795989388\.{System.Text.RegularExpressions.Regex.Escape(Environment.MachineName)}\.{Environment.ProcessId}\.\d+$"));
        using var reader = new EventFileReader(writer.Path);
        var first = reader.ReadAll().Single();
        Assert.That((first.FileVersion, first.WallTime), Is.EqualTo(("brain.Event:2", 1_795_989_388.92)));
    }

    [Test]
    public void Writer_Reader_RoundTripOfEverySummaryKind()
    {
        var png = File.ReadAllBytes(MainFile("lr0.1")); // any bytes: the image is carried, not decoded
        string path;
        using (var writer = new EventFileWriter(_temp))
        {
            path = writer.Path;
            writer.Write(EventSummaries.Scalar("loss", float.NaN, 0, 1.5));
            writer.Write(EventSummaries.Scalar("loss", float.PositiveInfinity, 1L << 40, 2.5));
            writer.Write(EventSummaries.Histogram("w", [-1, 0, 1], [3, 4], 7, 3.5));
            writer.Write(EventSummaries.Image("img", png.AsSpan(0, 100), 4, 5, 3, 8, 4.5));
            writer.Write(EventSummaries.Text("notes", "hello\nwörld", 9, 5.5));
            writer.Write(EventSummaries.HParams(new Dictionary<string, object?> { ["lr"] = 0.1, ["opt"] = "adam", ["nesterov"] = true }, 6.5));
        }

        using var reader = new EventFileReader(path);
        var events = reader.ReadAll().Skip(1).ToList();
        Assert.That(events, Has.Count.EqualTo(6));
        Assert.That(events[0].Summary.Value[0].SimpleValue, Is.NaN);
        Assert.That((events[1].Step, events[1].WallTime, events[1].Summary.Value[0].SimpleValue), Is.EqualTo((1L << 40, 2.5, float.PositiveInfinity)));
        var histogram = events[2].Summary.Value[0].Histo;
        Assert.That((histogram.Min, histogram.Max, histogram.Num), Is.EqualTo((-1.0, 1.0, 7.0)));
        Assert.That(histogram.BucketLimit, Is.EqualTo(new[] { 0.0, 1.0 }));
        Assert.That(histogram.Bucket, Is.EqualTo(new[] { 3.0, 4.0 }));
        var image = events[3].Summary.Value[0].Image;
        Assert.That((image.Width, image.Height, image.Colorspace, events[3].Step), Is.EqualTo((4, 5, 3, 8L)));
        Assert.That(image.EncodedImageString.ToByteArray(), Is.EqualTo(png.AsSpan(0, 100).ToArray()));
        Assert.That(EventSummaries.TensorText(events[4].Summary.Value[0].Tensor), Is.EqualTo("hello\nwörld"));
        Assert.That(events[4].Summary.Value[0].Metadata.PluginData.PluginName, Is.EqualTo("text"));
        var start = HParamsPluginData.Parser.ParseFrom(events[5].Summary.Value[0].Metadata.PluginData.Content).SessionStartInfo;
        Assert.That((start.Hparams["lr"].NumberValue, start.Hparams["opt"].StringValue, start.Hparams["nesterov"].BoolValue), Is.EqualTo((0.1, "adam", true)));
    }

    [Test]
    public void Read_FlippedDataByte_RecordSkippedAndCounted()
    {
        var bytes = File.ReadAllBytes(MainFile("lr0.1"));
        var second = FirstRecordLength(bytes);
        bytes[second + 12 + 3] ^= 0x40; // inside the second record's Event bytes
        var path = Path.Combine(_temp, "events.out.tfevents.1.flipped");
        File.WriteAllBytes(path, bytes);

        using var reader = new EventFileReader(path);
        var events = reader.ReadAll().ToList();

        Assert.That(reader.CorruptRecords, Is.EqualTo(1));
        Assert.That(events, Has.Count.EqualTo(FixtureEvents - 1));
        Assert.That(events.Any(e => e.Step == 0 && e.Summary?.Value[0].Tag == "train/loss"), Is.False, "the damaged record");
        Assert.That(reader.Offset, Is.EqualTo(bytes.Length));
    }

    [Test]
    public void Read_FlippedLengthByte_CountedAndTheNextRecordsFound()
    {
        var bytes = File.ReadAllBytes(MainFile("lr0.1"));
        bytes[FirstRecordLength(bytes) + 2] ^= 0x01; // the second record's length: its end is unknown
        var path = Path.Combine(_temp, "events.out.tfevents.1.header");
        File.WriteAllBytes(path, bytes);

        using var reader = new EventFileReader(path);
        var events = reader.ReadAll().ToList();

        Assert.That(reader.CorruptRecords, Is.EqualTo(1));
        Assert.That(events, Has.Count.EqualTo(FixtureEvents - 1));
    }

    [Test]
    public void Read_FileThatGrew_FromTheOffsetReadsOnlyTheNewRecords()
    {
        var bytes = File.ReadAllBytes(MainFile("lr0.1"));
        var path = Path.Combine(_temp, "events.out.tfevents.1.growing");
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length / 2).ToArray()); // ends mid-record: a writer still at work

        long offset;
        int before;
        using (var reader = new EventFileReader(path))
        {
            before = reader.ReadAll().Count();
            offset = reader.Offset;
            Assert.That(reader.CorruptRecords, Is.Zero, "an incomplete last record is not corrupt");
        }

        using (var file = new FileStream(path, FileMode.Append))
        {
            file.Write(bytes.AsSpan(bytes.Length / 2));
        }

        using var rest = new EventFileReader(path, offset);
        var after = rest.ReadAll().ToList();
        Assert.That(offset, Is.LessThanOrEqualTo(bytes.Length / 2));
        Assert.That(before + after.Count, Is.EqualTo(FixtureEvents));
        Assert.That(after[^1].Step, Is.EqualTo(1L << 40));
    }

    private static int FirstRecordLength(byte[] file) => 12 + (int)BitConverter.ToUInt64(file, 0) + 4;

    /// <summary>CRC-32C bit by bit (polynomial 0x82F63B78, reflected) and TensorFlow's mask, independent of the code under test.</summary>
    private static uint ReferenceMask(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        foreach (var b in data)
        {
            crc ^= b;
            for (var i = 0; i < 8; i++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
            }
        }

        crc = ~crc;
        return unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);
    }
}
