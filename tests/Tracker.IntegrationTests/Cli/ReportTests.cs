using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Reading;

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

    [Test]
    public async Task Report_InADarkSystemTheme_IsDark_WithLightAxisText()
    {
        var ids = Directory.GetDirectories(Path.Combine(_root, "report")).Select(Path.GetFileName).ToList();
        var html = Path.Combine(_root, "report.html");
        var result = await CliProcess.RunAsync(["report", .. ids!, "--dir", _root, "-o", html]);
        Assert.That(result.ExitCode, Is.Zero, result.ToString());

        var file = new Uri(html);
        await using var browser = await Browser.LaunchAsync(file);
        var page = await browser.NewPageAsync();
        await page.EmulateMediaAsync(new() { ColorScheme = Microsoft.Playwright.ColorScheme.Dark });
        await page.GotoAsync(file.ToString());
        await page.WaitForSelectorAsync("body[data-charts='3']");
        await Browser.SaveScreenshotAsync(page, "report-dark");

        // Relative luminance, 0 black to 1 white, of a colour as the page resolves it.
        const string luminance = """
            c => { const probe = document.createElement('i'); probe.style.color = c; document.body.append(probe);
              const [r, g, b] = getComputedStyle(probe).color.match(/[\d.]+/g).map(v => Number(v) / 255).map(v => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
              probe.remove(); return 0.2126 * r + 0.7152 * g + 0.0722 * b; }
            """;
        var background = await page.EvaluateAsync<double>($"() => ({luminance})(getComputedStyle(document.body).backgroundColor)");
        var card = await page.EvaluateAsync<double>($"() => ({luminance})(getComputedStyle(document.querySelector('.chart')).backgroundColor)");
        var axes = await page.EvaluateAsync<double[]>($"() => [...document.querySelectorAll('[data-axis-colour]')].map(e => ({luminance})(e.dataset.axisColour))");
        Assert.Multiple(() =>
        {
            Assert.That(background, Is.LessThan(0.05), "page background");
            Assert.That(card, Is.LessThan(0.05), "chart card");
            Assert.That(axes, Has.Length.EqualTo(3).And.All.GreaterThan(0.6), "each chart's axis text");
        });

        // Printed, the page is light: the axes are drawn again in dark text.
        await page.EmulateMediaAsync(new() { Media = Microsoft.Playwright.Media.Print });
        await Microsoft.Playwright.Assertions.Expect(page.Locator("[data-axis-colour]").First).ToHaveAttributeAsync("data-axis-colour", "#1d2330");
        var printed = await page.EvaluateAsync<double[]>($"() => [...document.querySelectorAll('[data-axis-colour]')].map(e => ({luminance})(e.dataset.axisColour))");
        Assert.That(printed, Has.All.LessThan(0.1), "each chart's axis text on paper");
        await browser.EndTestAsync();
    }

    [Test]
    public async Task Report_ChartsHaveLegends_RunColours_DistinctTicks_PointsAndMarkers_AsTheWebUi()
    {
        var directories = new List<string>();
        foreach (var (name, scale) in new[] { ("slow", 1.0), ("fast", 2.0) })
        {
            using var run = Run.Init(new RunOptions { Project = "schedules", Name = name, Dir = _root, Mode = RunMode.Offline, PrintSummary = false, FinishOnProcessExit = false });
            directories.Add(run.Directory!);
            for (var step = 0; step < 100; step++)
            {
                run.Log(new Dictionary<string, object?>
                {
                    ["lr"] = scale * 1e-3 * Math.Pow(10, -3.0 * step / 99),
                    ["loss"] = step == 50 ? double.NaN : scale / (step + 1),
                });
            }

            run.Log(new Dictionary<string, object?> { ["test/acc"] = 0.9 / scale });
        }

        var html = Path.Combine(_root, "schedules.html");
        var result = await CliProcess.RunAsync(["report", .. directories, "-o", html]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var file = new Uri(html);
        await using var browser = await Browser.LaunchAsync(file);
        var page = await browser.NewPageAsync();
        await page.GotoAsync(file.ToString());
        await page.WaitForSelectorAsync("body[data-charts='3']");
        await Browser.SaveScreenshotAsync(page, "report-legends");

        var lr = page.Locator(".chart[data-key='lr']");
        var items = lr.Locator(".chart-legend .legend-item");
        Assert.That(await items.AllTextContentsAsync(), Is.EqualTo(new[] { "slow", "fast" }));
        var ticks = (await lr.Locator(".plot").GetAttributeAsync("data-y-ticks"))!.Split('|');
        Assert.That(ticks, Has.Length.GreaterThanOrEqualTo(3).And.Unique, "tick labels that read apart");
        Assert.That(ticks, Has.All.Match(@"^(0|0\.0\d+)$"), "decimals on a linear axis that reaches 0.001, not rounded away to 0 and not 3-decimal repeats");

        // Each run one colour: the summary table's swatch, and its line on every chart.
        var swatches = await page.Locator("table.summary .swatch").EvaluateAllAsync<string[]>("s => s.map(e => getComputedStyle(e).backgroundColor)");
        var lines = await page.Locator(".chart[data-key='loss'] .legend-item line").EvaluateAllAsync<string[]>(
            "ls => ls.map(l => { const e = document.createElement('i'); e.style.color = l.getAttribute('stroke'); document.body.append(e); const c = getComputedStyle(e).color; e.remove(); return c; })");
        Assert.That(lines, Is.EqualTo(swatches).And.Unique);

        await items.Nth(1).ClickAsync();
        Assert.That(await items.Nth(1).GetAttributeAsync("class"), Does.Contain("off"), "a click hides the run");
        var yMax = double.Parse((await lr.Locator(".plot").GetAttributeAsync("data-y-max"))!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(yMax, Is.LessThan(1.5e-3), "fast hidden: y fits slow's peak of 1e-3, not fast's 2e-3");

        Assert.That(await page.Locator(".chart[data-key='test/acc'] .point-label").AllTextContentsAsync(), Is.EqualTo(new[] { "0.9", "0.45" }), "one-point metrics drawn and labelled");
        Assert.That(await page.Locator(".chart[data-key='loss'] .mark-nan").CountAsync(), Is.EqualTo(2), "each run's NaN marked");
        await browser.EndTestAsync();
    }

    [Test]
    public async Task Report_MetricWithStepMetric_IsChartedAgainstItByDefault_AndCanBeSwitchedToStep()
    {
        // epoch = step / 1000 at every step; val/acc = step / 1000 at steps 999, 1999, ...: against epoch, x equals y.
        string directory;
        using (var run = Run.Init(new RunOptions { Project = "epochs", Name = "epochs", Dir = _root, Mode = RunMode.Offline, PrintSummary = false, FinishOnProcessExit = false }))
        {
            directory = run.Directory!;
            run.DefineMetric("val/*", stepMetric: "epoch");
            for (var step = 0; step < 20_000; step++)
            {
                var values = new Dictionary<string, object?> { ["epoch"] = step / 1000.0, ["train/loss"] = 1.0 / (step + 1) };
                if (step % 1000 == 999)
                {
                    values["val/acc"] = step / 1000.0;
                }

                run.Log(values);
            }
        }

        var html = Path.Combine(_root, "epochs.html");
        var result = await CliProcess.RunAsync(["report", directory, "-o", html]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var data = JsonNode.Parse(Regex.Match(await File.ReadAllTextAsync(html), "<script type=\"application/json\" id=\"report-data\">(.*?)</script>", RegexOptions.Singleline).Groups[1].Value)!;
        var metrics = data["metrics"]!.AsArray().ToDictionary(m => (string)m!["key"]!);
        Assert.That((string?)metrics["val/acc"]!["step_metric"], Is.EqualTo("epoch"));
        Assert.That(metrics["train/loss"]!["step_metric"], Is.Null, "no definition matches train/loss");
        var series = metrics["val/acc"]!["series"]![0]!;
        var xs = series["step_metric_x"]!.AsArray().Select(x => (double)x!).ToList();
        Assert.That(xs, Has.Count.EqualTo(20));
        Assert.That(xs, Is.EqualTo(series["last"]!.AsArray().Select(y => (double)y!)), "x equals y");

        var file = new Uri(html);
        await using var browser = await Browser.LaunchAsync(file);
        var page = await browser.NewPageAsync();
        await page.GotoAsync(file.ToString());
        await page.WaitForSelectorAsync("body[data-charts='3']");
        var chart = page.Locator(".chart[data-key='val/acc']");
        Assert.That(await chart.GetAttributeAsync("data-x-axis"), Is.EqualTo("metric:epoch"));
        Assert.That(await chart.GetAttributeAsync("data-x-label"), Is.EqualTo("epoch"));
        Assert.That(await chart.GetAttributeAsync("data-x-max"), Is.EqualTo("19.999"));
        Assert.That(await page.Locator(".chart[data-key='train/loss']").GetAttributeAsync("data-x-axis"), Is.EqualTo("step"));
        await chart.Locator(".u-over").HoverAsync();
        Assert.That(await chart.Locator(".readout").TextContentAsync(), Does.StartWith("epoch ").And.Contain("epochs: "), "the readout names the x-axis and the run");
        await Browser.SaveScreenshotAsync(page, "report-step-metric");

        await chart.Locator("select.x-axis").SelectOptionAsync("step");
        Assert.That(await chart.GetAttributeAsync("data-x-axis"), Is.EqualTo("step"));
        Assert.That(await chart.GetAttributeAsync("data-x-max"), Is.EqualTo("19999"));
        await browser.EndTestAsync();
    }

    [Test]
    public async Task Report_RunsWithMedia_InlinesImagesHistogramsTablesAndTextsWithStepSliders()
    {
        string full, imagesOnly;
        using (var run = MediaRun("full"))
        {
            full = run.Directory!;
            for (var step = 0; step < 30; step++)
            {
                double[] values = [.. Enumerable.Range(0, 1000).Select(i => step + (Math.Sin(i) * (1 + (step / 10.0)))), .. step == 29 ? new[] { double.NaN, double.NaN } : []];
                var row = new Dictionary<string, object?>
                {
                    ["loss"] = 1.0 / (step + 1),
                    ["samples"] = Image.FromPixels(Solid(Colour(step), 4, 3), 4, 3, 3, caption: $"sample at {step}"),
                    ["weights"] = Histogram.FromValues(values),
                };
                if (step is 0 or 29)
                {
                    row["notes"] = new Text(step == 0 ? "first notes" : "epoch 29:\n  loss plateaued");
                }

                if (step == 29)
                {
                    row["predictions"] = new Table(["id", "label"], Enumerable.Range(0, 150).Select(i => new object?[] { i, $"class {i % 7}" }));
                }

                run.Log(row, step: step);
            }
        }

        using (var run = MediaRun("images only"))
        {
            imagesOnly = run.Directory!;
            for (var step = 0; step < 3; step++)
            {
                run.Log("samples", Image.FromPixels(Solid(Colour(step), 6, 5), 6, 5, 3), step: step);
            }
        }

        File.Delete(Tracker.Reading.RunReader.Open(imagesOnly).ReadMedia("samples").Single(m => m.Step == 0).FilePath!); // a file deleted since

        var html = Path.Combine(_root, "media.html");
        var result = await CliProcess.RunAsync(["report", full, imagesOnly, "-o", html]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var file = new Uri(html);
        await using var browser = await Browser.LaunchAsync(file);
        var page = await browser.NewPageAsync();
        await page.GotoAsync(file.ToString());
        await page.WaitForSelectorAsync("body[data-media='4']");
        await Browser.SaveScreenshotAsync(page, "report-media");

        Assert.That(await page.Locator("h2").AllTextContentsAsync(), Is.EqualTo(new[] { "Summary", "Config", "Metrics", "Media" }), "media come after the charts");
        Assert.That(await page.Locator(".media-key").EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.key)"), Is.EqualTo(new[] { "notes", "predictions", "samples", "weights" }));

        // Images: 20 of 30 steps, evenly spaced, first and last included; decoded with the logged pixels.
        var samples = page.Locator(".media-key[data-key='samples'] .media-card");
        Assert.That(await samples.EvaluateAllAsync<string[]>("els => els.map(e => `${e.dataset.run}: ${e.dataset.steps} of ${e.dataset.total}`)"), Is.EqualTo(new[] { "full: 20 of 30", "images only: 2 of 3" }));
        var card = samples.First;
        var slider = card.Locator("input[type=range]");
        Assert.That(await slider.GetAttributeAsync("max"), Is.EqualTo("19"));
        Assert.That(await card.Locator(".media-note").TextContentAsync(), Does.Contain("20 of 30 steps"));
        Assert.That(await samples.Nth(1).Locator(".media-note").AllTextContentsAsync(), Is.EqualTo(new[] { "1 image file missing from the run directory, left out." }), "no steps note when every step is inlined");
        Assert.That(await ShownImageAsync(card), Is.EqualTo((4, 3, Colour(29))), "the last step is shown first");
        Assert.That(await card.Locator("figcaption").TextContentAsync(), Is.EqualTo("sample at 29"));
        Assert.That(await ShownImageAsync(samples.Nth(1)), Is.EqualTo((6, 5, Colour(2))));

        await slider.FillAsync("0");
        Assert.That(await card.Locator(".media-step").TextContentAsync(), Is.EqualTo("step 0"));
        Assert.That(await card.Locator("figcaption").TextContentAsync(), Is.EqualTo("sample at 0"));
        Assert.That(await ShownImageAsync(card), Is.EqualTo((4, 3, Colour(0))));
        await slider.FillAsync("10");
        Assert.That(await card.GetAttributeAsync("data-step"), Is.EqualTo("15"), "index 10 of 20 over 30 steps is step round(10 × 29 / 19)");
        Assert.That(await ShownImageAsync(card), Is.EqualTo((4, 3, Colour(15))));

        // Histograms: every step (under the 100 cap) in a heatmap in the run's colour, the selected step's NaN count below.
        var weights = page.Locator(".media-key[data-key='weights'] .media-card");
        Assert.That(await weights.CountAsync(), Is.EqualTo(1), "only the run that logged it");
        Assert.That(await weights.Locator("canvas.heatmap").GetAttributeAsync("data-steps"), Is.EqualTo("30"));
        var blue = await weights.Locator("canvas.heatmap").EvaluateAsync<int>("""
            c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                   for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] - d[i] > 40) n++; return n; }
            """);
        Assert.That(blue, Is.GreaterThan(1000), "the bins are drawn in the first run's blue");
        Assert.That(await weights.Locator(".readout").TextContentAsync(), Does.Contain("1000 values").And.Contain("2 NaN"));
        Assert.That(await weights.Locator(".media-note").TextContentAsync(), Does.Contain("2 NaN"));
        await weights.Locator("input[type=range]").FillAsync("0");
        Assert.That(await weights.GetAttributeAsync("data-step"), Is.EqualTo("0"));
        Assert.That(await weights.Locator(".readout").TextContentAsync(), Does.Not.Contain("NaN"));

        // Tables: the first 100 rows; texts: the last step, a slider back to the first.
        var predictions = page.Locator(".media-key[data-key='predictions'] .media-card");
        Assert.That(await predictions.Locator("thead th").AllTextContentsAsync(), Is.EqualTo(new[] { "id", "label" }));
        Assert.That(await predictions.Locator("tbody tr").CountAsync(), Is.EqualTo(100));
        Assert.That(await predictions.Locator("tbody tr").Nth(8).Locator("td").AllTextContentsAsync(), Is.EqualTo(new[] { "8", "class 1" }));
        Assert.That(await predictions.Locator(".media-note").TextContentAsync(), Is.EqualTo("The first 100 of 150 rows."));
        Assert.That(await predictions.Locator("input[type=range]").CountAsync(), Is.Zero, "one step needs no slider");
        var notes = page.Locator(".media-key[data-key='notes'] .media-card");
        Assert.That(await notes.Locator("pre").TextContentAsync(), Is.EqualTo("epoch 29:\n  loss plateaued"));
        Assert.That(await notes.Locator("pre").EvaluateAsync<string>("e => getComputedStyle(e).whiteSpace"), Is.EqualTo("pre-wrap"));
        await notes.Locator("input[type=range]").FillAsync("0");
        Assert.That(await notes.Locator("pre").TextContentAsync(), Is.EqualTo("first notes"));
        await browser.EndTestAsync(); // the images are data: URIs: nothing but the file itself was requested, and no console error
    }

    [Test]
    public async Task Report_MediaWithMarkup_ShowsItAsTextAndThePageStillWorks()
    {
        const string Markup = "<script>alert(1)</script></script><!--<script><b>bold</b> & <img src=x onerror=alert(2)>";
        string directory;
        using (var run = MediaRun("markup"))
        {
            directory = run.Directory!;
            run.Log(new Dictionary<string, object?>
            {
                ["loss"] = 0.5,
                ["samples"] = Image.FromPixels(Solid(Colour(1), 2, 2), 2, 2, 3, caption: Markup),
                ["notes </script><b>key</b>"] = new Text(Markup),
                ["predictions"] = new Table([Markup, "label"], [new object?[] { Markup, 1 }]),
            }, step: 0);
        }

        var html = Path.Combine(_root, "markup.html");
        var result = await CliProcess.RunAsync(["report", directory, "-o", html]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var file = new Uri(html);
        await using var browser = await Browser.LaunchAsync(file);
        var page = await browser.NewPageAsync();
        var dialogs = new List<string>();
        page.Dialog += (_, dialog) =>
        {
            dialogs.Add(dialog.Message);
            _ = dialog.DismissAsync();
        };
        await page.GotoAsync(file.ToString());
        await page.WaitForSelectorAsync("body[data-media='3']"); // the script after the media data still ran
        await Browser.SaveScreenshotAsync(page, "report-media-markup");

        Assert.That(await page.Locator("#media figcaption").TextContentAsync(), Is.EqualTo(Markup));
        Assert.That(await page.Locator("#media pre").TextContentAsync(), Is.EqualTo(Markup));
        Assert.That(await page.Locator("#media thead th").First.TextContentAsync(), Is.EqualTo(Markup));
        Assert.That(await page.Locator("#media tbody td").First.TextContentAsync(), Is.EqualTo(Markup));
        Assert.That(await page.Locator(".media-key.text h3").TextContentAsync(), Does.StartWith("notes </script><b>key</b>"));
        Assert.That(await page.Locator("#media script, #media b, #media img:not([src^='data:image/png'])").CountAsync(), Is.Zero, "no element made from logged text");
        Assert.That(await page.Locator("script").CountAsync(), Is.EqualTo(4), "the report's own scripts, no more");
        Assert.That(await page.Locator("body[data-charts='1']").CountAsync(), Is.EqualTo(1));
        Assert.That(dialogs, Is.Empty, "no script from the media ran");
        await browser.EndTestAsync();
    }

    /// <summary>Known ways to run script from Markdown that passes DisableHtml: each sets window.__xss or opens a dialog if it runs (void: a javascript: URL with a value would replace the page).</summary>
    private static readonly string[] NotesPayloads =
    [
        "![x](missing.png){onerror=\"window.__xss=1\"}",
        "[attr](https://example.com){onmouseover=\"window.__xss=1\" style=\"display:block;position:fixed;inset:0\"}",
        "## Heading {onclick=\"window.__xss=1\"}",
        "[plain](javascript:void(window.__xss=1))",
        "[upper](JAVASCRIPT:alert(document.domain))",
        "[entity](jav&#x61;script:void(window.__xss=1))",
        "[decimal](&#106;avascript:void(window.__xss=1))",
        "[tab](java&#9;script:void(window.__xss=1))",
        "[leading](<&#1; javascript:void(window.__xss=1)>)",
        "[spaced](< javascript:void(window.__xss=1)>)",
        "[escaped](javascript\\:void(window.__xss=1))",
        "[data](data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX194c3M9MTwvc2NyaXB0Pg==)",
        "[vb](vbscript:msgbox(1))",
        "[ref-link][evil]",
        "![img](javascript:void(window.__xss=1))",
        "<javascript:void(window.__xss=1)>",
        "<img src=x onerror=\"window.__xss=1\">",
        "<svg onload=\"window.__xss=1\"></svg>",
        "<a href=\"javascript:window.__xss=1\">raw</a>",
        "[evil]: javascript:void(window.__xss=1)",
    ];

    [Test]
    public async Task Report_SummaryTable_GivesEachRunsDurationHostAndCommit()
    {
        var ids = Directory.GetDirectories(Path.Combine(_root, "report")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var html = Path.Combine(_root, "meta.html");

        var result = await CliProcess.RunAsync(["report", .. ids!, "--dir", _root, "-o", html]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        await using var browser = await Browser.LaunchAsync(new Uri(html));
        var page = await browser.NewPageAsync();
        await page.GotoAsync(new Uri(html).ToString());
        var rows = await page.Locator("table.summary tbody th").AllTextContentsAsync();
        Assert.That(rows.Take(5), Is.EqualTo(new[] { "State", "Started", "Duration", "Host", "Commit" }), "the run's metadata first, then its summary keys");
        var columns = await page.Locator("table.summary thead th").AllTextContentsAsync();
        string Cell(string row, int column) => page.Locator("table.summary tbody tr", new() { Has = page.Locator($"th:text-is('{row}')") }).Locator("td").Nth(column).TextContentAsync().GetAwaiter().GetResult()!;
        foreach (var id in ids)
        {
            var info = RunReader.Open(Path.Combine(_root, "report", id!)).Info;
            var column = columns.Skip(1).ToList().FindIndex(c => c.Contains(id!, StringComparison.Ordinal));
            var took = info.EndTime!.Value - info.StartTime;
            var expected = took.TotalHours >= 1 ? $"{(long)took.TotalHours}h {took.Minutes}m"
                : took.TotalMinutes >= 1 ? $"{took.Minutes}m {took.Seconds}s"
                : string.Create(CultureInfo.InvariantCulture, $"{took.TotalSeconds:F1}s");
            Assert.That(Cell("Duration", column), Is.EqualTo(expected), "from run.json's start and end, written as the web UI's runs table writes it");
            Assert.That(Cell("Duration", column), Is.EqualTo(await page.EvaluateAsync<string>("s => Tracker.fmtDuration(s)", took.TotalSeconds)), "by the web UI's own format.js");
            Assert.That(Cell("Host", column), Is.EqualTo(info.Host));
            Assert.That(Cell("Commit", column), Is.EqualTo(info.Git is null ? "" : info.Git.Commit[..8] + (info.Git.Dirty ? "*" : "")));
            Assert.That(Cell("train/acc", column), Is.EqualTo("0.9995"), "then the summary, a row a key");
        }
    }

    [Test]
    public async Task Report_AtPhoneWidth_FitsTheScreen()
    {
        var ids = Directory.GetDirectories(Path.Combine(_root, "report")).Select(Path.GetFileName).ToList();
        var html = Path.Combine(_root, "phone.html");
        var result = await CliProcess.RunAsync(["report", .. ids!, "--dir", _root, "-o", html, "--title", "A report title long enough to wrap on a phone screen of 390 pixels"]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        await using var browser = await Browser.LaunchAsync(new Uri(html));
        var page = await browser.NewPageAsync();
        await page.SetViewportSizeAsync(390, 844);
        await page.GotoAsync(new Uri(html).ToString());
        await page.WaitForSelectorAsync("body[data-charts='3']");
        await Browser.SaveScreenshotAsync(page, "report-phone");

        Assert.That(await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth"), Is.LessThanOrEqualTo(390), "no horizontal scrolling of the page");
        var overflowing = await page.EvaluateAsync<string[]>("""
            () => [...document.querySelectorAll('.chart, .chart canvas, header h1, h2')]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
                .map(e => e.className || e.tagName)
            """);
        Assert.That(overflowing, Is.Empty, "charts and headings inside the screen");
    }

    [TestCase("A4", 703)] // 210 mm less the page's 12 mm margins, in CSS pixels
    [TestCase("Letter", 725)] // 8.5 in less the margins
    public async Task Report_Printed_KeepsTablesAndChartsWholeWithinThePage(string format, int printableWidth)
    {
        // A run with many summary keys makes a summary table far wider than a page.
        using (var wide = Run.Init(new RunOptions { Project = "report", Name = "many keys", Dir = _root, Mode = RunMode.Offline, PrintSummary = false, FinishOnProcessExit = false }))
        {
            wide.Log(Enumerable.Range(0, 30).ToDictionary(i => $"eval/a_rather_long_metric_name_{i:D2}", i => (object?)(i / 7.0)));
        }

        var ids = Directory.GetDirectories(Path.Combine(_root, "report")).Select(Path.GetFileName).ToList();
        var html = Path.Combine(_root, "print.html");
        var result = await CliProcess.RunAsync(["report", .. ids!, "--dir", _root, "-o", html]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        await using var browser = await Browser.LaunchAsync(new Uri(html));
        var page = await browser.NewPageAsync();
        await page.GotoAsync(new Uri(html).ToString());
        await page.WaitForSelectorAsync("body[data-charts='33']");
        await page.SetViewportSizeAsync(printableWidth, 1000);
        await page.EmulateMediaAsync(new() { Media = Microsoft.Playwright.Media.Print });
        await Browser.SaveScreenshotAsync(page, $"report-print-{format}");

        var clipped = await page.EvaluateAsync<string[]>("""
            () => {
                const width = document.documentElement.clientWidth + 0.5;
                const out = [];
                for (const box of document.querySelectorAll('.wide')) if (box.scrollWidth > box.clientWidth + 1) out.push('scrolling box of ' + box.firstElementChild.className);
                for (const e of document.querySelectorAll('table, .chart, .chart canvas')) if (e.getBoundingClientRect().right > width) out.push(e.tagName + '.' + e.className);
                return out;
            }
            """);
        Assert.That(clipped, Is.Empty, "nothing wider than the printed page");
        Assert.That(await page.Locator(".chart").First.EvaluateAsync<string>("e => getComputedStyle(e).breakInside"), Is.EqualTo("avoid"), "a chart is not split across pages");
        Assert.That(await page.Locator("table.summary tr").First.EvaluateAsync<string>("e => getComputedStyle(e).breakInside"), Is.EqualTo("avoid"));

        var pdf = await page.PdfAsync(new() { Format = format, PrintBackground = true });
        Assert.That(System.Text.Encoding.ASCII.GetString(pdf, 0, 5), Is.EqualTo("%PDF-"));
        var path = Path.Combine(TestContext.CurrentContext.WorkDirectory, "screenshots", $"report-{format}.pdf");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, pdf);
    }

    [Test]
    public async Task Report_NotesWithScriptPayloads_RunNoScriptWhenOpenedAndClicked()
    {
        var ids = Directory.GetDirectories(Path.Combine(_root, "report")).Select(Path.GetFileName).ToList();
        var notes = Path.Combine(_root, "notes.md");
        await File.WriteAllTextAsync(notes, "Safe: [docs](https://example.com/docs), [mail](mailto:a@example.com), [local](other.html), **bold**.\n\n"
            + string.Join("\n\n", NotesPayloads) + "\n");
        var html = Path.Combine(_root, "xss.html");

        var result = await CliProcess.RunAsync(["report", .. ids!, "--dir", _root, "-o", html, "--notes", notes]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var file = new Uri(html);
        await using var browser = await Browser.LaunchAsync(file);
        var page = await browser.NewPageAsync();
        var dialogs = new List<string>();
        page.Dialog += async (_, dialog) =>
        {
            dialogs.Add(dialog.Message);
            await dialog.DismissAsync();
        };
        await page.GotoAsync(file.ToString());
        await page.WaitForSelectorAsync("body[data-charts='3']");

        // Hover and click everything in the notes but the allowed links (which would leave the page).
        var clicked = await page.EvaluateAsync<int>("""
            () => {
                const all = [...document.querySelectorAll(".notes *:not(a[href^='http']):not(a[href^='mailto']):not(a[href='other.html'])")];
                for (const el of all) {
                    el.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
                    el.click();
                }
                return all.length;
            }
            """);
        Assert.That(clicked, Is.GreaterThan(NotesPayloads.Length));

        await page.WaitForTimeoutAsync(500); // an image's onerror fires after its load fails
        Assert.That(await page.EvaluateAsync<bool>("() => window.__xss === undefined"), Is.True, "a payload ran script");
        Assert.That(dialogs, Is.Empty);
        Assert.That(page.Url, Is.EqualTo(file.ToString()), "no click navigated away");
        var urls = await page.Locator(".notes a[href], .notes img[src], .notes [src], .notes [href]").EvaluateAllAsync<string[]>("els => els.map(e => new URL(e.href || e.src).protocol)");
        Assert.That(urls.Distinct(), Is.SubsetOf(new[] { "https:", "mailto:", "file:" }), "only allowed and relative URLs (relative ones resolve to file: here)");

        var section = Regex.Match(await File.ReadAllTextAsync(html), "<section class=\"notes\">(.*?)</section>", RegexOptions.Singleline).Groups[1].Value;
        Assert.That(section, Does.Not.Match("(?i)<[^>]*\\son[a-z]+\\s*=").And.Not.Match("(?i)(href|src)=\"\\s*(javascript|vbscript|data|&)"), "no event handler attributes and no unsafe URL in the notes' HTML");
        Assert.That(section, Does.Contain("<a href=\"https://example.com/docs\">docs</a>").And.Contain("<a href=\"mailto:a@example.com\">mail</a>").And.Contain("<a href=\"other.html\">local</a>"),
            "http, https, mailto and relative links stay links");
        Assert.That(section, Does.Contain("<p>plain</p>").And.Contain("<p>entity</p>"), "a refused link keeps its text");
        Assert.That(section, Does.Contain("{onerror=&quot;window.__xss=1&quot;}"), "attribute syntax stays text");
    }

    private Run MediaRun(string name) => Run.Init(new RunOptions
    {
        Project = "media", Name = name, Dir = _root, Mode = RunMode.Offline, PrintSummary = false, FinishOnProcessExit = false,
    });

    private static (byte R, byte G, byte B) Colour(int step) => ((byte)(step * 8), (byte)(255 - (step * 8)), (byte)(40 + (step * 5)));

    private static byte[] Solid((byte R, byte G, byte B) colour, int width, int height) =>
        [.. Enumerable.Repeat<byte[]>([colour.R, colour.G, colour.B], width * height).SelectMany(p => p)];

    /// <summary>The shown image's natural size and the colour of its middle pixel, read back through a canvas once it is decoded.</summary>
    private static async Task<(int Width, int Height, (byte R, byte G, byte B) Colour)> ShownImageAsync(Microsoft.Playwright.ILocator card)
    {
        var pixel = await card.Locator("img").EvaluateAsync<int[]>("""
            async img => { await img.decode(); const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
                           const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
                           return [img.naturalWidth, img.naturalHeight, ...ctx.getImageData(img.naturalWidth >> 1, img.naturalHeight >> 1, 1, 1).data]; }
            """);
        Assert.That(pixel[5], Is.EqualTo(255), "opaque");
        return (pixel[0], pixel[1], ((byte)pixel[2], (byte)pixel[3], (byte)pixel[4]));
    }
}
