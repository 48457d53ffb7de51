using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Tracker.Tests;

/// <summary>Images, histograms, tables and texts in a local run: encoding, files, records, bad input, back-pressure.</summary>
public sealed class MediaTests : RunTestBase
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    [Test]
    public void Smoke_ImageHistogramTableText_AreWrittenAsMediaRecordsAndFiles()
    {
        var run = Run.Init(Options());
        var pixels = new byte[4 * 3 * 3];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)(i * 7);
        }

        run.Log(new Dictionary<string, object?>
        {
            ["loss"] = 0.5,
            ["samples"] = Image.FromPixels(pixels, 4, 3, 3, caption: "first"),
            ["weights"] = Histogram.FromValues([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], bins: 5),
            ["preds"] = new Table(["id", "label"], [[1, "cat"], [2, double.NaN]]),
            ["note"] = new Text("hello"),
        });
        run.Log("loss", 0.25);
        run.Finish();

        var media = Read(run).ReadMedia().ToList();
        Assert.That(media.Select(m => (m.Key, m.Kind, m.Step)), Is.EquivalentTo(new[] { ("samples", "image", 0L), ("weights", "histogram", 0L), ("preds", "table", 0L), ("note", "text", 0L) }));
        var samples = media.Single(m => m.Key == "samples");
        Assert.That(File.Exists(samples.FilePath), samples.Json);
        TestContext.Out.WriteLine(File.ReadAllText(Path.Combine(run.Directory!, "records.jsonl")));
        Assert.That(History(run).Select(r => r.Values["loss"]), Is.EqualTo(new object[] { 0.5, 0.25 }));
    }

    // ---------------------------------------------------------------- PNG encoding

    [Test]
    public void TestPngDecoder_HandCraftedPngsWithEveryFilterType_RoundTrip()
    {
        // The decoder below checks the SDK's encoder; this checks the decoder against a writer that uses all five filters.
        Assert.That(TestPng.Crc32("IEND"u8), Is.EqualTo(0xAE426082u), "the CRC-32 of the IEND chunk every PNG ends with");
        for (var channels = 1; channels <= 4; channels++)
        {
            var pixels = RandomBytes(9 * 10 * channels, seed: channels);
            var decoded = TestPng.Decode(TestPng.Encode(pixels, 9, 10, channels, text: "hand-made"));
            Assert.That((decoded.Width, decoded.Height, decoded.Channels), Is.EqualTo((9, 10, channels)));
            AssertSameBytes(decoded.Pixels, pixels);
        }

        var corrupt = TestPng.Encode(RandomBytes(27, seed: 9), 3, 3, 3);
        corrupt[^20] ^= 0x01; // a byte of the IDAT data
        Assert.That(() => TestPng.Decode(corrupt), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("CRC"));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    public void FromPixels_Bytes_EncodeToAValidPngOfExactlyThosePixels(int channels)
    {
        (int Width, int Height)[] sizes = [(7, 5), (1, 1), (1, 9), (13, 1), (256, 256)];
        var given = sizes.ToDictionary(size => $"s{size.Width}x{size.Height}", size => (size.Width, size.Height, Pixels: RandomBytes(size.Width * size.Height * channels, seed: (channels * 1000) + size.Width)));
        var run = Run.Init(Options());
        foreach (var (key, (width, height, pixels)) in given)
        {
            var image = Image.FromPixels(pixels, width, height, channels, caption: key);
            Assert.That((image.Width, image.Height, image.Format, image.Caption), Is.EqualTo((width, height, "png", key)));
            run.Log(key, image);
        }

        run.Finish();

        foreach (var (key, (width, height, pixels)) in given)
        {
            var record = Read(run).ReadMedia(key).Single();
            var png = File.ReadAllBytes(record.FilePath!);
            var decoded = TestPng.Decode(png);
            Assert.That(decoded.Chunks, Is.EqualTo(new[] { "IHDR", "IDAT", "IEND" }), key);
            Assert.That((decoded.Width, decoded.Height, decoded.BitDepth), Is.EqualTo((width, height, 8)), key);
            Assert.That(decoded.ColourType, Is.EqualTo(channels switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 }), "gray, gray+alpha, RGB, RGBA");
            AssertSameBytes(decoded.Pixels, pixels);

            var json = Parse(record.Json);
            var sha256 = FakeTrackerServer.Sha256Hex(png);
            Assert.That(Path.GetFileName(record.FilePath), Is.EqualTo(sha256 + ".png"));
            Assert.That(json.GetProperty("_type").GetString(), Is.EqualTo("image"));
            Assert.That(json.GetProperty("sha256").GetString(), Is.EqualTo(sha256));
            Assert.That(json.GetProperty("path").GetString(), Is.EqualTo($"media/{sha256}.png"));
            Assert.That(json.GetProperty("format").GetString(), Is.EqualTo("png"));
            Assert.That(json.GetProperty("width").GetInt32(), Is.EqualTo(width));
            Assert.That(json.GetProperty("height").GetInt32(), Is.EqualTo(height));
            Assert.That(json.GetProperty("bytes").GetInt64(), Is.EqualTo(png.Length));
            Assert.That(json.GetProperty("caption").GetString(), Is.EqualTo(key));
        }
    }

    [Test]
    public void FromPixels_Floats_MapZeroToBlackOneToWhiteRoundHalfUpClampAndNaNToBlack()
    {
        float[] values = [0f, 1f, 0.5f, -0.25f, 1.75f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0.25f, 1f / 255f, 0.999f, 0.0019f];
        byte[] expected = [0, 255, 128, 0, 255, 0, 255, 0, 64, 1, 255, 0];
        var run = Run.Init(Options());
        run.Log("gray", Image.FromPixels(values, 4, 3, 1));
        run.Log("rgb", Image.FromPixels(values, 2, 2, 3));
        run.Finish();

        var gray = TestPng.Decode(File.ReadAllBytes(Read(run).ReadMedia("gray").Single().FilePath!));
        var rgb = TestPng.Decode(File.ReadAllBytes(Read(run).ReadMedia("rgb").Single().FilePath!));
        Assert.That((gray.Width, gray.Height, gray.Channels), Is.EqualTo((4, 3, 1)));
        Assert.That(gray.Pixels, Is.EqualTo(expected));
        Assert.That((rgb.Width, rgb.Height, rgb.Channels), Is.EqualTo((2, 2, 3)));
        Assert.That(rgb.Pixels, Is.EqualTo(expected));
    }

    [Test]
    public void FromPixels_SourceChangedAfterwards_TheImageKeepsThePixelsItWasGiven()
    {
        var pixels = RandomBytes(6 * 4 * 3, seed: 5);
        var original = pixels.ToArray();
        var run = Run.Init(Options());
        var image = Image.FromPixels(pixels, 6, 4, 3);
        Array.Fill(pixels, (byte)0xAB); // a reused buffer, refilled for the next step before the writer runs
        run.Log("samples", image);
        run.Finish();

        AssertSameBytes(TestPng.Decode(File.ReadAllBytes(Read(run).ReadMedia().Single().FilePath!)).Pixels, original);
    }

    // ---------------------------------------------------------------- PNG and JPEG bytes

    [Test]
    public void FromBytes_Png_IsStoredByteForByteUnderTheSha256OfItsBytes()
    {
        var png = TestPng.Encode(RandomBytes(5 * 4 * 3, seed: 11), 5, 4, 3, text: "hand-made, not by the SDK");
        var original = png.ToArray();
        var run = Run.Init(Options());
        var image = Image.FromBytes(png, caption: "digit 7");
        png[^1] ^= 0xFF; // the bytes are copied: the caller may reuse its array
        Assert.That((image.Width, image.Height, image.Format, image.Caption), Is.EqualTo((5, 4, "png", "digit 7")));
        run.Log("samples", image);
        run.Finish();

        var sha256 = FakeTrackerServer.Sha256Hex(original);
        var record = Read(run).ReadMedia().Single();
        Assert.That(Directory.GetFiles(MediaFolder(run)).Select(Path.GetFileName), Is.EqualTo(new[] { sha256 + ".png" }));
        AssertSameBytes(File.ReadAllBytes(record.FilePath!), original);
        var json = Parse(record.Json);
        Assert.That(json.GetProperty("_type").GetString(), Is.EqualTo("image"));
        Assert.That(json.GetProperty("sha256").GetString(), Is.EqualTo(sha256));
        Assert.That(json.GetProperty("path").GetString(), Is.EqualTo($"media/{sha256}.png"));
        Assert.That(json.GetProperty("format").GetString(), Is.EqualTo("png"));
        Assert.That(json.GetProperty("width").GetInt32(), Is.EqualTo(5));
        Assert.That(json.GetProperty("height").GetInt32(), Is.EqualTo(4));
        Assert.That(json.GetProperty("bytes").GetInt64(), Is.EqualTo(original.Length));
        Assert.That(json.GetProperty("caption").GetString(), Is.EqualTo("digit 7"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void FromBytes_MinimalJpeg_IsJpegOfTheFrameSizeAndSavedAsJpg(bool tablesBeforeTheFrame)
    {
        var jpeg = TestPng.Jpeg(640, 480, tablesBeforeTheFrame);
        var run = Run.Init(Options());
        var image = Image.FromBytes(jpeg);
        Assert.That((image.Format, image.Width, image.Height, image.Caption), Is.EqualTo(("jpeg", 640, 480, (string?)null)));
        run.Log("photo", image);
        run.Finish();

        var sha256 = FakeTrackerServer.Sha256Hex(jpeg);
        var record = Read(run).ReadMedia().Single();
        Assert.That(Path.GetFileName(record.FilePath), Is.EqualTo(sha256 + ".jpg"));
        AssertSameBytes(File.ReadAllBytes(record.FilePath!), jpeg);
        var json = Parse(record.Json);
        Assert.That(json.GetProperty("format").GetString(), Is.EqualTo("jpeg"));
        Assert.That(json.GetProperty("path").GetString(), Is.EqualTo($"media/{sha256}.jpg"));
        Assert.That((json.GetProperty("width").GetInt32(), json.GetProperty("height").GetInt32()), Is.EqualTo((640, 480)));
        Assert.That(json.GetProperty("bytes").GetInt64(), Is.EqualTo(jpeg.Length));
        Assert.That(json.TryGetProperty("caption", out _), Is.False, "no caption, no member");
    }

    [Test]
    public void FromFile_PngAndNotAnImage_ReadsTheFileOrNamesItInTheError()
    {
        Directory.CreateDirectory(Root);
        var png = TestPng.Encode(RandomBytes(3 * 2, seed: 3), 3, 2, 1);
        var path = Path.Combine(Root, "digit.png");
        File.WriteAllBytes(path, png);
        var text = Path.Combine(Root, "notes.txt");
        File.WriteAllText(text, "not an image");

        var image = Image.FromFile(path, caption: "from disk");
        Assert.That((image.Format, image.Width, image.Height), Is.EqualTo(("png", 3, 2)));
        Assert.That(() => Image.FromFile(text), Throws.ArgumentException.With.Message.Contains(text).And.Message.Contains("not a PNG or JPEG"));

        var run = Run.Init(Options());
        run.Log("digit", image);
        run.Finish();
        AssertSameBytes(File.ReadAllBytes(Read(run).ReadMedia().Single().FilePath!), png);
    }

    // ---------------------------------------------------------------- dedup

    [Test]
    public void SameImage_LoggedAtThreeSteps_ThreeRecordsOneFile()
    {
        var pixels = RandomBytes(8 * 8 * 3, seed: 21);
        var image = Image.FromPixels(pixels, 8, 8, 3);
        var run = Run.Init(Options());
        run.Log("samples", image);
        run.Log("samples", image);
        run.Log("samples", Image.FromPixels(pixels, 8, 8, 3)); // another instance, the same content
        run.Finish();

        var media = Read(run).ReadMedia("samples").OrderBy(m => m.Step).ToList();
        Assert.That(media.Select(m => m.Step), Is.EqualTo(new[] { 0L, 1L, 2L }));
        Assert.That(media.Select(m => Parse(m.Json).GetProperty("sha256").GetString()).Distinct().Count(), Is.EqualTo(1));
        Assert.That(media.Select(m => m.FilePath).Distinct().Count(), Is.EqualTo(1));
        Assert.That(Directory.GetFiles(MediaFolder(run)), Has.Length.EqualTo(1), "one file, whatever the steps");
    }

    [Test]
    public void SameMediaInstance_LoggedToTwoRuns_EachRunHasItsOwnFile()
    {
        // A sweep in one process logging the same fixed validation samples to each of its runs.
        var image = Image.FromPixels(RandomBytes(4 * 4 * 3, seed: 8), 4, 4, 3);
        var table = new Table(["id"], [[1], [2]]);
        var first = Run.Init(Options());
        first.Log(new Dictionary<string, object?> { ["samples"] = image, ["preds"] = table });
        first.Finish();
        var second = Run.Init(Options());
        second.Log(new Dictionary<string, object?> { ["samples"] = image, ["preds"] = table });
        second.Finish();

        foreach (var run in new[] { first, second })
        {
            foreach (var record in Read(run).ReadMedia())
            {
                Assert.That(File.Exists(record.FilePath), Is.True, $"run {run.Id}: {record.Key} names {record.FilePath}");
            }
        }
    }

    // ---------------------------------------------------------------- bad input

    private static IEnumerable<TestCaseData> InvalidMedia() =>
        InvalidMediaCases().Select(c => new TestCaseData(c.Create, c.Expected, c.Unexpected).SetArgDisplayNames(c.Name));

    private static IEnumerable<(string Name, Func<Media> Create, string[] Expected, string? Unexpected)> InvalidMediaCases()
    {
        static (string, Func<Media>, string[], string?) Case(string name, Func<Media> create, string[] expected, string? unexpected = null) =>
            (name, create, expected, unexpected);

        yield return Case("Image.FromBytes(empty)", () => Image.FromBytes([]), ["no bytes", "PNG or JPEG"]);
        yield return Case("Image.FromBytes(gif)", () => Image.FromBytes("GIF89a\u0001\0\u0001\0\0\0\0;"u8), ["not a PNG or JPEG"]);
        yield return Case("Image.FromBytes(png 20000x10000)", () => Image.FromBytes(TestPng.HeaderOnly(20_000, 10_000)), ["20,000 × 10,000", "200.0 megapixels", "64 megapixels"]);
        yield return Case("Image.FromBytes(png 0x10)", () => Image.FromBytes(TestPng.HeaderOnly(0, 10)), ["at least one pixel", "0 × 10"]);
        yield return Case("Image.FromBytes(png -1x10)", () => Image.FromBytes(TestPng.HeaderOnly(-1, 10)), ["at least one pixel"]);
        yield return Case("Image.FromBytes(jpeg 65535x65535)", () => Image.FromBytes(TestPng.Jpeg(65_535, 65_535)), ["65,535 × 65,535", "64 megapixels"]);
        yield return Case("Image.FromBytes(jpeg without a frame)", () => Image.FromBytes(TestPng.Jpeg(640, 480)[..20]), ["not a PNG or JPEG"]);
        yield return Case("Image.FromBytes(over 32 MiB)", () => Image.FromBytes(TestPng.HeaderOnly(10, 10, padTo: (32 * 1024 * 1024) + 1)), ["33,554,433 bytes", "33,554,432"]);
        yield return Case("Image.FromPixels(20000x10000, 16 bytes)", () => Image.FromPixels(new byte[16], 20_000, 10_000, 1), ["20,000 × 10,000", "64 megapixels"], unexpected: "got 16");
        yield return Case("Image.FromPixels(20000x10000, 16 floats)", () => Image.FromPixels(new float[16], 20_000, 10_000, 1), ["20,000 × 10,000", "64 megapixels"], unexpected: "got 16");
        yield return Case("Image.FromPixels(2x2x3, 10 bytes)", () => Image.FromPixels(new byte[10], 2, 2, 3), ["2 × 2", "3 channels", "needs 12 values", "got 10"]);
        yield return Case("Image.FromPixels(2x2x3, 13 floats)", () => Image.FromPixels(new float[13], 2, 2, 3), ["needs 12 values", "got 13"]);
        yield return Case("Image.FromPixels(channels 0)", () => Image.FromPixels(new byte[4], 2, 2, 0), ["not 0", "RGBA"]);
        yield return Case("Image.FromPixels(channels 5)", () => Image.FromPixels(new byte[20], 2, 2, 5), ["not 5", "RGBA"]);
        yield return Case("Image.FromPixels(float channels 5)", () => Image.FromPixels(new float[20], 2, 2, 5), ["not 5"]);
        yield return Case("Image.FromPixels(width 0)", () => Image.FromPixels(Array.Empty<byte>(), 0, 5, 1), ["at least one pixel", "0 × 5"]);
        yield return Case("Image.FromPixels(height -1)", () => Image.FromPixels(new byte[3], 3, -1, 1), ["at least one pixel", "3 × -1"]);
        yield return Case("Histogram.FromValues(no doubles)", () => Histogram.FromValues(Array.Empty<double>()), ["at least one value"]);
        yield return Case("Histogram.FromValues(no floats)", () => Histogram.FromValues(Array.Empty<float>()), ["at least one value"]);
        yield return Case("Histogram.FromValues(bins 0)", () => Histogram.FromValues([1.0, 2.0], bins: 0), ["1 to 512 bins"]);
        yield return Case("Histogram.FromValues(bins 513)", () => Histogram.FromValues([1.0, 2.0], bins: 513), ["1 to 512 bins"]);
        yield return Case("Histogram.FromValues(float bins -1)", () => Histogram.FromValues(new[] { 1f, 2f }, bins: -1), ["1 to 512 bins"]);
        yield return Case("Histogram.FromBins(3 edges, 1 count)", () => Histogram.FromBins([0.0, 1, 2], [1L]), ["3 edges and 1 counts"]);
        yield return Case("Histogram.FromBins(1 edge, 0 counts)", () => Histogram.FromBins([0.0], []), ["1 edges and 0 counts"]);
        yield return Case("Histogram.FromBins(513 counts)", () => Histogram.FromBins(Enumerable.Range(0, 514).Select(i => (double)i).ToArray(), new long[513]), ["1 to 512 counts"]);
        yield return Case("Histogram.FromBins(descending)", () => Histogram.FromBins([0.0, 2, 1], [1L, 1]), ["strictly ascending", "edge 2 is 1 after 2"]);
        yield return Case("Histogram.FromBins(repeated edge)", () => Histogram.FromBins([0.0, 1, 1], [1L, 1]), ["strictly ascending", "edge 2 is 1 after 1"]);
        yield return Case("Histogram.FromBins(NaN edge)", () => Histogram.FromBins([0.0, double.NaN, 2], [1L, 1]), ["finite", "edge 1 is NaN"]);
        yield return Case("Histogram.FromBins(infinite edge)", () => Histogram.FromBins([double.NegativeInfinity, 1, 2], [1L, 1]), ["finite", "edge 0"]);
        yield return Case("Histogram.FromBins(negative count)", () => Histogram.FromBins([0.0, 1, 2], [1L, -1]), ["must not be negative"]);
        yield return Case("Table(short row)", () => new Table(["id", "label"], [[1, "cat"], [2]]), ["row 1 has 1 values", "2 columns (id, label)"]);
        yield return Case("Table(long row)", () => new Table(["id"], [[1, "cat"]]), ["row 0 has 2 values", "1 columns"]);
        yield return Case("Table(null row)", () => new Table(["id"], [null!]), ["row 0 has 0 values"]);
        yield return Case("Table(DateTime value)", () => new Table(["id", "when"], [[1, DateTime.UnixEpoch]]), ["row 0, column 'when'", "System.DateTime", "numbers, strings, booleans or null"]);
        yield return Case("Table(array value)", () => new Table(["id"], [[new[] { 1, 2 }]]), ["column 'id'", "System.Int32[]"]);
        yield return Case("Table(duplicate column)", () => new Table(["id", "label", "id"], []), ["'id' appears more than once"]);
        yield return Case("Table(empty column)", () => new Table(["id", ""], []), ["must not be null, empty or whitespace"]);
        yield return Case("Table(whitespace column)", () => new Table([" "], []), ["must not be null, empty or whitespace"]);
        yield return Case("Table(null column)", () => new Table(["id", null!], []), ["must not be null, empty or whitespace"]);
        yield return Case("Table(no columns)", () => new Table([], []), ["at least one column"]);
        yield return Case("Text(1 MiB + 1 byte)", () => new Text(new string('a', Text.MaxBytes + 1)), ["1,048,577 bytes", "1,048,576"]);
        yield return Case("Text(1 MiB + 2 bytes of é)", () => new Text(new string('é', (Text.MaxBytes / 2) + 1)), ["1,048,578 bytes as UTF-8"]);
    }

    [TestCaseSource(nameof(InvalidMedia))]
    public void InvalidMedia_ThrowsAnArgumentExceptionThatSaysWhatIsWrong(Func<Media> create, string[] expected, string? unexpected)
    {
        var error = Assert.Catch<ArgumentException>(() => create());
        foreach (var part in expected)
        {
            Assert.That(error!.Message, Does.Contain(part));
        }

        if (unexpected is not null)
        {
            Assert.That(error!.Message, Does.Not.Contain(unexpected));
        }
    }

    [Test]
    public void InvalidMedia_EachRefusedInTheSameRun_TheRunGoesOnAndFinishesWithItsHistoryIntact()
    {
        var cases = InvalidMediaCases().ToList();
        var run = Run.Init(Options());
        for (var i = 0; i < cases.Count; i++)
        {
            run.Log("loss", i);
            Assert.That(() => run.Log("bad", cases[i].Create()), Throws.InstanceOf<ArgumentException>(), cases[i].Name);
        }

        run.Log("loss", cases.Count);
        run.Finish();

        Assert.That(History(run).Select(r => (r.Step, r.Values["loss"])), Is.EqualTo(Enumerable.Range(0, cases.Count + 1).Select(i => ((long)i, (object?)(double)i))));
        Assert.That(Read(run).ReadMedia(), Is.Empty);
        Assert.That(Directory.GetFiles(MediaFolder(run)), Is.Empty);
        Assert.That(Read(run).Info.State, Is.EqualTo("finished"));
        Assert.That(run.Statistics.RecordsDropped, Is.Zero);
        Assert.That(Diagnostics.Where(d => d.Level != DiagnosticLevel.Info), Is.Empty);
    }

    [TestCase("", "empty")]
    [TestCase("  ", "empty")]
    [TestCase("_samples", "reserved")]
    public void Log_MediaUnderAnInvalidKey_ThrowsAndLogsNothingOfTheCall(string key, string reason)
    {
        var image = Image.FromPixels(RandomBytes(12, seed: 1), 2, 2, 3);
        var run = Run.Init(Options());
        run.Log("loss", 1);

        Assert.That(() => run.Log(key, image), Throws.ArgumentException.With.Message.Contains(reason));
        Assert.That(() => run.Log(new Dictionary<string, object?> { ["loss"] = 5.0, [key] = image }), Throws.ArgumentException.With.Message.Contains(reason));
        if (reason == "empty")
        {
            // Only a top-level key is reserved when it starts with '_'; "nested/_samples" is a valid key.
            Assert.That(() => run.Log(new Dictionary<string, object?> { ["loss"] = 5.0, ["nested"] = new Dictionary<string, object?> { [key] = image } }), Throws.ArgumentException);
        }

        Assert.That(run.Step, Is.EqualTo(1), "a refused call does not move the step");

        run.Log("loss", 2);
        run.Finish();
        Assert.That(History(run).Select(r => r.Values["loss"]), Is.EqualTo(new object[] { 1.0, 2.0 }), "either every value of a call is logged or none");
        Assert.That(Read(run).ReadMedia(), Is.Empty);
        Assert.That(Directory.GetFiles(MediaFolder(run)), Is.Empty);
    }

    [Test]
    public void Histogram_NaNAndInfinities_AreCountedNotBinnedAndLoggingWarnsOnceNamingTheKey()
    {
        var histogram = Histogram.FromValues([1.0, double.NaN, 2, double.PositiveInfinity, double.NegativeInfinity, 3, double.NaN], bins: 2);
        Assert.That((histogram.NaNCount, histogram.InfinityCount), Is.EqualTo((2L, 2L)));
        Assert.That(histogram.Edges, Is.EqualTo(new[] { 1.0, 2, 3 }), "the range of the finite values");
        Assert.That(histogram.Counts, Is.EqualTo(new[] { 1L, 2 }));
        var floats = Histogram.FromValues(new[] { 1f, float.NaN, float.NegativeInfinity, 3f }, bins: 2);
        Assert.That((floats.NaNCount, floats.InfinityCount, floats.Counts.Sum()), Is.EqualTo((1L, 1L, 2L)));

        var run = Run.Init(Options());
        run.Log("weights", histogram);
        run.Log("loss", 1);
        run.Finish();

        var warning = Diagnostics.Single(d => d.Level == DiagnosticLevel.Warning);
        Assert.That(warning.Message, Does.Contain("'weights'").And.Contain("2 NaN").And.Contain("2 infinite"));
        var json = Parse(Read(run).ReadMedia().Single().Json);
        Assert.That(json.GetProperty("nan").GetInt64(), Is.EqualTo(2));
        Assert.That(json.GetProperty("inf").GetInt64(), Is.EqualTo(2));
        Assert.That(json.GetProperty("counts").EnumerateArray().Select(c => c.GetInt64()), Is.EqualTo(new[] { 1L, 2 }));
        Assert.That(History(run).Single().Values["loss"], Is.EqualTo(1.0));
    }

    [Test]
    public void Histogram_OnlyNaNAndInfinities_HasEmptyUnitBinsAndCountsThem()
    {
        var histogram = Histogram.FromValues([double.NaN, double.PositiveInfinity, double.NaN], bins: 4);

        Assert.That(histogram.Edges, Is.EqualTo(new[] { 0, 0.25, 0.5, 0.75, 1 }));
        Assert.That(histogram.Counts, Is.EqualTo(new long[4]));
        Assert.That((histogram.NaNCount, histogram.InfinityCount), Is.EqualTo((2L, 1L)));
    }

    // ---------------------------------------------------------------- histogram bins

    [Test]
    public void Histogram_ZeroToTenInFiveBins_MatchesTheHandComputation()
    {
        var histogram = Histogram.FromValues([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], bins: 5);

        Assert.That(histogram.Edges, Is.EqualTo(new[] { 0.0, 2, 4, 6, 8, 10 }));
        Assert.That(histogram.Counts, Is.EqualTo(new[] { 2L, 2, 2, 2, 3 }), "[0,2) [2,4) [4,6) [6,8) [8,10]: the last bin holds its upper edge");
        Assert.That((histogram.NaNCount, histogram.InfinityCount), Is.EqualTo((0L, 0L)));
    }

    [Test]
    public void Histogram_OneRepeatedValue_IsCentredInARangeOfOne()
    {
        var four = Histogram.FromValues([3.0, 3, 3], bins: 4);
        Assert.That(four.Edges, Is.EqualTo(new[] { 2.5, 2.75, 3, 3.25, 3.5 }));
        Assert.That(four.Counts, Is.EqualTo(new[] { 0L, 0, 3, 0 }));

        var one = Histogram.FromValues([-7.0], bins: 1);
        Assert.That(one.Edges, Is.EqualTo(new[] { -7.5, -6.5 }));
        Assert.That(one.Counts, Is.EqualTo(new[] { 1L }));
    }

    [Test]
    public void Histogram_NegativeValues_AreBinnedFromTheirMinimum()
    {
        var negative = Histogram.FromValues([-5.0, -4, -3, -2, -1], bins: 2);
        Assert.That(negative.Edges, Is.EqualTo(new[] { -5.0, -3, -1 }));
        Assert.That(negative.Counts, Is.EqualTo(new[] { 2L, 3 }));

        var mixed = Histogram.FromValues([1.0, -1, 0.5, -0.5, 0], bins: 4);
        Assert.That(mixed.Edges, Is.EqualTo(new[] { -1.0, -0.5, 0, 0.5, 1 }));
        Assert.That(mixed.Counts, Is.EqualTo(new[] { 1L, 1, 1, 2 }));
    }

    [Test]
    public void Histogram_DefaultBins_Are64AndCountEveryFiniteValue()
    {
        var values = Enumerable.Range(0, 1000).Select(i => Math.Sin(i)).ToArray();
        var histogram = Histogram.FromValues(values);

        Assert.That(histogram.Counts, Has.Count.EqualTo(Histogram.DefaultBins));
        Assert.That(histogram.Edges, Has.Count.EqualTo(Histogram.DefaultBins + 1));
        Assert.That(histogram.Edges[0], Is.EqualTo(values.Min()));
        Assert.That(histogram.Edges[^1], Is.EqualTo(values.Max()));
        Assert.That(histogram.Counts.Sum(), Is.EqualTo(1000));
        Assert.That(histogram.Edges, Is.Ordered.Ascending);
    }

    [Test]
    public void Histogram_FloatOverload_EqualsTheDoubleOverloadOnTheSameValues()
    {
        var random = new Random(42);
        var floats = Enumerable.Range(0, 5000).Select(_ => (float)((random.NextDouble() * 20) - 7)).ToArray();
        floats[10] = float.NaN;
        floats[20] = float.PositiveInfinity;
        floats[30] = float.NegativeInfinity;
        var doubles = floats.Select(f => (double)f).ToArray();

        foreach (var bins in new[] { 1, 7, 64, 512 })
        {
            var fromFloats = Histogram.FromValues(floats, bins);
            var fromDoubles = Histogram.FromValues(doubles, bins);
            Assert.That(fromFloats.Edges, Is.EqualTo(fromDoubles.Edges), $"{bins} bins");
            Assert.That(fromFloats.Counts, Is.EqualTo(fromDoubles.Counts), $"{bins} bins");
            Assert.That((fromFloats.NaNCount, fromFloats.InfinityCount), Is.EqualTo((1L, 2L)));
            Assert.That(fromFloats.Counts.Sum(), Is.EqualTo(floats.Length - 3));
        }
    }

    [Test]
    public void Histogram_ValuesOnTheEdges_AreCountedInTheBinTheEdgesSay()
    {
        // numpy.histogram(values, 5) for these values is [1, 1, 1, 1, 2]: each bin is [edge, next edge).
        foreach (var (min, max, bins) in new[] { (1.0, 2.0, 5), (-1.0, 1.0, 10), (-3.7, -2.7, 10), (0.0, 10.0, 7) })
        {
            var edges = Histogram.FromValues([min, max], bins).Edges.ToArray();
            var histogram = Histogram.FromValues(edges, bins);
            Assert.That(histogram.Edges, Is.EqualTo(edges));
            Assert.That(histogram.Counts, Is.EqualTo(Enumerable.Repeat(1L, bins - 1).Append(2)), $"values on the edges of {bins} bins from {min} to {max}");
        }
    }

    [Test]
    public void Histogram_FiniteValuesSpanningTheWholeDoubleRange_IsBinnedAndLoggedLikeAnyOther()
    {
        var histogram = Histogram.FromValues([-1e308, 0, 1e308], bins: 4);
        Assert.That(histogram.Edges, Is.EqualTo(new[] { -1e308, -5e307, 0, 5e307, 1e308 }).Within(1e293));
        Assert.That(histogram.Counts, Is.EqualTo(new[] { 1L, 0, 1, 1 }));

        var run = Run.Init(Options());
        run.Log(new Dictionary<string, object?> { ["loss"] = 0.5, ["weights"] = histogram });
        run.Log("loss", 0.25);
        run.Finish();
        Assert.That(History(run).Select(r => (r.Step, r.Values["loss"])), Is.EqualTo(new[] { (0L, (object?)0.5), (1L, 0.25) }));
        Assert.That(Read(run).ReadMedia(), Has.Exactly(1).Items);
    }

    [Test]
    public void Histogram_FromBins_IsKeptAsGivenAndWrittenInline()
    {
        var histogram = Histogram.FromBins([-1.0, -0.5, 0, 0.5, 1], [1L, 4, 3, 2]);
        Assert.That(histogram.Edges, Is.EqualTo(new[] { -1.0, -0.5, 0, 0.5, 1 }));
        Assert.That(histogram.Counts, Is.EqualTo(new[] { 1L, 4, 3, 2 }));

        var run = Run.Init(Options());
        run.Log("weights", histogram);
        run.Finish();

        var record = Read(run).ReadMedia().Single();
        Assert.That(record.FilePath, Is.Null);
        Assert.That(record.Json, Is.EqualTo("""{"_type":"histogram","bins":[-1,-0.5,0,0.5,1],"counts":[1,4,3,2],"nan":0,"inf":0}"""));
        Assert.That(Directory.GetFiles(MediaFolder(run)), Is.Empty);
        Assert.That(Diagnostics.Where(d => d.Level != DiagnosticLevel.Info), Is.Empty);
    }

    // ---------------------------------------------------------------- tables and texts

    [Test]
    public void Table_File_RoundTripsColumnsAndValues()
    {
        var rows = new List<IReadOnlyList<object?>>
        {
            new object?[] { 1, "cat", 0.5, true, null },
            new object?[] { 2L, "héllo \"quoted\" ✓\n", double.NaN, false, 1.5f },
            new object?[] { (byte)3, string.Empty, double.PositiveInfinity, true, double.NegativeInfinity },
            new object?[] { 4.25m, null, -2e-300, false, (short)-7 },
        };
        var table = new Table(["id", "label", "score", "ok", "extra"], rows);
        ((object?[])rows[0])[1] = "dog"; // captured when made: later changes are not logged
        rows.Add(new object?[] { 5, "late", 0, true, null });
        Assert.That(table.Columns, Is.EqualTo(new[] { "id", "label", "score", "ok", "extra" }));
        Assert.That(table.RowCount, Is.EqualTo(4));

        var run = Run.Init(Options());
        run.Log("preds", table);
        run.Finish();

        var record = Read(run).ReadMedia().Single();
        var content = File.ReadAllBytes(record.FilePath!);
        var sha256 = FakeTrackerServer.Sha256Hex(content);
        Assert.That(Path.GetFileName(record.FilePath), Is.EqualTo(sha256 + ".table.json"));
        var json = Parse(record.Json);
        Assert.That(json.GetProperty("_type").GetString(), Is.EqualTo("table"));
        Assert.That(json.GetProperty("sha256").GetString(), Is.EqualTo(sha256));
        Assert.That(json.GetProperty("path").GetString(), Is.EqualTo($"media/{sha256}.table.json"));
        Assert.That(json.GetProperty("bytes").GetInt64(), Is.EqualTo(content.Length));
        Assert.That(json.GetProperty("rows").GetInt32(), Is.EqualTo(4));
        Assert.That(json.GetProperty("columns").EnumerateArray().Select(c => c.GetString()), Is.EqualTo(table.Columns));

        using var file = JsonDocument.Parse(content);
        Assert.That(file.RootElement.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "columns", "data" }));
        Assert.That(file.RootElement.GetProperty("columns").EnumerateArray().Select(c => c.GetString()), Is.EqualTo(table.Columns));
        var data = file.RootElement.GetProperty("data").EnumerateArray().Select(row => row.EnumerateArray().Select(Cell).ToArray()).ToArray();
        Assert.That(data, Is.EqualTo(new[]
        {
            new object?[] { 1.0, "cat", 0.5, true, null },
            new object?[] { 2.0, "héllo \"quoted\" ✓\n", "NaN", false, 1.5 },
            new object?[] { 3.0, string.Empty, "Infinity", true, "-Infinity" },
            new object?[] { 4.25, null, -2e-300, false, -7.0 },
        }));
    }

    [Test]
    public void Table_NoRows_IsStillATable()
    {
        var run = Run.Init(Options());
        run.Log("preds", new Table(["id"], []));
        run.Finish();

        var record = Read(run).ReadMedia().Single();
        Assert.That(File.ReadAllText(record.FilePath!), Is.EqualTo("""{"columns":["id"],"data":[]}"""));
        Assert.That(Parse(record.Json).GetProperty("rows").GetInt32(), Is.Zero);
    }

    [Test]
    public void Text_IsKeptInTheRecordUpToOneMebibyte()
    {
        const string Notes = "epoch 3: loss plateaued\n\tnext: \"lower lr\" ✓ 🚀 </script>";
        var longest = new string('x', Text.MaxBytes);
        var run = Run.Init(Options());
        run.Log("notes", new Text(Notes));
        run.Log("dump", new Text(longest));
        run.Finish();

        var media = Read(run).ReadMedia().OrderBy(m => m.Step).ToList();
        Assert.That(media.Select(m => (m.Key, m.Kind, m.FilePath)), Is.EqualTo(new[] { ("notes", "text", (string?)null), ("dump", "text", null) }));
        Assert.That(Parse(media[0].Json).GetProperty("text").GetString(), Is.EqualTo(Notes));
        Assert.That(Parse(media[1].Json).GetProperty("text").GetString(), Is.EqualTo(longest));
        Assert.That(new Text(Notes).ToString(), Is.EqualTo(Notes));
        Assert.That(Directory.GetFiles(MediaFolder(run)), Is.Empty, "texts are inline");
    }

    // ---------------------------------------------------------------- with scalars, steps

    [Test]
    public void Log_ScalarsAndMediaInOneCall_OneRowThenTheMediaAtTheSameStepAndOneStepForward()
    {
        var run = Run.Init(Options());
        run.Log(new Dictionary<string, object?>
        {
            ["loss"] = 0.5,
            ["samples"] = Image.FromPixels(RandomBytes(12, seed: 2), 2, 2, 3),
            ["acc"] = 0.9,
            ["weights"] = Histogram.FromValues([1.0, 2, 3]),
            ["notes"] = new Text("first"),
        });
        Assert.That(run.Step, Is.EqualTo(1), "one call, one step");
        run.Log("loss", 0.25);
        run.Finish();

        var history = History(run);
        Assert.That(history.Select(r => r.Step), Is.EqualTo(new[] { 0L, 1L }));
        Assert.That(history[0].Values, Is.EquivalentTo(new Dictionary<string, object?> { ["loss"] = 0.5, ["acc"] = 0.9 }), "media are not history values");
        var records = Read(run).ReadRecords().Where(r => r.Type is "history" or "media").ToList();
        var row = records.First(r => r.Type == "history");
        var media = records.Where(r => r.Type == "media").Select(r => (r.Seq, Json: Parse(r.Json))).ToList();
        Assert.That(media.Select(m => (m.Json.GetProperty("key").GetString(), m.Json.GetProperty("step").GetInt64())),
            Is.EquivalentTo(new[] { ("samples", 0L), ("weights", 0L), ("notes", 0L) }));
        Assert.That(media.Select(m => m.Seq), Has.All.GreaterThan(row.Seq), "the row first, then its media");
        Assert.That(media.Select(m => m.Json.GetProperty("ts").GetInt64()), Has.All.EqualTo(Parse(row.Json).GetProperty("ts").GetInt64()), "the call's time");
    }

    [Test]
    public void Log_MediaWithCommitFalseAndExplicitSteps_FollowsTheSameStepRules()
    {
        Image Sample(int seed) => Image.FromPixels(RandomBytes(3, seed), 1, 1, 3);
        var run = Run.Init(Options());

        run.Log(new Dictionary<string, object?> { ["loss"] = 1.0, ["samples"] = Sample(1) }, commit: false);
        Assert.That(run.Step, Is.Zero);
        run.Log("acc", 0.5);
        Assert.That(run.Step, Is.EqualTo(1));
        run.Log("samples", Sample(2), step: 5);
        Assert.That(run.Step, Is.EqualTo(5), "an explicit step does not commit by default");
        run.Log(new Dictionary<string, object?> { ["loss"] = 2.0, ["samples"] = Sample(3) }, step: 7, commit: true);
        Assert.That(run.Step, Is.EqualTo(8));
        run.Log("samples", Sample(4));
        Assert.That(run.Step, Is.EqualTo(9), "media alone advance the step too");
        run.Log("samples", Sample(5), step: 3);
        Assert.That(run.Step, Is.EqualTo(9), "a step in the past is refused");
        run.Finish();

        Assert.That(Read(run).ReadMedia().Select(m => m.Step).Order(), Is.EqualTo(new[] { 0L, 5L, 7L, 8L }));
        Assert.That(History(run).Select(r => (r.Step, r.Values.Count)), Is.EqualTo(new[] { (0L, 2), (7L, 1) }));
        Assert.That(Diagnostics.Single(d => d.Level == DiagnosticLevel.Warning).Message, Does.Contain("Step 3 is lower than the current step 9"));
        Assert.That(Directory.GetFiles(MediaFolder(run)), Has.Length.EqualTo(4), "the refused image is not written");
    }

    // ---------------------------------------------------------------- hot path and back-pressure

    [Test]
    public void LogDouble_WhileImagesAreLoggedEveryStep_AllocatesNothingOnTheCallingThread()
    {
        const int Steps = 300; // 3,000 measured calls, over which the current chunk fills and is handed to the writer
        string[] keys = [.. Enumerable.Range(0, 10).Select(k => $"train/m{k}")];
        var options = Options();
        options.MaxQueuedRecords = 4 * 2048; // a small pool fills during warm-up
        var run = Run.Init(options);
        var pixels = new byte[256 * 256 * 3];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)(i / 3 % 256); // a gradient: distinct images that compress well, so the test stays fast
        }

        void LogStep(int step, string imageKey, ref long allocated)
        {
            BinaryPrimitives.WriteInt32LittleEndian(pixels, step);
            run.Log(imageKey, Image.FromPixels(pixels, 256, 256, 3), commit: false);
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var k = 0; k < keys.Length; k++)
            {
                run.Log(keys[k], (step * 0.5) + k, commit: k == keys.Length - 1);
            }

            allocated += GC.GetAllocatedBytesForCurrentThread() - before;
        }

        long warmUp = 0;
        for (var i = 0; i < 30_000; i++)
        {
            run.Log(keys[i % keys.Length], i, commit: i % keys.Length == keys.Length - 1);
        }

        for (var step = 0; step < 20; step++)
        {
            LogStep(-1 - step, "warm-up", ref warmUp);
        }

        long allocated = 0;
        for (var step = 0; step < Steps; step++)
        {
            LogStep(step, "samples", ref allocated);
        }

        run.Finish();

        Assert.That(allocated, Is.Zero, $"{allocated} bytes for {Steps * keys.Length:N0} calls of Log(string, double)");
        var samples = Read(run).ReadMedia("samples").ToList();
        Assert.That(samples, Has.Count.EqualTo(Steps));
        Assert.That(samples.Select(m => m.FilePath).Distinct().Count(), Is.EqualTo(Steps));
        Assert.That(samples.All(m => File.Exists(m.FilePath)), Is.True);
        Assert.That(History(run), Has.Count.EqualTo((30_000 / keys.Length) + 20 + Steps));
        Assert.That(run.Statistics.RecordsDropped, Is.Zero);
    }

    [Test]
    public void Log_ImagesWhileMoreThanTheBacklogLimitIsPending_WritesThemOnTheCallersThreadAndLosesNothing()
    {
        // Synchronous on purpose: a background media write is held below, so nothing here may wait on the thread pool.
        const int Images = 40;
        const int Size = 1000 * 1000;
        using var gate = new ManualResetEventSlim(false);
        var run = Run.Init(Options());
        var held = Image.FromPixels(RandomBytes(12, seed: 99), 2, 2, 3);
        run.Log("held", new HeldImage(held, pendingBytes: 200_000_000, gate)); // more than the 128 MiB a run lets wait
        var pixels = new byte[Size];
        var allocations = new List<long>();

        for (var i = 0; i < Images; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(pixels, i);
            var image = Image.FromPixels(pixels, 1000, 1000, 1);
            var before = GC.GetAllocatedBytesForCurrentThread();
            run.Log("big", image);
            allocations.Add(GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.That(Directory.GetFiles(MediaFolder(run), "*.png"), Has.Length.EqualTo(i + 1), $"image {i} is written when Log returns");
        }

        Assert.That(allocations.Min(), Is.GreaterThan(Size / 2), "each image was encoded on the caller's thread");
        gate.Set();
        run.Finish();

        var media = Read(run).ReadMedia("big").OrderBy(m => m.Step).ToList();
        Assert.That(media.Select(m => m.Step), Is.EqualTo(Enumerable.Range(1, Images).Select(i => (long)i)));
        Assert.That(media.Select(m => m.FilePath).Distinct().Count(), Is.EqualTo(Images));
        Assert.That(media.All(m => File.Exists(m.FilePath)), Is.True);
        Assert.That(File.Exists(Read(run).ReadMedia("held").Single().FilePath), Is.True, "the held write finished too");
        var last = TestPng.Decode(File.ReadAllBytes(media[^1].FilePath!));
        Assert.That(BinaryPrimitives.ReadInt32LittleEndian(last.Pixels), Is.EqualTo(Images - 1));
        Assert.That(run.Statistics.RecordsDropped, Is.Zero);
        Assert.That(Diagnostics.Where(d => d.Level != DiagnosticLevel.Info), Is.Empty);
    }

    internal static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    internal static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    /// <summary>Equal bytes, reporting the first difference rather than two huge arrays.</summary>
    internal static void AssertSameBytes(byte[] actual, byte[] expected)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        var first = actual.AsSpan().CommonPrefixLength(expected);
        Assert.That(first, Is.EqualTo(expected.Length), () => $"first difference at byte {first}: {actual[first]} instead of {expected[first]}");
    }

    private static string MediaFolder(Run run) => Path.Combine(run.Directory!, "media");

    private static object? Cell(JsonElement cell) => cell.ValueKind switch
    {
        JsonValueKind.Number => cell.GetDouble(),
        JsonValueKind.String => cell.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        _ => throw new InvalidDataException($"unexpected table cell {cell}"),
    };

    /// <summary>An image whose background write waits for a gate, standing for a slow disk or a large backlog of encoding.</summary>
    private sealed class HeldImage(Image inner, long pendingBytes, ManualResetEventSlim gate) : Media
    {
        internal override string Kind => inner.Kind;

        internal override bool HasFile => true;

        internal override long PendingBytes => pendingBytes;

        private protected override (byte[] Json, string? File) Write(string mediaDirectory)
        {
            gate.Wait();
            return (inner.Materialize(mediaDirectory), null);
        }
    }
}

