using System.Globalization;
using System.Text.Json;
using Microsoft.Playwright;
using Tracker.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace Tracker.IntegrationTests;

/// <summary>
/// Grouped lines (shared/groups.js: its pure functions evaluated in Chromium, and the compare view's
/// grouped charts) and config against results on the runs page (explore.js: parallel coordinates
/// whose brushes filter the runs table, and a scatter chart), in headless Chromium against a real
/// server over SQLite with runs logged by the SDK. TearDown asserts that no request left the
/// server's host and that no page logged an error.
/// </summary>
[TestFixture]
public sealed class GroupingAndExploreTests
{
    private const string Project = "grouping";
    private const int Steps = 30;
    private static readonly double[] Rates = [0.1, 0.01, 0.001];

    private ServerProcess _server = null!;
    private Browser _browser = null!;
    private string _root = string.Empty;

    /// <summary>Each run: id, name, lr, opt, last loss.</summary>
    private readonly List<(string Id, string Name, double Lr, string Opt, double Loss)> _runs = [];

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _server = await ServerProcess.StartAsync("sqlite");
        _root = Path.Combine(Path.GetTempPath(), "tracker-grouping", Guid.NewGuid().ToString("N"));

        // Six runs, lr × opt; adam logs every step, sgd every third (a denser and a sparser kind of run).
        // The first run has no acc, so the acc chart's adam group starts with another run than the loss chart's.
        var i = 0;
        foreach (var opt in new[] { "adam", "sgd" })
        {
            foreach (var lr in Rates)
            {
                var name = $"{opt}-{lr.ToString(CultureInfo.InvariantCulture)}";
                var run = Run.Init(Options(name, new { lr, opt }));
                var every = opt == "adam" ? 1 : 3;
                double last = 0;
                for (var step = 0; step < Steps; step++)
                {
                    if (step % every != 0 && step != Steps - 1)
                    {
                        continue;
                    }

                    last = Loss(i, step);
                    var values = new Dictionary<string, object?> { ["loss"] = last, ["epoch"] = step / 10.0 };
                    if (i > 0)
                    {
                        values["acc"] = 1 - (last / 4);
                    }

                    run.Log(values, step);
                }

                await run.FinishAsync();
                _runs.Add((run.Id, name, lr, opt, last));
                i++;
            }
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
    public async Task GroupMaths_InterpolatesOntoTheCommonGrid_WithinEachRunsOwnRange()
    {
        var page = await OpenModulesAsync();
        var values = await page.EvaluateAsync<double?[]>("() => Tracker.interpolate([0, 10, 20], [0, 100, 50], [-5, 0, 2.5, 10, 15, 20, 25])");
        Assert.That(values, Is.EqualTo(new double?[] { null, 0, 25, 100, 75, 50, null }), "linear between points, nothing outside the run's range");

        var skipping = await page.EvaluateAsync<double?[]>("() => Tracker.interpolate([0, 1, 2], [1, NaN, 3], [0, 1, 2])");
        Assert.That(skipping, Is.EqualTo(new double?[] { 1, 2, 3 }), "a NaN point is left out of the interpolation");

        var grid = await page.EvaluateAsync<double[]>("() => Tracker.commonGrid([{ xs: [0, 5, 10] }, { xs: [2, 5] }], 10)");
        Assert.That(grid, Is.EqualTo(new double[] { 0, 2, 5, 10 }), "the members' own x values when there are few");
        var even = await page.EvaluateAsync<double[]>("() => Tracker.commonGrid([{ xs: Array.from({ length: 1001 }, (_, i) => i) }], 5)");
        Assert.That(even, Is.EqualTo(new double[] { 0, 250, 500, 750, 1000 }), "evenly spaced over the whole range when there are many");
    }

    [Test]
    public async Task GroupMaths_RunsOfDifferentDensity_GiveAFlatMean_NoSawtooth()
    {
        var page = await OpenModulesAsync();
        var line = await page.EvaluateAsync<JsonElement>(@"() => Tracker.groupLine([
            { xs: Array.from({ length: 91 }, (_, i) => i), ys: Array(91).fill(1) },
            { xs: Array.from({ length: 10 }, (_, i) => i * 10), ys: Array(10).fill(3) },
        ])");
        var xs = line.GetProperty("xs").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var ys = line.GetProperty("ys").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var counts = line.GetProperty("counts").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        Assert.That(xs, Is.EqualTo(Enumerable.Range(0, 91).Select(x => (double)x)), "every step of the common range");
        Assert.That(ys, Has.All.EqualTo(2.0), "the mean of 1 and 3 at every step, not 1 between the sparse run's points");
        Assert.That(counts, Has.All.EqualTo(2));
    }

