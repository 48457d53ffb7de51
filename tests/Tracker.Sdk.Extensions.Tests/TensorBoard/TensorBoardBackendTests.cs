using System.Buffers.Binary;
using System.Text.Json;
using Tracker.Extensions.TensorBoard;
using Tracker.Extensions.TensorBoard.Protos;
using Tracker.Reading;

namespace Tracker.Extensions.Tests.TensorBoard;

/// <summary>Runs logged through the SDK with <see cref="TensorBoardBackend"/> registered, read back with <see cref="EventFileReader"/>.</summary>
public sealed class TensorBoardBackendTests
{
    private const long BigStep = 1L << 40;
    private string _root = string.Empty;

    [SetUp]
    public void CreateRoot() => _root = Path.Combine(Path.GetTempPath(), "tracker-tb-out", Guid.NewGuid().ToString("N"));

    [TearDown]
    public void DeleteRoot()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Test]
    public void Run_WithBackend_EventFilesHoldEveryValueAsTheRunLoggedIt()
    {
        var run = Run.Init(Options(new TensorBoardBackend()));
        for (var step = 0; step < 20; step++)
        {
            run.Log(new Dictionary<string, object?> { ["train/loss"] = 1.0 / (step + 1), ["train/acc"] = step * 0.05, ["better"] = step % 2 == 0, ["phase"] = "warmup" }, step);
        }

        run.Log("edge/nan", double.NaN, 20);
        run.Log("edge/inf", double.PositiveInfinity, 21);
        run.Log("weights", Histogram.FromValues(Enumerable.Range(0, 1000).Select(i => Math.Sin(i)).ToArray(), bins: 16), 22);
        run.Log("samples", Image.FromPixels(Enumerable.Range(0, 4 * 3 * 3).Select(i => (byte)(i * 7)).ToArray(), 4, 3, 3), 22);
        run.Log("notes", new Text("**step 22**: fine"), 22);
        run.Config["batch"] = 32;
        run.Log("edge/big_step", 0.25, BigStep);
        run.Finish();

        var read = EventFolder.Of(run);
        var (events, files) = (read.Events, read.Files);
        var reader = RunReader.Open(run.Directory!);
        var history = reader.ReadHistory().ToList();

        Assert.That(files, Has.Length.EqualTo(1));
        AssertFramed(files[0]);
        Assert.That(Path.GetFileName(files[0]), Does.Match(@"^events\.out\.tfevents\.\d+\..+\.\d+\.\d+$"));
        Assert.That(events[0].FileVersion, Is.EqualTo("brain.Event:2"));
        var scalars = read.Scalars;
        Assert.That(scalars.Count(s => s.Tag == "train/loss"), Is.EqualTo(20), "each point once");
        Assert.That(scalars.Any(s => s.Tag == "phase"), Is.False, "strings are not scalars");
        foreach (var row in history)
        {
            foreach (var (key, value) in row.Values.Where(v => v.Value is not string))
            {
                var expected = value is bool b ? (b ? 1f : 0f) : (float)Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture);
                var scalar = scalars.Single(s => s.Tag == key && s.Step == row.Step);
                Assert.That(scalar.Value, Is.EqualTo(expected), $"{key} at {row.Step}");
                Assert.That(scalar.WallTime, Is.EqualTo(row.Timestamp.ToUnixTimeMilliseconds() / 1000.0), $"{key} at {row.Step}: the record's time");
            }
        }

        Assert.That(scalars.Single(s => s.Tag == "edge/nan").Value, Is.NaN);
        Assert.That(scalars.Single(s => s.Tag == "edge/inf").Value, Is.EqualTo(float.PositiveInfinity));
        Assert.That(scalars.Single(s => s.Tag == "edge/big_step").Step, Is.EqualTo(BigStep));

        var media = reader.ReadMedia();
        var values = events.Where(e => e.Summary is not null).SelectMany(e => e.Summary.Value.Select(v => (e.Step, e.WallTime, Value: v))).ToList();
        var histogram = values.Single(v => v.Value.Tag == "weights");
        var logged = media.Single(m => m.Key == "weights");
        Assert.That(histogram.Step, Is.EqualTo(22));
        Assert.That(histogram.WallTime, Is.EqualTo(logged.Timestamp.ToUnixTimeMilliseconds() / 1000.0));
        Assert.That(histogram.Value.Histo.Bucket, Is.EqualTo(logged.Item.Counts));
        Assert.That(histogram.Value.Histo.BucketLimit, Is.EqualTo(logged.Item.Bins!.Skip(1)));
        Assert.That((histogram.Value.Histo.Min, histogram.Value.Histo.Max, histogram.Value.Histo.Num), Is.EqualTo((logged.Item.Bins![0], logged.Item.Bins[^1], 1000d)));

        var image = values.Single(v => v.Value.Tag == "samples");
        Assert.That(image.Step, Is.EqualTo(22));
        Assert.That((image.Value.Image.Width, image.Value.Image.Height, image.Value.Image.Colorspace), Is.EqualTo((4, 3, 3)));
        Assert.That(image.Value.Image.EncodedImageString.ToByteArray(), Is.EqualTo(File.ReadAllBytes(media.Single(m => m.Key == "samples").FilePath!)));

        var text = values.Single(v => v.Value.Tag == "notes");
        Assert.That(text.Value.Metadata.PluginData.PluginName, Is.EqualTo("text"));
        Assert.That(EventSummaries.TensorText(text.Value.Tensor), Is.EqualTo("**step 22**: fine"));

        var hparams = read.SessionStarts;
        Assert.That(hparams, Has.Count.EqualTo(2), "the config at the start, then with the change");
        Assert.That(hparams[0].Hparams.Keys, Is.EquivalentTo(new[] { "lr", "opt" }));
        Assert.That((hparams[0].Hparams["lr"].NumberValue, hparams[0].Hparams["opt"].StringValue), Is.EqualTo((0.01, "adam")));
        Assert.That(hparams[1].Hparams["batch"].NumberValue, Is.EqualTo(32));
        Assert.That(hparams[1].StartTimeSecs, Is.EqualTo(reader.Info.StartTime.ToUnixTimeMilliseconds() / 1000.0));
    }

    [Test]
    public void Run_WithLogDir_WritesIntoTheRunsFolderUnderIt()
    {
        var logDir = Path.Combine(_root, "logs");
        var options = Options(new TensorBoardBackend(logDir));
        options.Name = "lr/0.01";
        var run = Run.Init(options);
        run.Log("loss", 0.5, 0);
        run.Finish();

        Assert.That(Directory.GetDirectories(logDir).Select(Path.GetFileName), Is.EqualTo(new[] { $"lr_0.01-{run.Id}" }));
        Assert.That(EventFolder.Read(Path.Combine(logDir, $"lr_0.01-{run.Id}")).Scalars.Single().Value, Is.EqualTo(0.5f));
        Assert.That(Directory.Exists(EventFolder.PathOf(run)), Is.False);
    }

    [Test]
    public void Constructor_BlankLogDir_Throws() =>
        Assert.That(() => new TensorBoardBackend(" "), Throws.ArgumentException);

    [Test]
    public void Resume_AppendsASecondFile_FirstUnchangedAndNoPointTwice()
    {
        var (run, folder, first, firstBytes) = FinishedRunOfFiveSteps();

        var resumed = Run.Init(Options(new TensorBoardBackend(), run.Id));
        LogLoss(resumed, 5, 10);
        resumed.Finish();

        var read = EventFolder.Read(folder);
        Assert.That(read.Files, Has.Length.EqualTo(2));
        Assert.That(File.ReadAllBytes(first), Is.EqualTo(firstBytes), "never rewritten");
        Assert.That(read.Steps("loss"), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (long)i)));
        Assert.That(read.Files.Select(f => EventFolder.ReadFile(f)[0].FileVersion), Is.All.EqualTo("brain.Event:2"));
    }

    [Test]
    public void Resume_BatchDeliveredAgain_WrittenOnce()
    {
        var (run, folder, first, firstBytes) = FinishedRunOfFiveSteps();
        // A crash after the event file took the records but before the worker saved its cursor.
        File.WriteAllText(Path.Combine(run.Directory!, "backends", "tensorboard.json"), """{"delivered_seq":0}""");

        var resumed = Run.Init(Options(new TensorBoardBackend(), run.Id));
        LogLoss(resumed, 5, 6);
        resumed.Finish();

        Assert.That(File.ReadAllBytes(first), Is.EqualTo(firstBytes));
        Assert.That(EventFolder.Read(folder).Steps("loss"), Is.EqualTo(Enumerable.Range(0, 6).Select(i => (long)i)));
    }

    [Test]
    public void Resume_AfterACrashMidBatch_UnconfirmedRecordsCutOff()
    {
        var (run, folder, first, confirmed) = FinishedRunOfFiveSteps();
        // A batch the file took before the process died, without the state (and the cursor) moving past it.
        using (var stream = new FileStream(first, FileMode.Append))
        {
            stream.Write(Framed(EventSummaries.Scalar("loss", 9f, 99, 1)));
            stream.Write([1, 2, 3]); // and the start of the next record
        }

        var resumed = Run.Init(Options(new TensorBoardBackend(), run.Id));
        resumed.Finish();

        Assert.That(File.ReadAllBytes(first), Is.EqualTo(confirmed));
        Assert.That(EventFolder.Read(folder).Scalars.Select(s => s.Step), Is.EqualTo(Enumerable.Range(0, 5).Select(i => (long)i)));
    }

    [Test]
    public async Task Write_FailsAfterTheEventsWereFlushed_RetriedBatchWrittenOnce()
    {
        string? blocker = null;
        var failures = 0;
        var options = Options(new TensorBoardBackend());
        options.Diagnostics = d =>
        {
            if (d.Message.Contains("Backend 'tensorboard' failed", StringComparison.Ordinal) && Interlocked.Exchange(ref blocker, null) is { } path)
            {
                Interlocked.Increment(ref failures);
                Directory.Delete(path); // the next attempt succeeds
            }
        };
        var run = Run.Init(options);
        var folder = EventFolder.PathOf(run);
        LogLoss(run, 0, 5);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!File.Exists(Path.Combine(folder, "tensorboard.json")) && waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(10);
        }

        // The state cannot be saved: the batch's events are in the file, but the batch failed and comes again.
        Directory.CreateDirectory(Path.Combine(folder, "tensorboard.json.tmp"));
        Volatile.Write(ref blocker, Path.Combine(folder, "tensorboard.json.tmp"));
        LogLoss(run, 5, 10);
        run.Finish();

        Assert.That(failures, Is.EqualTo(1));
        var read = EventFolder.Read(folder);
        Assert.That(read.Steps("loss"), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (long)i)));
        Assert.That(read.Files, Has.Length.EqualTo(2), "the retried batch went into a new file");
    }

    [Test]
    public void NewEventFile_SortsAfterTheFilesAlreadyThere_AsTensorBoardReadsThemInNameOrder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "tracker-tb-order", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            // A file from a clock ahead of this one, and one whose counter sorts after any one-digit counter of this second.
            var ahead = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
            File.WriteAllBytes(Path.Combine(folder, $"events.out.tfevents.{ahead}.other-host.1.9"), []);
            var names = new List<string>();
            for (var i = 0; i < 12; i++)
            {
                using var writer = new EventFileWriter(folder);
                names.Add(Path.GetFileName(writer.Path));
            }

            Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).Skip(1), Is.EqualTo(names), "each new file last in name order");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void Run_ConfigWithAList_HParamHoldsItsJson()
    {
        var options = Options(new TensorBoardBackend());
        options.Config = new { layers = new[] { 64, 32 }, dropout = 0.5 };
        var run = Run.Init(options);
        run.Log("loss", 1.0, 0);
        run.Finish();

        var start = EventFolder.Of(run).SessionStarts.Single();
        Assert.That(start.Hparams["layers"].StringValue, Is.EqualTo("[64,32]"));
        Assert.That(start.Hparams["dropout"].NumberValue, Is.EqualTo(0.5));
    }

    [Test]
    public void State_AfterARun_NamesTheLastSeqTheFileAndItsLength()
    {
        var run = Run.Init(Options(new TensorBoardBackend()));
        LogLoss(run, 0, 3);
        run.Finish();
        var folder = EventFolder.PathOf(run);

        using var state = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "tensorboard.json")));
        var file = Directory.GetFiles(folder, "events.out.tfevents.*").Single();
        Assert.That(state.RootElement.GetProperty("file").GetString(), Is.EqualTo(Path.GetFileName(file)));
        Assert.That(state.RootElement.GetProperty("bytes").GetInt64(), Is.EqualTo(new FileInfo(file).Length));
        Assert.That(state.RootElement.GetProperty("seq").GetInt64(), Is.EqualTo(File.ReadAllLines(Path.Combine(run.Directory!, "records.jsonl")).Length));
    }

    private RunOptions Options(TensorBoardBackend backend, string? resumeId = null)
    {
        var options = new RunOptions
        {
            Project = "tb-out",
            Dir = _root,
            Config = new { lr = 0.01, opt = "adam" },
            FinishOnProcessExit = false,
            PrintSummary = false,
            SystemMetricsInterval = null,
            CaptureConsole = false,
        };
        if (resumeId is not null)
        {
            options.Id = resumeId;
            options.Resume = ResumeMode.Must;
        }

        options.Backends.Add(backend);
        return options;
    }

    /// <summary>A finished run that logged loss at steps 0 to 4: its event folder, its one event file and that file's bytes.</summary>
    private (Run Run, string Folder, string File, byte[] Bytes) FinishedRunOfFiveSteps()
    {
        var run = Run.Init(Options(new TensorBoardBackend()));
        LogLoss(run, 0, 5);
        run.Finish();
        var folder = EventFolder.PathOf(run);
        var file = Directory.GetFiles(folder, "events.out.tfevents.*").Single();
        return (run, folder, file, File.ReadAllBytes(file));
    }

    private static void LogLoss(Run run, int from, int to)
    {
        for (var step = from; step < to; step++)
        {
            run.Log("loss", 1.0 / (step + 1), step);
        }
    }

    /// <summary>Walks the file record by record: uint64 length, its masked CRC-32C, the data, the data's masked CRC-32C, to the last byte.</summary>
    private static void AssertFramed(string file)
    {
        var bytes = File.ReadAllBytes(file).AsSpan();
        var records = 0;
        while (!bytes.IsEmpty)
        {
            var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]), Is.EqualTo(EventFraming.MaskedCrc(bytes[..8])), $"length checksum of record {records}");
            Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(bytes[(12 + length)..]), Is.EqualTo(EventFraming.MaskedCrc(bytes.Slice(12, length))), $"data checksum of record {records}");
            var data = bytes.Slice(12, length).ToArray();
            Assert.That(() => Event.Parser.ParseFrom(data), Throws.Nothing);
            bytes = bytes[(16 + length)..];
            records++;
        }

        Assert.That(records, Is.GreaterThan(1));
    }

    private static byte[] Framed(Event value)
    {
        var data = Google.Protobuf.MessageExtensions.ToByteArray(value);
        var record = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(record, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), EventFraming.MaskedCrc(record.AsSpan(0, 8)));
        data.CopyTo(record, 12);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(12 + data.Length), EventFraming.MaskedCrc(data));
        return record;
    }
}
