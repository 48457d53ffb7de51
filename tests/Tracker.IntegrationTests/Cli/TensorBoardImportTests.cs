using System.Globalization;
using System.Text.Json;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Reading;

namespace Tracker.IntegrationTests.Cli;

/// <summary><c>tracker import tensorboard</c> as users run it, on the event files PyTorch's SummaryWriter wrote (tests/Fixtures/tensorboard).</summary>
public sealed class TensorBoardImportTests
{
    private string _root = string.Empty;

    private static string Fixtures => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tensorboard");

    private string Runs => Path.Combine(_root, "runs");

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "tracker-tb-import", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    [Test]
    public async Task Import_PyTorchFixture_EveryValueGeneratePyLogged()
    {
        var result = await Import(Fixtures, "--project", "tb");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.Contain("Imported 2 runs").And.Contain("0 corrupt records"));
        foreach (var (name, lr) in new[] { ("lr0.1", 0.1), ("lr0.01", 0.01) })
        {
            var run = RunReader.Open(RunDirectory("tb", name));
            Assert.That(run.SkippedLines, Is.Zero);
            Assert.That((run.Info.Name, run.Info.State), Is.EqualTo((name, "finished")));
            Assert.That(run.Info.Config["lr"], Is.EqualTo(lr));
            Assert.That(run.Info.Config["opt"], Is.EqualTo("adam"));
            var rows = run.ReadHistory().ToList();
            double loss = 0;
            for (var step = 0; step < 200; step++)
            {
                loss = Math.Exp(-lr * step) + (0.01 * Math.Sin(step));
                var row = rows.Single(r => r.Step == step && r.Values.ContainsKey("train/loss"));
                Assert.That(row.Values["train/loss"], Is.EqualTo((double)(float)loss), $"loss at {step}");
                Assert.That(row.Values["train/acc"], Is.EqualTo((double)(float)(1 - (loss / 2))), $"acc at {step}");
            }

            Assert.That(rows.Single(r => r.Values.ContainsKey("edge/nan")), Has.Property("Step").EqualTo(0).And.Property("Values").ContainKey("edge/nan").WithValue(double.NaN));
            Assert.That(rows.Single(r => r.Values.ContainsKey("edge/inf")).Values["edge/inf"], Is.EqualTo(double.PositiveInfinity));
            Assert.That(rows.Single(r => r.Values.ContainsKey("edge/inf")).Step, Is.EqualTo(1));
            Assert.That(rows.Single(r => r.Values.ContainsKey("edge/big_step")).Step, Is.EqualTo(1L << 40));
            Assert.That(rows.Single(r => r.Values.ContainsKey("hparam/final_loss")).Values["hparam/final_loss"], Is.EqualTo((double)(float)loss));
            if (name == "lr0.1")
            {
                Assert.That(rows[0].Timestamp, Is.EqualTo(DateTimeOffset.FromUnixTimeMilliseconds(1_795_989_388_921)), "wall_time 1795989388.9207888 s");
            }

            long[] mediaSteps = [0, 50, 100, 150];
            var media = run.ReadMedia();
            Assert.That(media.Select(m => (m.Key, m.Step)), Is.EquivalentTo(mediaSteps.SelectMany(s => new[] { ("weights/fc1", s), ("samples", s), ("notes", s) })));
            foreach (var step in mediaSteps)
            {
                using var histogram = JsonDocument.Parse(media.Single(m => m.Key == "weights/fc1" && m.Step == step).Json);
                var bins = histogram.RootElement.GetProperty("bins").EnumerateArray().Select(e => e.GetDouble()).ToList();
                var counts = histogram.RootElement.GetProperty("counts").EnumerateArray().Select(e => e.GetInt64()).ToList();
                Assert.That(counts.Sum(), Is.EqualTo(1000), "np.random normal, 1000 values");
                Assert.That(bins, Has.Count.EqualTo(counts.Count + 1).And.Ordered.Ascending);

                var image = media.Single(m => m.Key == "samples" && m.Step == step);
                using var imageJson = JsonDocument.Parse(image.Json);
                Assert.That((imageJson.RootElement.GetProperty("width").GetInt32(), imageJson.RootElement.GetProperty("height").GetInt32(), imageJson.RootElement.GetProperty("format").GetString()), Is.EqualTo((16, 16, "png")));
                Assert.That(File.ReadAllBytes(image.FilePath!).AsSpan(0, 8).ToArray(), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }));