    [Test]
    public async Task GroupMaths_Bands_MinMaxStdAndStderr()
    {
        var page = await OpenModulesAsync();
        double[] Band(JsonElement a) => [a.GetProperty("mean").GetDouble(), a.GetProperty("lo").GetDouble(), a.GetProperty("hi").GetDouble()];

        var minmax = Band(await page.EvaluateAsync<JsonElement>("() => Tracker.aggregate([1, 2, 3, 6], 'minmax')"));
        var std = Band(await page.EvaluateAsync<JsonElement>("() => Tracker.aggregate([1, 2, 3, 6], 'std')"));
        var stderr = Band(await page.EvaluateAsync<JsonElement>("() => Tracker.aggregate([1, 2, 3, 6], 'stderr')"));
        var sd = Math.Sqrt(((2.0 * 2.0) + (1.0 * 1.0) + 0 + (3.0 * 3.0)) / 3); // mean 3, sample deviation (n − 1)

        Assert.That(minmax, Is.EqualTo(new[] { 3.0, 1, 6 }));
        Assert.That(std, Is.EqualTo(new[] { 3, 3 - sd, 3 + sd }).Within(1e-12));
        Assert.That(stderr, Is.EqualTo(new[] { 3, 3 - (sd / 2), 3 + (sd / 2) }).Within(1e-12));
        var one = Band(await page.EvaluateAsync<JsonElement>("() => Tracker.aggregate([4], 'std')"));
        Assert.That(one, Is.EqualTo(new[] { 4.0, 4, 4 }), "one run has no spread");

        var wrong = await page.EvaluateAsync<string>("() => { try { Tracker.groupLine([], { band: 'iqr' }); return ''; } catch (e) { return e.message; } }");
        Assert.That(wrong, Does.Contain("'iqr'").And.Contain("minmax, std, stderr"));
    }

    [TestCase(1, 1)]
    [TestCase(10, 10)]
    [TestCase(11, 0)]
    public async Task LineChart_DrawsMinMaxBandsForUpToTenLines_InTheWebUiAndTheReportAlike(int lineCount, int bands)
    {
        // The shared chart module decides, so the web UI and the report (which inlines it) draw the same.
        var page = await OpenModulesAsync();

        var drawn = await page.EvaluateAsync<int>("""
            n => {
              const target = document.createElement('div');
              document.body.append(target);
              const lines = Array.from({ length: n }, (_, i) => ({ label: `run ${i}`, colour: Tracker.runColour(i), xs: [0, 1, 2], ys: [i, i + 1, i], lo: [i - 1, i, i - 1], hi: [i + 1, i + 2, i + 1] }));
              const chart = Tracker.lineChart(target, { lines, width: 400, height: 200, xLabel: 'step' });
              const count = chart.bands;
              chart.destroy();
              target.remove();
              return count;
            }
            """, lineCount);

        Assert.That(drawn, Is.EqualTo(bands));
    }

