using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Tracker.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace Tracker.IntegrationTests;

/// <summary>
/// What the web UI's charts draw, in headless Chromium against a real server over SQLite with runs
/// logged by the SDK: lone points, tick labels, ranges, log scale, NaN and infinities, units,
/// legends, run colours and per-chart settings. Canvas contents are read back as pixels; the
/// labels, markers and notes drawn over the canvas are elements. TearDown asserts that no request
/// left the server's host and that no page logged an error.
/// </summary>
[TestFixture]
public sealed class ChartTests
{
    private const string Project = "charts";
    private const string CompareProject = "charts-compare";
    private const string LiveProject = "charts-live";
    private const int CompareRuns = 12;

    private ServerProcess _server = null!;
    private Browser _browser = null!;
    private string _root = string.Empty;
    private string _schedule = string.Empty;
    private readonly List<string> _compare = [];

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _server = await ServerProcess.StartAsync("sqlite");
        _root = Path.Combine(Path.GetTempPath(), "tracker-charts", Guid.NewGuid().ToString("N"));

        var run = Run.Init(Options(Project, "schedule"));
        for (var step = 0; step < 100; step++)
        {
            var values = new Dictionary<string, object?>
            {
                ["lr"] = 1e-3 * Math.Pow(10, -3.0 * step / 99), // 1e-3 decaying to 1e-6
                ["const/value"] = 0.5,
                ["signed"] = (step - 50) / 10.0, // negative, zero and positive
                ["negative"] = -1.0 - step,
                ["diverge"] = step == 40 ? double.NaN : step == 60 ? double.PositiveInfinity : 1.0 / (step + 1),
                ["system/cpu"] = 20 + (step % 7),
            };
            if (step == 99)
            {
                values["test/acc"] = 0.8731;
            }

            run.Log(values);
        }

        await run.FinishAsync();
        _schedule = run.Id;

        // Twelve runs of loss and acc; the last diverges to about 1,000.
        for (var i = 0; i < CompareRuns; i++)
        {
            var r = Run.Init(Options(CompareProject, $"run-{i:00}"));
            for (var step = 0; step < 60; step++)
            {
                var loss = i == CompareRuns - 1 ? Math.Exp(step / 8.7) : (1 + (0.1 * i)) * Math.Exp(-step / 30.0);
                r.Log(new Dictionary<string, object?> { ["loss"] = loss, ["acc"] = 1 - (loss / 3) });
            }

            await r.FinishAsync();
            _compare.Add(r.Id);
        }

        _browser = await Browser.LaunchAsync(_server.BaseUrl);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
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
    public async Task OnePointMetric_IsDrawnAsAPoint_WithItsValueWritten()
    {
        var page = await OpenRunAsync();
        var plot = Chart(page, "test/acc").Locator(".plot");

        await Expect(plot.Locator(".point-label")).ToHaveTextAsync("0.873");
        var (pixel, colour) = await PointPixelAsync(plot);
        Assert.That(pixel, Is.EqualTo(colour), "the canvas at the point is the run's colour");
        await Browser.SaveScreenshotAsync(page, "chart-run-page");
    }

    [Test]
    public async Task LearningRateSchedule_TickLabelsAreDistinct()
    {
        var page = await OpenRunAsync();
        var plot = Chart(page, "lr").Locator(".plot");

        var linear = await TicksAsync(plot);
        Assert.That(linear, Has.Length.GreaterThanOrEqualTo(3).And.Unique, "linear y ticks read apart");

        await SetChartAsync(Chart(page, "lr"), ".chart-scale", "log");
        await Expect(plot).ToHaveAttributeAsync("data-y-ticks", new Regex("1e-6"));
        Assert.That(await TicksAsync(plot), Is.Unique.And.Contains("1e-4"), "log ticks in exponent notation");
    }

