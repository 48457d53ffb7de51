using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>POST .../runs/batch: many runs, with their metric lists when asked, in one request, as the per-run reads answer each.</summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class RunBatchTests(string storage)
{
    private const string Project = "runbatch";

    // "batch" is a run id too: the batch read must not hide it from GET .../runs/batch.
    private static readonly string[] Runs = ["r0", "r1", "r2", "batch"];
    private ServerProcess _server = null!;
    private HttpClient _http = null!;

    [OneTimeSetUp]
    public async Task StartServer()
    {
        _server = await ServerProcess.StartAsync(storage);
        _http = _server.Client();

        // Run i logs loss at i * 10 + 5 steps, r1 acc too; its last record stays pending (not yet in a chunk) or not, as the server decides.
        for (var r = 0; r < Runs.Length; r++)
        {
            var url = $"/api/v1/projects/{Project}/runs/{Runs[r]}";
            (await _http.PutAsync(url, Json($"{{\"name\":\"run {r}\",\"config\":{{\"lr\":{r}}},\"tags\":[\"t{r}\"]}}"))).EnsureSuccessStatusCode();
            var lines = Enumerable.Range(0, (r * 10) + 5).Select(step =>
                $"{{\"seq\":{step + 1},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000 + step},\"values\":{{\"loss\":{step}{(r == 1 ? $",\"acc\":{step * 2}" : string.Empty)}}}}}");
            (await _http.PostAsync($"{url}/records", new StringContent(string.Join('\n', lines), Encoding.UTF8, "application/x-ndjson"))).EnsureSuccessStatusCode();
        }

        (await _http.PatchAsync($"/api/v1/projects/{Project}/runs/r2", Json("""{"name":"renamed","archived":true}"""))).EnsureSuccessStatusCode();
    }

    [OneTimeTearDown]
    public async Task StopServer()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    [Test]
    public async Task Batch_WithMetrics_EveryRunAndListIsWhatThePerRunReadsAnswer()
    {
        string[] asked = ["r2", "batch", "r0", "r1", "r0"];
        var response = await _http.PostAsync($"/api/v1/projects/{Project}/runs/batch", Json($"{{\"runs\":[{string.Join(',', asked.Select(r => $"\"{r}\""))}],\"metrics\":true}}"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        var runs = (await response.Content.ReadFromJsonAsync<JsonObject>())!["runs"]!.AsArray();
        Assert.That(runs.Select(r => (string?)r!["run"]!["id"]), Is.EqualTo(asked), "in the order asked, an id asked twice answered twice");
        foreach (var item in runs.Select(r => r!.AsObject()))
        {
            var id = (string)item["run"]!["id"]!;
            var run = await _http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{Project}/runs/{id}");
            var metrics = await _http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/runs/{id}/metrics");
            Assert.That(item["run"]!.ToJsonString(), Is.EqualTo(run!.ToJsonString()), id);
            Assert.That(item["metrics"]!.ToJsonString(), Is.EqualTo(metrics!.ToJsonString()), id);
        }

        Assert.That((string?)runs[0]!["run"]!["name"], Is.EqualTo("renamed"), "edits are read, and archived runs are answered when asked by id");
        var r1 = runs[3]!["metrics"]!.AsArray();
        Assert.That(r1.Select(m => (string?)m!["key"]), Is.EquivalentTo(new[] { "acc", "loss" }));
        Assert.That(r1.Select(m => (long?)m!["count"]), Is.EqualTo(new long?[] { 15, 15 }));
    }

    [Test]
    public async Task Batch_WithoutMetrics_AnswersRunsAlone()
    {
        var response = await _http.PostAsync($"/api/v1/projects/{Project}/runs/batch", Json("""{"runs":["r1"]}"""));

        var item = (await response.Content.ReadFromJsonAsync<JsonObject>())!["runs"]![0]!.AsObject();
        Assert.That(item.Select(p => p.Key), Is.EqualTo(new[] { "run" }));
        Assert.That((string?)item["run"]!["id"], Is.EqualTo("r1"));
    }

    [Test]
    public async Task Get_RunNamedBatch_IsStillThatRun()
    {
        var run = await _http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{Project}/runs/batch");

        Assert.That((string?)run!["id"], Is.EqualTo("batch"));
    }

    [TestCase("[1]", "body")]
    [TestCase("{}", "runs")]
    [TestCase("""{"runs":"r0"}""", "runs")]
    [TestCase("""{"runs":[""]}""", "runs")]
    [TestCase("""{"runs":[3]}""", "runs")]
    [TestCase("""{"runs":["r0"],"metrics":"yes"}""", "metrics")]
    [TestCase("not json", "body")]
    public async Task Batch_BadBody_Is400NamingTheField(string body, string field)
    {
        var response = await _http.PostAsync($"/api/v1/projects/{Project}/runs/batch", Json(body));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["field"], Is.EqualTo(field));
    }

    [TestCaseSource(typeof(NotAnObject), nameof(NotAnObject.Bodies))]
    public async Task Batch_BodyNotAnObject_Is400SayingWhatWasWrongAndWhatToSend(string body, string said) =>
        await NotAnObject.AssertProblemAsync(await _http.PostAsync($"/api/v1/projects/{Project}/runs/batch", Json(body)), "Invalid runs batch", said);

    [Test]
    public async Task Batch_OverTheLimit_Is400NamingCountAndLimit()
    {
        var ids = string.Join(',', Enumerable.Range(0, 101).Select(_ => "\"r0\""));
        var response = await _http.PostAsync($"/api/v1/projects/{Project}/runs/batch", Json($"{{\"runs\":[{ids}]}}"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var detail = (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["detail"];
        Assert.That(detail, Does.Contain("101").And.Contain("100"));
    }

    [Test]
    public async Task Batch_UnknownRun_Is404NamingItAndAnswersNothing()
    {
        var response = await _http.PostAsync($"/api/v1/projects/{Project}/runs/batch", Json("""{"runs":["r0","nope","r1"],"metrics":true}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.That((string?)problem!["detail"], Does.Contain("'nope'").And.Not.Contain("'r0'"));
        Assert.That(problem["runs"], Is.Null);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