    [Test]
    public async Task Grouping_GroupHasOneColourOnEveryChart_AndTheBandFollowsTheChoice()
    {
        var page = await OpenCompareAsync();
        await page.Locator("#group-by").SelectOptionAsync("opt");

        var loss = Chart(page, "loss");
        var acc = Chart(page, "acc");
        await Expect(loss).ToHaveAttributeAsync("data-groups", "2");
        await Expect(acc).ToHaveAttributeAsync("data-groups", "2");
        var lossColours = await LegendColoursAsync(loss);
        var accColours = await LegendColoursAsync(acc);
        Assert.That(lossColours.Keys, Is.EquivalentTo(new[] { "opt=adam (mean of 3 runs)", "opt=sgd (mean of 3 runs)" }));
        Assert.That(accColours.Keys, Is.EquivalentTo(new[] { "opt=adam (mean of 2 runs)", "opt=sgd (mean of 3 runs)" }));
        Assert.That(ByGroup(accColours), Is.EquivalentTo(ByGroup(lossColours)), "each group the same colour on both charts");
        Assert.That(lossColours.Values.Distinct().Count(), Is.EqualTo(2), "the groups differ in colour");
        await Browser.SaveScreenshotAsync(page, "grouping-opt");

        await page.Locator("#group-band").SelectOptionAsync("stderr");
        await Expect(loss).ToHaveAttributeAsync("data-band", "stderr");
        Assert.That(ByGroup(await LegendColoursAsync(acc)), Is.EquivalentTo(ByGroup(lossColours)), "a redraw keeps the colours");

        await page.Locator("#group-by").SelectOptionAsync(new[] { "lr", "opt" });
        await Expect(loss).ToHaveAttributeAsync("data-groups", "6");
        Assert.That((await LegendColoursAsync(loss)).Keys, Does.Contain("lr=0.01, opt=sgd (mean of 1 run)"), "grouped by both keys");
    }

    [Test]
    public async Task Grouping_WorksOnAMetricXAxis_AndOnRelativeTime()
    {
        var page = await OpenCompareAsync();
        await page.Locator("#group-by").SelectOptionAsync("opt");
        var loss = Chart(page, "loss");

        await page.Locator("#x-axis").SelectOptionAsync("metric:epoch");
        await Expect(loss).ToHaveAttributeAsync("data-x-axis", "metric:epoch");
        await Expect(loss).ToHaveAttributeAsync("data-groups", "2");
        Assert.That((await LegendColoursAsync(loss)).Keys, Is.EquivalentTo(new[] { "opt=adam (mean of 3 runs)", "opt=sgd (mean of 3 runs)" }));
        Assert.That(double.Parse((await loss.GetAttributeAsync("data-x-max"))!, CultureInfo.InvariantCulture), Is.EqualTo(2.9).Within(1e-9), "x is the epoch");
        await Browser.SaveScreenshotAsync(page, "grouping-epoch");

        await page.Locator("#x-axis").SelectOptionAsync("relative");
        await Expect(loss).ToHaveAttributeAsync("data-x-axis", "relative");
        await Expect(loss).ToHaveAttributeAsync("data-groups", "2");
        await Expect(loss.Locator(".legend-item")).ToHaveCountAsync(2);
    }

