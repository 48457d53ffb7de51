using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>
/// Hostile and malformed input against a real server process: each is refused with a problem that
/// names the field (400) or the size (413), the server stays within its memory, and nothing stored changes.
/// </summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class LimitsTests(string storage) : ServerTestsBase(storage, "tracker-limits")
{
    private int _run;

    [Test]
    public async Task LineWith50000Keys_Is400_AndTheServerDoesNotGrow()
    {
        var runUrl = await CreateRunAsync();
        (await PostAsync(runUrl, "{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1795736598000,\"values\":{\"loss\":1}}")).EnsureSuccessStatusCode();
        var line = "{\"seq\":2,\"type\":\"history\",\"step\":1,\"ts\":1795736598001,\"values\":{"
            + string.Join(',', Enumerable.Range(0, 50_000).Select(i => $"\"k{i}\":{i}")) + "}}";
        var before = Server.WorkingSetBytes;

        for (var i = 0; i < 5; i++)
        {
            var response = await PostAsync(runUrl, line);
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, "values", "10,000");
        }

        var grown = Server.WorkingSetBytes - before;
        Assert.That(grown, Is.LessThan(100L << 20), $"five 50,000-key lines grew the server by {grown / 1048576} MiB");
        await AssertRunUnchangedAsync(runUrl, ackedSeq: 1, keys: ["loss"]);
    }

    [Test]
    public async Task BatchOverTheDistinctKeyLimit_Is413_AndNothingIsStored()
    {
        var runUrl = await CreateRunAsync();
        var lines = Enumerable.Range(0, 7).Select(l => $"{{\"seq\":{l + 1},\"type\":\"history\",\"step\":{l},\"ts\":1795736598000,\"values\":{{"
            + string.Join(',', Enumerable.Range(0, 10_000).Select(i => $"\"l{l}k{i}\":{i}")) + "}}");

        var response = await PostAsync(runUrl, string.Join('\n', lines));

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "body", "65,536");
        await AssertRunUnchangedAsync(runUrl, ackedSeq: 0, keys: []);
    }

    [Test]
    public async Task KeysOverTheRunsLimit_AcrossRequests_Are400_AndTheRunKeepsWhatItHad()
    {
        var runUrl = await CreateRunAsync();
        string Request(int first, int request) => string.Join('\n', Enumerable.Range(0, 6).Select(l =>
            $"{{\"seq\":{first + l},\"type\":\"history\",\"step\":{first + l},\"ts\":1795736598000,\"values\":{{"
            + string.Join(',', Enumerable.Range(0, 10_000).Select(i => $"\"r{request}l{l}k{i}\":{i}")) + "}}"));

        // Each request is within every per-request limit (60,000 distinct keys); the run as a whole is not.
        (await PostAsync(runUrl, Request(1, 0))).EnsureSuccessStatusCode();
        await AssertProblemAsync(await PostAsync(runUrl, Request(7, 1)), HttpStatusCode.BadRequest, "values", "100,000");

        var run = await Http.GetFromJsonAsync<JsonObject>(runUrl);
        Assert.That((long)run!["acked_seq"]!, Is.EqualTo(6), "the refused request stored nothing");
        Assert.That(run["summary"]!.AsObject().Count, Is.EqualTo(60_000));
    }

    [Test]
    public async Task ConfigOverTheDocumentLimit_AcrossRequests_Is400()
    {
        var runUrl = await CreateRunAsync();
        string Config(int seq) => $"{{\"seq\":{seq},\"type\":\"config\",\"ts\":1795736598000,\"values\":{{"
            + string.Join(',', Enumerable.Range(0, 1_000).Select(i => $"\"c{seq}_{i}\":\"{new string('x', 600)}\"")) + "}}";

        (await PostAsync(runUrl, Config(1))).EnsureSuccessStatusCode(); // about 0.6 MB: the two together are over 1 MiB
        await AssertProblemAsync(await PostAsync(runUrl, Config(2)), HttpStatusCode.BadRequest, "values", "The run's config");

        var run = await Http.GetFromJsonAsync<JsonObject>(runUrl);
        Assert.That((long)run!["acked_seq"]!, Is.EqualTo(1));
        var config = run["config"]!.AsObject().Select(p => p.Key).ToList();
        Assert.That(config, Does.Contain("c1_999").And.None.StartsWith("c2_"), "the first config record stays, the refused one left nothing");
    }

    [Test]
    public async Task LargestBatchTheLimitsAllow_IsStored_WithBoundedMemory()
    {
        // 4 blocks of 1,024 rows x 1,024 keys: the most values one batch may hold (RecordRules.MaxValuesPerBatch).
        var runUrl = await CreateRunAsync();
        var body = new StringBuilder();
        for (var b = 0; b < 4; b++)
        {
            body.Append("{\"seq\":").Append(b + 1).Append(",\"type\":\"history\",\"steps\":[").Append(b * 1024).Append(string.Concat(Enumerable.Repeat(",1", 1023)))
                .Append("],\"ts\":[1795736598000").Append(string.Concat(Enumerable.Repeat(",1", 1023))).Append("],\"values\":{");
            for (var k = 0; k < 1024; k++)
            {
                body.Append(k == 0 ? string.Empty : ",").Append("\"k").Append(k).Append("\":[").Append(string.Join(',', Enumerable.Repeat(k % 10, 1024))).Append(']');
            }

            body.Append("}}\n");
        }

        var response = await PostAsync(runUrl, body.ToString());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        var peak = Server.PeakWorkingSetBytes;
        TestContext.Out.WriteLine($"{Storage}: body {body.Length / 1048576.0:F1} MiB, server peak working set {peak / 1048576.0:F0} MiB");
        Assert.That(peak, Is.LessThan(1536L << 20), "the largest batch the limits allow fits in 1.5 GiB");
    }

    [Test]
    public async Task SeriesWithExtremeRange_IsAnsweredWithBoundedBuckets()
    {
        var runUrl = await CreateRunAsync();
        (await PostAsync(runUrl, "{\"seq\":1,\"type\":\"history\",\"step\":5,\"ts\":1795736598000,\"values\":{\"loss\":1.5}}")).EnsureSuccessStatusCode();

        var response = await Http.GetAsync($"{runUrl}/series?key=loss&from={long.MinValue}&to={long.MaxValue}&buckets=10000");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        var buckets = (await response.Content.ReadFromJsonAsync<JsonObject>())!["buckets"]!.AsArray();
        Assert.That(buckets, Has.Count.EqualTo(1));
        Assert.That((long)buckets[0]!["x0"]! <= 5 && (long)buckets[0]!["x1"]! >= 5, Is.True, buckets.ToJsonString());
        Assert.That((double)buckets[0]!["last"]!, Is.EqualTo(1.5));
    }

    [Test]
    public async Task ConsoleLineWithNul_IsStoredWithAReplacementCharacter()
    {
        var runUrl = await CreateRunAsync();

        var response = await PostAsync(runUrl, "{\"seq\":1,\"type\":\"output\",\"ts\":1795736598000,\"stream\":\"stdout\",\"line\":\"a\\u0000b\"}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        var output = await Http.GetStringAsync($"{runUrl}/output");
        Assert.That(output, Does.Contain("a\uFFFDb").Or.Contain("a\\uFFFDb"));
    }

    [TestCase("{\"name\":\"it\",\"state\":5}", "state")]
    [TestCase("{\"name\":\"it\",\"start_time\":{\"a\":1}}", "start_time")]
    [TestCase("{\"name\":\"it\",\"start_time\":\"yesterday\"}", "start_time")]
    [TestCase("{\"name\":\"it\",\"tags\":[{\"a\":1}]}", "tags")]
    [TestCase("{\"name\":\"it\",\"exit_code\":\"1\"}", "exit_code")]
    [TestCase("{\"name\":\"a\\u0000b\"}", "name")]
    [TestCase("{\"name\":\"it\",\"config\":{\"lr\":1,\"lr\":2}}", "config.lr")]
    [TestCase("{\"name\":\"it\",\"config\":{\"a\\u0000\":1}}", "config")]
    [TestCase("{\"name\":\"it\",\"group\":\"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"}", "group")]
    public async Task UpsertWithAWrongMember_Is400NamingIt_AndTheRunIsUnchanged(string body, string field)
    {
        var runUrl = await CreateRunAsync();

        var response = await Http.PutAsync(runUrl, new StringContent(body, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field, string.Empty);
        var run = await Http.GetFromJsonAsync<JsonObject>(runUrl);
        Assert.That((string?)run!["name"], Is.EqualTo("it"));
        Assert.That((string?)run["state"], Is.EqualTo("running"));
    }

    [Test]
    public async Task UpsertWithThirtyMegabyteNotes_Is413Or400_AndNotStored()
    {
        var runUrl = await CreateRunAsync();
        var notes = new string('n', 30 << 20);

        var response = await Http.PutAsync(runUrl, new StringContent($"{{\"name\":\"it\",\"notes\":\"{notes}\"}}", Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest).Or.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        var run = await Http.GetFromJsonAsync<JsonObject>(runUrl);
        Assert.That(run!.ToJsonString(), Has.Length.LessThan(10_000));
    }

    [TestCase("{\"seq\":1,\"type\":\"config\",\"ts\":1795736598000,\"values\":{\"lr\":1,\"lr\":2}}", "values.lr")]
    [TestCase("{\"seq\":1,\"type\":\"config\",\"ts\":1795736598000,\"values\":{\"opt\":{\"b\":1,\"b\":2}}}", "values.opt.b")]
    [TestCase("{\"seq\":1,\"type\":\"run\",\"ts\":1795736598000,\"tags\":[{\"a\":1}]}", "tags")]
    [TestCase("{\"seq\":1,\"type\":\"finish\",\"ts\":1795736598000,\"state\":7}", "state")]
    [TestCase("{\"seq\":1,\"type\":\"media\",\"ts\":1795736598000,\"key\":\"h\",\"step\":0,\"media\":{\"_type\":\"histogram\",\"bins\":[2,1,3],\"counts\":[1,1]}}", "media.bins")]
    [TestCase("{\"seq\":1,\"type\":\"media\",\"ts\":1795736598000,\"key\":\"h\",\"step\":0,\"media\":{\"_type\":\"histogram\",\"bins\":[1,2,3],\"counts\":[1,-1]}}", "media.counts")]
    public async Task RecordWithAWrongMember_Is400NamingIt_AndNothingIsStored(string line, string field)
    {
        var runUrl = await CreateRunAsync();

        var response = await PostAsync(runUrl, line);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field, string.Empty);
        await AssertRunUnchangedAsync(runUrl, ackedSeq: 0, keys: []);
        var run = await Http.GetFromJsonAsync<JsonObject>(runUrl);
        Assert.That(run!["config"]!.ToJsonString(), Is.EqualTo("{\"lr\":0.1}"));
    }

    [Test]
    public async Task Blob_IsServedWithNosniff()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"columns\":[\"a\"],\"data\":[[1]]}");
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new("application/json");
        (await Http.PutAsync($"/api/v1/projects/it/blobs/{sha}", content)).EnsureSuccessStatusCode();

        var response = await Http.GetAsync($"/api/v1/projects/it/blobs/{sha}");

        Assert.That(response.Headers.GetValues("X-Content-Type-Options"), Is.EqualTo(new[] { "nosniff" }));
    }

    private async Task<string> CreateRunAsync()
    {
        var url = $"/api/v1/projects/it/runs/limits{Interlocked.Increment(ref _run)}";
        var response = await Http.PutAsync(url, new StringContent("{\"name\":\"it\",\"state\":\"running\",\"config\":{\"lr\":0.1}}", Encoding.UTF8, "application/json"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        return url;
    }

    private Task<HttpResponseMessage> PostAsync(string runUrl, string body) =>
        Http.PostAsync($"{runUrl}/records", new StringContent(body, Encoding.UTF8, "application/x-ndjson"));

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string field, string detailPart)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(status), text);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        var problem = JsonNode.Parse(text)!;
        Assert.That((string?)problem["field"], Is.EqualTo(field), text);
        Assert.That((string?)problem["detail"], Does.Contain(detailPart), text);
    }

    private async Task AssertRunUnchangedAsync(string runUrl, long ackedSeq, string[] keys)
    {
        var run = await Http.GetFromJsonAsync<JsonObject>(runUrl);
        Assert.That((long)run!["acked_seq"]!, Is.EqualTo(ackedSeq));
        var metrics = await Http.GetFromJsonAsync<JsonArray>($"{runUrl}/metrics");
        Assert.That(metrics!.Select(m => (string)m!["key"]!), Is.EquivalentTo(keys));
    }
}

