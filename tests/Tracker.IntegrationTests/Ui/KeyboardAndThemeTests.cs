using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Tracker.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace Tracker.IntegrationTests;

/// <summary>
/// The web UI without a mouse and in the system's colours, in headless Chromium against a real
/// server process over SQLite: the runs table sorted from the keyboard, charts zoomed with keys and
/// buttons, the dark theme, loading placeholders and navigation that never shows the page before.
/// Runs go in through the ingest API. TearDown asserts that no request left the server's host and
/// that no page logged an error.
/// </summary>
[TestFixture]
public sealed class KeyboardAndThemeTests : BrowserTestsBase
{
    private const string Project = "a11y";
    private const int Steps = 100;

    private readonly string[] _ids = new string[3];

    /// <summary>The relative luminance (0 black to 1 white) of a CSS colour, as the page resolves it.</summary>
    private const string Luminance = """
        c => {
          const probe = document.createElement('i');
          probe.style.color = c;
          document.body.append(probe);
          const [r, g, b] = getComputedStyle(probe).color.match(/[\d.]+/g).map(Number).map(v => v / 255).map(v => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
          probe.remove();
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        }
        """;

    [OneTimeSetUp]
    public async Task SeedRunsAsync()
    {
        // Three runs with lr 0.3, 0.1, 0.2 (so neither creation nor name order is lr order), loss at 100 steps.
        var lrs = new[] { 0.3, 0.1, 0.2 };
        for (var i = 0; i < lrs.Length; i++)
        {
            _ids[i] = await PutRunAsync($"run-{"abc"[i]}", i, lrs[i]);
            var lines = Enumerable.Range(0, Steps).Select(step => string.Create(CultureInfo.InvariantCulture,
                $"{{\"seq\":{step + 1},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000L + (i * 1_000_000) + (step * 1000)},\"values\":{{\"loss\":{(1.0 / (step + 1)) + lrs[i]}}}}}"));
            await PostAsync($"/api/v1/projects/{Project}/runs/{_ids[i]}/records", string.Join('\n', lines));
        }
    }

    [Test]
    public async Task RunsTable_TabToAHeader_EnterAndSpaceSort_AriaSortSaysTheOrder()
    {
        var page = await Browser.OpenAsync($"/#/projects/{Project}");
        await Expect(RunRows(page)).ToHaveCountAsync(3);
        var lr = page.Locator("table#runs th[data-col=\"config.lr\"]");
        await Expect(lr).ToHaveAttributeAsync("aria-sort", "none");
        Assert.That(await page.Locator("table#runs th[data-col]").EvaluateAllAsync<string[]>("ths => ths.map(t => t.getAttribute('aria-sort'))"), Has.All.EqualTo("none"));

        // From the last control before the table, Tab alone reaches the header.
        await page.Locator("#select-filtered").FocusAsync();
        for (var i = 0; i < 30 && await FocusedColumnAsync(page) != "config.lr"; i++)
        {
            await page.Keyboard.PressAsync("Tab");
        }

        Assert.That(await FocusedColumnAsync(page), Is.EqualTo("config.lr"), "Tab reaches the lr header");

        await page.Keyboard.PressAsync("Enter");
        await Expect(lr).ToHaveAttributeAsync("aria-sort", "ascending");
        Assert.That(await RunIdsAsync(page), Is.EqualTo(new[] { _ids[1], _ids[2], _ids[0] }), "lr 0.1, 0.2, 0.3");
        Assert.That(await FocusedColumnAsync(page), Is.EqualTo("config.lr"), "focus stays on the header after the table is drawn again");

        await page.Keyboard.PressAsync(" ");
        await Expect(lr).ToHaveAttributeAsync("aria-sort", "descending");
        Assert.That(await RunIdsAsync(page), Is.EqualTo(new[] { _ids[0], _ids[2], _ids[1] }), "lr 0.3, 0.2, 0.1");
        await Expect(page.Locator("table#runs th[data-col=\"name\"]")).ToHaveAttributeAsync("aria-sort", "none");
        Assert.That(await page.EvaluateAsync<double>("() => scrollY"), Is.Zero, "Space sorted instead of scrolling the page");
    }