    [Test]
    public async Task ParallelCoordinates_BrushFiltersTheRunsTable_AndClearingRestoresIt()
    {
        var page = await OpenRunsAsync();
        await page.Locator("#scatter-y").SelectOptionAsync("summary.loss");
        var lines = page.Locator("#parallel path.pc-line");
        await Expect(lines).ToHaveCountAsync(_runs.Count);
        foreach (var run in _runs)
        {
            var colour = await page.Locator($"table#runs tr[data-run-id=\"{run.Id}\"] .swatch").EvaluateAsync<string>("s => s.style.background");
            var stroke = await page.Locator($"#parallel path.pc-line[data-run-id=\"{run.Id}\"]").GetAttributeAsync("stroke");
            Assert.That(Rgb(stroke!), Is.EqualTo(colour), $"{run.Name}'s line is in its run colour");
        }

        // lr's axis runs from 0.001 at the bottom to 0.1 at the top: the upper half holds only 0.1.
        var box = (await page.Locator("#parallel .pc-hit[data-field=\"config.lr\"]").BoundingBoxAsync())!;
        var x = box.X + (box.Width / 2);
        await page.Mouse.MoveAsync(x, box.Y + 2);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync(x, box.Y + (box.Height / 4), new MouseMoveOptions { Steps = 4 });
        await page.Mouse.MoveAsync(x, box.Y + (box.Height / 2), new MouseMoveOptions { Steps = 4 });
        await page.Mouse.UpAsync();

        var kept = _runs.Where(r => r.Lr == 0.1).Select(r => r.Id).ToArray();
        await Expect(RunRows(page)).ToHaveCountAsync(kept.Length);
        Assert.That(await RunIdsAsync(page), Is.EquivalentTo(kept), "the table keeps the runs inside the brush");
        await Expect(page.Locator("#shown")).ToHaveTextAsync($"{kept.Length} of {_runs.Count} match");
        await Expect(page.Locator("#parallel path.pc-line.out")).ToHaveCountAsync(_runs.Count - kept.Length);
        await Expect(page.Locator("#scatter circle.scatter-point")).ToHaveCountAsync(kept.Length);
        await Expect(page.Locator("#pc-clear")).ToBeVisibleAsync();
        await Browser.SaveScreenshotAsync(page, "parallel-brushed");

        // A second brush narrows further: sgd only.
        var opt = (await page.Locator("#parallel .pc-hit[data-field=\"config.opt\"]").BoundingBoxAsync())!;
        await page.Mouse.MoveAsync(opt.X + (opt.Width / 2), opt.Y + 1);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync(opt.X + (opt.Width / 2), opt.Y + 20, new MouseMoveOptions { Steps = 4 });
        await page.Mouse.UpAsync();
        var sgd = _runs.Single(r => r.Lr == 0.1 && r.Opt == "sgd").Id;
        await Expect(RunRows(page)).ToHaveCountAsync(1);
        Assert.That(await RunIdsAsync(page), Is.EqualTo(new[] { sgd }), "inside every brush");

        // A click on an axis clears its brush; the button clears them all.
        await page.Mouse.ClickAsync(opt.X + (opt.Width / 2), opt.Y + (opt.Height / 2));
        await Expect(RunRows(page)).ToHaveCountAsync(kept.Length);
        await page.Locator("#pc-clear").ClickAsync();
        await Expect(RunRows(page)).ToHaveCountAsync(_runs.Count);
        await Expect(page.Locator("#parallel path.pc-line.out")).ToHaveCountAsync(0);
        await Expect(page.Locator("#shown")).ToHaveTextAsync(string.Empty);
    }