                using var text = JsonDocument.Parse(media.Single(m => m.Key == "notes" && m.Step == step).Json);
                Assert.That(text.RootElement.GetProperty("text").GetString(), Is.EqualTo(string.Create(CultureInfo.InvariantCulture, $"step {step}: lr={lr}")));
            }
        }
    }

    [Test]
    public async Task Import_Twice_ChangesNothing()
    {
        Assert.That((await Import(Fixtures)).ExitCode, Is.Zero);
        var before = Snapshot();

        var again = await Import(Fixtures);

        Assert.That(again.ExitCode, Is.Zero, again.ToString());
        Assert.That(again.Output, Does.Contain("0 scalars, 0 histograms, 0 images, 0 texts, 0 hparams"));
        Assert.That(Snapshot(), Is.EqualTo(before));
    }

    [Test]
    public async Task Import_FileThatGrew_AddsOnlyTheNewRecords()
    {
        var source = CopyFixture("lr0.1");
        var file = Directory.GetFiles(Path.Combine(source, "lr0.1"), "events.out.tfevents.*").Single();
        var bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes.AsSpan(0, bytes.Length / 2).ToArray()); // TensorBoard's writer mid-run, mid-record
        Assert.That((await Import(source)).ExitCode, Is.Zero);
        File.WriteAllBytes(file, bytes);

        var second = await Import(source);

        Assert.That(second.ExitCode, Is.Zero, second.ToString());
        var grown = File.ReadAllLines(Path.Combine(RunDirectory("tensorboard", "lr0.1"), "records.jsonl"));
        Directory.Delete(Runs, recursive: true);
        Assert.That((await Import(source)).ExitCode, Is.Zero);
        var whole = File.ReadAllLines(Path.Combine(RunDirectory("tensorboard", "lr0.1"), "records.jsonl"));
        // The hparams sub-folder's records came in the first import, before the rest of the grown file.
        Assert.That(grown.Select(WithoutSeq), Is.EquivalentTo(whole.Select(WithoutSeq)), "the same values as one import of the whole file, each once");
        Assert.That(grown.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("seq").GetInt64()), Is.EqualTo(Enumerable.Range(1, grown.Length).Select(i => (long)i)));
    }

    [Test]
    public async Task Import_FlippedByte_RecordSkippedCountedAndReported()
    {
        var source = CopyFixture("lr0.1");
        var file = Directory.GetFiles(Path.Combine(source, "lr0.1"), "events.out.tfevents.*").Single();
        var bytes = File.ReadAllBytes(file);
        var second = 12 + (int)BitConverter.ToUInt64(bytes, 0) + 4;
        bytes[second + 12 + 3] ^= 0x40; // the Event bytes of train/loss at step 0
        File.WriteAllBytes(file, bytes);

        var result = await Import(source);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.Contain("403 scalars").And.Contain("1 corrupt records skipped").And.Contain("1 corrupt records (bad checksum) skipped"));
        var rows = RunReader.Open(RunDirectory("tensorboard", "lr0.1")).ReadHistory().ToList();
        Assert.That(rows.Any(r => r.Step == 0 && r.Values.ContainsKey("train/loss")), Is.False);
        Assert.That(rows.Single(r => r.Step == 0 && r.Values.ContainsKey("train/acc")).Values["train/acc"], Is.EqualTo(0.5));
    }

    [Test]
    public async Task Import_FolderWithoutEventFiles_SaysWhatItLookedFor()
    {
        var result = await Import(_root);

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.FirstErrorLine, Does.Contain("No TensorBoard event files (events.out.tfevents.*) under"));
    }

    private Task<CliResult> Import(string source, params string[] more) =>
        CliProcess.RunAsync(["import", "tensorboard", source, "--dir", Runs, .. more]);

    private string RunDirectory(string project, string name) =>
        Directory.GetDirectories(Path.Combine(Runs, project)).Single(d => RunReader.Open(d).Info.Name == name);

    private string CopyFixture(string run)
    {
        var target = Path.Combine(_root, "logs", run);
        foreach (var file in Directory.GetFiles(Path.Combine(Fixtures, run), "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(target, Path.GetRelativePath(Path.Combine(Fixtures, run), file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
            File.SetAttributes(copy, FileAttributes.Normal);
        }

        return Path.Combine(_root, "logs");
    }

    private Dictionary<string, string> Snapshot() =>
        Directory.GetFiles(Runs, "*", SearchOption.AllDirectories).ToDictionary(f => f, f => Convert.ToHexString(File.ReadAllBytes(f)) + File.GetLastWriteTimeUtc(f).Ticks);

    private static string WithoutSeq(string line) => line[line.IndexOf(',', StringComparison.Ordinal)..];
}
