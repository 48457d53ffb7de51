using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary><c>tracker report</c>: the HTML file opened from file:// in headless Chromium.</summary>
[TestFixture]
public sealed class ReportTests
{
    private string _root = null!;

    [SetUp]
    public void CreateRuns()
    {
        _root = Path.Combine(Path.GetTempPath(), "tracker-report-tests", Guid.NewGuid().ToString("N"));
        foreach (var (name, lr) in new[] { ("baseline </script><b>bold</b>", 0.1), ("wider", 0.2) })
        {
            using var run = Run.Init(new RunOptions
            {
                Project = "report", Name = name, Dir = _root, Mode = RunMode.Offline, PrintSummary = false, FinishOnProcessExit = false,
                Config = new Dictionary<string, object?> { ["lr"] = lr, ["batch"] = 32 },
            });
            for (var step = 0; step < 2000; step++)
            {
                run.Log(new Dictionary<string, object?> { ["train/loss"] = 1.0 / (step + 1 + lr), ["train/acc"] = step / 2000.0 });
                if (step % 100 == 0)
                {
                    run.Log(new Dictionary<string, object?> { ["val/loss"] = 2.0 / (step + 1) }, commit: false);
                }
            }
        }
    }

    [TearDown]
    public void DeleteRuns() => Directory.Delete(_root, recursive: true);

    [Test]
    public async Task Report_OpenedFromFile_DrawsOneChartPerMetricWithBothRunsAndMakesNoRequest()
    {
        var ids = Directory.GetDirectories(Path.Combine(_root, "report")).Select(Path.GetFileName).ToList();
        var notes = Path.Combine(_root, "notes.md");
        await File.WriteAllTextAsync(notes, "## Findings\n\nThe **wider** run converges faster.\n\n<script>alert(1)</script>");
        var html = Path.Combine(_root, "report.html");

        var result = await CliProcess.RunAsync(["report", .. ids!, "--dir", _root, "-o", html, "--title", "Learning rate sweep", "--notes", notes]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var file = new Uri(html);
        await using var browser = await Browser.LaunchAsync(file);
        var page = await browser.NewPageAsync();
        await page.GotoAsync(file.ToString());
        await page.WaitForSelectorAsync("body[data-charts='3']");
        await Browser.SaveScreenshotAsync(page, "report");

        Assert.That(await page.Locator(".chart canvas").CountAsync(), Is.EqualTo(3), "one chart per metric");
        Assert.That(await page.Locator(".chart").EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.key)"), Is.EqualTo(new[] { "train/acc", "train/loss", "val/loss" }));
        Assert.That(await page.Locator(".chart").EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.series)"), Has.All.EqualTo("2"));
        Assert.That(await page.Locator("header h1").TextContentAsync(), Is.EqualTo("Learning rate sweep"));
        Assert.That(await page.Locator(".notes strong").TextContentAsync(), Is.EqualTo("wider"), "the notes are rendered Markdown");
        Assert.That(await page.Locator(".notes script").CountAsync(), Is.Zero, "raw HTML in the notes is not passed through");
        Assert.That(await page.Locator("#config-diff tbody tr").AllTextContentsAsync(), Has.Count.EqualTo(1).And.All.StartsWith("lr"), "only the key that differs");
        Assert.That(await page.Locator("table.summary").TextContentAsync(), Does.Contain("baseline </script><b>bold</b>"), "a run name is text, even one that closes a script");
        Assert.That(await page.Locator("table.summary b").CountAsync(), Is.Zero);
        Assert.That(new FileInfo(html).Length, Is.LessThan(1_000_000));
        await browser.EndTestAsync(); // nothing but the file itself was requested, and no console error
    }
}
