using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using NUnit.Framework.Constraints;
using Tracker.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace Tracker.IntegrationTests;

/// <summary>
/// The web UI in headless Chromium against a real server process over SQLite, with runs logged by
/// the SDK. Tests follow the UI's DOM contract (ids, data-* attributes), not its looks; each saves
/// screenshots of the pages it visits, and TearDown asserts that no request left the server's host
/// and that no page logged an error.
/// </summary>
[TestFixture]
public sealed class WebUiTests
{
    private const string Project = "webui";
    private const string LiveProject = "webui-live";
    private static readonly TimeSpan LiveTimeout = TimeSpan.FromSeconds(15);

    private ServerProcess _server = null!;
    private Browser _browser = null!;
    private string _root = string.Empty;
    private Run? _live;
    private string _alpha = string.Empty;
    private string _beta = string.Empty;
    private string _gamma = string.Empty;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _server = await ServerProcess.StartAsync("sqlite");
        _root = Path.Combine(Path.GetTempPath(), "tracker-webui", Guid.NewGuid().ToString("N"));

        // val/loss ends at about 0.30, 0.57 and 0.46: sorting by it orders alpha, gamma, beta.
        _alpha = await LogFinishedRunAsync("alpha", new { lr = 0.1, batch = 32, opt = "adam" }, ["baseline"], steps: 5000, valScale: 0.3);
        _beta = await LogFinishedRunAsync("beta", new { lr = 0.2, batch = 32, opt = "sgd" }, ["sweep"], steps: 1000, valScale: 0.5);
        _gamma = await LogFinishedRunAsync("gamma", new { lr = 0.05, batch = 64, opt = "adam" }, ["sweep"], steps: 1000, valScale: 0.4, exitCode: 1);

        _live = Run.Init(Options(LiveProject, "live", new { lr = 0.3 }, []));
        for (var i = 0; i < 50; i++)
        {
            _live.Log("train/loss", Loss(i, 100));
        }

