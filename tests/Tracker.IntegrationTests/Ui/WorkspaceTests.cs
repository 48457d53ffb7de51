using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using NUnit.Framework.Constraints;
using Tracker.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace Tracker.IntegrationTests;

/// <summary>
/// The project workspace in headless Chromium against a real server process over SQLite: the runs
/// table's filters, columns and grouping, the charts beside it, its state in the address, saved
/// views and live refresh. Runs go in through the ingest API; each test has a project of its own.
/// TearDown asserts that no request left the server's host and that no page logged an error.
/// </summary>
[TestFixture]
public sealed class WorkspaceTests : BrowserTestsBase
{
    private const int Runs = 6;

    [Test]
    public async Task Workspace_ChartsTheListedRunsThenTheSelected_InSectionsByPrefix_SearchFiltersCharts()
    {
        var ids = await SeedAsync("ws-charts");
        var page = await Browser.OpenAsync("/#/projects/ws-charts");
        await Expect(RunRows(page)).ToHaveCountAsync(Runs);

        foreach (var prefix in new[] { "train", "val", "system" })
        {
            await Expect(page.Locator($"section.chart-section[data-prefix=\"{prefix}\"]")).ToHaveCountAsync(1);
        }

        await Expect(Chart(page, "train/loss")).ToHaveAttributeAsync("data-series", Runs.ToString(CultureInfo.InvariantCulture));
        await Expect(page.Locator("#chart-note")).ToContainTextAsync("6 runs");

        await Row(page, ids[0]).Locator("input.select-run").CheckAsync();
        await Row(page, ids[3]).Locator("input.select-run").CheckAsync();
        await Expect(Chart(page, "train/loss")).ToHaveAttributeAsync("data-series", "2");
        await Expect(Chart(page, "val/acc")).ToHaveAttributeAsync("data-series", "2");
        await Expect(page.Locator("#chart-note")).ToContainTextAsync("2 selected runs");

        await page.FillAsync("#metric-search", "^val");
        await Expect(Chart(page, "val/acc")).ToBeVisibleAsync();
        await Expect(Chart(page, "train/loss")).ToBeHiddenAsync();
        await Expect(page.Locator("section.chart-section[data-prefix=\"train\"]")).ToBeHiddenAsync();
        await Expect(page.Locator("section.chart-section[data-prefix=\"system\"]")).ToBeHiddenAsync();
        await Browser.SaveScreenshotAsync(page, "workspace-search");

        await page.FillAsync("#metric-search", string.Empty);
        await page.ClickAsync("section.chart-section[data-prefix=\"system\"] > h2");
        await Expect(page.Locator("section.chart-section[data-prefix=\"system\"]")).ToHaveClassAsync(new Regex("collapsed"));
        await Expect(Chart(page, "system/cpu")).ToBeHiddenAsync();
        await Expect(Chart(page, "train/loss")).ToBeVisibleAsync();
    }

    [Test]
    public async Task RunsTable_DefaultColumns_AreTheConfigKeysThatVaryAndTheSummaryMetrics_NameStaysPinned()
    {
        await SeedAsync("ws-columns");
        var page = await Browser.OpenAsync("/#/projects/ws-columns");
        await Expect(RunRows(page)).ToHaveCountAsync(Runs);

        Assert.That(await HeadersAsync(page), Is.EqualTo(new[]
        {
            "name", "state", "tags", "start_time", "duration", "config.lr", "config.opt",
            "summary.train/loss", "summary.val/acc", "summary.system/cpu",
        }), "seed (7 in every run) and nothing else is left out; system metrics after the model's");

        // The name column stays in view when the table scrolls sideways.
        await page.Locator(".project-table .table-wrap").EvaluateAsync("w => { w.style.maxWidth = '420px'; w.scrollLeft = 10000; }");
        var name = page.Locator("table#runs tbody tr").First.Locator("td[data-col=\"name\"]");
        var wrapLeft = await page.Locator(".project-table .table-wrap").EvaluateAsync<double>("w => w.getBoundingClientRect().left");
        var nameLeft = await name.EvaluateAsync<double>("td => td.getBoundingClientRect().left");
        Assert.That(nameLeft - wrapLeft, Is.LessThan(3), "the name cell is pinned to the table's left edge");
        await Browser.SaveScreenshotAsync(page, "workspace-pinned-name");
    }