    [Test]
    public async Task Chart_ZoomsInAndOutWithKeys_ResetsWithKeyOrButton()
    {
        var page = await Browser.OpenAsync($"/#/projects/{Project}/runs/{_ids[0]}");
        var chart = Chart(page, "loss");
        await ExpectFullRangeAsync(chart);
        await Expect(chart.Locator("button.zoom-reset")).ToBeDisabledAsync();
        await Expect(chart.Locator("button.zoom-in")).ToHaveAttributeAsync("aria-label", "Zoom in");

        await chart.Locator(".plot").FocusAsync();
        await page.Keyboard.PressAsync("+");
        await Expect(chart).ToHaveAttributeAsync("data-zoom", new Regex(@"^[\d.]+,[\d.]+$"));
        await Expect(chart).Not.ToHaveAttributeAsync("data-x-min", "0");
        var (min, max) = await XRangeAsync(chart);
        Assert.That(min, Is.InRange(20, 30), "the middle half: from about step 25");
        Assert.That(max, Is.InRange(70, 80), "to about step 74");
        await Expect(chart.Locator("button.zoom-reset")).ToBeEnabledAsync();

        await page.Keyboard.PressAsync("+");
        await Expect(chart).ToHaveAttributeAsync("data-x-max", new Regex(@"^6\d$"));
        var (innerMin, innerMax) = await XRangeAsync(chart);
        Assert.That(innerMax - innerMin, Is.LessThan((max - min) * 0.7), "zoomed in again");

        await page.Keyboard.PressAsync("-");
        await Expect(chart).ToHaveAttributeAsync("data-x-max", new Regex(@"^7\d$"));

        await page.Keyboard.PressAsync("0");
        await ExpectFullRangeAsync(chart);
        await Expect(chart).ToHaveAttributeAsync("data-zoom", string.Empty);

        // The buttons, pressed from the keyboard: zoom in, then reset.
        await chart.Locator("button.zoom-in").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Expect(chart).Not.ToHaveAttributeAsync("data-x-min", "0");
        await chart.Locator("button.zoom-reset").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await ExpectFullRangeAsync(chart);

        // Zooming out past all the data is all of it, not an empty margin.
        await chart.Locator("button.zoom-in").ClickAsync();
        await Expect(chart).Not.ToHaveAttributeAsync("data-x-min", "0");
        await chart.Locator("button.zoom-out").ClickAsync();
        await chart.Locator("button.zoom-out").ClickAsync();
        await ExpectFullRangeAsync(chart);
        await Expect(chart.Locator("button.zoom-reset")).ToBeDisabledAsync();

        // The mouse still works as before: a drag zooms, a double-click resets.
        var over = chart.Locator(".u-over");
        var box = (await over.BoundingBoxAsync())!;
        await page.Mouse.MoveAsync(box.X + (box.Width * 0.25f), box.Y + (box.Height / 2));
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync(box.X + (box.Width * 0.5f), box.Y + (box.Height / 2), new() { Steps = 5 });
        await page.Mouse.UpAsync();
        await Expect(chart).Not.ToHaveAttributeAsync("data-x-min", "0");
        await Expect(chart.Locator("button.zoom-reset")).ToBeEnabledAsync();
        await over.DblClickAsync();
        await ExpectFullRangeAsync(chart);
    }