        await WaitForPointsAsync(LiveProject, _live.Id, "train/loss", 50);
        _browser = await Browser.LaunchAsync(_server.BaseUrl);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_live is not null)
        {
            await _live.DisposeAsync(); // finishes the run
        }

        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [TearDown]
    public async Task EndTestAsync() => await _browser.EndTestAsync();

    [Test]
    public async Task Home_Loads_TitleContainsTracker()
    {
        var page = await _browser.OpenAsync("/");

        await Expect(page).ToHaveTitleAsync(new Regex("Tracker"));
        await Browser.SaveScreenshotAsync(page, "home");
    }

    [Test]
    public async Task Projects_ListsEveryProject_LinkOpensItsRunsTable()
    {
        var page = await _browser.OpenAsync("/#/");
        var rows = page.Locator("table#projects tbody tr");
        await Expect(rows.Filter(new LocatorFilterOptions { HasText = LiveProject })).ToHaveCountAsync(1);
        await Browser.SaveScreenshotAsync(page, "projects");

        await rows.Locator("a", new LocatorLocatorOptions { HasTextRegex = new Regex($"^\\s*{Project}\\s*$") }).ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex($"#/projects/{Project}$"));
        await Expect(RunRows(page)).ToHaveCountAsync(3);
    }

    [Test]
    public async Task RunsTable_ListsRunsWithConfigAndSummaryColumns_SortsBySummaryMetric()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}");
        await Expect(RunRows(page)).ToHaveCountAsync(3);
        await Browser.SaveScreenshotAsync(page, "runs-table");

        foreach (var column in new[] { "name", "state", "config.lr", "config.batch", "config.opt", "summary.train/loss", "summary.train/acc", "summary.val/loss" })
        {
            await Expect(page.Locator($"table#runs th[data-col=\"{column}\"]")).ToHaveCountAsync(1);
        }

        await Expect(Cell(page, _alpha, "name")).ToHaveTextAsync(new Regex("alpha"));
        await Expect(Cell(page, _alpha, "state")).ToHaveTextAsync(new Regex("finished"));
        await Expect(Cell(page, _gamma, "state")).ToHaveTextAsync(new Regex("failed"));
        await Expect(Cell(page, _beta, "config.opt")).ToHaveTextAsync(new Regex("sgd"));

        var header = page.Locator("table#runs th[data-col=\"summary.val/loss\"]");
        await header.ClickAsync();
        await Expect(header).ToHaveAttributeAsync("data-sort", "asc");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EqualTo(new[] { _alpha, _gamma, _beta }), "rows after sorting val/loss ascending");
        await Browser.SaveScreenshotAsync(page, "runs-table-sorted-asc");

        await header.ClickAsync();
        await Expect(header).ToHaveAttributeAsync("data-sort", "desc");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EqualTo(new[] { _beta, _gamma, _alpha }), "rows after sorting val/loss descending");
        await Browser.SaveScreenshotAsync(page, "runs-table-sorted-desc");
    }

    [Test]
    public async Task RunsTable_SummaryAggregation_MaxShowsEachMetricsLargestValue()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}");
        await Expect(RunRows(page)).ToHaveCountAsync(3);
        Assert.That(await NumberAsync(Cell(page, _alpha, "summary.val/loss")), Is.EqualTo(ValLoss(2990, 0.3)).Within(1).Percent, "last");

        await page.Locator("#summary-agg").SelectOptionAsync("max");

        // val/loss falls, so its largest value is its first: 2 × 0.3.
        await ExpectEventuallyAsync(() => NumberAsync(Cell(page, _alpha, "summary.val/loss")), Is.EqualTo(ValLoss(0, 0.3)).Within(1).Percent, "alpha's max val/loss");
        await Browser.SaveScreenshotAsync(page, "runs-table-max");
    }

    [Test]
    public async Task RunsTable_TextFilter_NarrowsToMatchingNameOrId()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}");
        await Expect(RunRows(page)).ToHaveCountAsync(3);
        var filter = page.Locator("#filter-text");

        await filter.FillAsync("alp");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { _alpha }), "rows for 'alp'");
        await Browser.SaveScreenshotAsync(page, "filter-text-name");

        await filter.FillAsync(_beta);
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { _beta }), "rows for beta's id");

        await filter.FillAsync("no-such-run");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.Empty, "rows for a name nobody has");

        await filter.FillAsync(string.Empty);
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { _alpha, _beta, _gamma }), "rows without a filter");
    }

    [Test]
    public async Task RunsTable_StateFilter_NarrowsToThatState()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}");
        await Expect(RunRows(page)).ToHaveCountAsync(3);
        var state = page.Locator("#filter-state");

        await state.SelectOptionAsync("failed");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { _gamma }), "failed runs");
        await Browser.SaveScreenshotAsync(page, "filter-state-failed");

        await state.SelectOptionAsync("finished");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { _alpha, _beta }), "finished runs");

        await state.SelectOptionAsync("running");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.Empty, "running runs");

        await state.SelectOptionAsync(string.Empty);
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { _alpha, _beta, _gamma }), "runs of any state");
    }

    [Test]
    public async Task RunsTable_TagAndConfigFilters_NarrowToMatchingRuns()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}");
        await Expect(RunRows(page)).ToHaveCountAsync(3);

        await SetAsync(page.Locator("#filter-tag"), "sweep");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { _beta, _gamma }), "runs tagged sweep");
        await SetAsync(page.Locator("#filter-tag"), string.Empty);

        await page.Locator("#filter-config").FillAsync("opt=adam");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { _alpha, _gamma }), "runs with opt=adam");
        await Browser.SaveScreenshotAsync(page, "filter-config");

        await page.Locator("#filter-config").FillAsync("lr=0.1");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { _alpha }), "runs with lr=0.1");
    }

    [Test]
    public async Task RunPage_OneChartPerMetric_InSectionsByPrefix()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}/runs/{_alpha}");
        await Expect(page.Locator("div.chart")).ToHaveCountAsync(3);

        Assert.That(await ChartKeysAsync(page.Locator("section.chart-section[data-prefix=\"train\"]")), Is.EquivalentTo(new[] { "train/loss", "train/acc" }));
        Assert.That(await ChartKeysAsync(page.Locator("section.chart-section[data-prefix=\"val\"]")), Is.EquivalentTo(new[] { "val/loss" }));
        await Expect(page.Locator("#run-meta")).ToContainTextAsync(_alpha);
        await Expect(page.Locator("body")).ToContainTextAsync("alpha");
        await Expect(page.Locator("#run-config")).ToContainTextAsync("adam");
        await Expect(page.Locator("#run-summary")).ToContainTextAsync("val/loss");
        foreach (var chart in await page.Locator("div.chart").AllAsync())
        {
            await Expect(chart).ToHaveAttributeAsync("data-series", "1");
            await Expect(chart.Locator("button.csv")).ToHaveCountAsync(1);
            await Expect(chart.Locator("button.png")).ToHaveCountAsync(1);
        }

        await ExpectPointsAsync(page);
        await Browser.SaveScreenshotAsync(page, "run-page");
    }

    [Test]
    public async Task RunPage_LongSeries_DrawsTheServersBuckets_ShortSeries_DrawsEveryPoint()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}/runs/{_alpha}");
        var loss = Chart(page, "train/loss");
        await Expect(loss).ToHaveAttributeAsync("data-buckets", new Regex(@"^\d+$"));
        var buckets = int.Parse((await loss.GetAttributeAsync("data-buckets"))!, CultureInfo.InvariantCulture);
        var series = await _server.Client().GetFromJsonAsync<JsonObject>(
            $"/api/v1/projects/{Project}/runs/{_alpha}/series?key={Uri.EscapeDataString("train/loss")}&buckets={buckets}");
        var returned = series!["buckets"]!.AsArray().Count;
        Assert.That(returned, Is.LessThan(5000), "the chart must ask for fewer buckets than points");

        await Expect(loss).ToHaveAttributeAsync("data-points", returned.ToString(CultureInfo.InvariantCulture));
        await Expect(loss).ToHaveAttributeAsync("data-last-step", "4999");
        await Expect(Chart(page, "val/loss")).ToHaveAttributeAsync("data-points", "300");
        await Expect(Chart(page, "val/loss")).ToHaveAttributeAsync("data-last-step", "2990");
        await Browser.SaveScreenshotAsync(page, "run-page-buckets");
    }

    [Test]
    public async Task RunPage_Controls_RedrawEveryChart()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}/runs/{_alpha}");
        await ExpectPointsAsync(page);
        var axes = await page.Locator("#x-axis option").EvaluateAllAsync<string[]>("options => options.map(o => o.value)");
        Assert.That(axes, Is.SupersetOf(new[] { "step", "relative", "wall" }).And.Some.StartsWith("metric:"));

        foreach (var axis in axes)
        {
            await page.Locator("#x-axis").SelectOptionAsync(axis);
            await ExpectPointsAsync(page);
        }

        await page.Locator("#x-axis").SelectOptionAsync("step");
        await page.Locator("#smoothing").FillAsync("0.9");
        await page.Locator("#log-scale").CheckAsync();
        await ExpectPointsAsync(page);
        await Browser.SaveScreenshotAsync(page, "run-page-smoothed-log");
    }

    [Test]
    public async Task Compare_TwoCheckedRuns_OverlaysBoth_DiffShowsOnlyDifferingKeys()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}");
        await Expect(RunRows(page)).ToHaveCountAsync(3);
        await page.Locator($"table#runs tbody tr[data-run-id=\"{_alpha}\"] input.select-run").CheckAsync();
        await page.Locator($"table#runs tbody tr[data-run-id=\"{_beta}\"] input.select-run").CheckAsync();
        await page.Locator("#compare").ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex($"#/projects/{Project}/compare\\?runs="));
        var runs = Regex.Match(page.Url, @"[?&]runs=([^&]*)").Groups[1].Value.Split(',');
        Assert.That(runs, Is.EquivalentTo(new[] { _alpha, _beta }));

        var charts = page.Locator("div.chart");
        await Expect(charts).ToHaveCountAsync(3);
        foreach (var chart in await charts.AllAsync())
        {
            await Expect(chart).ToHaveAttributeAsync("data-series", "2");
        }

        await ExpectEventuallyAsync(() => DiffKeysAsync(page), Is.EquivalentTo(new[] { "lr", "opt" }), "config diff");
        await Browser.SaveScreenshotAsync(page, "compare");

        await page.Locator("#diff-all").CheckAsync();
        await ExpectEventuallyAsync(() => DiffKeysAsync(page), Is.EquivalentTo(new[] { "lr", "batch", "opt" }), "config diff with all keys");
        var groupBy = await page.Locator("#group-by option").EvaluateAllAsync<string[]>("options => options.map(o => o.value)");
        Assert.That(groupBy, Is.SupersetOf(new[] { "lr", "opt" }), "#group-by offers the config keys");
        await Browser.SaveScreenshotAsync(page, "compare-all-keys");
    }

    [Test]
    public async Task RunPage_RunningRun_ChartGrowsWithoutReload()
    {
        var page = await _browser.OpenAsync($"/#/projects/{LiveProject}/runs/{_live!.Id}");
        var chart = Chart(page, "train/loss");
        await Expect(chart).ToHaveAttributeAsync("data-last-step", new Regex(@"^\d+$"));
        var points = await IntAttributeAsync(chart, "data-points");
        var lastStep = await IntAttributeAsync(chart, "data-last-step");
        Assert.That(lastStep, Is.GreaterThanOrEqualTo(49), "the page shows the points shipped before it opened");
        await Browser.SaveScreenshotAsync(page, "live-before");
        await page.EvaluateAsync("() => { window.__sameDocument = true; }");

        for (var i = 50; i < 250; i++)
        {
            _live.Log("train/loss", Loss(i, 100));
        }

        var deadline = DateTime.UtcNow + LiveTimeout;
        while (await IntAttributeAsync(chart, "data-points") <= points && await IntAttributeAsync(chart, "data-last-step") <= lastStep)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"the chart did not grow within {LiveTimeout.TotalSeconds} s (still {points} points, last step {lastStep})");
            await Task.Delay(250);
        }

        Assert.That(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), Is.True, "the page was reloaded");
        await Browser.SaveScreenshotAsync(page, "live-after");
    }

    [Test]
    public async Task Chart_CsvDownload_HeaderNamesMetric_RowsMatchPoints()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}/runs/{_alpha}");
        var chart = Chart(page, "val/loss");
        await Expect(chart).ToHaveAttributeAsync("data-points", "300");

        var download = await page.RunAndWaitForDownloadAsync(() => chart.Locator("button.csv").ClickAsync());
        var path = DownloadPath("val-loss.csv");
        await download.SaveAsAsync(path);
        TestContext.AddTestAttachment(path, "CSV of val/loss");

        var lines = (await File.ReadAllLinesAsync(path)).Where(l => l.Length > 0).ToList();
        var header = lines[0].Split(',').Select(h => h.Trim().Trim('"')).ToList();
        var valueColumn = header.FindIndex(h => h.Contains("val/loss", StringComparison.Ordinal));
        Assert.That(valueColumn, Is.Not.Negative, $"a header column names the metric: {lines[0]}");
        var stepColumn = header.IndexOf("step");
        Assert.That(stepColumn, Is.Not.Negative, $"a header column is the step: {lines[0]}");

        var rows = lines.Skip(1).Select(l => l.Split(',')).Select(cells => (
            Step: long.Parse(cells[stepColumn], CultureInfo.InvariantCulture),
            Value: double.Parse(cells[valueColumn], CultureInfo.InvariantCulture))).ToList();
        var expected = Enumerable.Range(0, 300).Select(i => (Step: (long)(i * 10), Value: ValLoss(i * 10, 0.3))).ToList();
        Assert.That(rows.Select(r => r.Step), Is.EqualTo(expected.Select(p => p.Step)));
        Assert.That(rows.Select(r => r.Value), Is.EqualTo(expected.Select(p => p.Value)).Within(1e-9).Percent);
        await Browser.SaveScreenshotAsync(page, "csv-download");
    }

    [Test]
    public async Task Chart_PngDownload_IsAPngImage()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}/runs/{_alpha}");
        var chart = Chart(page, "train/loss");
        await Expect(chart).ToHaveAttributeAsync("data-points", new Regex(@"^[1-9]\d*$"));

        var download = await page.RunAndWaitForDownloadAsync(() => chart.Locator("button.png").ClickAsync());
        var path = DownloadPath("train-loss.png");
        await download.SaveAsAsync(path);
        TestContext.AddTestAttachment(path, "PNG of train/loss");

        var bytes = await File.ReadAllBytesAsync(path);
        Assert.That(bytes.Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "PNG signature");
        Assert.That(bytes, Has.Length.GreaterThan(1000), "an image with something drawn in it");
    }

    private static string DownloadPath(string name)
    {
        var directory = Path.Combine(TestContext.CurrentContext.WorkDirectory, "downloads");
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, name);
    }

    private static ILocator RunRows(IPage page) => page.Locator("table#runs tbody tr[data-run-id]");

    private static ILocator Cell(IPage page, string runId, string column) =>
        page.Locator($"table#runs tbody tr[data-run-id=\"{runId}\"] td[data-col=\"{column}\"]");

    private static ILocator Chart(IPage page, string key) => page.Locator($"div.chart[data-key=\"{key}\"]");

    private static Task<string[]> RunIdsAsync(IPage page) =>
        RunRows(page).EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.runId)");

    private static Task<string[]> ChartKeysAsync(ILocator scope) =>
        scope.Locator("div.chart").EvaluateAllAsync<string[]>("charts => charts.map(c => c.dataset.key)");

    private static Task<string[]> DiffKeysAsync(IPage page) =>
        page.Locator("table#config-diff tbody tr[data-key]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.key)");

    /// <summary>Every chart on the page has drawn at least one point.</summary>
    private static async Task ExpectPointsAsync(IPage page)
    {
        foreach (var chart in await page.Locator("div.chart").AllAsync())
        {
            await Expect(chart).ToHaveAttributeAsync("data-points", new Regex(@"^[1-9]\d*$"));
        }
    }

    private static async Task<int> IntAttributeAsync(ILocator locator, string name) =>
        int.TryParse(await locator.GetAttributeAsync(name), CultureInfo.InvariantCulture, out var value) ? value : -1;

    private static async Task<double> NumberAsync(ILocator cell) =>
        double.TryParse((await cell.InnerTextAsync()).Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : double.NaN;

    /// <summary>Fills a text input or picks an option of a select: the contract does not say which #filter-tag is.</summary>
    private static async Task SetAsync(ILocator input, string value)
    {
        if (await input.EvaluateAsync<string>("e => e.tagName") == "SELECT")
        {
            await input.SelectOptionAsync(value);
        }
        else
        {
            await input.FillAsync(value);
        }
    }

    /// <summary>The UI redraws asynchronously: poll until the constraint holds, then assert once more for the message.</summary>
    private static async Task ExpectEventuallyAsync<T>(Func<Task<T>> actual, IResolveConstraint constraint, string what)
    {
        var deadline = DateTime.UtcNow + Browser.Timeout;
        var value = await actual();
        while (!constraint.Resolve().ApplyTo(value).IsSuccess && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            value = await actual();
        }

        Assert.That(value, constraint, what);
    }

    private static double Loss(int step, int steps) => 2.0 * Math.Exp(-3.0 * step / steps) + (0.05 * Math.Sin(step / 7.0));

    private static double ValLoss(int step, double scale) => scale * (1 + Math.Exp(-step / 500.0));

    private RunOptions Options(string project, string name, object config, string[] tags) => new()
    {
        Project = project,
        Name = name,
        Config = config,
        Tags = tags,
        Dir = _root,
        Mode = RunMode.Online,
        BaseUrl = _server.BaseUrl,
        ApiKey = _server.ApiKey,
        PrintSummary = false,
        FinishOnProcessExit = false,
        FinishTimeout = TimeSpan.FromSeconds(60),
        FlushInterval = TimeSpan.FromMilliseconds(200),
    };

    /// <summary>train/loss and train/acc at every step; val/loss every 10th step of the first 3,000 (300 points for alpha).</summary>
    private async Task<string> LogFinishedRunAsync(string name, object config, string[] tags, int steps, double valScale, int exitCode = 0)
    {
        var run = Run.Init(Options(Project, name, config, tags));
        for (var i = 0; i < steps; i++)
        {
            var loss = Loss(i, steps);
            var values = new Dictionary<string, object?> { ["train/loss"] = loss, ["train/acc"] = 1 - (loss / 2.5) };
            if (i % 10 == 0 && i < 3000)
            {
                values["val/loss"] = ValLoss(i, valScale);
            }

            run.Log(values);
        }

        await run.FinishAsync(exitCode);
        Assert.That(run.Statistics.LinesUnsynced, Is.Zero, $"run {name} reached the server");
        return run.Id;
    }

    private async Task WaitForPointsAsync(string project, string runId, string key, int count)
    {
        using var http = _server.Client();
        var deadline = DateTime.UtcNow + LiveTimeout;
        while (true)
        {
            var response = await http.GetAsync($"/api/v1/projects/{project}/runs/{runId}/metrics");
            if (response.IsSuccessStatusCode
                && (await response.Content.ReadFromJsonAsync<JsonArray>())!.Any(m => (string?)m!["key"] == key && (long)m["count"]! >= count))
            {
                return;
            }

            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"{count} points of {key} did not reach the server");
            await Task.Delay(100);
        }
    }
}