    [Test]
    public async Task Scatter_OnePointPerRun_AtItsConfigAndSummaryValues_WithATooltip()
    {
        var page = await OpenRunsAsync();
        await page.Locator("#scatter-x").SelectOptionAsync("config.lr");
        await page.Locator("#scatter-y").SelectOptionAsync("summary.loss");

        var points = page.Locator("#scatter circle.scatter-point");
        await Expect(points).ToHaveCountAsync(_runs.Count);
        var drawn = await points.EvaluateAllAsync<string[][]>("cs => cs.map(c => [c.dataset.runId, c.dataset.x, c.dataset.y, c.getAttribute('cx'), c.getAttribute('cy'), c.getAttribute('fill')])");
        Assert.That(drawn.Select(p => p[0]), Is.EquivalentTo(_runs.Select(r => r.Id)), "one point per run");
        foreach (var p in drawn)
        {
            var run = _runs.Single(r => r.Id == p[0]);
            Assert.That(double.Parse(p[1], CultureInfo.InvariantCulture), Is.EqualTo(run.Lr), $"{run.Name}'s x is its lr");
            Assert.That(double.Parse(p[2], CultureInfo.InvariantCulture), Is.EqualTo(run.Loss).Within(1e-12).Percent, $"{run.Name}'s y is its last loss");
        }

        // Higher on the chart means a higher loss; further right a higher lr.
        var byLoss = drawn.OrderBy(p => _runs.Single(r => r.Id == p[0]).Loss).Select(p => double.Parse(p[4], CultureInfo.InvariantCulture)).ToArray();
        Assert.That(byLoss, Is.Ordered.Descending, "cy falls as the loss grows");
        var byLr = drawn.OrderBy(p => _runs.Single(r => r.Id == p[0]).Lr).Select(p => double.Parse(p[3], CultureInfo.InvariantCulture)).ToArray();
        Assert.That(byLr, Is.Ordered.Ascending, "cx grows with lr");

        var first = _runs[0];
        await page.Locator($"#scatter circle[data-run-id=\"{first.Id}\"]").HoverAsync();
        await Expect(page.Locator("#scatter .scatter-tip")).ToBeVisibleAsync();
        await Expect(page.Locator("#scatter .scatter-tip")).ToContainTextAsync(first.Name);
        await Browser.SaveScreenshotAsync(page, "scatter");

        // The table's filters reach the scatter.
        await page.Locator("#filter-config").FillAsync("opt=adam");
        await Expect(points).ToHaveCountAsync(_runs.Count(r => r.Opt == "adam"));
    }

    private static double Loss(int run, int step) => (1 + (0.5 * run)) * Math.Exp(-step / 20.0);

    private async Task<IPage> OpenModulesAsync()
    {
        var page = await _browser.OpenAsync("/");
        await page.WaitForFunctionAsync("() => typeof window.Tracker?.groupLine === 'function'");
        return page;
    }

    private async Task<IPage> OpenCompareAsync()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}/compare?runs={string.Join(',', _runs.Select(r => r.Id))}");
        await Expect(Chart(page, "loss")).ToHaveAttributeAsync("data-series", _runs.Count.ToString(CultureInfo.InvariantCulture));
        return page;
    }

    private async Task<IPage> OpenRunsAsync()
    {
        var page = await _browser.OpenAsync($"/#/projects/{Project}");
        await Expect(RunRows(page)).ToHaveCountAsync(_runs.Count);
        return page;
    }

    private static ILocator Chart(IPage page, string key) => page.Locator($"#sections div.chart[data-key=\"{key}\"]");

    private static ILocator RunRows(IPage page) => page.Locator("table#runs tbody tr[data-run-id]");

    private static async Task<string[]> RunIdsAsync(IPage page) =>
        await RunRows(page).EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.runId)");

    /// <summary>Each legend entry's label and the colour of its line.</summary>
    private static async Task<Dictionary<string, string>> LegendColoursAsync(ILocator chart) =>
        (await chart.Locator(".legend-item").EvaluateAllAsync<string[][]>("items => items.map(i => [i.dataset.label, i.querySelector('line').getAttribute('stroke')])"))
            .ToDictionary(p => p[0], p => p[1]);

    /// <summary>Legend colours by group, without the count of runs after it.</summary>
    private static Dictionary<string, string> ByGroup(Dictionary<string, string> colours) =>
        colours.ToDictionary(p => p.Key[..p.Key.IndexOf(" (", StringComparison.Ordinal)], p => p.Value);

    /// <summary>#rrggbb as the browser writes a computed colour: rgb(r, g, b).</summary>
    private static string Rgb(string hex) =>
        $"rgb({Convert.ToInt32(hex[1..3], 16)}, {Convert.ToInt32(hex[3..5], 16)}, {Convert.ToInt32(hex[5..7], 16)})";

    private RunOptions Options(string name, object config) => new()
    {
        Project = Project,
        Name = name,
        Config = config,
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