/// <summary>Online runs with media: each file is uploaded to the blob endpoints before the records that name it.</summary>
public sealed class MediaUploadTests : OnlineTestBase
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);

    [Test]
    public async Task Upload_EachFileIsPutBeforeTheAppendThatCarriesItsRecord()
    {
        var run = Run.Init(OnlineOptions());
        run.Log(new Dictionary<string, object?>
        {
            ["loss"] = 0.5,
            ["samples"] = Image.FromPixels(MediaTests.RandomBytes(8 * 6 * 3, seed: 1), 8, 6, 3),
            ["photo"] = Image.FromBytes(TestPng.Jpeg(640, 480)),
            ["preds"] = new Table(["id", "label"], [[1, "cat"], [2, "dog"]]),
            ["weights"] = Histogram.FromValues([1.0, 2, 3]),
            ["notes"] = new Text("inline, no file"),
        });
        await run.FlushAsync().WaitAsync(Budget);
        run.Log("samples", Image.FromPixels(MediaTests.RandomBytes(4 * 4 * 4, seed: 2), 4, 4, 4));
        await run.FinishAsync().WaitAsync(Budget);

        Assert.That(Server.Stored, Is.EqualTo(LocalLines(run.Directory!)));
        var files = Read(run).ReadMedia().Where(m => m.FilePath is not null).ToList();
        Assert.That(files, Has.Count.EqualTo(4));
        var requests = Server.Requests.ToList();
        foreach (var file in files)
        {
            var sha256 = MediaTests.Parse(file.Json).GetProperty("sha256").GetString()!;
            var put = requests.FindIndex(r => r.IsBlobPut && r.BlobSha256 == sha256);
            var head = requests.FindIndex(r => r.IsBlobHead && r.BlobSha256 == sha256);
            var append = requests.FindIndex(r => r.IsAppend && r.Text.Contains($"\"sha256\":\"{sha256}\"", StringComparison.Ordinal));
            Assert.That(head, Is.GreaterThanOrEqualTo(0), $"{file.Key}: asked whether the server has it");
            Assert.That(put, Is.GreaterThan(head), $"{file.Key}: uploaded after the server said it lacks it");
            Assert.That(append, Is.GreaterThan(put), $"{file.Key}: its record goes after its file");
            Assert.That(requests[put].Uri.AbsolutePath, Is.EqualTo($"/api/v1/projects/tests/blobs/{sha256}"));
            Assert.That(requests[put].Authorization, Is.EqualTo("Bearer trk_test"));
            MediaTests.AssertSameBytes(requests[put].Body, File.ReadAllBytes(file.FilePath!));
            Assert.That(requests[put].ContentType, Is.EqualTo(Path.GetExtension(file.FilePath) switch
            {
                ".png" => "image/png",
                ".jpg" => "image/jpeg",
                _ => "application/json",
            }), file.FilePath);
            Assert.That(Server.Blobs.ContainsKey(sha256), Is.True);
        }

        Assert.That(Server.BlobPuts, Has.Count.EqualTo(4), "only images and tables have files");
        Assert.That(SyncState(run.Directory!).Synced, Is.True);
        Assert.That(Diagnostics.Where(d => d.Level != DiagnosticLevel.Info), Is.Empty);
    }

    [Test]
    public async Task Upload_SameFileInManyRecords_IsAskedForAndPutOnce()
    {
        var pixels = MediaTests.RandomBytes(5 * 5 * 3, seed: 3);
        var image = Image.FromPixels(pixels, 5, 5, 3);
        var run = Run.Init(OnlineOptions());
        run.Log("samples", image);
        run.Log("samples", image);
        await run.FlushAsync().WaitAsync(Budget);
        await WaitUntil(() => Server.Stored.Count(l => l.Contains("\"type\":\"media\"", StringComparison.Ordinal)) == 2);
        run.Log("samples", Image.FromPixels(pixels, 5, 5, 3)); // a later batch, another instance, the same bytes
        await run.FinishAsync().WaitAsync(Budget);

        var sha256 = MediaTests.Parse(Read(run).ReadMedia().First().Json).GetProperty("sha256").GetString()!;
        Assert.That(Read(run).ReadMedia().Select(m => MediaTests.Parse(m.Json).GetProperty("sha256").GetString()), Is.EqualTo(new[] { sha256, sha256, sha256 }));
        Assert.That(Server.BlobPuts.Select(r => r.BlobSha256), Is.EqualTo(new[] { sha256 }));
        Assert.That(Server.Requests.Count(r => r.IsBlobHead), Is.EqualTo(1));
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(run.Directory!)));
    }

    [Test]
    public async Task Upload_FileTheServerHasAlready_IsNotPut()
    {
        var png = TestPng.Encode(MediaTests.RandomBytes(4 * 4 * 3, seed: 4), 4, 4, 3);
        var sha256 = Server.AddBlob(png, "image/png");
        var run = Run.Init(OnlineOptions());
        run.Log("samples", Image.FromBytes(png));
        await run.FinishAsync().WaitAsync(Budget);

        Assert.That(Server.Requests.Count(r => r.IsBlobHead && r.BlobSha256 == sha256), Is.EqualTo(1));
        Assert.That(Server.BlobPuts, Is.Empty);
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(run.Directory!)));
        Assert.That(Server.Stored, Has.Some.Contains(sha256));
        Assert.That(Diagnostics.Where(d => d.Level != DiagnosticLevel.Info), Is.Empty);
    }

    [Test]
    public async Task Upload_LocalFileGone_WarnsAndStillSendsTheRecord()
    {
        var connect = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Server.Fault = async (r, ct) =>
        {
            if (r.Method == HttpMethod.Put && r.BlobSha256 is null)
            {
                await connect.Task.WaitAsync(ct); // the sender reads nothing before it has upserted the run
            }

            return null;
        };
        var run = Run.Init(OnlineOptions());
        run.Log("samples", Image.FromPixels(MediaTests.RandomBytes(12, seed: 5), 2, 2, 3));
        run.Log("loss", 1);
        await run.FlushAsync().WaitAsync(Budget);
        var file = Read(run).ReadMedia().Single().FilePath!;
        File.Delete(file);
        connect.SetResult();
        await run.FinishAsync().WaitAsync(Budget);

        Assert.That(Server.Stored, Is.EqualTo(LocalLines(run.Directory!)));
        Assert.That(Server.Stored.Count(l => l.Contains("\"type\":\"media\"", StringComparison.Ordinal)), Is.EqualTo(1));
        Assert.That(Server.BlobPuts, Is.Empty);
        var warning = Diagnostics.Single(d => d.Level == DiagnosticLevel.Warning).Message;
        Assert.That(warning, Does.Contain(file).And.Contain("not uploaded").And.Contain("sent without it"));
        Assert.That(Read(run).Info.State, Is.EqualTo("finished"));
        Assert.That(SyncState(run.Directory!).Synced, Is.True);
    }

    [Test]
    public async Task Upload_ServerRefusesTheFile_WarnsOnceAndStillSendsTheRecord()
    {
        Server.Fault = (r, _) => Task.FromResult(r.IsBlobPut
            ? FakeTrackerServer.Status(HttpStatusCode.BadRequest, """{"title":"Bad blob","detail":"the bytes do not hash to the name","status":400}""")
            : null);
        var run = Run.Init(OnlineOptions());
        var image = Image.FromPixels(MediaTests.RandomBytes(12, seed: 6), 2, 2, 3);
        run.Log("samples", image);
        run.Log("samples", image);
        run.Log("loss", 1);
        await run.FinishAsync().WaitAsync(Budget);

        Assert.That(Server.Stored, Is.EqualTo(LocalLines(run.Directory!)));
        Assert.That(Server.Stored.Count(l => l.Contains("\"type\":\"media\"", StringComparison.Ordinal)), Is.EqualTo(2));
        Assert.That(Server.BlobPuts, Has.Count.EqualTo(1), "a refusal is not tried again");
        var warning = Diagnostics.Single(d => d.Level == DiagnosticLevel.Warning).Message;
        Assert.That(warning, Does.Contain("not uploaded").And.Contain("400").And.Contain("do not hash"));
        Assert.That(SyncState(run.Directory!).Synced, Is.True);
    }

    [Test]
    public async Task Upload_ServerUnavailableForTheFile_RetriesUntilItIsStoredAndLosesNothing()
    {
        var failures = 6; // more than the client's own retries: the sender backs off and tries the batch again
        Server.Fault = (r, _) => Task.FromResult(r.IsBlobPut && Interlocked.Decrement(ref failures) >= 0
            ? FakeTrackerServer.Status(HttpStatusCode.ServiceUnavailable)
            : null);
        var run = Run.Init(OnlineOptions());
        run.Log("samples", Image.FromPixels(MediaTests.RandomBytes(300, seed: 7), 10, 10, 3));
        run.Log("loss", 1);
        await run.FlushAsync().WaitAsync(Budget);
        var record = Read(run).ReadMedia().Single();
        var sha256 = MediaTests.Parse(record.Json).GetProperty("sha256").GetString()!;

        await AdvanceUntil(() => Server.Stored.Any(l => l.Contains(sha256, StringComparison.Ordinal)));
        Assert.That(Server.Requests.ToList().FindIndex(r => r.IsAppend && r.Text.Contains(sha256, StringComparison.Ordinal)),
            Is.GreaterThan(Server.Requests.ToList().FindLastIndex(r => r.IsBlobPut)), "the record waited for its file");
        var finish = run.FinishAsync();
        await AdvanceUntil(() => finish.IsCompleted);
        await finish;

        Assert.That(Server.BlobPuts, Has.Count.EqualTo(7));
        MediaTests.AssertSameBytes(Server.Blobs[sha256].Bytes, File.ReadAllBytes(record.FilePath!));
        Assert.That(Server.Blobs[sha256].ContentType, Is.EqualTo("image/png"));
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(run.Directory!)));
        Assert.That(Diagnostics.Select(d => d.Message), Has.None.Contains("not uploaded"));
        Assert.That(SyncState(run.Directory!).Synced, Is.True);
    }
}

