using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Tracker.Reading;
using static TorchSharp.torch;

namespace Tracker.Extensions.Tests;

/// <summary>
/// The TorchSharp integration: statistics, the watch schedule and how a tensor's shape becomes an
/// image are plain code and tested here; what needs libtorch is tested only where it loads.
/// </summary>
public sealed class TorchSharpTests
{
    private string _root = string.Empty;

    [SetUp]
    public void CreateRoot() => _root = Path.Combine(Path.GetTempPath(), "tracker-torch-tests", Guid.NewGuid().ToString("N"));

    [TearDown]
    public void DeleteRoot()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Test]
    public void Statistics_MatchAHandComputation_LeavingOutNonFiniteValues()
    {
        // 3, -4, 0: norm sqrt(9 + 16) = 5, mean -1/3, E[x²] = 25/3, so std = sqrt(25/3 - 1/9) = sqrt(74/9).
        var statistics = TensorStatistics.Of([3f, -4f, 0f, float.NaN, float.PositiveInfinity]);

        Assert.That(statistics.Norm, Is.EqualTo(5).Within(1e-12));
        Assert.That(statistics.Mean, Is.EqualTo(-1.0 / 3).Within(1e-12));
        Assert.That(statistics.Std, Is.EqualTo(Math.Sqrt(74.0 / 9)).Within(1e-12));
        Assert.That((statistics.Min, statistics.Max, statistics.NonFinite), Is.EqualTo((-4.0, 3.0, 2L)));
    }

    [Test]
    public void Statistics_OfOnlyNonFiniteValues_AreNaNAndCountThem()
    {
        var statistics = TensorStatistics.Of([float.NaN, float.NegativeInfinity]);

        Assert.That(new[] { statistics.Norm, statistics.Mean, statistics.Std, statistics.Min, statistics.Max }, Has.All.NaN);
        Assert.That(statistics.NonFinite, Is.EqualTo(2));
    }

    [Test]
    public void Watch_LogsEveryNthStepWithThatStepsValues()
    {
        var run = NewRun();
        var samples = 0;
        using (var watch = new ModuleWatch(run, new WatchSchedule(3), () => new Dictionary<string, object?> { ["gradients/fc.weight/norm"] = (double)++samples }))
        {
            for (var step = 0; step < 7; step++)
            {
                watch.Step();
                run.Log("train/loss", 1.0 / (step + 1));
            }
        }

        run.Finish();
        var rows = RunReader.Open(run.Directory!).ReadHistory().ToList();
        Assert.That(rows.Where(r => r.Values.ContainsKey("gradients/fc.weight/norm")).Select(r => r.Step), Is.EqualTo(new long[] { 0, 3, 6 }));
        Assert.That(rows, Has.Count.EqualTo(7), "the watch joins the step's row instead of adding steps");
        Assert.That(() => new WatchSchedule(0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Describe_WithHistograms_LogsAHistogramBesideTheStatisticsAtTheWatchedSteps()
    {
        var run = NewRun();
        using (var watch = new ModuleWatch(run, new WatchSchedule(2), () =>
        {
            var values = new Dictionary<string, object?>();
            TorchSharpRunExtensions.Describe(values, "gradients/fc.weight", [1f, 2f, 3f, 4f, float.NaN], histogram: true);
            TorchSharpRunExtensions.Describe(values, "gradients/fc.bias", [5f], histogram: false);
            return values;
        }))
        {
            for (var step = 0; step < 4; step++)
            {
                watch.Step();
                run.Log("train/loss", 1.0 / (step + 1));
            }
        }

        run.Finish();
        var reader = RunReader.Open(run.Directory!);
        var media = reader.ReadMedia().ToList();
        Assert.That(media.Select(m => (m.Key, m.Kind, m.Step)), Is.EqualTo(new[] { ("gradients/fc.weight", "histogram", 0L), ("gradients/fc.weight", "histogram", 2L) }),
            "one histogram per watched step, and none for the tensor logged without");
        using var histogram = JsonDocument.Parse(media[0].Json);
        Assert.That(histogram.RootElement.GetProperty("counts").EnumerateArray().Sum(c => c.GetInt64()), Is.EqualTo(4));
        Assert.That(histogram.RootElement.GetProperty("nan").GetInt64(), Is.EqualTo(1));
        Assert.That(reader.ReadHistory().First().Values.Keys, Does.Contain("gradients/fc.weight/norm").And.Contain("gradients/fc.bias/max"));
    }

    [Test]
    public void Describe_OfAnEmptyTensor_AddsNoHistogram()
    {
        var values = new Dictionary<string, object?>();

        TorchSharpRunExtensions.Describe(values, "parameters/empty", [], histogram: true);

        Assert.That(values.Keys, Does.Not.Contain("parameters/empty"), "a histogram of no values would throw mid-training");
    }

    [Test]
    public void ImageLayout_OfCxHxW_InterleavesTheChannelsOfEachPixel()
    {
        // Channel c, row y, column x holds 10c + 2y + x.
        var layout = TensorImageLayout.Of([3, 2, 2]);

        var pixels = layout.ToHwc<byte>([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);

        Assert.That((layout.ImageWidth, layout.ImageHeight, layout.Channels), Is.EqualTo((2, 2, 3)));
        Assert.That(pixels, Is.EqualTo(new byte[] { 0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23 }));
    }

    [Test]
    public void ImageLayout_OfHxW_IsGrayRowByRow()
    {
        var layout = TensorImageLayout.Of([2, 3]);

        var pixels = layout.ToHwc<float>([0f, 1, 2, 3, 4, 5]);

        Assert.That((layout.ImageWidth, layout.ImageHeight, layout.Channels), Is.EqualTo((3, 2, 1)));
        Assert.That(pixels, Is.EqualTo(new[] { 0f, 1, 2, 3, 4, 5 }));
    }

    [Test]
    public void ImageLayout_OfABatch_IsAGridEightToARowWithTwoBlackPixelsAroundEach()
    {
        // Ten 1×2 gray images; image n is (2n + 1, 2n + 2).
        var values = Enumerable.Range(1, 20).Select(v => (byte)v).ToArray();
        var layout = TensorImageLayout.Of([10, 1, 1, 2]);

        var pixels = layout.ToHwc<byte>(values);

        // 8 columns of (2 + 2) pixels and a border of 2; 2 rows of (1 + 2) and a border of 2.
        Assert.That((layout.ImageWidth, layout.ImageHeight, layout.Channels), Is.EqualTo((34, 8, 1)));
        byte At(int x, int y) => pixels[(y * 34) + x];
        Assert.That(new[] { At(2, 2), At(3, 2) }, Is.EqualTo(new byte[] { 1, 2 }), "image 0, top left inside the border");
        Assert.That(new[] { At(30, 2), At(31, 2) }, Is.EqualTo(new byte[] { 15, 16 }), "image 7, the last of the first row");
        Assert.That(new[] { At(2, 5), At(3, 5) }, Is.EqualTo(new byte[] { 17, 18 }), "image 8 starts the second row");
        Assert.That(new[] { At(6, 5), At(7, 5) }, Is.EqualTo(new byte[] { 19, 20 }));
        Assert.That(pixels.Count(p => p != 0), Is.EqualTo(20), "everything else is padding");
    }

    [Test]
    public void ImageLayout_OfABatchOfOne_IsThatImageWithoutPadding()
    {
        var layout = TensorImageLayout.Of([1, 3, 2, 2]);

        var pixels = layout.ToHwc<byte>([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);

        Assert.That((layout.ImageWidth, layout.ImageHeight), Is.EqualTo((2, 2)));
        Assert.That(pixels, Is.EqualTo(new byte[] { 0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23 }));
    }

    [TestCase(new long[] { 5 }, "is not an image")]
    [TestCase(new long[] { 2, 3, 4, 5, 6 }, "is not an image")]
    [TestCase(new long[] { 5, 4, 4 }, "has 5 channels")]
    [TestCase(new long[] { 32, 32, 3 }, "permute(2, 0, 1)")]
    [TestCase(new long[] { 8, 0, 4, 4 }, "has 0 channels")]
    [TestCase(new long[] { 0, 4 }, "no pixels")]
    [TestCase(new long[] { 0, 3, 4, 4 }, "no pixels")]
    [TestCase(new long[] { 3, 10_000, 10_000 }, "100.0 megapixels")]
    [TestCase(new long[] { 65, 3, 1000, 1000 }, "72.3 megapixels")]
    [TestCase(new long[] { long.MaxValue, 3, long.MaxValue, long.MaxValue }, "megapixels")]
    public void ImageLayout_OfAShapeThatIsNoImage_SaysWhatToPass(long[] shape, string message)
    {
        Assert.That(() => TensorImageLayout.Of(shape), Throws.ArgumentException.With.Message.Contains(message));
    }

    [Test]
    public void ImageLayout_ABatchLoggedThroughARun_IsThePngsPixels()
    {
        var values = Enumerable.Range(0, 2 * 3 * 2 * 2).Select(v => (byte)(v * 10)).ToArray();
        var layout = TensorImageLayout.Of([2, 3, 2, 2]);
        var pixels = layout.ToHwc<byte>(values);
        var run = NewRun();

        run.Log("samples", Image.FromPixels(pixels, layout.ImageWidth, layout.ImageHeight, layout.Channels));
        run.Finish();

        var media = RunReader.Open(run.Directory!).ReadMedia("samples").Single();
        var png = DecodePng(media.FilePath!);
        Assert.That((png.Width, png.Height, png.Channels), Is.EqualTo((10, 6, 3)));
        Assert.That(png.Pixels, Is.EqualTo(pixels));
    }

    [Test]
    public void LogTensorAndWatch_WithLibTorch()
    {
        RequireLibTorch();
        var run = NewRun();
        var model = nn.Linear(2, 1);
        using var watch = run.Watch(model, logEvery: 1, histograms: true);
        using var loss = model.forward(ones(4, 2)).sum();
        loss.backward();
        watch.Step();
        run.Log("train/loss", loss);
        Assert.That(() => run.Log("bad", ones(3)), Throws.ArgumentException.With.Message.Contains("3 elements"));
        run.Finish();

        var reader = RunReader.Open(run.Directory!);
        var row = reader.ReadHistory().Single();
        Assert.That((double)row.Values["train/loss"]!, Is.EqualTo(loss.item<float>()).Within(1e-6));
        Assert.That(row.Values.Keys, Does.Contain("gradients/weight/norm").And.Contain("parameters/bias/mean"));
        Assert.That(reader.ReadMedia().Select(m => (m.Key, m.Kind, m.Step)),
            Is.EquivalentTo(new[] { ("parameters/weight", "histogram", 0L), ("parameters/bias", "histogram", 0L), ("gradients/weight", "histogram", 0L), ("gradients/bias", "histogram", 0L) }));
    }

    [Test]
    public void ToImage_WithLibTorch_ReadsPyTorchLayoutsAndValueRanges()
    {
        RequireLibTorch();
        byte[] hwc = [0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23];
        using var chw = tensor(new byte[] { 0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23 }, [3, 2, 2]);
        using var permuted = tensor(hwc, [2, 2, 3]).permute(2, 0, 1); // not contiguous
        using var gray = tensor(new[] { -1f, 0f, 0.5f, 2f }, [2, 2]);
        using var mask = tensor(new[] { true, false }, [1, 2]);
        using var batch = rand(10, 3, 4, 4, dtype: ScalarType.Float16);
        var run = NewRun();

        run.Log(new Dictionary<string, object?>
        {
            ["chw"] = chw.ToImage(caption: "uint8"),
            ["permuted"] = permuted.ToImage(),
            ["gray"] = gray.ToImage(),
            ["mask"] = mask.ToImage(),
            ["batch"] = batch.ToImage(),
        });
        Assert.That(() => arange(4).reshape(2, 2).ToImage(), Throws.ArgumentException.With.Message.Contains("to_type(ScalarType.Byte)"));
        Assert.That(() => zeros(32, 32, 3).ToImage(), Throws.ArgumentException.With.Message.Contains("permute(2, 0, 1)"));
        run.Finish();

        var media = RunReader.Open(run.Directory!).ReadMedia().ToDictionary(m => m.Key);
        Assert.That(DecodePng(media["chw"].FilePath!).Pixels, Is.EqualTo(hwc));
        Assert.That(media["chw"].Json, Does.Contain("\"caption\":\"uint8\""));
        Assert.That(DecodePng(media["permuted"].FilePath!).Pixels, Is.EqualTo(hwc), "permute(2, 0, 1) of an H×W×C tensor is the same image");
        Assert.That(DecodePng(media["gray"].FilePath!).Pixels, Is.EqualTo(new byte[] { 0, 0, 128, 255 }), "floats are [0, 1], clamped");
        Assert.That(DecodePng(media["mask"].FilePath!).Pixels, Is.EqualTo(new byte[] { 255, 0 }));
        var grid = DecodePng(media["batch"].FilePath!);
        Assert.That((grid.Width, grid.Height, grid.Channels), Is.EqualTo(((8 * 6) + 2, (2 * 6) + 2, 3)));
    }

    [Test]
    public void ToHistogram_WithLibTorch_BinsTheValuesAndCountsNaN()
    {
        RequireLibTorch();
        using var values = tensor(new[] { 0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, double.NaN });

        var histogram = values.reshape(3, 4).ToHistogram(bins: 5);
        var integers = arange(10).ToHistogram(bins: 2);

        Assert.That(histogram.Counts, Is.EqualTo(new long[] { 2, 2, 2, 2, 3 }));
        Assert.That((histogram.Edges[0], histogram.Edges[^1], histogram.NaNCount), Is.EqualTo((0.0, 10.0, 1L)));
        Assert.That(integers.Counts, Is.EqualTo(new long[] { 5, 5 }));
        Assert.That(() => values.ToHistogram(bins: 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => ones(2, dtype: ScalarType.ComplexFloat32).ToHistogram(), Throws.ArgumentException.With.Message.Contains("abs()"));
    }

    private Run NewRun() =>
        Run.Init(new RunOptions { Project = "torch", Dir = _root, PrintSummary = false, FinishOnProcessExit = false, SystemMetricsInterval = null });

    private static void RequireLibTorch()
    {
        try
        {
            _ = ones(1);
        }
        catch (TypeInitializationException ex)
        {
            Assert.Ignore($"libtorch cannot be loaded here, so what needs it is not tested: {ex.InnerException?.Message ?? ex.Message} "
                + "(TorchSharp 0.107's native library needs GLIBCXX_3.4.32, which Debian 12 does not have; this test project adds no libtorch package).");
        }
    }

    /// <summary>Reads a PNG's size and 8-bit pixels back (any of the five row filters), to check what was written.</summary>
    private static (int Width, int Height, int Channels, byte[] Pixels) DecodePng(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int width = 0, height = 0, channels = 0;
        using var compressed = new MemoryStream();
        for (var offset = 8; offset < bytes.Length;)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(offset));
            var type = Encoding.ASCII.GetString(bytes, offset + 4, 4);
            var data = bytes.AsSpan(offset + 8, length);
            if (type == "IHDR")
            {
                Assert.That(data[8], Is.EqualTo(8), "bit depth");
                (width, height) = (BinaryPrimitives.ReadInt32BigEndian(data), BinaryPrimitives.ReadInt32BigEndian(data[4..]));
                channels = data[9] switch { 0 => 1, 4 => 2, 2 => 3, 6 => 4, _ => throw new AssertionException($"colour type {data[9]}") };
            }
            else if (type == "IDAT")
            {
                compressed.Write(data);
            }

            offset += 12 + length;
        }

        compressed.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionMode.Decompress))
        {
            zlib.CopyTo(inflated);
        }

        var rows = inflated.ToArray();
        var stride = width * channels;
        var pixels = new byte[stride * height];
        for (var y = 0; y < height; y++)
        {
            var filter = rows[y * (stride + 1)];
            for (var x = 0; x < stride; x++)
            {
                int a = x >= channels ? pixels[(y * stride) + x - channels] : 0;
                int b = y > 0 ? pixels[((y - 1) * stride) + x] : 0;
                int c = x >= channels && y > 0 ? pixels[((y - 1) * stride) + x - channels] : 0;
                var p = a + b - c;
                var predicted = filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Math.Abs(p - a) <= Math.Abs(p - b) && Math.Abs(p - a) <= Math.Abs(p - c) ? a : Math.Abs(p - b) <= Math.Abs(p - c) ? b : c,
                    _ => throw new AssertionException($"row filter {filter}"),
                };
                pixels[(y * stride) + x] = (byte)(rows[(y * (stride + 1)) + 1 + x] + predicted);
            }
        }

        return (width, height, channels, pixels);
    }
}