    [Test]
    public async Task RunsTable_PerColumnMinMax_SetsOneColumnOnly()
    {
        var ids = await SeedAsync("ws-agg");
        var page = await Browser.OpenAsync("/#/projects/ws-agg");
        await Expect(RunRows(page)).ToHaveCountAsync(Runs);
        Assert.That(await NumberAsync(Cell(page, ids[0], "summary.train/loss")), Is.EqualTo(Loss(0, Steps - 1)).Within(1e-9), "last");

        await page.Locator("th[data-col=\"summary.train/loss\"] select.col-agg").SelectOptionAsync("max");

        await ExpectEventuallyAsync(() => NumberAsync(Cell(page, ids[0], "summary.train/loss")), Is.EqualTo(Loss(0, 0)).Within(1e-9), "max train/loss is the first");
        Assert.That(await NumberAsync(Cell(page, ids[0], "summary.val/acc")), Is.EqualTo(Accuracy(0, Steps - 1)).Within(1e-9), "val/acc stays last");
        await Expect(page.Locator("th[data-col=\"summary.train/loss\"] select.col-agg")).ToHaveValueAsync("max");
    }

    [Test]
    public async Task Filters_TwoConditionsIncludingASummaryMetric_ShowWhatTheApiAnswers()
    {
        await SeedAsync("ws-filter");
        var page = await Browser.OpenAsync("/#/projects/ws-filter");
        await Expect(RunRows(page)).ToHaveCountAsync(Runs);

        await page.ClickAsync("#add-filter");
        var first = page.Locator("#filter-rows .filter-row").Nth(0);
        await first.Locator(".filter-key").SelectOptionAsync("summary.val/acc");
        await first.Locator(".filter-op").SelectOptionAsync(">");
        await first.Locator(".filter-value").FillAsync("0.25");
        await page.ClickAsync("#add-filter");
        var second = page.Locator("#filter-rows .filter-row").Nth(1);
        await second.Locator(".filter-key").SelectOptionAsync("config.opt");
        await second.Locator(".filter-op").SelectOptionAsync("=");
        await second.Locator(".filter-value").FillAsync("adam");

        var expected = await ListedAsync("ws-filter", "summary.val/acc > 0.25 and config.opt = 'adam'");
        Assert.That(expected, Has.Count.EqualTo(2), "runs 2 and 4: val/acc 0.3 and 0.5, adam");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(expected), "rows for both conditions");
        await Browser.SaveScreenshotAsync(page, "workspace-two-conditions");

        // Keys with spaces go in backquotes and text in quotes, as the filter language wants them.
        var written = await page.EvaluateAsync<string>("""
            () => window.TrackerWorkspace.filterExpression({ expr: 'lr < 1', filters: [
              { key: 'summary.val acc', op: '>=', value: ' 0.5 ' }, { key: 'config.note', op: '!=', value: "it's" },
              { key: 'config.opt', op: '=', value: 'adam' }, { key: 'config.x', op: '=', value: '' }] })
            """);
        Assert.That(written, Is.EqualTo("summary.`val acc` >= 0.5 and config.note != \"it's\" and config.opt = 'adam' and lr < 1"), "a condition without a value is left out");