/// <summary>
/// PNG written and read from the specification (signature, chunks with CRC-32, IHDR, zlib IDAT,
/// filters 0-4), and minimal JPEG headers: the yardstick for the SDK's own encoder and header reader.
/// </summary>
internal static class TestPng
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        var c = (uint)n;
        for (var k = 0; k < 8; k++)
        {
            c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }

        return c;
    }).ToArray();

    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    public static Decoded Decode(byte[] png)
    {
        if (png.Length < 8 || !png.AsSpan(0, 8).SequenceEqual(Signature))
        {
            throw new InvalidDataException("No PNG signature.");
        }

        var chunks = new List<string>();
        using var idat = new MemoryStream();
        int width = 0, height = 0, bitDepth = 0, colourType = -1;
        var position = 8;
        while (chunks.LastOrDefault() != "IEND")
        {
            if (position + 12 > png.Length)
            {
                throw new InvalidDataException($"The file ends inside a chunk header at byte {position}, before IEND.");
            }

            var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(position));
            if (length < 0 || position + 12 + length > png.Length)
            {
                throw new InvalidDataException($"Chunk {chunks.Count} at byte {position} claims {length} bytes.");
            }

            var type = Encoding.ASCII.GetString(png, position + 4, 4);
            var data = png.AsSpan(position + 8, length);
            var stored = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(position + 8 + length));
            var computed = Crc32(png.AsSpan(position + 4, 4 + length));
            if (stored != computed)
            {
                throw new InvalidDataException($"Chunk {chunks.Count} ({type}) has CRC {stored:x8}; its bytes give {computed:x8}.");
            }

            chunks.Add(type);
            position += 12 + length;
            switch (type)
            {
                case "IHDR" when chunks.Count == 1 && length == 13:
                    width = BinaryPrimitives.ReadInt32BigEndian(data);
                    height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                    bitDepth = data[8];
                    colourType = data[9];
                    if (data[10] != 0 || data[11] != 0 || data[12] != 0)
                    {
                        throw new InvalidDataException("Compression, filter and interlace methods must all be 0.");
                    }

                    break;
                case "IHDR":
                    throw new InvalidDataException("IHDR must be the first chunk and 13 bytes long.");
                case "IDAT":
                    idat.Write(data);
                    break;
                case "IEND" when length != 0 || position != png.Length:
                    throw new InvalidDataException("IEND must be empty and last.");
                default:
                    break;
            }
        }

        if (chunks[0] != "IHDR")
        {
            throw new InvalidDataException("The first chunk is not IHDR.");
        }

        var channels = colourType switch
        {
            0 => 1,
            4 => 2,
            2 => 3,
            6 => 4,
            _ => throw new InvalidDataException($"Colour type {colourType} is not 8-bit gray, gray+alpha, RGB or RGBA."),
        };
        if (bitDepth != 8)
        {
            throw new InvalidDataException($"Bit depth {bitDepth}, not 8.");
        }

        using var inflated = new MemoryStream();
        idat.Position = 0;
        using (var zlib = new ZLibStream(idat, CompressionMode.Decompress, leaveOpen: true))
        {
            zlib.CopyTo(inflated);
        }

        var raw = inflated.ToArray();
        var stride = width * channels;
        if (raw.Length != (long)height * (stride + 1))
        {
            throw new InvalidDataException($"The image data has {raw.Length} bytes; {height} rows of 1 + {stride} need {(long)height * (stride + 1)}.");
        }

        var pixels = new byte[height * stride];
        for (var y = 0; y < height; y++)
        {
            var filter = raw[y * (stride + 1)];
            var line = raw.AsSpan((y * (stride + 1)) + 1, stride);
            var row = pixels.AsSpan(y * stride, stride);
            var above = y > 0 ? pixels.AsSpan((y - 1) * stride, stride) : new byte[stride];
            for (var x = 0; x < stride; x++)
            {
                int a = x >= channels ? row[x - channels] : 0, b = above[x], c = x >= channels ? above[x - channels] : 0;
                var predicted = filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => throw new InvalidDataException($"Row {y} has filter type {filter}."),
                };
                row[x] = (byte)(line[x] + predicted);
            }
        }

        return new Decoded(width, height, bitDepth, colourType, channels, pixels, chunks);
    }

    /// <summary>A PNG whose rows cycle through all five filters, its data split over two IDAT chunks, with an optional tEXt chunk.</summary>
    public static byte[] Encode(byte[] pixels, int width, int height, int channels, string? text = null)
    {
        var stride = width * channels;
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            var line = new byte[stride + 1];
            for (var y = 0; y < height; y++)
            {
                var filter = y % 5;
                line[0] = (byte)filter;
                for (var x = 0; x < stride; x++)
                {
                    var i = (y * stride) + x;
                    int a = x >= channels ? pixels[i - channels] : 0, b = y > 0 ? pixels[i - stride] : 0, c = x >= channels && y > 0 ? pixels[i - stride - channels] : 0;
                    var predicted = filter switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) / 2, _ => Paeth(a, b, c) };
                    line[x + 1] = (byte)(pixels[i] - predicted);
                }

                zlib.Write(line);
            }
        }

        var data = compressed.ToArray();
        using var png = new MemoryStream();
        png.Write(Signature);
        WriteChunk(png, "IHDR", Header(width, height, channels switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 }));
        if (text is not null)
        {
            WriteChunk(png, "tEXt", Encoding.Latin1.GetBytes("Comment\0" + text));
        }

        WriteChunk(png, "IDAT", data[..(data.Length / 2)]);
        WriteChunk(png, "IDAT", data[(data.Length / 2)..]);
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>The signature and IHDR of an 8-bit gray PNG of any claimed size, then zeros up to <paramref name="padTo"/> bytes.</summary>
    public static byte[] HeaderOnly(int width, int height, int padTo = 0)
    {
        using var png = new MemoryStream();
        png.Write(Signature);
        WriteChunk(png, "IHDR", Header(width, height, colourType: 0));
        png.SetLength(Math.Max(png.Length, padTo));
        return png.ToArray();
    }

    /// <summary>
    /// SOI, a JFIF APP0 and a baseline SOF0 frame header of the given size, then EOI; optionally a
    /// quantisation table, a Huffman table (marker C4, which is not a frame) and a fill byte before the frame.
    /// </summary>
    public static byte[] Jpeg(int width, int height, bool tablesBeforeTheFrame = false)
    {
        var bytes = new List<byte> { 0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00 };
        if (tablesBeforeTheFrame)
        {
            bytes.AddRange([0xFF, 0xDB, 0x00, 0x43, 0x00]);
            bytes.AddRange(Enumerable.Repeat((byte)1, 64));
            bytes.AddRange([0xFF, 0xC4, 0x00, 0x1F, 0x00, 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
            bytes.AddRange(Enumerable.Range(0, 12).Select(i => (byte)i));
            bytes.Add(0xFF);
        }

        bytes.AddRange([0xFF, 0xC0, 0x00, 0x11, 0x08, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01]);
        bytes.AddRange([0xFF, 0xD9]);
        return [.. bytes];
    }

    private static byte[] Header(int width, int height, int colourType)
    {
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;
        header[9] = (byte)colourType;
        return header;
    }

    private static void WriteChunk(Stream png, string type, byte[] data)
    {
        var typeAndData = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        png.Write(word);
        png.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typeAndData));
        png.Write(word);
    }

    private static int Paeth(int a, int b, int c)
    {
        var p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    public sealed record Decoded(int Width, int Height, int BitDepth, int ColourType, int Channels, byte[] Pixels, IReadOnlyList<string> Chunks);
}
