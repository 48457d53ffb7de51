using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
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
    private const string MediaProject = "webui-media";
    private const string EpochProject = "webui-epochs";
    private const string NotBold = "<b>not bold</b>\n  <script>alert(1)</script> stays text";
    private const int ImageWidth = 32;
    private const int ImageHeight = 16;
    private const int TableRows = 250;
    private static readonly TimeSpan LiveTimeout = TimeSpan.FromSeconds(15);

    private ServerProcess _server = null!;
    private Browser _browser = null!;
    private string _root = string.Empty;
    private Run? _live;
    private string _alpha = string.Empty;
    private string _beta = string.Empty;
    private string _gamma = string.Empty;
    private string _media = string.Empty;
    private string _epochs = string.Empty;

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
        _media = await LogMediaRunAsync();
        _epochs = await LogEpochRunAsync();
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
    public async Task RunPage_TextNaNAndLists_ShowAsLogged()
    {
        var run = Run.Init(Options("webui-typed", "typed", new { activation = "NaN", layers = new[] { 64, 32 } }, []));
        run.Log(new Dictionary<string, object?> { ["word"] = "NaN", ["loss"] = 0.5 });
        await run.FinishAsync();

        var page = await _browser.OpenAsync($"/#/projects/webui-typed/runs/{run.Id}");
        await Expect(page.Locator("#run-config")).ToContainTextAsync("[64, 32]");
        await Expect(page.Locator("#run-config")).ToContainTextAsync("NaN");
        await Expect(page.Locator("#run-summary")).ToContainTextAsync("NaN");
        await Expect(page.Locator("#run-config")).Not.ToContainTextAsync("_str");
        await Expect(page.Locator("#run-summary")).Not.ToContainTextAsync("_str");
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
    public async Task RunPage_MetricWithStepMetric_IsChartedAgainstItByDefault_TheXAxisCanStillBeSwitched()
    {
        var page = await _browser.OpenAsync($"/#/projects/{EpochProject}/runs/{_epochs}");
        var valAcc = Chart(page, "val/acc");

        // val/acc = epoch at each of its 20 points: against epoch, x runs to 19.999, not to step 19,999.
        await Expect(valAcc).ToHaveAttributeAsync("data-x-axis", "metric:epoch");
        await Expect(valAcc).ToHaveAttributeAsync("data-x-label", "epoch");
        await Expect(valAcc).ToHaveAttributeAsync("data-points", "20");
        await Expect(valAcc).ToHaveAttributeAsync("data-x-min", "0.999");
        await Expect(valAcc).ToHaveAttributeAsync("data-x-max", "19.999");
        await Expect(Chart(page, "train/loss")).ToHaveAttributeAsync("data-x-axis", "step");
        await Expect(Chart(page, "epoch")).ToHaveAttributeAsync("data-x-axis", "step");
        await valAcc.Locator(".plot .u-over").HoverAsync();
        await Expect(valAcc.Locator(".readout")).ToContainTextAsync("epoch");
        await Browser.SaveScreenshotAsync(page, "run-page-step-metric");

        await page.Locator("#x-axis").SelectOptionAsync("step");
        await Expect(valAcc).ToHaveAttributeAsync("data-x-axis", "step");
        await Expect(valAcc).ToHaveAttributeAsync("data-x-label", "step");
        await Expect(valAcc).ToHaveAttributeAsync("data-x-max", "19999");

        var compare = await _browser.OpenAsync($"/#/projects/{EpochProject}/compare?runs={_epochs}");
        await Expect(Chart(compare, "val/acc")).ToHaveAttributeAsync("data-x-axis", "metric:epoch");
        await Expect(Chart(compare, "val/acc")).ToHaveAttributeAsync("data-x-max", "19.999");
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
            await Expect(chart).ToHaveAttributeAsync("data-bands", "2"); // each run's min-max band
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
    public async Task Compare_ThreeHundredRunsSelectedAll_EveryChartDrawsEveryRun_InBatchesOfFifty_AFewDozenRequests_NoneFails()
    {
        const string Many = "webui-many";
        const int Runs = 300;
        string[] keys = ["train/loss", "train/acc", "train/lr", "val/loss", "val/acc", "sys/gpu", "sys/mem"];
        using (var http = _server.Client())
        {
            foreach (var batch in Enumerable.Range(0, Runs).Chunk(10))
            {
                await Task.WhenAll(batch.Select(async i =>
                {
                    var url = $"/api/v1/projects/{Many}/runs/m{i:D3}";
                    (await http.PutAsync(url, new StringContent($"{{\"name\":\"many-{i:D3}\",\"state\":\"finished\",\"config\":{{\"seed\":{i}}}}}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
                    var lines = Enumerable.Range(0, 100).Select(step => string.Create(CultureInfo.InvariantCulture,
                        $"{{\"seq\":{step + 1},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000 + step},\"values\":{{{string.Join(',', keys.Select((k, m) => $"\"{k}\":{(i + m + step) % 17 / 17.0:R}"))}}}}}"));
                    (await http.PostAsync($"{url}/records", new StringContent(string.Join('\n', lines), Encoding.UTF8, "application/x-ndjson"))).EnsureSuccessStatusCode();
                }));
            }
        }

        var page = await _browser.NewPageAsync();
        var seriesRequests = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var apiRequests = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        page.Request += (_, request) =>
        {
            if (request.Url.Contains("/series", StringComparison.Ordinal))
            {
                seriesRequests.Enqueue($"{request.Method} {request.Url} {request.PostData}");
            }

            if (request.Url.Contains("/api/", StringComparison.Ordinal))
            {
                apiRequests.Enqueue($"{request.Method} {new Uri(request.Url).PathAndQuery}");
            }
        };
        page.RequestFailed += (_, request) => failures.Enqueue($"{request.Method} {request.Url}: {request.Failure}");
        page.Response += (_, response) =>
        {
            if (response.Status >= 400)
            {
                failures.Enqueue($"{response.Request.Method} {response.Url}: {response.Status}");
            }
        };
        await page.GotoAsync(new Uri(_server.BaseUrl, $"/#/projects/{Many}").ToString());
        await Expect(RunRows(page)).ToHaveCountAsync(200); // the first page of rows; select all takes every run

        await page.Locator("#filter-text").FillAsync("many-01");
        await Expect(RunRows(page)).ToHaveCountAsync(10);
        await page.Locator("#select-filtered").ClickAsync();
        await Expect(page.Locator("#compare")).ToHaveTextAsync("Compare 10 selected");
        await page.Locator("#filter-text").FillAsync(string.Empty);
        await Expect(RunRows(page)).ToHaveCountAsync(200); // the filter is the server's: its answer lists every run again
        await page.Locator("#select-all").ClickAsync();
        await Expect(page.Locator("#compare")).ToHaveTextAsync($"Compare {Runs} selected");
        await Expect(page.Locator("table#runs tbody input.select-run:checked")).ToHaveCountAsync(200);
        // The project page charts the selected runs too (the first 50 of them): let every chart draw, then the network settle.
        foreach (var chart in await page.Locator("div.chart").AllAsync())
        {
            await Expect(chart).ToHaveAttributeAsync("data-series", "50", new() { Timeout = 60_000 });
        }

        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        seriesRequests.Clear(); // and count the compare view's requests alone
        apiRequests.Clear();
        await page.Locator("#compare").ClickAsync();

        var charts = page.Locator("div.chart");
        await Expect(charts).ToHaveCountAsync(keys.Length, new() { Timeout = 60_000 });
        foreach (var chart in await charts.AllAsync())
        {
            await Expect(chart).ToHaveAttributeAsync("data-series", $"{Runs}", new() { Timeout = 60_000 });
            Assert.That(int.Parse((await chart.GetAttributeAsync("data-buckets"))!, CultureInfo.InvariantCulture), Is.EqualTo(200), "300 lines share the chart's 60,000 buckets");
            Assert.That(await chart.GetAttributeAsync("data-bands"), Is.EqualTo("0"), "300 runs' bands would cover the chart");
        }

        await Browser.SaveScreenshotAsync(page, "compare-300");
        Assert.That(failures, Is.Empty, "no request failed or was refused");
        await Expect(page.Locator(".chart-error")).ToHaveCountAsync(0);
        Assert.That(seriesRequests, Has.All.StartWith("POST "), "series come from the batch read");
        Assert.That(seriesRequests, Has.All.Contains("\"columns\":[\"last_x\",\"last\"]"), "a line's x and value, no band to draw");
        Assert.That(seriesRequests, Has.Count.EqualTo(keys.Length * Runs / 50), $"one request per 50 runs of each chart, none left over from the project page:\n{string.Join('\n', seriesRequests)}");
        Assert.That(apiRequests.Count(r => r.Contains("/runs/batch", StringComparison.Ordinal)), Is.EqualTo(Runs / 100), "the runs and their metric lists, 100 runs a request");
        Assert.That(apiRequests, Has.None.Match("/runs/m\\d+"), "no run read one by one");
        Assert.That(apiRequests, Has.Count.LessThanOrEqualTo((keys.Length * Runs / 50) + (Runs / 100) + 5), string.Join('\n', apiRequests));
    }

    [Test]
    public async Task Compare_SeriesRequestFails_TheChartSaysWhichSeriesAndWhy_TryAgainLoadsThem()
    {
        _browser.ExpectConsoleErrors(new System.Text.RegularExpressions.Regex("the server responded with a status of 503")); // Chromium logs every error status it receives
        var page = await _browser.NewPageAsync();
        var refused = 0;
        var failing = true;
        await page.RouteAsync("**/api/v1/projects/*/series", async route =>
        {
            // val/loss's series are refused, its first try and its retry alike, until the test says otherwise.
            if (failing && route.Request.PostData?.Contains("\"val/loss\"", StringComparison.Ordinal) == true)
            {
                Interlocked.Increment(ref refused);
                await route.FulfillAsync(new() { Status = 503, ContentType = "application/problem+json", Body = "{\"title\":\"Busy\",\"detail\":\"try later\"}" });
            }
            else
            {
                await route.ContinueAsync();
            }
        });
        await page.GotoAsync(new Uri(_server.BaseUrl, $"/#/projects/{Project}/compare?runs={_alpha},{_beta}").ToString());
        await Expect(page.Locator("div.chart")).ToHaveCountAsync(3);

        var error = page.Locator("div.chart .chart-error");
        await Expect(error).ToHaveCountAsync(1);
        await Expect(Chart(page, "val/loss").Locator(".chart-error")).ToContainTextAsync("Could not load 2 of 2 series (alpha val/loss, beta val/loss): the server answered 503: try later");
        await Expect(page.Locator("div.chart[data-series=\"2\"]")).ToHaveCountAsync(2);
        Assert.That(refused, Is.EqualTo(2), "the refused request was tried once more, not again and again");
        await Browser.SaveScreenshotAsync(page, "compare-series-error");

        failing = false;
        await error.Locator("button.retry").ClickAsync();
        await Expect(page.Locator("div.chart .chart-error")).ToHaveCountAsync(0);
        await Expect(page.Locator("div.chart[data-series=\"2\"]")).ToHaveCountAsync(3);
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
    public async Task RunPage_ImageMedia_PagedInFull_ShowsTheLastStep_SliderAndArrowKeysShowEachStepsImageAndCaption()
    {
        // Three items a request: the four steps take two pages.
        var page = await _browser.OpenAsync($"/?media_page=3#/projects/{MediaProject}/runs/{_media}");
        var panel = MediaPanel(page, "samples");
        var image = panel.Locator("img.media-image");
        await Expect(panel).ToHaveAttributeAsync("data-steps", "4");
        await Expect(panel).ToHaveAttributeAsync("data-step", "9");
        await Expect(panel.Locator(".media-step")).ToHaveTextAsync(new Regex(@"^step 9\b"));
        await Expect(panel.Locator(".media-caption")).ToHaveTextAsync(Caption(9));
        await ExpectEventuallyAsync(() => image.EvaluateAsync<int>("img => img.complete ? img.naturalWidth : 0"), Is.EqualTo(ImageWidth), "the image decoded");
        await ExpectEventuallyAsync(() => PixelAsync(image), Is.EqualTo(Colour(9)), "the colour logged at step 9");
        await Expect(image).ToHaveClassAsync(new Regex(@"\bpixelated\b"));
        Assert.That(await image.EvaluateAsync<double>("img => img.getBoundingClientRect().width"), Is.GreaterThan(ImageWidth * 4), "scaled up to the panel");
        await Browser.SaveScreenshotAsync(page, "run-page-media");

        await panel.Locator("input.media-slider").FillAsync("0");
        await Expect(panel).ToHaveAttributeAsync("data-step", "0");
        await Expect(panel.Locator(".media-step")).ToHaveTextAsync(new Regex(@"^step 0\b"));
        await Expect(panel.Locator(".media-caption")).ToHaveTextAsync(Caption(0));
        await ExpectEventuallyAsync(() => PixelAsync(image), Is.EqualTo(Colour(0)), "the colour logged at step 0");

        await panel.Locator("input.media-slider").PressAsync("ArrowRight");
        await Expect(panel).ToHaveAttributeAsync("data-step", "3");
        await Expect(panel.Locator(".media-caption")).ToHaveTextAsync(Caption(3));
        await ExpectEventuallyAsync(() => PixelAsync(image), Is.EqualTo(Colour(3)), "the colour logged at step 3");
        await panel.Locator("input.media-slider").PressAsync("End");
        await Expect(panel).ToHaveAttributeAsync("data-step", "9");
    }

    [Test]
    public async Task RunPage_HistogramMedia_HeatMapOverEveryStep_SliderShowsThatStepsCountsAndNaN()
    {
        var page = await _browser.OpenAsync($"/#/projects/{MediaProject}/runs/{_media}");
        var panel = MediaPanel(page, "weights");
        var heat = panel.Locator("canvas.media-heatmap");
        var bars = panel.Locator("canvas.media-bars");
        var expected = Enumerable.Range(0, 10).Select(step => Histogram.FromValues(Weights(step), bins: 24)).ToList();
        await Expect(panel).ToHaveAttributeAsync("data-steps", "10");
        await Expect(heat).ToHaveAttributeAsync("data-steps", "10");
        Assert.That(await NumberAttributeAsync(heat, "data-min"), Is.EqualTo(expected.Min(h => h.Edges[0])).Within(1e-9), "the lowest edge of any step");
        Assert.That(await NumberAttributeAsync(heat, "data-max"), Is.EqualTo(expected.Max(h => h.Edges[^1])).Within(1e-9), "the highest edge of any step");

        // The values drift upwards with the steps: the late steps fill the top right, the early ones the bottom left.
        var quadrants = await heat.EvaluateAsync<int[]>(@"canvas => {
            const { width, height } = canvas, data = canvas.getContext('2d').getImageData(0, 0, width, height).data, counts = [0, 0, 0, 0];
            for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
              const i = (y * width + x) * 4;
              if (data[i + 3] > 0 && data[i + 2] - data[i] > 60) counts[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)]++;
            }
            return counts;
          }");
        Assert.That(quadrants.Sum(), Is.GreaterThan(1000), $"heat-map pixels (top left, top right, bottom left, bottom right: {string.Join(", ", quadrants)})");
        Assert.That(quadrants[1], Is.GreaterThan(quadrants[0]), "more high values at the late steps");
        Assert.That(quadrants[2], Is.GreaterThan(quadrants[3]), "more low values at the early steps");

        var summary = panel.Locator(".media-summary");
        await Expect(bars).ToHaveAttributeAsync("data-step", "9");
        await Expect(bars).ToHaveAttributeAsync("data-counts", string.Join(',', expected[9].Counts));
        await Expect(summary).ToContainTextAsync($"step 9: {expected[9].Counts.Sum()} values");
        await Expect(summary).ToContainTextAsync("NaN 2");
        await Expect(summary).ToContainTextAsync("±inf 1");
        await Browser.SaveScreenshotAsync(page, "run-page-media-histogram");

        await panel.Locator("input.media-slider").FillAsync("0");
        await Expect(bars).ToHaveAttributeAsync("data-step", "0");
        await Expect(bars).ToHaveAttributeAsync("data-counts", string.Join(',', expected[0].Counts));
        await Expect(summary).ToContainTextAsync($"step 0: {expected[0].Counts.Sum()} values");
        await Expect(summary).Not.ToContainTextAsync("NaN");

        var box = (await bars.BoundingBoxAsync())!;
        await bars.HoverAsync(new LocatorHoverOptions { Position = new Position { X = box.Width * 0.6f, Y = box.Height / 2 } });
        await Expect(panel.Locator(".media-hover")).ToHaveTextAsync(new Regex(@"^\[-?[\d.e+-]+, -?[\d.e+-]+[)\]]: \d+$"));
    }

    [Test]
    public async Task RunPage_TableMedia_RendersCellsAsText_AtMostTwoHundredRows_SliderPicksTheOtherStep()
    {
        var page = await _browser.OpenAsync($"/#/projects/{MediaProject}/runs/{_media}");
        var panel = MediaPanel(page, "predictions");
        var rows = panel.Locator("table tbody tr");
        await Expect(panel).ToHaveAttributeAsync("data-step", "9");
        await Expect(rows).ToHaveCountAsync(200);
        Assert.That(await panel.Locator("table thead th").AllTextContentsAsync(), Is.EqualTo(new[] { "id", "label", "score" }));
        await Expect(panel.Locator(".media-rows")).ToHaveTextAsync($"The first 200 of {TableRows} rows.");
        await Expect(rows.Nth(1).Locator("td")).ToHaveTextAsync(["1", "<i>dog</i>", "NaN"]);
        await Expect(rows.Nth(2).Locator("td")).ToHaveTextAsync(["2", "cat", "0.5"]);
        await Expect(panel.Locator("table i")).ToHaveCountAsync(0);
        await panel.ScrollIntoViewIfNeededAsync();
        await Browser.SaveScreenshotAsync(page, "run-page-media-table");

        await panel.Locator("input.media-slider").FillAsync("0");
        await Expect(panel).ToHaveAttributeAsync("data-step", "4");
        await Expect(rows).ToHaveCountAsync(3);
        await Expect(panel.Locator(".media-rows")).ToHaveTextAsync("3 rows");
    }

    [Test]
    public async Task RunPage_TextMedia_ShowsTheTextLiterally_SliderPicksTheOtherStep()
    {
        var page = await _browser.OpenAsync($"/#/projects/{MediaProject}/runs/{_media}");
        var panel = MediaPanel(page, "notes");
        var text = panel.Locator("pre.media-text");
        await Expect(panel).ToHaveAttributeAsync("data-step", "9");
        Assert.That(await text.EvaluateAsync<string>("pre => pre.textContent"), Is.EqualTo(NotBold).Using(StringComparer.Ordinal));
        Assert.That(await text.EvaluateAsync<string>("pre => getComputedStyle(pre).whiteSpace"), Is.EqualTo("pre-wrap"));
        await Expect(panel.Locator("b, script")).ToHaveCountAsync(0);

        await panel.Locator("input.media-slider").FillAsync("0");
        await Expect(panel).ToHaveAttributeAsync("data-step", "2");
        await Expect(text).ToHaveTextAsync("first note");
    }

    [Test]
    public async Task RunPage_MediaFileNeverUploaded_SaysSoInsteadOfABrokenImageOrTable()
    {
        var runId = await PostRunWithoutFilesAsync();

        var page = await _browser.OpenAsync($"/#/projects/{MediaProject}/runs/{runId}");
        foreach (var key in new[] { "sketch", "scores" })
        {
            var panel = MediaPanel(page, key);
            await Expect(panel).ToHaveAttributeAsync("data-step", "5");
            await Expect(panel.Locator(".media-missing")).ToBeVisibleAsync();
            await Expect(panel.Locator(".media-missing")).ToHaveTextAsync("file not uploaded");
        }

        await Expect(MediaPanel(page, "sketch").Locator("img.media-image")).ToBeHiddenAsync();
        Assert.That(await MediaPanel(page, "sketch").Locator("img.media-image").GetAttributeAsync("src"), Is.Null, "no request for a file the server lacks");
        await Expect(MediaPanel(page, "scores").Locator("table")).ToHaveCountAsync(0);
        await Browser.SaveScreenshotAsync(page, "run-page-media-missing");
    }

    [Test]
    public async Task RunPage_RunningRunLogsMedia_PanelFollowsTheNewestStep_UnlessTheUserPickedAnother()
    {
        var options = Options(MediaProject, "media-live", new { kind = "live" }, []);
        options.SystemMetricsInterval = null; // a new metric lays the page out again; this test watches one layout
        var run = Run.Init(options);
        await using var _ = run;
        run.Log("samples", SolidImage(0), step: 0);
        run.Log("samples", SolidImage(1), step: 1);
        await WaitForMediaAsync(run.Id, "samples", 2);

        var page = await _browser.OpenAsync($"/?poll=300#/projects/{MediaProject}/runs/{run.Id}");
        var panel = MediaPanel(page, "samples");
        var image = panel.Locator("img.media-image");
        await Expect(panel).ToHaveAttributeAsync("data-steps", "2");
        await Expect(panel).ToHaveAttributeAsync("data-step", "1");
        await page.EvaluateAsync("() => { window.__sameDocument = true; }");

        run.Log("samples", SolidImage(2), step: 2);
        await Expect(panel).ToHaveAttributeAsync("data-steps", "3", new LocatorAssertionsToHaveAttributeOptions { Timeout = (float)LiveTimeout.TotalMilliseconds });
        await Expect(panel).ToHaveAttributeAsync("data-step", "2");
        await ExpectEventuallyAsync(() => PixelAsync(image), Is.EqualTo(Colour(2)), "the newest image, followed");

        await panel.Locator("input.media-slider").FillAsync("0");
        await Expect(panel).ToHaveAttributeAsync("data-step", "0");
        run.Log("samples", SolidImage(3), step: 3);
        run.Log("notes", new Text("appeared while open"), step: 3);
        await Expect(panel).ToHaveAttributeAsync("data-steps", "4", new LocatorAssertionsToHaveAttributeOptions { Timeout = (float)LiveTimeout.TotalMilliseconds });
        await Expect(MediaPanel(page, "notes").Locator("pre.media-text")).ToHaveTextAsync("appeared while open", new LocatorAssertionsToHaveTextOptions { Timeout = (float)LiveTimeout.TotalMilliseconds });
        await Expect(panel).ToHaveAttributeAsync("data-step", "0");
        await Expect(panel.Locator("input.media-slider")).ToHaveValueAsync("0");
        await ExpectEventuallyAsync(() => PixelAsync(image), Is.EqualTo(Colour(0)), "the picked image, kept");
        Assert.That(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), Is.True, "the page was reloaded");
        await Browser.SaveScreenshotAsync(page, "live-media");
        await run.FinishAsync();
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

    private static ILocator MediaPanel(IPage page, string key) => page.Locator($"#run-media div.media-panel[data-key=\"{key}\"]");

    /// <summary>The middle pixel of an image as the browser decoded it, drawn onto a canvas; empty until it has loaded.</summary>
    private static Task<int[]> PixelAsync(ILocator image) => image.EvaluateAsync<int[]>(@"img => {
        if (!img.complete || img.naturalWidth === 0) return [];
        const canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        const ctx = canvas.getContext('2d');
        ctx.drawImage(img, 0, 0);
        return [...ctx.getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data.slice(0, 3)];
      }");

    private static async Task<double> NumberAttributeAsync(ILocator locator, string name) =>
        double.Parse((await locator.GetAttributeAsync(name))!, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>A colour per step, each channel far from the others' so no two steps look alike.</summary>
    private static int[] Colour(int step) => step switch
    {
        0 => [220, 40, 40],
        1 => [240, 140, 30],
        2 => [20, 160, 160],
        3 => [40, 170, 80],
        6 => [40, 90, 220],
        9 => [240, 190, 30],
        _ => [120, 120, 120],
    };

    private static string Caption(int step) => $"solid {string.Join('-', Colour(step))} at step {step}";

    private static Image SolidImage(int step)
    {
        var colour = Colour(step);
        var pixels = new byte[ImageWidth * ImageHeight * 3];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)colour[i % 3];
        }

        return Image.FromPixels(pixels, ImageWidth, ImageHeight, 3, Caption(step));
    }

    /// <summary>400 values around step / 2, wider as the steps go on; the last step adds two NaN and an infinity.</summary>
    private static double[] Weights(int step)
    {
        var random = new Random(42 + step);
        var values = Enumerable.Range(0, 400).Select(_ =>
            (step * 0.5) + ((1 + (step * 0.05)) * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())));
        return step == 9 ? [.. values, double.NaN, double.NaN, double.PositiveInfinity] : [.. values];
    }

    private static Table Predictions(int rows) => new(["id", "label", "score"],
        Enumerable.Range(0, rows).Select(i => (IReadOnlyList<object?>)[i, i % 2 == 0 ? "cat" : "<i>dog</i>", i == 1 ? double.NaN : i * 0.25]));

    /// <summary>
    /// Images at steps 0, 3, 6 and 9; a histogram at every step 0-9; tables of 3 rows at step 4 and
    /// 250 at step 9; texts at steps 2 and 9; a loss to chart beside them.
    /// </summary>
    private async Task<string> LogMediaRunAsync()
    {
        var run = Run.Init(Options(MediaProject, "media", new { kind = "media" }, []));
        for (var step = 0; step < 10; step++)
        {
            var values = new Dictionary<string, object?> { ["loss"] = Loss(step, 10), ["weights"] = Histogram.FromValues(Weights(step), bins: 24) };
            if (step % 3 == 0)
            {
                values["samples"] = SolidImage(step);
            }

            if (step is 2 or 9)
            {
                values["notes"] = new Text(step == 2 ? "first note" : NotBold);
            }

            if (step is 4 or 9)
            {
                values["predictions"] = Predictions(step == 4 ? 3 : TableRows);
            }

            run.Log(values, step: step);
        }

        await run.FinishAsync();
        Assert.That(run.Statistics.LinesUnsynced, Is.Zero, "the media run reached the server");
        return run.Id;
    }

    /// <summary>A run whose image and table records name files that were never uploaded, as a client that died in between leaves it.</summary>
    private async Task<string> PostRunWithoutFilesAsync()
    {
        using var http = _server.Client();
        var runId = $"nofiles{Guid.NewGuid():N}"[..16];
        var runUrl = $"/api/v1/projects/{MediaProject}/runs/{runId}";
        var upsert = await http.PutAsync(runUrl, new StringContent("{\"name\":\"no files\",\"state\":\"finished\"}", Encoding.UTF8, "application/json"));
        Assert.That(upsert.StatusCode, Is.EqualTo(HttpStatusCode.OK), await upsert.Content.ReadAsStringAsync());
        var image = Convert.ToHexStringLower(SHA256.HashData(Guid.NewGuid().ToByteArray()));
        var table = Convert.ToHexStringLower(SHA256.HashData(Guid.NewGuid().ToByteArray()));
        var records = string.Join('\n',
            $"{{\"seq\":1,\"type\":\"media\",\"ts\":1795736598409,\"step\":5,\"key\":\"sketch\",\"media\":{{\"_type\":\"image\",\"sha256\":\"{image}\",\"path\":\"media/{image}.png\",\"format\":\"png\",\"width\":64,\"height\":64,\"bytes\":900}}}}",
            $"{{\"seq\":2,\"type\":\"media\",\"ts\":1795736598409,\"step\":5,\"key\":\"scores\",\"media\":{{\"_type\":\"table\",\"sha256\":\"{table}\",\"path\":\"media/{table}.table.json\",\"bytes\":40,\"columns\":[\"a\"],\"rows\":2}}}}");
        var posted = await http.PostAsync($"{runUrl}/records", new StringContent(records, Encoding.UTF8, "application/x-ndjson"));
        Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.OK), await posted.Content.ReadAsStringAsync());
        return runId;
    }

    private async Task WaitForMediaAsync(string runId, string key, int count)
    {
        using var http = _server.Client();
        var deadline = DateTime.UtcNow + LiveTimeout;
        while (true)
        {
            var response = await http.GetAsync($"/api/v1/projects/{MediaProject}/runs/{runId}/media");
            if (response.IsSuccessStatusCode
                && (await response.Content.ReadFromJsonAsync<JsonArray>())!.Any(m => (string?)m!["key"] == key && (long)m["count"]! >= count))
            {
                return;
            }

            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"{count} items of {key} did not reach the server");
            await Task.Delay(100);
        }
    }

    private static Task<string[]> RunIdsAsync(IPage page) =>
        RunRows(page).EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.runId)");

    private static Task<string[]> ChartKeysAsync(ILocator scope) =>
        scope.Locator("div.chart").EvaluateAllAsync<string[]>("charts => charts.map(c => c.dataset.key)");

    private static Task<string[]> DiffKeysAsync(IPage page) =>
        page.Locator("table#config-diff tbody tr[data-key]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.key)");

    /// <summary>Every chart on the page has drawn at least one point.</summary>
    private static async Task ExpectPointsAsync(IPage page)
    {
        // Wait for the charts to exist first: before the page has rendered, "every chart" is none.
        await Expect(page.Locator("div.chart").First).ToBeVisibleAsync();
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

    /// <summary>epoch = step / 1000 at every step of 20,000, val/acc = step / 1000 at steps 999, 1999, ..., and val/* defined with epoch as its step metric.</summary>
    private async Task<string> LogEpochRunAsync()
    {
        var run = Run.Init(Options(EpochProject, "epochs", new { lr = 0.1 }, []));
        run.DefineMetric("val/*", stepMetric: "epoch");
        for (var step = 0; step < 20_000; step++)
        {
            var values = new Dictionary<string, object?> { ["epoch"] = step / 1000.0, ["train/loss"] = Loss(step, 20_000) };
            if (step % 1000 == 999)
            {
                values["val/acc"] = step / 1000.0;
            }

            run.Log(values);
        }

        await run.FinishAsync();
        Assert.That(run.Statistics.LinesUnsynced, Is.Zero, "the epochs run reached the server");
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
