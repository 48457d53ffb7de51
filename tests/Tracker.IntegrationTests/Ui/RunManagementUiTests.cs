using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Tracker.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace Tracker.IntegrationTests;

/// <summary>
/// Run management in the web UI, in headless Chromium against a real server process over SQLite:
/// edits in place on the run page, archive and delete there and for selected runs of the runs
/// table, each checked through the API afterwards, and what a refused write says. TearDown asserts
/// that no request left the server's host and that no page logged an error.
/// </summary>
[TestFixture]
public sealed class RunManagementUiTests : BrowserTestsBase
{
    private const string Project = "webui-manage";

    [Test]
    public async Task RunPage_RenameTagsAndMarkdownNotes_InPlace_AreStored_AndNotesCannotRunScript()
    {
        var id = await CreateRunAsync("edit", """{"name":"from-code","tags":["sdk"],"notes":"from code"}""");
        var page = await OpenWithKeyAsync($"/#/projects/{Project}/runs/{id}", Server.ApiKey);

        await page.ClickAsync("#edit-name");
        await page.FillAsync("#name-input", "renamed in the UI");
        await page.PressAsync("#name-input", "Enter");
        await Expect(page.Locator("#run-name")).ToHaveTextAsync("renamed in the UI");

        await page.ClickAsync("#edit-tags");
        await page.FillAsync("#tags-input", "baseline, ui-tag");
        await page.PressAsync("#tags-input", "Enter");
        await Expect(page.Locator("#run-tags .tag")).ToHaveTextAsync(["baseline", "ui-tag"]);

        const string notes = "## Findings\n\nLoss is **lower** than the baseline.\n\n<script>window.pwned = 1</script>\n"
            + "<b onclick=\"window.pwned = 2\">click</b> [link](javascript:window.pwned=3)";
        await page.ClickAsync("#edit-notes");
        await page.FillAsync("#notes-input", notes);
        await page.ClickAsync("#notes-editor button[type=submit]");
        await Expect(page.Locator("#notes-body h2")).ToHaveTextAsync("Findings");
        await Expect(page.Locator("#notes-body strong")).ToHaveTextAsync("lower");
        await Expect(page.Locator("#notes-body script")).ToHaveCountAsync(0);
        await Expect(page.Locator("#notes-body [onclick]")).ToHaveCountAsync(0);
        await page.Locator("#notes-body b").ClickAsync();
        await page.Locator("#notes-body a").ClickAsync();
        Assert.That(await page.EvaluateAsync<bool>("() => window.pwned === undefined"), Is.True, "nothing of the notes ran");
        await page.SetViewportSizeAsync(1280, 800);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = "/tmp/run-management-run-page.png", FullPage = true });
        await Browser.SaveScreenshotAsync(page, "run-management-run-page");

        var run = (await Http.GetFromJsonAsync<JsonObject>(RunUrl(id)))!;
        Assert.That((string?)run["name"], Is.EqualTo("renamed in the UI"));
        Assert.That(run["tags"]!.AsArray().Select(t => (string?)t), Is.EqualTo(new[] { "baseline", "ui-tag" }));
        Assert.That((string?)run["notes"], Is.EqualTo(notes), "stored as written; only its rendering is sanitised");

        await page.ReloadAsync();
        await Expect(page.Locator("#run-name")).ToHaveTextAsync("renamed in the UI");
    }

    [Test]
    public async Task RunPage_ArchiveUnarchiveAndDelete_AreStored()
    {
        var id = await CreateRunAsync("page", """{"name":"to-delete"}""");
        var page = await OpenWithKeyAsync($"/#/projects/{Project}/runs/{id}", Server.ApiKey);

        await page.ClickAsync("#archive-run");
        await Expect(page.Locator("#run-archived")).ToBeVisibleAsync();
        await Expect(page.Locator("#archive-run")).ToHaveTextAsync("Unarchive");
        Assert.That((bool)(await Http.GetFromJsonAsync<JsonObject>(RunUrl(id)))!["archived"]!, Is.True);
        Assert.That(await ListedAsync(""), Does.Not.Contain(id));

        await page.ClickAsync("#archive-run");
        await Expect(page.Locator("#run-archived")).ToHaveCountAsync(0);
        Assert.That((bool)(await Http.GetFromJsonAsync<JsonObject>(RunUrl(id)))!["archived"]!, Is.False);

        string? question = null;
        page.Dialog += async (_, dialog) =>
        {
            question = dialog.Message;
            await dialog.AcceptAsync();
        };
        await page.ClickAsync("#delete-run");

        await Expect(page).ToHaveURLAsync(new Regex($"#/projects/{Project}$"));
        Assert.That(question, Does.Contain("to-delete").And.Contain("removed for good"));
        Assert.That((await Http.GetAsync(RunUrl(id))).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task RunsTable_ArchiveUnarchiveAndDeleteSelectedRuns_AreStored()
    {
        var first = await CreateRunAsync("table", """{"name":"table-one"}""");
        var second = await CreateRunAsync("table", """{"name":"table-two"}""");
        var page = await OpenWithKeyAsync($"/#/projects/{Project}", Server.ApiKey);
        await Expect(Row(page, first)).ToHaveCountAsync(1);

        await Row(page, first).Locator("input.select-run").CheckAsync();
        await Row(page, second).Locator("input.select-run").CheckAsync();
        await page.ClickAsync("#archive-selected");

        await Expect(Row(page, first)).ToHaveCountAsync(0);
        await Expect(Row(page, second)).ToHaveCountAsync(0);
        Assert.That(await ListedAsync("?archived=true"), Does.Contain(first).And.Contain(second));

        await page.CheckAsync("#show-archived");
        await Expect(Row(page, first).Locator(".archived-badge")).ToHaveTextAsync("archived");
        await Browser.SaveScreenshotAsync(page, "run-management-table-archived");
        await Row(page, first).Locator("input.select-run").CheckAsync();
        await page.ClickAsync("#unarchive-selected");
        await Expect(Row(page, first).Locator(".archived-badge")).ToHaveCountAsync(0);
        Assert.That(await ListedAsync(""), Does.Contain(first).And.Not.Contain(second));

        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        await Row(page, second).Locator("input.select-run").CheckAsync();
        await page.ClickAsync("#delete-selected");
        await Expect(Row(page, second)).ToHaveCountAsync(0);
        Assert.That((await Http.GetAsync(RunUrl(second))).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await Http.GetAsync(RunUrl(first))).StatusCode, Is.EqualTo(HttpStatusCode.OK), "only the selected run is deleted");
    }

    [Test]
    public async Task RefusedWrites_SayWhy_WithoutAKeyAndWithAReadOnlyKey()
    {
        var id = await CreateRunAsync("refused", """{"name":"kept"}""");
        Browser.ExpectConsoleErrors(new Regex("Failed to load resource: the server responded with a status of 40[13]"));
        var page = await Browser.OpenAsync($"/#/projects/{Project}/runs/{id}");

        await page.ClickAsync("#edit-name");
        await page.FillAsync("#name-input", "changed");
        await page.PressAsync("#name-input", "Enter");
        await Expect(page.Locator("#manage-error")).ToContainTextAsync("Refused (401)");
        await Expect(page.Locator("#manage-error")).ToContainTextAsync("API key");

        await SetKeyAsync(page, await Server.CreateKeyAsync("ui-viewer", readOnly: true));
        await page.ClickAsync("#archive-run");
        await Expect(page.Locator("#manage-error")).ToContainTextAsync("Refused (403)");
        await Expect(page.Locator("#manage-error")).ToContainTextAsync("read-only access cannot change anything");
        await Browser.SaveScreenshotAsync(page, "run-management-refused");

        var run = (await Http.GetFromJsonAsync<JsonObject>(RunUrl(id)))!;
        Assert.That(((string?)run["name"], (bool)run["archived"]!), Is.EqualTo(("kept", false)));
    }

    private async Task<IPage> OpenWithKeyAsync(string path, string key)
    {
        var page = await Browser.OpenAsync(path);
        await SetKeyAsync(page, key);
        return page;
    }

    /// <summary>Pastes a key into the header's API key dialog, as a user does once.</summary>
    private static async Task SetKeyAsync(IPage page, string key)
    {
        await page.ClickAsync("#api-key-button");
        await page.FillAsync("#api-key-input", key);
        await page.ClickAsync("#api-key-save");
        await Expect(page.Locator("#api-key-button")).ToHaveTextAsync("API key ✓");
    }

    private async Task<string> CreateRunAsync(string prefix, string runJson)
    {
        var id = $"{prefix}-{Guid.NewGuid():N}"[..20];
        var response = await Http.PutAsync(RunUrl(id), new StringContent(runJson, Encoding.UTF8, "application/json"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        return id;
    }

    private async Task<List<string?>> ListedAsync(string query) =>
        [.. (await Http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/runs{query}"))!.Select(r => (string?)r!["id"])];

    private static string RunUrl(string id) => $"/api/v1/projects/{Project}/runs/{id}";

    private static ILocator Row(IPage page, string id) => page.Locator($"table#runs tbody tr[data-run-id=\"{id}\"]");
}