    [Test]
    public async Task ConstantSeries_RangeIsAroundItsValue()
    {
        var page = await OpenRunAsync();
        var plot = Chart(page, "const/value").Locator(".plot");

        await Expect(plot).ToHaveAttributeAsync("data-y-min", new Regex(@"\d"));
        var (min, max) = (await NumberAttributeAsync(plot, "data-y-min"), await NumberAttributeAsync(plot, "data-y-max"));
        Assert.That(min, Is.LessThan(0.5).And.GreaterThan(0.3), "y from a little below 0.5");
        Assert.That(max, Is.GreaterThan(0.5).And.LessThan(0.7), "y to a little above 0.5");
    }

    [Test]
    public async Task LogScale_ZerosAndNegatives_AreNamedInANote_SymlogDrawsThem()
    {
        var page = await OpenRunAsync();
        var signed = Chart(page, "signed");
        var negative = Chart(page, "negative");
        await Expect(signed.Locator(".chart-note")).ToBeHiddenAsync();

        await page.Locator("#log-scale").CheckAsync();

        await Expect(signed.Locator(".chart-note")).ToContainTextAsync("51 values ≤ 0 left out");
        await Expect(negative.Locator(".chart-note")).ToContainTextAsync("all 100 values are zero or negative");
        await Browser.SaveScreenshotAsync(page, "chart-log-notes");

        await SetChartAsync(signed, ".chart-scale", "symlog");
        await Expect(signed.Locator(".chart-note")).ToBeHiddenAsync();
        Assert.That(await NumberAttributeAsync(signed.Locator(".plot"), "data-y-min"), Is.LessThan(-4.9), "symlog keeps the negatives");
    }

    [Test]
    public async Task NaNAndInfinity_AreMarkedWhereTheyOccur()
    {
        var page = await OpenRunAsync();
        var plot = Chart(page, "diverge").Locator(".plot");

        await Expect(plot.Locator(".mark-nan")).ToHaveCountAsync(1);
        await Expect(plot.Locator(".mark-nan")).ToHaveAttributeAsync("title", new Regex("NaN at step 40$"));
        await Expect(plot.Locator(".mark-inf")).ToHaveCountAsync(1);
        await Expect(plot.Locator(".mark-inf")).ToHaveAttributeAsync("title", new Regex("Infinity at step 60$|∞ at step 60$"));
        await Expect(plot.Locator(".chart-note")).ToContainTextAsync("NaN marked at the bottom edge, +∞ at the top.");
    }

    [Test]
    public async Task SystemMetric_HasItsUnit_AndRelativeTimeAsHoursMinutesSeconds()
    {
        var page = await OpenRunAsync();
        var cpu = Chart(page, "system/cpu");

        await Expect(cpu).ToHaveAttributeAsync("data-x-axis", "relative");
        await Expect(cpu).ToHaveAttributeAsync("data-x-label", "time since start");
        Assert.That(await TicksAsync(cpu.Locator(".plot")), Has.All.EndsWith("%"));
        await cpu.Locator(".plot .u-over").HoverAsync();
        await Expect(cpu.Locator(".readout")).ToContainTextAsync(new Regex(@"time since start \d+:\d\d"));
        await Expect(cpu.Locator(".readout")).ToContainTextAsync(new Regex(@"\d %"));
    }

