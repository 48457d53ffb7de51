using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>POST .../series: many runs' and keys' series in one request, as the per-run read answers each.</summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class SeriesBatchTests(string storage)
{
    private const string Project = "batch";
    private static readonly string[] Runs = ["r0", "r1", "r2"];
    private static readonly string[] Keys = ["loss", "acc", "epoch"];
    private ServerProcess _server = null!;
    private HttpClient _http = null!;

    [OneTimeSetUp]
    public async Task StartServer()
    {
        _server = await ServerProcess.StartAsync(storage);
        _http = _server.Client();

        // Each run logs loss at every step and epoch every 10th; r1 never logs acc, the others at every 7th step.
        for (var r = 0; r < Runs.Length; r++)
        {
            var url = $"/api/v1/projects/{Project}/runs/{Runs[r]}";
            (await _http.PutAsync(url, new StringContent($"{{\"name\":\"{Runs[r]}\"}}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
            var steps = 3_000 + (r * 1_000);
            var lines = Enumerable.Range(0, steps).Select(step =>
            {
                var values = string.Create(CultureInfo.InvariantCulture, $"\"loss\":{Math.Sin(step / 50.0) + r:R}");
                values += step % 10 == 0 ? string.Create(CultureInfo.InvariantCulture, $",\"epoch\":{step / 10}") : string.Empty;
                values += r != 1 && step % 7 == 0 ? string.Create(CultureInfo.InvariantCulture, $",\"acc\":{step / (double)steps:R}") : string.Empty;
                return $"{{\"seq\":{step + 1},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000 + (step * 13)},\"values\":{{{values}}}}}";
            });
            (await _http.PostAsync($"{url}/records", new StringContent(string.Join('\n', lines), Encoding.UTF8, "application/x-ndjson"))).EnsureSuccessStatusCode();
        }
    }

    [OneTimeTearDown]
    public async Task StopServer()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    [TestCase("step", 7, null, null)]
    [TestCase("step", 1000, null, null)]
    [TestCase("step", 50, 100L, 2_500L)]
    [TestCase("time", 40, 1_795_736_598_000L + 1_300, 1_795_736_598_000L + 20_000)]
    [TestCase("metric:epoch", 30, null, null)]
    [TestCase("metric:epoch", 500, 500L, null)]
    public async Task Batch_EverySeries_IsWhatThePerRunReadAnswers(string x, int buckets, long? from, long? to)
    {
        var body = new JsonObject { ["runs"] = new JsonArray([.. Runs.Select(r => JsonValue.Create(r))]), ["keys"] = new JsonArray([.. Keys.Select(k => JsonValue.Create(k))]), ["x"] = x, ["buckets"] = buckets };
        var range = string.Empty;
        if (from is not null)
        {
            body["from"] = from;
            range += $"&from={from}";
        }

        if (to is not null)
        {
            body["to"] = to;
            range += $"&to={to}";
        }

        var batch = await PostAsync(body);

        Assert.That(batch.StatusCode, Is.EqualTo(HttpStatusCode.OK), await batch.Content.ReadAsStringAsync());
        var series = (await batch.Content.ReadFromJsonAsync<JsonObject>())!["series"]!.AsArray();
        Assert.That(series.Select(s => ((string?)s!["run"], (string?)s["key"])), Is.EqualTo(Runs.SelectMany(r => Keys.Select(k => ((string?)r, (string?)k)))), "runs in the order asked, each run's keys in the order asked");
        foreach (var item in series.Select(s => s!.AsObject()))
        {
            var run = (string)item["run"]!;
            var one = await _http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{Project}/runs/{run}/series?key={item["key"]}&x={x}&buckets={buckets}{range}");
            item.Remove("run");
            Assert.That(JsonNode.DeepEquals(item, one), Is.True, $"{run} {one!["key"]}: the batch answered {item.ToJsonString()[..Math.Min(300, item.ToJsonString().Length)]}…");
        }

        Assert.That(series.Where(s => (string?)s!["key"] == "loss").Select(s => s!["buckets"]!.AsArray().Count), Has.All.GreaterThan(0), "every run's loss has buckets");
        Assert.That(series.Where(s => (string?)s!["key"] == "acc").Select(s => s!["buckets"]!.AsArray().Count).ElementAt(1), Is.Zero, "r1 never logged acc");
    }

    [TestCase("step", "last_x,last,min,max")]
    [TestCase("time", "x0,x1,count,first_x")]
    [TestCase("metric:epoch", "x_value,last,min,max")]
    public async Task Batch_Columns_AreTheBucketsFieldsAsOneArrayEach(string x, string fields)
    {
        var columns = fields.Split(',');
        var body = new JsonObject { ["runs"] = new JsonArray([.. Runs.Select(r => JsonValue.Create(r))]), ["keys"] = new JsonArray("loss", "acc"), ["x"] = x, ["buckets"] = 40 };
        var rows = (await (await PostAsync(body)).Content.ReadFromJsonAsync<JsonObject>())!["series"]!.AsArray();
        body["columns"] = new JsonArray([.. columns.Select(c => JsonValue.Create(c))]);

        var response = await PostAsync(body);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        var series = (await response.Content.ReadFromJsonAsync<JsonObject>())!["series"]!.AsArray();
        Assert.That(series, Has.Count.EqualTo(rows.Count));
        for (var i = 0; i < series.Count; i++)
        {
            Assert.That(series[i]!["buckets"], Is.Null, "columns instead of buckets");
            var answer = series[i]!["columns"]!.AsObject();
            Assert.That(answer.Select(c => c.Key), Is.EqualTo(columns), "the fields asked for, in that order");
            var buckets = rows[i]!["buckets"]!.AsArray();
            foreach (var field in columns)
            {
                var expected = new JsonArray([.. buckets.Select(b => b![field]!.DeepClone())]);
                Assert.That(JsonNode.DeepEquals(answer[field], expected), Is.True, $"{rows[i]!["run"]} {rows[i]!["key"]} {field}: bucket i's field at index i");
            }
        }

        // The per-run read answers the same columns.
        var one = await _http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{Project}/runs/r0/series?key=loss&x={x}&buckets=40&columns={fields}");
        series[0]!.AsObject().Remove("run");
        Assert.That(JsonNode.DeepEquals(series[0], one), Is.True);
    }

    [Test]
    public async Task Columns_NaNAndInfinity_AreTheStringsEveryReadAnswers()
    {
        var url = $"/api/v1/projects/{Project}/runs/special";
        (await _http.PutAsync(url, new StringContent("{\"name\":\"special\"}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        var lines = """
            {"seq":1,"type":"history","step":0,"ts":1795736598000,"values":{"loss":"NaN"}}
            {"seq":2,"type":"history","step":1,"ts":1795736598001,"values":{"loss":"Infinity"}}
            {"seq":3,"type":"history","step":2,"ts":1795736598002,"values":{"loss":"-Infinity"}}
            {"seq":4,"type":"history","step":3,"ts":1795736598003,"values":{"loss":0.5}}
            """;
        (await _http.PostAsync($"{url}/records", new StringContent(lines, Encoding.UTF8, "application/x-ndjson"))).EnsureSuccessStatusCode();

        var columns = await _http.GetFromJsonAsync<JsonObject>($"{url}/series?key=loss&buckets=4&columns=last");
        var rows = await _http.GetFromJsonAsync<JsonObject>($"{url}/series?key=loss&buckets=4");

        Assert.That(columns!["columns"]!["last"]!.ToJsonString(), Is.EqualTo("""["NaN","Infinity","-Infinity",0.5]"""));
        Assert.That(rows!["buckets"]!.AsArray().Select(b => b!["last"]!.ToJsonString()), Is.EqualTo(new[] { "\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "0.5" }));
    }

    [Test]
    public async Task Batch_RunWithItsOwnRange_IsBucketedOnThatRange()
    {
        var body = JsonNode.Parse("""{"runs": ["r0", {"id": "r2", "from": 1000, "to": 1999}], "keys": ["loss"], "buckets": 10}""")!.AsObject();

        var series = (await (await PostAsync(body)).Content.ReadFromJsonAsync<JsonObject>())!["series"]!.AsArray();

        var own = await _http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{Project}/runs/r2/series?key=loss&buckets=10&from=1000&to=1999");
        Assert.That((long)series[0]!["buckets"]![0]!["x0"]!, Is.Zero, "r0: the whole series");
        series[1]!.AsObject().Remove("run");
        Assert.That(JsonNode.DeepEquals(series[1], own), Is.True);
    }

    [Test]
    public async Task Batch_MoreThanTheLimitOfPairs_Is400NamingTheLimit()
    {
        var runs = new JsonArray([.. Enumerable.Range(0, 101).Select(i => JsonValue.Create($"r{i % 3}"))]);

        var response = await PostAsync(new JsonObject { ["runs"] = runs, ["keys"] = new JsonArray("loss", "acc") });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That((string?)problem["field"], Is.EqualTo("runs"));
        Assert.That((string?)problem["detail"], Does.Contain("202 series").And.Contain("at most 200"));

        var atTheLimit = await PostAsync(new JsonObject { ["runs"] = new JsonArray([.. runs.Take(100).Select(r => r!.DeepClone())]), ["keys"] = new JsonArray("loss", "acc"), ["buckets"] = 5 });
        Assert.That(atTheLimit.StatusCode, Is.EqualTo(HttpStatusCode.OK), "200 pairs is within the limit");
    }

    [TestCase("""{"keys": ["loss"]}""", "runs")]
    [TestCase("""{"runs": "r0", "keys": ["loss"]}""", "runs")]
    [TestCase("""{"runs": [{"id": "r0", "from": "soon"}], "keys": ["loss"]}""", "runs")]
    [TestCase("""{"runs": ["r0"]}""", "keys")]
    [TestCase("""{"runs": ["r0"], "keys": [""]}""", "keys")]
    [TestCase("""{"runs": ["r0"], "keys": ["loss"], "x": "epoch"}""", "x")]
    [TestCase("""{"runs": ["r0"], "keys": ["loss"], "buckets": 0}""", "buckets")]
    [TestCase("""{"runs": ["r0"], "keys": ["loss"], "buckets": 10001}""", "buckets")]
    [TestCase("""{"runs": ["r0"], "keys": ["loss"], "from": 1.5}""", "from")]
    [TestCase("""{"runs": ["r0"], "keys": ["loss"], "to": "later"}""", "to")]
    [TestCase("""["r0"]""", "body")]
    [TestCase("""{"runs": [""", "body")]
    [TestCase("""{"runs": ["r0"], "keys": ["loss"], "columns": []}""", "columns")]
    [TestCase("""{"runs": ["r0"], "keys": ["loss"], "columns": "last"}""", "columns")]
    [TestCase("""{"runs": ["r0"], "keys": ["loss"], "columns": ["last", "mean"]}""", "columns")]
    [TestCase("""{"runs": ["r0"], "keys": ["loss"], "columns": ["x_value"]}""", "columns")]
    public async Task Batch_BadBody_Is400NamingTheMember(string body, string field)
    {
        var response = await _http.PostAsync($"/api/v1/projects/{Project}/series", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["field"], Is.EqualTo(field));
    }

    [TestCaseSource(typeof(NotAnObject), nameof(NotAnObject.Bodies))]
    public async Task Batch_BodyNotAnObject_Is400SayingWhatWasWrongAndWhatToSend(string body, string said) =>
        await NotAnObject.AssertProblemAsync(
            await _http.PostAsync($"/api/v1/projects/{Project}/series", new StringContent(body, Encoding.UTF8, "application/json")), "Invalid series batch", said);

    [Test]
    public async Task Batch_UnknownRun_Is404NamingIt()
    {
        var response = await PostAsync(JsonNode.Parse("""{"runs": ["r0", "gone"], "keys": ["loss"]}""")!.AsObject());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["detail"], Does.Contain("'gone'").And.Not.Contain("'r0'"));
    }

    [Test]
    public async Task Batch_ReadsClosedToKeys_NeedsAKeyLikeEveryRead()
    {
        await using var closed = await ServerProcess.StartAsync(storage, "--Tracker:ReadAccess=key");
        using var anonymous = closed.Client(key: string.Empty);
        using var keyed = closed.Client();
        (await keyed.PutAsync($"/api/v1/projects/{Project}/runs/r0", new StringContent("{\"name\":\"r0\"}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        var body = """{"runs": ["r0"], "keys": ["loss"]}""";

        var denied = await anonymous.PostAsync($"/api/v1/projects/{Project}/series", new StringContent(body, Encoding.UTF8, "application/json"));
        var allowed = await keyed.PostAsync($"/api/v1/projects/{Project}/series", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.That(denied.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(allowed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    private Task<HttpResponseMessage> PostAsync(JsonObject body) =>
        _http.PostAsync($"/api/v1/projects/{Project}/series", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
}
