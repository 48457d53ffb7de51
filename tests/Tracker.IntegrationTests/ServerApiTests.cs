using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>The HTTP API of a real server process: bad input, auth, and the read endpoints.</summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class ServerApiTests(string storage) : ServerTestsBase(storage, "tracker-server-api")
{
    private int _run;

    [Test]
    public async Task Append_ValidBatchThenReplay_StoresOnceAndSaysSo()
    {
        var runUrl = await CreateRunAsync();
        var body = Lines(1, 100);

        var first = await PostRecordsAsync(runUrl, body);
        var replay = await PostRecordsAsync(runUrl, body);

        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await first.Content.ReadFromJsonAsync<JsonObject>())!.ToJsonString(), Is.EqualTo("{\"acked_seq\":100,\"stored\":100,\"skipped\":0}"));
        Assert.That((await replay.Content.ReadFromJsonAsync<JsonObject>())!.ToJsonString(), Is.EqualTo("{\"acked_seq\":100,\"stored\":0,\"skipped\":100}"));
        var metrics = await Http.GetFromJsonAsync<JsonArray>($"{runUrl}/metrics");
        Assert.That((long)metrics![0]!["count"]!, Is.EqualTo(100));
    }

    [Test]
    public async Task Requests_AreNotLoggedOneByOne_ByDefault()
    {
        var runUrl = await CreateRunAsync();
        (await PostRecordsAsync(runUrl, Lines(1, 10))).EnsureSuccessStatusCode();
        (await Http.GetAsync($"{runUrl}/metrics")).EnsureSuccessStatusCode();
        await Task.Delay(200); // the console logger writes on a thread of its own

        Assert.That(Server.Output, Has.Some.Contains("Tracker server listening"), "the output is read");
        Assert.That(Server.Output, Has.None.Contains("Request starting").And.None.Contains("Executing endpoint"),
            "ASP.NET Core's per-request Information lines are off unless Logging:LogLevel:Microsoft.AspNetCore says otherwise");
    }

    [Test]
    public async Task Append_GzipBody_IsAccepted()
    {
        var runUrl = await CreateRunAsync();
        using var compressed = new MemoryStream();
        await using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            await gzip.WriteAsync(Encoding.UTF8.GetBytes(Lines(1, 50)));
        }

        using var content = new ByteArrayContent(compressed.ToArray());
        content.Headers.ContentEncoding.Add("gzip");
        var response = await Http.PostAsync($"{runUrl}/records", content);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((long)(await response.Content.ReadFromJsonAsync<JsonObject>())!["acked_seq"]!, Is.EqualTo(50));
    }

    [TestCase("{not json", "body")]
    [TestCase("{\"seq\":1,\"type\":\"history\",\"step\":\"zero\",\"ts\":1,\"values\":{\"x\":1}}", "step")]
    [TestCase("{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{\"x\":[1]}}", "steps")]
    [TestCase("{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{\"x\":{\"y\":1}}}", "values.x")]
    [TestCase("{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{\"\":1}}", "values")]
    [TestCase("{\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{\"x\":1}}", "seq")]
    [TestCase("{\"seq\":1,\"step\":0,\"ts\":1,\"values\":{\"x\":1}}", "type")]
    [TestCase("[1,2,3]", "body")]
    public async Task Append_MalformedLine_Is400NamingTheFieldAndStoresNothing(string badLine, string field)
    {
        var runUrl = await CreateRunAsync();
        var body = "{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{\"x\":1}}\n" + badLine.Replace("\"seq\":1", "\"seq\":2", StringComparison.Ordinal);

        var response = await PostRecordsAsync(runUrl, body);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That((string?)problem["field"], Is.EqualTo(field));
        Assert.That((string?)problem["detail"], Does.StartWith("line 2"));
        Assert.That(await AckedAsync(runUrl), Is.Zero, "nothing of a rejected batch is stored");
    }

    [Test]
    public async Task Export_PagesNotAlignedToChunks_ReturnEveryPointOnceInOrder()
    {
        var runUrl = await CreateRunAsync();
        await PostRecordsAsync(runUrl, Lines(1, 5000));

        var steps = new List<long>();
        var after = string.Empty;
        for (var page = 0; page < 100; page++)
        {
            var body = (await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/export?key=loss&limit=777{after}"))!;
            steps.AddRange(body["points"]!.AsArray().Select(p => (long)p![0]!));
            if (body["next_after_step"] is not { } next)
            {
                break;
            }

            after = $"&after_step={(long)next}";
        }

        Assert.That(steps, Is.EqualTo(Enumerable.Range(0, 5000).Select(i => (long)i)));
    }

    [Test]
    public async Task Append_KeyOf10000Characters_Is400()
    {
        var runUrl = await CreateRunAsync();
        var response = await PostRecordsAsync(runUrl, $"{{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{{\"{new string('k', 10_000)}\":1}}}}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["detail"], Does.Contain("at most 256"));
    }

    [Test]
    public async Task Append_NaNStrings_AreStoredAsNumbers()
    {
        var runUrl = await CreateRunAsync();
        await PostRecordsAsync(runUrl, "{\"seq\":1,\"type\":\"history\",\"steps\":[0,1,1],\"ts\":[1,0,0],\"values\":{\"x\":[\"NaN\",\"Infinity\",2]}}");

        var export = await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/export?key=x");
        Assert.That(export!["points"]!.AsArray().Select(p => p![2]!.ToJsonString()), Is.EqualTo(new[] { "\"NaN\"", "\"Infinity\"", "2" }));
    }

    [Test]
    public async Task Append_OversizeBody_Is413()
    {
        var runUrl = await CreateRunAsync();

        // With Expect: 100-continue the server can refuse before the client sends ~40 MB (the limit is 32 MiB).
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{runUrl}/records") { Content = Ndjson(Lines(1, 450_000)) };
        request.Headers.ExpectContinue = true;
        var response = await Http.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        Assert.That(await AckedAsync(runUrl), Is.Zero);
    }

    [Test]
    public async Task Append_GzipBombOverTheLimit_Is413()
    {
        var runUrl = await CreateRunAsync();
        using var compressed = new MemoryStream();
        await using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 40; i++)
            {
                await gzip.WriteAsync(zeros);
            }
        }

        using var content = new ByteArrayContent(compressed.ToArray());
        content.Headers.ContentEncoding.Add("gzip");
        var response = await Http.PostAsync($"{runUrl}/records", content);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
    }

    [Test]
    public async Task Append_UnknownRun_Is404()
    {
        var response = await PostRecordsAsync("/api/v1/projects/it/runs/never-created", Lines(1, 1));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["detail"], Does.Contain("PUT"));
    }

    [Test]
    public async Task Append_Gap_Is409WithTheExpectedSeq()
    {
        var runUrl = await CreateRunAsync();
        await PostRecordsAsync(runUrl, Lines(1, 10));
        var response = await PostRecordsAsync(runUrl, Lines(20, 5));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        Assert.That((long)(await response.Content.ReadFromJsonAsync<JsonObject>())!["expected_seq"]!, Is.EqualTo(11));
        Assert.That(await AckedAsync(runUrl), Is.EqualTo(10));
    }

    [Test]
    public async Task Upsert_WrongTypesOrBadNames_Are400()
    {
        var wrongConfig = await Http.PutAsync("/api/v1/projects/it/runs/bad1", Json("{\"config\":[1,2]}"));
        var wrongName = await Http.PutAsync("/api/v1/projects/it/runs/bad2", Json("{\"name\":5}"));
        var badId = await Http.PutAsync("/api/v1/projects/it/runs/has%20space", Json("{}"));
        var notJson = await Http.PutAsync("/api/v1/projects/it/runs/bad3", Json("{{{"));

        Assert.That(new[] { wrongConfig.StatusCode, wrongName.StatusCode, badId.StatusCode, notJson.StatusCode }, Has.All.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await Http.GetAsync("/api/v1/projects/it/runs/bad1")).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Auth_MissingBadRevokedAndOtherProjectKeys_AreRefused()
    {
        var runUrl = await CreateRunAsync();
        using var anonymous = Server.Client(key: string.Empty);
        using var wrong = Server.Client(key: "trk_not-a-key");
        var revokedKey = await Server.CreateKeyAsync($"revoked{Storage}");
        await Server.RevokeKeyAsync($"revoked{Storage}");
        using var revoked = Server.Client(revokedKey);
        using var otherProject = Server.Client(await Server.CreateKeyAsync($"other{Storage}", project: "elsewhere"));
        using var sameProject = Server.Client(await Server.CreateKeyAsync($"scoped{Storage}", project: "it"));

        Assert.That((await anonymous.PostAsync($"{runUrl}/records", Ndjson(Lines(1, 1)))).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await wrong.PostAsync($"{runUrl}/records", Ndjson(Lines(1, 1)))).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        var revokedResponse = await revoked.PostAsync($"{runUrl}/records", Ndjson(Lines(1, 1)));
        Assert.That(revokedResponse.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(await revokedResponse.Content.ReadAsStringAsync(), Does.Contain("revoked"));
        Assert.That((await otherProject.PutAsync(runUrl, Json("{}"))).StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(await AckedAsync(runUrl), Is.Zero);
        Assert.That((await sameProject.PostAsync($"{runUrl}/records", Ndjson(Lines(1, 1)))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await anonymous.GetAsync(runUrl)).StatusCode, Is.EqualTo(HttpStatusCode.OK), "reads are open on loopback");
    }

    [Test]
    public async Task ListRuns_FiltersAndSortsBySummary()
    {
        var project = $"list{Storage}";
        foreach (var (id, lr, acc) in new[] { ("a", 0.1, 0.7), ("b", 0.2, 0.9), ("c", 0.1, 0.8) })
        {
            var url = $"/api/v1/projects/{project}/runs/{id}";
            await Http.PutAsync(url, Json($"{{\"name\":\"run-{id}\",\"tags\":[\"{(id == "b" ? "best" : "base")}\"],\"config\":{{\"lr\":{lr}}}}}"));
            await PostRecordsAsync(url, $"{{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{{\"acc\":{acc}}}}}");
        }

        async Task<string[]> Ids(string query) =>
            (await Http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{project}/runs{query}"))!.Select(r => (string)r!["id"]!).ToArray();

        Assert.That(await Ids("?sort=-summary.acc"), Is.EqualTo(new[] { "b", "c", "a" }));
        Assert.That(await Ids("?sort=summary.acc"), Is.EqualTo(new[] { "a", "c", "b" }));
        Assert.That(await Ids("?tag=best"), Is.EqualTo(new[] { "b" }));
        Assert.That(await Ids("?config.lr=0.1&sort=name"), Is.EqualTo(new[] { "a", "c" }));
        Assert.That(await Ids("?name=run-c"), Is.EqualTo(new[] { "c" }));
        Assert.That((await Http.GetFromJsonAsync<JsonArray>("/api/v1/projects"))!.Select(p => (string?)p!["name"]), Does.Contain(project));
    }

    [Test]
    public async Task Series_AgainstStepMetric_EveryPointIsEpochAgainstItself_AtAnyBucketCount()
    {
        // epoch = step / 1000 at every step; val/acc = step / 1000 only at steps 999, 1999, ...:
        // charted against epoch, each point's x is epoch at its own step, so x equals y.
        var runUrl = await CreateRunAsync();
        var lines = Enumerable.Range(0, 20_000).Select(step => string.Create(CultureInfo.InvariantCulture,
            $"{{\"seq\":{step + 1},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000 + step},\"values\":{{\"epoch\":{step / 1000.0:R}{(step % 1000 == 999 ? $",\"val/acc\":{step / 1000.0:R}" : "")}}}}}"));
        Assert.That((await PostRecordsAsync(runUrl, string.Join('\n', lines))).StatusCode, Is.EqualTo(HttpStatusCode.OK));

        foreach (var buckets in new[] { 5, 20, 1000 })
        {
            var series = await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/series?key=val/acc&x=metric:epoch&buckets={buckets}");
            var points = series!["buckets"]!.AsArray().Select(b => ((double)b!["x_value"]!, (double)b["last"]!, (long)b["last_x"]!)).ToList();

            Assert.That((string?)series["x"], Is.EqualTo("metric:epoch"));
            Assert.That(points, Has.Count.EqualTo(Math.Min(buckets, 20)), $"{buckets} buckets");
            Assert.That(points.Select(p => p.Item1), Is.EqualTo(points.Select(p => p.Item2)), $"x equals y at {buckets} buckets");
            Assert.That(points[^1], Is.EqualTo((19.999, 19.999, 19_999L)));
        }
    }

    [TestCase("x=metric:", "x")]
    [TestCase("x=epoch", "x")]
    [TestCase("buckets=0", "buckets")]
    [TestCase("buckets=many", "buckets")]
    [TestCase("from=soon", "from")]
    [TestCase("to=later", "to")]
    public async Task Series_BadParameter_Is400NamingIt(string parameter, string field)
    {
        var runUrl = await CreateRunAsync();

        var response = await Http.GetAsync($"{runUrl}/series?key=loss&{parameter}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["field"], Is.EqualTo(field));
    }

    private async Task<string> CreateRunAsync()
    {
        var url = $"/api/v1/projects/it/runs/run{Interlocked.Increment(ref _run)}";
        var response = await Http.PutAsync(url, Json("{\"name\":\"it\",\"state\":\"running\",\"config\":{\"lr\":0.1}}"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        return url;
    }

    private async Task<long> AckedAsync(string runUrl) => (long)(await Http.GetFromJsonAsync<JsonObject>(runUrl))!["acked_seq"]!;

    private Task<HttpResponseMessage> PostRecordsAsync(string runUrl, string body) => Http.PostAsync($"{runUrl}/records", Ndjson(body));

    private static string Lines(long firstSeq, int count) => string.Join('\n', Enumerable.Range(0, count).Select(i =>
        $"{{\"seq\":{firstSeq + i},\"type\":\"history\",\"step\":{firstSeq + i - 1},\"ts\":{1_795_736_598_000 + i},\"values\":{{\"loss\":{(i % 100) / 7.0}}}}}"));

    private static StringContent Ndjson(string body) => new(body, Encoding.UTF8, "application/x-ndjson");

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}

/// <summary>Two stateless server processes on one PostgreSQL database, as behind a load balancer.</summary>
public sealed class SharedDatabaseTests
{
    [Test]
    public async Task TwoServersOnOneDatabase_BatchesSentToEitherAreStoredExactlyOnce()
    {
        await using var first = await ServerProcess.StartAsync("postgres");
        await using var second = await first.StartTwinAsync();
        using var a = first.Client();
        using var b = second.Client();
        const string Url = "/api/v1/projects/shared/runs/r1";
        Assert.That((await a.PutAsync(Url, new StringContent("{\"name\":\"shared\"}"))).IsSuccessStatusCode, Is.True);

        // Each batch goes to both servers at once: one stores it, the other sees a replay.
        for (var batch = 0; batch < 20; batch++)
        {
            var body = string.Join('\n', Enumerable.Range(0, 500).Select(i =>
            {
                var seq = (batch * 500) + i + 1;
                return $"{{\"seq\":{seq},\"type\":\"history\",\"step\":{seq - 1},\"ts\":1,\"values\":{{\"x\":{seq}}}}}";
            }));
            var responses = await Task.WhenAll(
                a.PostAsync($"{Url}/records", new StringContent(body)),
                b.PostAsync($"{Url}/records", new StringContent(body)));
            Assert.That(responses.Select(r => r.StatusCode), Has.All.EqualTo(System.Net.HttpStatusCode.OK));
        }

        var metrics = await b.GetFromJsonAsync<JsonArray>($"{Url}/metrics");
        Assert.That((long)metrics!.Single()!["count"]!, Is.EqualTo(10_000));
        Assert.That((long)(await a.GetFromJsonAsync<JsonObject>(Url))!["acked_seq"]!, Is.EqualTo(10_000));
    }
}