    [Test]
    public async Task Compare_Legend_ClickHidesARun_CtrlClickAndDoubleClickIsolateIt()
    {
        var page = await OpenCompareAsync();
        var loss = Chart(page, "loss");
        var items = loss.Locator(".chart-legend .legend-item");
        await Expect(items).ToHaveCountAsync(CompareRuns);
        var plot = loss.Locator(".plot");
        Assert.That(await NumberAttributeAsync(plot, "data-y-max"), Is.GreaterThan(900), "the diverged run sets the range");
        await Browser.SaveScreenshotAsync(page, "chart-compare-12");

        var diverged = items.Filter(new LocatorFilterOptions { HasText = $"run-{CompareRuns - 1:00}" });
        await diverged.ClickAsync();

        await Expect(diverged).ToHaveClassAsync(new Regex(@"\boff\b"));
        await ExpectYMaxAsync(plot, Is.LessThan(3), "hiding the diverged run rescales to the others");

        var first = items.Filter(new LocatorFilterOptions { HasText = "run-00" });
        await first.ClickAsync(new LocatorClickOptions { Modifiers = [KeyboardModifier.Control] });
        await Expect(loss.Locator(".legend-item.off")).ToHaveCountAsync(CompareRuns - 1);
        await Expect(first).Not.ToHaveClassAsync(new Regex(@"\boff\b"));
        await ExpectYMaxAsync(plot, Is.LessThan(1.2), "run-00 alone: its loss starts at 1");

        await first.DblClickAsync();
        await Expect(loss.Locator(".legend-item.off")).ToHaveCountAsync(0);

        await items.Filter(new LocatorFilterOptions { HasText = "run-05" }).DblClickAsync();
        await Expect(loss.Locator(".legend-item.off")).ToHaveCountAsync(CompareRuns - 1);
        await Browser.SaveScreenshotAsync(page, "chart-compare-isolated");
    }