/// <summary>Settings the server does not understand stop it at start, and the documented ones exist.</summary>
public sealed class ServerSettingsTests
{
    [TestCase("--Tracker:ReadAccess=Keys")]
    [TestCase("--Tracker:ReadAccess=lopback")]
    [TestCase("--Tracker:TrustedProxies:0=not-an-address")]
    [TestCase("--Tracker:ReadAcess=key")]
    [TestCase("--Tracker:RequireKeyForReads=true")]
    [TestCase("--Tracker:CrashedAfter=banana")]
    public async Task UnknownSettingValue_StopsTheServer_ListingValidValues(string setting)
    {
        var (exit, _, error) = await ServerProcess.RunWithSettingsAsync(setting);

        Assert.That(exit, Is.EqualTo(2), error);
        Assert.That(error, Does.Contain(setting.Split('=')[0].TrimStart('-').Split(":0")[0]));
        if (setting.Contains("ReadAccess", StringComparison.Ordinal))
        {
            Assert.That(error, Does.Contain("loopback, open, key"));
        }
    }

    [Test]
    public async Task ReadAccessKey_Capitalised_MeansKey()
    {
        await using var server = await ServerProcess.StartAsync("sqlite", "--Tracker:ReadAccess=Key");
        using var anonymous = server.Client(key: string.Empty);
        using var keyed = server.Client();

        Assert.That((await anonymous.GetAsync("/api/v1/projects")).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await keyed.GetAsync("/api/v1/projects")).StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task TrustedProxy_ForwardedRemoteClient_NeedsAKeyForReads()
    {
        await using var trusting = await ServerProcess.StartAsync("sqlite", "--Tracker:TrustedProxies:0=127.0.0.1");
        await using var untrusting = await ServerProcess.StartAsync("sqlite");

        async Task<HttpStatusCode> ReadAsync(ServerProcess server, string? forwardedFor)
        {
            using var client = server.Client(key: string.Empty);
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/projects");
            if (forwardedFor is not null)
            {
                request.Headers.Add("X-Forwarded-For", forwardedFor);
            }

            return (await client.SendAsync(request)).StatusCode;
        }

        Assert.That(await ReadAsync(trusting, "203.0.113.7"), Is.EqualTo(HttpStatusCode.Unauthorized), "a remote client behind a local proxy is not loopback");
        Assert.That(await ReadAsync(trusting, "127.0.0.1"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await ReadAsync(trusting, null), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await ReadAsync(untrusting, "203.0.113.7"), Is.EqualTo(HttpStatusCode.OK), "off by default: forwarded headers are not believed");
    }

    [Test]
    public void DocumentedSettings_AllExistInServerOptions()
    {
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));
        var names = typeof(Tracker.Server.ServerOptions).GetProperties().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var documented = new[] { "README.md", "docs/protocol.md", "docs/benchmarks.md", "src/Tracker.Server/README.md" }
            .Select(f => Path.Combine(root, f)).Where(File.Exists)
            .SelectMany(f => System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(f), @"Tracker[:_]{1,2}([A-Za-z]+)").Select(m => (File: Path.GetFileName(f), Name: m.Groups[1].Value)))
            .ToList();

        Assert.That(documented, Is.Not.Empty, root);
        Assert.That(documented.Where(d => !names.Contains(d.Name)), Is.Empty, "settings named in the docs that ServerOptions does not have");
    }
}