    [Test]
    public async Task DarkScheme_PageIsDark_ChartTextIsLight_AndFollowsASwitch()
    {
        var page = await Browser.NewPageAsync();
        await page.EmulateMediaAsync(new PageEmulateMediaOptions { ColorScheme = ColorScheme.Dark });
        await page.GotoAsync(new Uri(Server.BaseUrl, $"/#/projects/{Project}").ToString());
        var chart = Chart(page, "loss");
        await Expect(chart.Locator("canvas")).ToHaveCountAsync(1);
        await Expect(chart.Locator(".plot")).ToHaveAttributeAsync("data-axis-colour", new Regex("."));

        var background = await LuminanceAsync(page, "getComputedStyle(document.documentElement).backgroundColor");
        var card = await LuminanceAsync(page, "getComputedStyle(document.querySelector('.chart')).backgroundColor");
        var header = await LuminanceAsync(page, "getComputedStyle(document.querySelector('table#runs th')).backgroundColor");
        var title = await LuminanceAsync(page, "getComputedStyle(document.querySelector('.chart h3')).color");
        var axis = await LuminanceAsync(page, "document.querySelector('.chart .plot').dataset.axisColour");
        Assert.Multiple(() =>
        {
            Assert.That(background, Is.LessThan(0.05), "page background");
            Assert.That(card, Is.LessThan(0.05), "chart card");
            Assert.That(header, Is.LessThan(0.05), "table header");
            Assert.That(title, Is.GreaterThan(0.6), "chart title");
            Assert.That(axis, Is.GreaterThan(0.6), "axis text drawn on the canvas");
        });
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Path.GetTempPath(), "tracker-ui-dark.png"), FullPage = true });
        await Browser.SaveScreenshotAsync(page, "workspace-dark");

        // The system switches to light while the page is open: the charts redraw in dark text.
        await page.EmulateMediaAsync(new PageEmulateMediaOptions { ColorScheme = ColorScheme.Light });
        await ExpectEventuallyAsync(() => LuminanceAsync(page, "document.querySelector('.chart .plot').dataset.axisColour"), v => v < 0.1, "axis text after the switch to light");
        Assert.That(await LuminanceAsync(page, "getComputedStyle(document.documentElement).backgroundColor"), Is.GreaterThan(0.8), "page background in light");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Path.GetTempPath(), "tracker-ui-light.png"), FullPage = true });

        // Every colour the light theme names resolves: a variable defined as itself would leave controls without borders.
        var unresolved = await page.EvaluateAsync<string[]>("""
            () => { const root = getComputedStyle(document.documentElement);
              return ['--fg', '--muted', '--line', '--bg', '--card', '--accent', '--heading', '--head-bg', '--hover', '--field-line', '--chip', '--code', '--differs', '--chart-text', '--chart-grid', '--chart-paper']
                .filter(v => !root.getPropertyValue(v).trim()); }
            """);
        Assert.That(unresolved, Is.Empty, "theme colours with no value in light");
        Assert.That(await page.EvaluateAsync<string>("() => getComputedStyle(document.querySelector('#select-all')).borderTopWidth"), Is.EqualTo("1px"), "buttons keep their border");
    }

    [Test]
    public async Task Placeholders_ShowWhileThePageAndChartsLoad_GoneWhenDrawn()
    {
        var page = await Browser.NewPageAsync();
        var run = new TaskCompletionSource();
        var series = new TaskCompletionSource();
        await page.RouteAsync($"**/api/v1/projects/{Project}/runs/{_ids[1]}", async route => { await run.Task; await route.ContinueAsync(); });
        await page.RouteAsync($"**/api/v1/projects/{Project}/series", async route => { await series.Task; await route.ContinueAsync(); });
        try
        {
            await page.GotoAsync(new Uri(Server.BaseUrl, $"/#/projects/{Project}/runs/{_ids[1]}").ToString());
            await Expect(page.Locator("#view .page-placeholder .skeleton").First).ToBeVisibleAsync();
            await Expect(page.Locator("#view .page-placeholder")).ToHaveAttributeAsync("aria-label", "Loading");

            run.SetResult();
            await Expect(page.Locator("#view .page-placeholder")).ToHaveCountAsync(0);
            var chart = Chart(page, "loss");
            await Expect(chart.Locator(".skeleton-plot")).ToBeVisibleAsync();
            Assert.That(await chart.Locator("canvas").CountAsync(), Is.Zero, "nothing drawn while the series load");

            series.SetResult();
            await Expect(chart.Locator("canvas")).ToHaveCountAsync(1);
            await Expect(page.Locator(".skeleton")).ToHaveCountAsync(0);
        }
        finally
        {
            run.TrySetResult();
            series.TrySetResult();
        }
    }

    [Test]
    public async Task Navigation_FromARunPage_NeverShowsTheOldRunUnderTheNewAddress()
    {
        var page = await Browser.OpenAsync($"/#/projects/{Project}/runs/{_ids[0]}");
        await Expect(page.Locator("#run-header h1")).ToContainTextAsync("run-a");
        var next = new TaskCompletionSource();
        var listing = new TaskCompletionSource();
        await page.RouteAsync($"**/api/v1/projects/{Project}/runs/{_ids[2]}", async route => { await next.Task; await route.ContinueAsync(); });
        await page.RouteAsync(new Regex($@"/api/v1/projects/{Project}/runs\?"), async route => { await listing.Task; await route.ContinueAsync(); });
        try
        {
            // Another run: until it comes, the placeholder, never run-a's header.
            await page.EvaluateAsync($"() => location.hash = '#/projects/{Project}/runs/{_ids[2]}'");
            await Expect(page.Locator("#view .page-placeholder")).ToBeVisibleAsync();
            await Expect(page.Locator("#run-header")).ToHaveCountAsync(0);
            await Expect(page.Locator("#view")).Not.ToContainTextAsync("run-a");
            next.SetResult();
            await Expect(page.Locator("#run-header h1")).ToContainTextAsync("run-c");

            // The project page: its table and charts stand in at once for run-c's page.
            await page.EvaluateAsync($"() => location.hash = '#/projects/{Project}'");
            await Expect(page.Locator("#run-header")).ToHaveCountAsync(0);
            await Expect(page.Locator("#view")).Not.ToContainTextAsync("run-c");
            listing.SetResult();
            await Expect(RunRows(page)).ToHaveCountAsync(3);
            await Expect(page.Locator("#view .page-placeholder")).ToHaveCountAsync(0);
        }
        finally
        {
            next.TrySetResult();
            listing.TrySetResult();
        }
    }

    private static ILocator RunRows(IPage page) => page.Locator("table#runs tbody tr[data-run-id]");

    private static ILocator Chart(IPage page, string key) => page.Locator($"div.chart[data-key=\"{key}\"]");

    private static Task<string[]> RunIdsAsync(IPage page) => RunRows(page).EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.runId)");

    private static Task<string?> FocusedColumnAsync(IPage page) => page.EvaluateAsync<string?>("() => document.activeElement?.matches('th[data-col]') ? document.activeElement.dataset.col : null");

    private static async Task ExpectFullRangeAsync(ILocator chart)
    {
        await Expect(chart).ToHaveAttributeAsync("data-x-min", "0");
        await Expect(chart).ToHaveAttributeAsync("data-x-max", (Steps - 1).ToString(CultureInfo.InvariantCulture));
    }

    private static async Task<(double Min, double Max)> XRangeAsync(ILocator chart) =>
        (double.Parse((await chart.GetAttributeAsync("data-x-min"))!, CultureInfo.InvariantCulture),
         double.Parse((await chart.GetAttributeAsync("data-x-max"))!, CultureInfo.InvariantCulture));

    private static Task<double> LuminanceAsync(IPage page, string colourExpression) =>
        page.EvaluateAsync<double>($"() => ({Luminance})({colourExpression})");

    private static async Task ExpectEventuallyAsync(Func<Task<double>> actual, Func<double, bool> holds, string what)
    {
        var deadline = DateTime.UtcNow + Browser.Timeout;
        var value = await actual();
        while (!holds(value) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            value = await actual();
        }

        Assert.That(holds(value), Is.True, $"{what}: {value}");
    }

    private async Task<string> PutRunAsync(string name, int i, double lr)
    {
        var id = $"{name}-{Guid.NewGuid():N}"[..16];
        var start = DateTimeOffset.FromUnixTimeMilliseconds(1_795_736_598_000L + (i * 1_000_000)).ToString("O", CultureInfo.InvariantCulture);
        var body = string.Create(CultureInfo.InvariantCulture, $"{{\"name\":\"{name}\",\"state\":\"finished\",\"start_time\":\"{start}\",\"config\":{{\"lr\":{lr}}}}}");
        var response = await Http.PutAsync($"/api/v1/projects/{Project}/runs/{id}", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        return id;
    }

    private async Task PostAsync(string path, string ndjson)
    {
        var response = await Http.PostAsync(path, new StringContent(ndjson, Encoding.UTF8, "application/x-ndjson"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }
}