    [Test]
    public async Task Compare_EachChartIsDrawnOnce_AndAgainWhenItsWidthChanges()
    {
        // uPlot clears its canvas once per drawing: count the clears on each canvas.
        var page = await _browser.NewPageAsync();
        await page.AddInitScriptAsync("""
            (() => {
              const clear = CanvasRenderingContext2D.prototype.clearRect;
              CanvasRenderingContext2D.prototype.clearRect = function (...args) {
                this.canvas.dataset.clears = String(Number(this.canvas.dataset.clears || 0) + 1);
                return clear.apply(this, args);
              };
            })()
            """);
        await page.GotoAsync(new Uri(_server.BaseUrl, $"/#/projects/{CompareProject}/compare?runs={string.Join(',', _compare)}").ToString());
        var canvases = page.Locator("#sections div.chart[data-series] .plot canvas");
        await Expect(canvases).ToHaveCountAsync(2);
        await Expect(Chart(page, "acc").Locator(".chart-legend")).ToBeVisibleAsync();
        await Expect(Chart(page, "loss").Locator(".chart-legend")).ToBeVisibleAsync();
        const string Settle = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 200))))";
        await page.EvaluateAsync(Settle);

        Assert.That(await canvases.EvaluateAllAsync<string[]>("cs => cs.map(c => c.dataset.clears)"), Is.EqualTo(new[] { "1", "1" }),
            "the canvas replacing the skeleton changes the plot's box, not the chart's size: no second drawing");

        var width = await canvases.First.EvaluateAsync<int>("c => c.width");
        await page.SetViewportSizeAsync(1000, 900);
        await Expect(canvases.First).Not.ToHaveJSPropertyAsync("width", width);
        await page.EvaluateAsync(Settle);
        Assert.That(await canvases.EvaluateAllAsync<string[]>("cs => cs.map(c => c.dataset.clears)"), Is.EqualTo(new[] { "2", "2" }), "a narrower page draws each chart again, at its new width");
    }

    [Test]
    public async Task ChartSettings_ClipOutliersAndYRange_ApplyToThatChartAlone()
    {
        var page = await OpenCompareAsync();
        var loss = Chart(page, "loss");
        var plot = loss.Locator(".plot");

        await SetChartAsync(loss, ".chart-clip", "95");

        await ExpectYMaxAsync(plot, Is.LessThan(400), "the diverged run's last points are past the 95th percentile");
        Assert.That(await NumberAttributeAsync(Chart(page, "acc").Locator(".plot"), "data-y-min"), Is.LessThan(-250), "acc is not clipped");

        await SetChartAsync(loss, ".chart-clip", "0");
        await loss.Locator(".chart-ymin").FillAsync("0.25");
        await loss.Locator(".chart-ymax").FillAsync("2");
        await loss.Locator(".chart-ymax").PressAsync("Enter");

        await ExpectYMaxAsync(plot, Is.EqualTo(2), "y to the bound typed");
        Assert.That(await NumberAttributeAsync(plot, "data-y-min"), Is.EqualTo(0.25), "y from the bound typed");
    }

    [Test]
    public async Task Compare_EachRunKeepsOneColour_OnEveryChart_AndTwelveRunsHaveTwelveColours()
    {
        var page = await OpenCompareAsync();
        var loss = await LegendColoursAsync(Chart(page, "loss"));
        var acc = await LegendColoursAsync(Chart(page, "acc"));

        Assert.That(loss, Has.Count.EqualTo(CompareRuns));
        Assert.That(await Chart(page, "loss").GetAttributeAsync("data-bands"), Is.EqualTo("0"), "past 10 lines a chart draws no min-max bands: they would cover one another");
        Assert.That(acc, Is.EquivalentTo(loss), "the same run, the same colour on both charts");
        Assert.That(loss.Values, Is.Unique, "no two of twelve runs share a colour");
    }

    [Test]
    public async Task Compare_ReadoutOfTwelveLines_ListsTheTenNearestThePointerAndSaysHowManyMore()
    {
        var page = await OpenCompareAsync();
        var loss = Chart(page, "loss");

        await loss.Locator(".plot .u-over").HoverAsync();

        var readout = loss.Locator(".readout");
        await Expect(readout.Locator(".swatch")).ToHaveCountAsync(10);
        await Expect(readout).ToContainTextAsync($"and {CompareRuns - 10} more");
    }

    [Test]
    public async Task TwoMetricsOfOneRun_OnOneChart_DifferByDashPattern()
    {
        var page = await _browser.OpenAsync($"/#/projects/{CompareProject}/compare?runs={_compare[0]}");
        await Expect(Chart(page, "loss")).ToHaveAttributeAsync("data-points", "60");
        await page.Locator("#combine").SelectOptionAsync(["loss", "acc"]);
        await page.Locator("#add-chart").ClickAsync();
        var both = page.Locator("#custom-charts div.chart");
        await Expect(both.Locator(".legend-item")).ToHaveCountAsync(2);

        var styles = await both.Locator(".legend-item line").EvaluateAllAsync<string[]>(
            "lines => lines.map(l => `${l.getAttribute('stroke')} ${l.getAttribute('stroke-dasharray') ?? 'solid'}`)");
        Assert.That(styles.Select(s => s.Split(' ')[0]), Is.All.EqualTo(styles[0].Split(' ')[0]), "one run, one colour");
        Assert.That(styles, Is.Unique, "each metric its own dash pattern");
    }

    [Test]
    public async Task LiveRun_PerChartSmoothing_SurvivesNewPointsAndANewMetric()
    {
        await using var run = Run.Init(Options(LiveProject, "live"));
        for (var step = 0; step < 20; step++)
        {
            run.Log("live/loss", 1.0 / (step + 1));
        }

        var page = await _browser.OpenAsync($"/?poll=300#/projects/{LiveProject}/runs/{run.Id}");
        var loss = Chart(page, "live/loss");
        await Expect(loss).ToHaveAttributeAsync("data-points", "20");
        await loss.Locator("button.settings").ClickAsync();
        await loss.Locator(".chart-smoothing").FillAsync("0.8");
        await Expect(loss).ToHaveAttributeAsync("data-smoothing", "0.8");
        Assert.That(await Chart(page, "live/other").CountAsync(), Is.Zero);

        for (var step = 20; step < 40; step++)
        {
            run.Log(new Dictionary<string, object?> { ["live/loss"] = 1.0 / (step + 1), ["live/other"] = step });
        }

        await Expect(Chart(page, "live/other")).ToHaveAttributeAsync("data-points", new Regex("^[1-9]"), new() { Timeout = 20_000 });
        await Expect(loss).ToHaveAttributeAsync("data-points", "40", new() { Timeout = 20_000 });
        await Expect(loss).ToHaveAttributeAsync("data-smoothing", "0.8");
        await Expect(loss.Locator(".chart-smoothing")).ToHaveValueAsync("0.8");
        Assert.That(await Chart(page, "live/other").GetAttributeAsync("data-smoothing"), Is.EqualTo("0"), "the setting was this chart's alone");
    }

    private async Task<IPage> OpenRunAsync()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}/runs/{_schedule}");
        await Expect(Chart(page, "lr")).ToHaveAttributeAsync("data-points", "100");
        await Expect(Chart(page, "test/acc")).ToHaveAttributeAsync("data-points", "1");
        return page;
    }

    private async Task<IPage> OpenCompareAsync()
    {
        var page = await _browser.OpenAsync($"/#/projects/{CompareProject}/compare?runs={string.Join(',', _compare)}");
        await Expect(Chart(page, "loss")).ToHaveAttributeAsync("data-series", CompareRuns.ToString(CultureInfo.InvariantCulture));
        await Expect(Chart(page, "loss").Locator(".chart-legend")).ToBeVisibleAsync();
        return page;
    }

    private static ILocator Chart(IPage page, string key) => page.Locator($"#sections div.chart[data-key=\"{key}\"]");

    private static async Task SetChartAsync(ILocator chart, string control, string value)
    {
        var panel = chart.Locator(".chart-settings");
        if (!await panel.IsVisibleAsync())
        {
            await chart.Locator("button.settings").ClickAsync();
        }

        await panel.Locator(control).SelectOptionAsync(value);
    }

    private static async Task<string[]> TicksAsync(ILocator plot)
    {
        await Expect(plot).ToHaveAttributeAsync("data-y-ticks", new Regex("."));
        return (await plot.GetAttributeAsync("data-y-ticks"))!.Split('|');
    }

    private static async Task<double> NumberAttributeAsync(ILocator locator, string name) =>
        double.Parse((await locator.GetAttributeAsync(name))!, CultureInfo.InvariantCulture);

    private static async Task ExpectYMaxAsync(ILocator plot, NUnit.Framework.Constraints.IResolveConstraint constraint, string what)
    {
        var deadline = DateTime.UtcNow + Browser.Timeout;
        var value = await NumberAttributeAsync(plot, "data-y-max");
        while (!constraint.Resolve().ApplyTo(value).IsSuccess && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            value = await NumberAttributeAsync(plot, "data-y-max");
        }

        Assert.That(value, constraint, what);
    }

    /// <summary>Each legend entry's label and the colour of its line.</summary>
    private static async Task<Dictionary<string, string>> LegendColoursAsync(ILocator chart) =>
        (await chart.Locator(".legend-item").EvaluateAllAsync<string[][]>("items => items.map(i => [i.dataset.label, i.querySelector('line').getAttribute('stroke')])"))
            .ToDictionary(p => p[0], p => p[1]);

    /// <summary>The canvas pixel under a lone point's label anchor, and the label's colour, both as "r,g,b".</summary>
    private static async Task<(string Pixel, string Colour)> PointPixelAsync(ILocator plot)
    {
        var both = await plot.EvaluateAsync<string[]>(@"plot => {
            const label = plot.querySelector('.point-label'), canvas = plot.querySelector('canvas'), over = plot.querySelector('.u-over');
            const ratio = canvas.width / canvas.clientWidth;
            const x = Math.round((over.offsetLeft + Number(label.dataset.px)) * ratio), y = Math.round((over.offsetTop + Number(label.dataset.py)) * ratio);
            const [r, g, b] = canvas.getContext('2d').getImageData(x, y, 1, 1).data;
            return [`${r},${g},${b}`, getComputedStyle(label).color.match(/\d+/g).slice(0, 3).join(',')];
        }");
        return (both[0], both[1]);
    }

    private RunOptions Options(string project, string name) => new()
    {
        Project = project,
        Name = name,
        Dir = _root,
        Mode = RunMode.Online,
        BaseUrl = _server.BaseUrl,
        ApiKey = _server.ApiKey,
        PrintSummary = false,
        FinishOnProcessExit = false,
        SystemMetricsInterval = null,
        FinishTimeout = TimeSpan.FromSeconds(60),
        FlushInterval = TimeSpan.FromMilliseconds(200),
    };
}
