namespace Tracker.Tests;

public sealed class MediaTests : RunTestBase
{
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
        Assert.That(media.Select(m => (m.Key, m.Kind, m.Step)), Is.EqualTo(new[] { ("samples", "image", 0L), ("weights", "histogram", 0L), ("preds", "table", 0L), ("note", "text", 0L) }));
        Assert.That(File.Exists(media[0].FilePath), media[0].Json);
        TestContext.Out.WriteLine(File.ReadAllText(Path.Combine(run.Directory!, "records.jsonl")));
        Assert.That(History(run).Select(r => r.Values["loss"]), Is.EqualTo(new object[] { 0.5, 0.25 }));
    }
}
