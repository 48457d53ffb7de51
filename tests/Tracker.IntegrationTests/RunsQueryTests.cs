using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>The runs listing's filter, sort, paging and total, and saved views, against a real server.</summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class RunsQueryTests(string storage)
{
    private const string Project = "query";
    private ServerProcess _server = null!;
    private HttpClient _http = null!;

    [OneTimeSetUp]
    public async Task StartServer()
    {
        _server = await ServerProcess.StartAsync(storage);
        _http = _server.Client();

        // a: sgd 0.7, b: adam 0.9 (tag best), c: sgd 0.85, d: sgd, no accuracy; e: optimizer "10" as text, accuracy 0.95.
        foreach (var (id, optimizer, acc, tag) in new[] { ("a", "\"sgd\"", "0.7", "base"), ("b", "\"adam\"", "0.9", "best"), ("c", "\"sgd\"", "0.85", "base"), ("d", "\"sgd\"", null, "base"), ("e", "\"10\"", "0.95", "base") })
        {
            var url = $"/api/v1/projects/{Project}/runs/{id}";
            (await _http.PutAsync(url, Json($"{{\"name\":\"run-{id}\",\"start_time\":\"2026-01-0{id[0] - 'a' + 1}T00:00:00Z\",\"tags\":[\"{tag}\"],\"config\":{{\"optimizer\":{optimizer},\"model\":{{\"layers\":{id[0] - 'a' + 2}}}}}}}"))).EnsureSuccessStatusCode();
            if (acc is not null)
            {
                (await _http.PostAsync($"{url}/records", Ndjson($"{{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{{\"val/accuracy\":{acc}}}}}"))).EnsureSuccessStatusCode();
            }
        }
    }

    [OneTimeTearDown]
    public async Task StopServer()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    [TestCase("summary.val/accuracy > 0.8 and config.optimizer = 'sgd'", new[] { "c" })]
    [TestCase("val/accuracy>0.8 and optimizer=sgd", new[] { "c" })]
    [TestCase("metrics.val/accuracy >= 0.85 and params.optimizer != sgd", new[] { "e", "b" })]
    [TestCase("summary.val/accuracy < 0.9 and tag = base", new[] { "c", "a" })]
    [TestCase("config.model.layers > 3 and state = running", new[] { "e", "d", "c" })]
    [TestCase("name = 'run-b'", new[] { "b" })]
    [TestCase("tag != base AND summary.val/accuracy > 0", new[] { "b" })]
    public async Task Filter_SeveralConditions_MatchesRunsHavingAll(string filter, string[] expected)
    {
        Assert.That(await IdsAsync($"?filter={Uri.EscapeDataString(filter)}"), Is.EqualTo(expected));
    }

    [Test]
    public async Task Filter_NumberVersusText_ComparesNumbersAsNumbersAndTextAsText()
    {
        // config.model.layers: 2..6 as numbers; 10 > 9 as numbers, but "10" < "9" as text.
        Assert.That(await IdsAsync($"?filter={Uri.EscapeDataString("config.model.layers > 4.5")}"), Is.EqualTo(new[] { "e", "d" }));
        Assert.That(await IdsAsync($"?filter={Uri.EscapeDataString("config.optimizer < 9")}"), Is.Empty, "a number matches numbers only: the optimizer \"10\" is text");
        Assert.That(await IdsAsync($"?filter={Uri.EscapeDataString("config.optimizer < '9'")}"), Is.EqualTo(new[] { "e" }), "as text, \"10\" < \"9\"");
    }

    [Test]
    public async Task Sort_BySummary_RunsWithoutTheValueGoLastEitherWay()
    {
        Assert.That(await IdsAsync("?sort=-summary.val/accuracy"), Is.EqualTo(new[] { "e", "b", "c", "a", "d" }));
        Assert.That(await IdsAsync("?sort=summary.val/accuracy"), Is.EqualTo(new[] { "a", "c", "b", "e", "d" }));
        Assert.That(await IdsAsync("?sort=-config.model.layers"), Is.EqualTo(new[] { "e", "d", "c", "b", "a" }));
        Assert.That(await IdsAsync("?sort=name&filter=tag%3Dbase"), Is.EqualTo(new[] { "a", "c", "d", "e" }));
    }

    [Test]
    public async Task Page_OffsetAndLimit_CarryTheTotalMatching()
    {
        var response = await _http.GetAsync($"/api/v1/projects/{Project}/runs?filter=optimizer%3Dsgd&sort=name&offset=1&limit=1&total=true");
        var last = await _http.GetAsync($"/api/v1/projects/{Project}/runs?filter=optimizer%3Dsgd&sort=name&offset=2&limit=1");

        Assert.That(response.Headers.GetValues("X-Total-Count").Single(), Is.EqualTo("3"));
        Assert.That(response.Headers.GetValues("Tracker-Next-Offset").Single(), Is.EqualTo("2"));
        Assert.That((await response.Content.ReadFromJsonAsync<JsonArray>())!.Select(r => (string?)r!["id"]), Is.EqualTo(new[] { "c" }));
        Assert.That(last.Headers.Contains("Tracker-Next-Offset"), Is.False, "the last page has no next");
        Assert.That(last.Headers.Contains("X-Total-Count"), Is.False, "the total is counted only when asked");
    }

    [TestCase("config.mix")]
    [TestCase("-config.mix")]
    [TestCase("name")]
    [TestCase("-start_time")]
    [TestCase("")]
    public async Task Page_AnySizeAnyOffset_PagesThroughTheSameOrder_NumbersThenTextThenRunsWithout(string sort)
    {
        // mix is a number in p1 and p3, text in p2 and p5, missing in p4 and p6 (p6 has no start time either).
        const string Paging = "paging";
        foreach (var (id, mix, start) in new[] { ("p1", "3", "01"), ("p2", "\"x\"", "02"), ("p3", "1", "03"), ("p4", null, "04"), ("p5", "\"a\"", "05"), ("p6", null, null) })
        {
            var config = mix is null ? "{}" : $"{{\"mix\":{mix}}}";
            var startTime = start is null ? string.Empty : $",\"start_time\":\"2026-01-{start}T00:00:00Z\"";
            (await _http.PutAsync($"/api/v1/projects/{Paging}/runs/{id}", Json($"{{\"name\":\"{id}\"{startTime},\"config\":{config}}}"))).EnsureSuccessStatusCode();
        }

        var all = await IdsAsync($"?sort={sort}", Paging);
        string[] expected = sort switch
        {
            "config.mix" => ["p3", "p1", "p5", "p2", "p4", "p6"],
            "-config.mix" => ["p1", "p3", "p2", "p5", "p4", "p6"],
            "name" => ["p1", "p2", "p3", "p4", "p5", "p6"],
            _ => ["p5", "p4", "p3", "p2", "p1", "p6"],
        };
        Assert.That(all, Is.EqualTo(expected));
        foreach (var limit in new[] { 1, 2, 4 })
        {
            for (var offset = 0; offset <= all.Length; offset++)
            {
                var response = await _http.GetAsync($"/api/v1/projects/{Paging}/runs?sort={sort}&offset={offset}&limit={limit}");
                var page = (await response.Content.ReadFromJsonAsync<JsonArray>())!.Select(r => (string)r!["id"]!).ToArray();
                Assert.That(page, Is.EqualTo(all.Skip(offset).Take(limit)), $"offset {offset}, limit {limit}");
                var next = response.Headers.TryGetValues("Tracker-Next-Offset", out var values) ? values.Single() : null;
                Assert.That(next, Is.EqualTo(offset + limit < all.Length ? $"{offset + limit}" : null), $"next offset after offset {offset}, limit {limit}");
            }
        }
    }

    [Test]
    public async Task Filter_KeyNoRunHas_MatchesNothingAndSaysWhichKey()
    {
        var response = await _http.GetAsync($"/api/v1/projects/{Project}/runs?filter={Uri.EscapeDataString("summary.val/acuracy > 0.8")}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadFromJsonAsync<JsonArray>(), Is.Empty);
        Assert.That(response.Headers.GetValues("Tracker-Unknown-Keys").Single(), Is.EqualTo("val%2Facuracy"));
        Assert.That((await _http.GetAsync($"/api/v1/projects/{Project}/runs?filter=optimizer%3Dsgd")).Headers.Contains("Tracker-Unknown-Keys"), Is.False);
    }

    [TestCase("val/accuracy 0.8", "expected an operator")]
    [TestCase("val/accuracy >", "expected a value")]
    [TestCase("optimizer = 'sgd", "no closing quote")]
    [TestCase("a = 1 or b = 2", "'or' is not supported")]
    [TestCase("a = 1 b = 2", "expected 'and'")]
    [TestCase("tag > x", "takes = or != only")]
    [TestCase("summary. = 1", "names no key")]
    public async Task Filter_Malformed_Is400SayingWhatAndHow(string filter, string problem)
    {
        var response = await _http.GetAsync($"/api/v1/projects/{Project}/runs?filter={Uri.EscapeDataString(filter)}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That((string?)body["field"], Is.EqualTo("filter"));
        Assert.That((string?)body["detail"], Does.Contain(problem).And.Contain("for example"));
    }

    [Test]
    public async Task Sort_Unknown_Is400()
    {
        var response = await _http.GetAsync($"/api/v1/projects/{Project}/runs?sort=tag");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["field"], Is.EqualTo("sort"));
    }

    [Test]
    public async Task Filter_SummaryChangedByLaterRecords_FollowsTheLatestValue()
    {
        var url = $"/api/v1/projects/{Project}-later/runs/x";
        (await _http.PutAsync(url, Json("{\"config\":{\"lr\":0.1}}"))).EnsureSuccessStatusCode();
        (await _http.PostAsync($"{url}/records", Ndjson("{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{\"loss\":5}}"))).EnsureSuccessStatusCode();
        (await _http.PostAsync($"{url}/records", Ndjson("{\"seq\":2,\"type\":\"history\",\"step\":1,\"ts\":2,\"values\":{\"loss\":0.5}}\n{\"seq\":3,\"type\":\"config\",\"ts\":2,\"values\":{\"lr\":0.01,\"batch\":64}}"))).EnsureSuccessStatusCode();

        async Task<int> Count(string filter) => (await _http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}-later/runs?filter={Uri.EscapeDataString(filter)}"))!.Count;
        Assert.That(await Count("summary.loss < 1"), Is.EqualTo(1));
        Assert.That(await Count("summary.loss > 1"), Is.Zero);
        Assert.That(await Count("config.lr = 0.01"), Is.EqualTo(1));
        Assert.That(await Count("config.lr = 0.1"), Is.Zero);
        Assert.That(await Count("config.batch >= 64"), Is.EqualTo(1), "an integer from a config record");
    }

    [Test]
    public async Task Views_SaveListLoadReplaceDelete_RoundTrip()
    {
        const string View = "/api/v1/projects/" + Project + "/views/best%20runs";
        var body = "{\"columns\":[\"summary.val/accuracy\"],\"sort\":\"-summary.val/accuracy\",\"charts\":{\"smoothing\":0.6}}";

        var created = await _http.PutAsync(View, Json(body));
        var loaded = await _http.GetStringAsync(View);
        var replaced = await _http.PutAsync(View, Json("{\"columns\":[]}"));
        var list = await _http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/views");
        var reloaded = await _http.GetStringAsync(View);
        var deleted = await _http.DeleteAsync(View);

        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        Assert.That(JsonNode.DeepEquals(JsonNode.Parse(loaded), JsonNode.Parse(body)), Is.True, loaded);
        Assert.That(replaced.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(list!.Select(v => (string?)v!["name"]), Is.EqualTo(new[] { "best runs" }));
        Assert.That(reloaded, Is.EqualTo("{\"columns\":[]}"));
        Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        Assert.That((await _http.GetAsync(View)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await _http.DeleteAsync(View)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Views_WritesNeedAKeyForTheProject()
    {
        const string View = "/api/v1/projects/" + Project + "/views/guarded";
        using var anonymous = _server.Client(key: string.Empty);
        using var otherProject = _server.Client(await _server.CreateKeyAsync($"views-other-{storage}", project: "elsewhere"));
        using var sameProject = _server.Client(await _server.CreateKeyAsync($"views-same-{storage}", project: Project));

        Assert.That((await anonymous.PutAsync(View, Json("{}"))).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await otherProject.PutAsync(View, Json("{}"))).StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That((await anonymous.GetAsync(View)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "nothing was saved");
        Assert.That((await sameProject.PutAsync(View, Json("{}"))).StatusCode, Is.EqualTo(HttpStatusCode.Created));
        Assert.That((await anonymous.DeleteAsync(View)).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await otherProject.DeleteAsync(View)).StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That((await anonymous.GetAsync(View)).StatusCode, Is.EqualTo(HttpStatusCode.OK), "reads are open on loopback, as other reads");
    }

    [Test]
    public async Task Views_BadBody_IsRefusedAndStoresNothing()
    {
        const string View = "/api/v1/projects/" + Project + "/views/bad";

        var tooLarge = await _http.PutAsync(View, Json($"{{\"x\":\"{new string('a', 64 * 1024)}\"}}"));
        var notObject = await _http.PutAsync(View, Json("[1,2]"));
        var notJson = await _http.PutAsync(View, Json("{columns"));

        Assert.That(tooLarge.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        Assert.That(await tooLarge.Content.ReadAsStringAsync(), Does.Contain("64 KiB"));
        Assert.That(new[] { notObject.StatusCode, notJson.StatusCode }, Has.All.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await _http.GetAsync(View)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [TestCaseSource(typeof(NotAnObject), nameof(NotAnObject.Bodies))]
    public async Task Views_BodyNotAnObject_Is400SayingWhatWasWrongAndWhatToSend(string body, string said)
    {
        const string View = "/api/v1/projects/" + Project + "/views/not-an-object";

        await NotAnObject.AssertProblemAsync(await _http.PutAsync(View, Json(body)), "Malformed view", said);
        Assert.That((await _http.GetAsync(View)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    private async Task<string[]> IdsAsync(string query, string project = Project) =>
        (await _http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{project}/runs{query}"))!.Select(r => (string)r!["id"]!).ToArray();

    private static StringContent Ndjson(string body) => new(body, Encoding.UTF8, "application/x-ndjson");

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