        await first.Locator(".filter-remove").ClickAsync();
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(await ListedAsync("ws-filter", "config.opt = 'adam'")), "rows for the condition left");
    }

    [Test]
    public async Task Filters_MalformedShowsTheServersMessage_UnknownKeyIsNamed()
    {
        await SeedAsync("ws-badfilter");
        Browser.ExpectConsoleErrors(new Regex("status of 400"));
        var page = await Browser.OpenAsync("/#/projects/ws-badfilter");
        await Expect(RunRows(page)).ToHaveCountAsync(Runs);

        await page.FillAsync("#filter-config", "val/acc >");
        var response = await Http.GetAsync("/api/v1/projects/ws-badfilter/runs?filter=" + Uri.EscapeDataString("val/acc >"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var detail = (string)(await response.Content.ReadFromJsonAsync<JsonObject>())!["detail"]!;
        await Expect(page.Locator("#filter-error")).ToBeVisibleAsync();
        await Expect(page.Locator("#filter-error")).ToContainTextAsync(detail);
        await Expect(RunRows(page)).ToHaveCountAsync(Runs); // the rows stay, and so does what was typed
        await Expect(page.Locator("#filter-config")).ToHaveValueAsync("val/acc >");
        await Browser.SaveScreenshotAsync(page, "workspace-malformed-filter");

        await page.FillAsync("#filter-config", "config.nosuch = 1");
        await Expect(page.Locator("#filter-error")).ToBeHiddenAsync();
        await Expect(page.Locator("#filter-note")).ToContainTextAsync("nosuch");
        await Expect(RunRows(page)).ToHaveCountAsync(0);
    }

    [Test]
    public async Task GroupRows_ByConfigKey_GroupRowsWithCounts_Collapse()
    {
        var ids = await SeedAsync("ws-group");
        var page = await Browser.OpenAsync("/#/projects/ws-group");
        await Expect(RunRows(page)).ToHaveCountAsync(Runs);

        await page.Locator("#group-rows").SelectOptionAsync("opt");

        var groups = page.Locator("table#runs tbody tr.group-row");
        await Expect(groups).ToHaveCountAsync(2);
        await Expect(groups.Nth(0)).ToContainTextAsync("opt = adam");
        await Expect(groups.Nth(0).Locator(".group-count")).ToHaveTextAsync("3 runs");
        await Expect(groups.Nth(1)).ToContainTextAsync("opt = sgd");
        var order = await page.Locator("table#runs tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.runId || r.dataset.group)");
        Assert.That(order, Is.EqualTo(new[] { "\"adam\"", ids[4], ids[2], ids[0], "\"sgd\"", ids[5], ids[3], ids[1] }), "each group's runs under it, newest first");
        await Browser.SaveScreenshotAsync(page, "workspace-grouped");

        await groups.Nth(0).ClickAsync();
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { ids[1], ids[3], ids[5] }), "the adam group collapsed");
        await Expect(groups.Nth(0)).ToHaveAttributeAsync("aria-expanded", "false");
    }

    [Test]
    public async Task State_RestoredAfterReload_AndFromASharedAddressInAFreshPage()
    {
        var ids = await SeedAsync("ws-state");
        var page = await Browser.OpenAsync("/#/projects/ws-state");
        await Expect(RunRows(page)).ToHaveCountAsync(Runs);

        await page.FillAsync("#filter-config", "opt = adam");
        await ExpectEventuallyAsync(async () => (await RunIdsAsync(page)).Length, Is.EqualTo(3), "adam runs");
        await page.ClickAsync("th[data-col=\"config.lr\"]");
        await page.Locator("#group-rows").SelectOptionAsync("opt");
        await page.Locator("th[data-col=\"summary.train/loss\"] select.col-agg").SelectOptionAsync("min");
        await page.ClickAsync("#columns > summary");
        await page.Locator("#columns input[data-col=\"config.seed\"]").CheckAsync();
        await page.ClickAsync("#columns > summary");
        await Expect(Chart(page, "train/loss")).ToHaveAttributeAsync("data-points", new Regex(@"^[1-9]"));
        await Chart(page, "train/loss").Locator("button.settings").ClickAsync();
        await Chart(page, "train/loss").Locator(".chart-scale").SelectOptionAsync("log");
        await page.Locator("#combine").SelectOptionAsync(["train/loss", "val/acc"]);
        await page.ClickAsync("#add-chart");
        await page.Locator("#x-axis").SelectOptionAsync("relative");
        await Expect(Chart(page, "train/loss,val/acc")).ToHaveCountAsync(1);
        var address = page.Url;
        Assert.That(address, Does.Contain("?s="), "the state is in the address");

        await page.ReloadAsync();
        await ExpectRestoredAsync(page, ids);

        // The address alone: a page with nothing in its storage.
        var fresh = await Browser.NewPageAsync();
        await fresh.GotoAsync(new Uri(Server.BaseUrl, "/").ToString());
        await fresh.EvaluateAsync("() => localStorage.clear()");
        await fresh.GotoAsync(address);
        await fresh.ReloadAsync();
        await ExpectRestoredAsync(fresh, ids);
        await Browser.SaveScreenshotAsync(fresh, "workspace-shared-address");

        // And what the address added: without it, a fresh page shows the defaults.
        await fresh.EvaluateAsync("() => localStorage.clear()");
        await fresh.GotoAsync(new Uri(Server.BaseUrl, "/#/projects/ws-state").ToString());
        await fresh.ReloadAsync();
        await Expect(RunRows(fresh)).ToHaveCountAsync(Runs);
        await Expect(fresh.Locator("#filter-config")).ToHaveValueAsync(string.Empty);
    }

    [Test]
    public async Task SavedViews_SaveByName_Open_Delete_CheckedThroughTheApi_RefusedWithoutKey()
    {
        var ids = await SeedAsync("ws-views");
        Browser.ExpectConsoleErrors(new Regex("status of 401"));
        var page = await Browser.OpenAsync("/#/projects/ws-views");
        await Expect(RunRows(page)).ToHaveCountAsync(Runs);
        await page.FillAsync("#filter-config", "opt = sgd");
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EquivalentTo(new[] { ids[1], ids[3], ids[5] }), "sgd runs");
        await page.Locator("th[data-col=\"summary.val/acc\"]").ClickAsync();

        await OpenViewsMenuAsync(page);
        await page.FillAsync("#view-name", "sgd runs");
        await page.ClickAsync("#view-save");
        await Expect(page.Locator("#view-error")).ToContainTextAsync("not saved");
        await Expect(page.Locator("#view-error")).ToContainTextAsync("API key");
        Assert.That((await Http.GetAsync("/api/v1/projects/ws-views/views/sgd%20runs")).StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "nothing stored of a refused write");

        await page.ClickAsync("#api-key-button");
        await page.FillAsync("#api-key-input", Server.ApiKey);
        await page.ClickAsync("#api-key-save");
        await OpenViewsMenuAsync(page);
        await page.FillAsync("#view-name", "sgd runs");
        await page.ClickAsync("#view-save");
        await Expect(page.Locator("#views-list li[data-view=\"sgd runs\"]")).ToHaveCountAsync(1);
        await Expect(page.Locator("#view-error")).ToBeHiddenAsync();
        var stored = (await Http.GetFromJsonAsync<JsonObject>("/api/v1/projects/ws-views/views/sgd%20runs"))!;
        Assert.That((string?)stored["expr"], Is.EqualTo("opt = sgd"));
        Assert.That((string?)stored["sort"], Is.EqualTo("summary.val/acc"));
        await Browser.SaveScreenshotAsync(page, "workspace-views-menu");

        await page.FillAsync("#filter-config", string.Empty);
        await Expect(RunRows(page)).ToHaveCountAsync(Runs);
        await OpenViewsMenuAsync(page);
        await page.Locator("#views-list li[data-view=\"sgd runs\"] a.view-open").ClickAsync();
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EqualTo(new[] { ids[1], ids[3], ids[5] }), "the view's rows, by val/acc ascending");
        await Expect(page.Locator("#filter-config")).ToHaveValueAsync("opt = sgd");
        await Expect(page.Locator("th[data-col=\"summary.val/acc\"]")).ToHaveAttributeAsync("data-sort", "asc");

        await OpenViewsMenuAsync(page);
        await page.Locator("#views-list li[data-view=\"sgd runs\"] button.view-delete").ClickAsync();
        await Expect(page.Locator("#views-list li[data-view=\"sgd runs\"]")).ToHaveCountAsync(0);
        Assert.That((await Http.GetAsync("/api/v1/projects/ws-views/views/sgd%20runs")).StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "deleted");
    }

    [Test]
    public async Task LiveRefresh_ShowsANewRunAndAnUpdatedSummary_SelectionStays()
    {
        var ids = await SeedAsync("ws-live");
        var page = await Browser.OpenAsync("/?poll=300#/projects/ws-live");
        await Expect(RunRows(page)).ToHaveCountAsync(Runs);
        await Row(page, ids[1]).Locator("input.select-run").CheckAsync();
        await page.ClickAsync("th[data-col=\"summary.val/acc\"]");

        var wrap = page.Locator(".project-table .table-wrap");
        await wrap.EvaluateAsync("w => { w.style.maxWidth = '500px'; w.scrollLeft = 120; }");
        var scrolled = await wrap.EvaluateAsync<double>("w => w.scrollLeft");
        Assert.That(scrolled, Is.GreaterThan(0), "the table scrolls sideways");

        var added = await PutRunAsync("ws-live", "late", Runs, "running");
        await Expect(Row(page, added)).ToHaveCountAsync(1);
        await PostHistoryAsync("ws-live", ids[0], Steps, """{"train/loss":0.001,"val/acc":0.99}""");

        await ExpectEventuallyAsync(() => NumberAsync(Cell(page, ids[0], "summary.val/acc")), Is.EqualTo(0.99), "run 0's new val/acc");
        await Expect(Row(page, ids[1]).Locator("input.select-run")).ToBeCheckedAsync();
        await Expect(page.Locator("th[data-col=\"summary.val/acc\"]")).ToHaveAttributeAsync("data-sort", "asc");
        var order = await RunIdsAsync(page);
        Assert.That(order[Runs - 1], Is.EqualTo(ids[0]), "re-sorted: 0.99 is now the largest");
        Assert.That(order[Runs], Is.EqualTo(added), "the new run has no val/acc: last");
        await Expect(Chart(page, "train/loss")).ToHaveAttributeAsync("data-series", "1");
        Assert.That(await wrap.EvaluateAsync<double>("w => w.scrollLeft"), Is.EqualTo(scrolled), "the table's scroll stays");
    }

    private const int Steps = 20;

    private static double Loss(int run, int step) => (1.0 / (step + 1)) + (run * 0.01);

    private static double Accuracy(int run, int step) => (run + 1) / 10.0 * (step + 1) / Steps;

    /// <summary>
    /// Six finished runs, oldest first: opt adam/sgd alternating, lr 0.1 to 0.6, seed 7 in all;
    /// train/loss, val/acc (ending at 0.1 to 0.6) and system/cpu at 20 steps.
    /// </summary>
    private async Task<string[]> SeedAsync(string project)
    {
        var ids = new string[Runs];
        for (var i = 0; i < Runs; i++)
        {
            ids[i] = await PutRunAsync(project, $"run-{i}", i, "finished");
            var lines = Enumerable.Range(0, Steps).Select(step => string.Create(CultureInfo.InvariantCulture,
                $"{{\"seq\":{step + 1},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000L + (i * 100_000) + (step * 1000)},\"values\":{{\"train/loss\":{Loss(i, step)},\"val/acc\":{Accuracy(i, step)},\"system/cpu\":{10 + i + step}}}}}"));
            await PostAsync($"/api/v1/projects/{project}/runs/{ids[i]}/records", string.Join('\n', lines));
        }

        return ids;
    }

    private async Task<string> PutRunAsync(string project, string name, int i, string state)
    {
        var id = $"{name}-{Guid.NewGuid():N}"[..16];
        var start = DateTimeOffset.FromUnixTimeMilliseconds(1_795_736_598_000L + (i * 100_000)).ToString("O", CultureInfo.InvariantCulture);
        var body = string.Create(CultureInfo.InvariantCulture,
            $"{{\"name\":\"{name}\",\"state\":\"{state}\",\"start_time\":\"{start}\",\"config\":{{\"opt\":\"{(i % 2 == 0 ? "adam" : "sgd")}\",\"lr\":{(i + 1) / 10.0},\"seed\":7}}}}");
        var response = await Http.PutAsync($"/api/v1/projects/{project}/runs/{id}", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        return id;
    }

    private async Task PostHistoryAsync(string project, string id, int step, string values) =>
        await PostAsync($"/api/v1/projects/{project}/runs/{id}/records",
            string.Create(CultureInfo.InvariantCulture, $"{{\"seq\":{step + 1},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000L + (step * 1000)},\"values\":{values}}}"));

    private async Task PostAsync(string path, string ndjson)
    {
        var response = await Http.PostAsync(path, new StringContent(ndjson, Encoding.UTF8, "application/x-ndjson"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }

    private async Task<List<string>> ListedAsync(string project, string filter) =>
        [.. (await Http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{project}/runs?filter={Uri.EscapeDataString(filter)}"))!.Select(r => (string)r!["id"]!)];

    private static async Task ExpectRestoredAsync(IPage page, string[] ids)
    {
        await ExpectEventuallyAsync(() => RunIdsAsync(page), Is.EqualTo(new[] { ids[0], ids[2], ids[4] }), "adam runs by lr ascending");
        await Expect(page.Locator("#filter-config")).ToHaveValueAsync("opt = adam");
        await Expect(page.Locator("th[data-col=\"config.lr\"]")).ToHaveAttributeAsync("data-sort", "asc");
        await Expect(page.Locator("#group-rows")).ToHaveValueAsync("opt");
        await Expect(page.Locator("table#runs tbody tr.group-row")).ToHaveCountAsync(1);
        await Expect(page.Locator("th[data-col=\"summary.train/loss\"] select.col-agg")).ToHaveValueAsync("min");
        await Expect(page.Locator("th[data-col=\"config.seed\"]")).ToHaveCountAsync(1);
        await Expect(Chart(page, "train/loss")).ToHaveAttributeAsync("data-scale", "log");
        await Expect(Chart(page, "val/acc")).ToHaveAttributeAsync("data-scale", "linear");
        await Expect(Chart(page, "train/loss,val/acc")).ToHaveCountAsync(1);
        await Expect(page.Locator("#x-axis")).ToHaveValueAsync("relative");
        await Expect(Chart(page, "val/acc")).ToHaveAttributeAsync("data-x-axis", "relative");
    }

    /// <summary>Opens the views menu with a click unless it is open already.</summary>
    private static async Task OpenViewsMenuAsync(IPage page)
    {
        if (!await page.Locator("#views-menu").EvaluateAsync<bool>("d => d.open"))
        {
            await page.ClickAsync("#views-menu > summary");
        }

        await Expect(page.Locator("#view-name")).ToBeVisibleAsync();
    }

    private static ILocator RunRows(IPage page) => page.Locator("table#runs tbody tr[data-run-id]");

    private static ILocator Row(IPage page, string id) => page.Locator($"table#runs tbody tr[data-run-id=\"{id}\"]");

    private static ILocator Cell(IPage page, string runId, string column) => Row(page, runId).Locator($"td[data-col=\"{column}\"]");

    private static ILocator Chart(IPage page, string key) => page.Locator($"div.chart[data-key=\"{key}\"]");

    private static Task<string[]> RunIdsAsync(IPage page) => RunRows(page).EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.runId)");

    private static Task<string[]> HeadersAsync(IPage page) => page.Locator("table#runs thead th").EvaluateAllAsync<string[]>("ths => ths.map(t => t.dataset.col)");

    private static async Task<double> NumberAsync(ILocator cell) =>
        double.TryParse((await cell.InnerTextAsync()).Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : double.NaN;

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
}
