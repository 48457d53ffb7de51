using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>Media records and their files (docs/protocol.md, "Media") against a real server process, on both stores.</summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class MediaApiTests(string storage) : ServerTestsBase(storage, "tracker-media-api")
{
    private const string Project = "media";
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private int _run;

    [Test]
    public async Task Append_MediaOfEveryKind_ReadBackAsKeysAndItemsAndKeptOutOfSummaryAndMetrics()
    {
        var runUrl = await CreateRunAsync();
        var image = Sha(NewFile());
        var table = Sha(NewFile());
        var response = await PostRecordsAsync(runUrl,
            "{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1795736598400,\"values\":{\"loss\":0.5}}",
            Image(2, step: 0, "samples", image),
            Image(3, step: 3, "samples", image),
            "{\"seq\":4,\"type\":\"media\",\"ts\":1795736598409,\"step\":3,\"key\":\"weights\",\"media\":{\"_type\":\"histogram\",\"bins\":[-1,-0.5,0,0.5,1],\"counts\":[1,4,3,2],\"nan\":0,\"inf\":0}}",
            $"{{\"seq\":5,\"type\":\"media\",\"ts\":1795736598409,\"step\":3,\"key\":\"predictions\",\"media\":{{\"_type\":\"table\",\"sha256\":\"{table}\",\"path\":\"media/{table}.table.json\",\"bytes\":2310,\"columns\":[\"id\",\"label\"],\"rows\":120}}}}",
            "{\"seq\":6,\"type\":\"media\",\"ts\":1795736598409,\"step\":3,\"key\":\"notes\",\"media\":{\"_type\":\"text\",\"text\":\"epoch 3: loss plateaued\"}}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        var keys = await Http.GetFromJsonAsync<JsonArray>($"{runUrl}/media");
        Assert.That(keys!.ToJsonString(), Is.EqualTo(
            "[{\"key\":\"notes\",\"kind\":\"text\",\"count\":1,\"first_step\":3,\"last_step\":3},"
            + "{\"key\":\"predictions\",\"kind\":\"table\",\"count\":1,\"first_step\":3,\"last_step\":3},"
            + "{\"key\":\"samples\",\"kind\":\"image\",\"count\":2,\"first_step\":0,\"last_step\":3},"
            + "{\"key\":\"weights\",\"kind\":\"histogram\",\"count\":1,\"first_step\":3,\"last_step\":3}]"));

        var samples = (await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/media?key=samples"))!;
        Assert.That((string?)samples["key"], Is.EqualTo("samples"));
        Assert.That(samples["next_after_seq"], Is.Null);
        var first = samples["items"]!.AsArray()[0]!;
        Assert.That(((long)first["seq"]!, (long)first["step"]!, (long)first["ts"]!), Is.EqualTo((2L, 0L, 1795736598409L)));
        Assert.That(first["media"]!.ToJsonString(), Is.EqualTo(
            $"{{\"_type\":\"image\",\"sha256\":\"{image}\",\"path\":\"media/{image}.png\",\"format\":\"png\",\"width\":256,\"height\":256,\"bytes\":4120,\"caption\":\"digit 7\","
            + $"\"url\":\"/api/v1/projects/{Project}/blobs/{image}\",\"available\":false}}"));

        var weights = (await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/media?key=weights"))!["items"]!.AsArray().Single()!["media"]!;
        Assert.That(weights.ToJsonString(), Is.EqualTo("{\"_type\":\"histogram\",\"bins\":[-1,-0.5,0,0.5,1],\"counts\":[1,4,3,2],\"nan\":0,\"inf\":0}"), "inline media carry no url");
        var notes = (await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/media?key=notes"))!["items"]!.AsArray().Single()!["media"]!;
        Assert.That((string?)notes["text"], Is.EqualTo("epoch 3: loss plateaued"));
        var predictions = (await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/media?key=predictions"))!["items"]!.AsArray().Single()!["media"]!;
        Assert.That((string?)predictions["url"], Is.EqualTo($"/api/v1/projects/{Project}/blobs/{table}"));

        var run = (await Http.GetFromJsonAsync<JsonObject>(runUrl))!;
        Assert.That(run["summary"]!.AsObject().Select(kv => kv.Key), Is.EqualTo(new[] { "loss" }), "media are not in the summary");
        Assert.That((long)run["acked_seq"]!, Is.EqualTo(6));
        var metrics = await Http.GetFromJsonAsync<JsonArray>($"{runUrl}/metrics");
        Assert.That(metrics!.Select(m => (string?)m!["key"]), Is.EqualTo(new[] { "loss" }), "media are not charted");
    }

    [Test]
    public async Task MediaItems_StepsLoggedOutOfOrder_AreInStepOrderAndPagedEachOnce()
    {
        var runUrl = await CreateRunAsync();
        long[] steps = [5, 1, 3, 3, 2, 4, 0];
        await PostRecordsAsync(runUrl, steps.Select((step, i) => Text(i + 1, step, "log", $"at {step}")).ToArray());

        var whole = (await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/media?key=log"))!["items"]!.AsArray();
        Assert.That(whole.Select(i => ((long)i!["step"]!, (long)i["seq"]!)), Is.EqualTo(new[] { (0L, 7L), (1L, 2L), (2L, 5L), (3L, 3L), (3L, 4L), (4L, 6L), (5L, 1L) }));

        var paged = new List<long>();
        var after = string.Empty;
        for (var page = 0; page < 10; page++)
        {
            var body = (await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/media?key=log&limit=2{after}"))!;
            paged.AddRange(body["items"]!.AsArray().Select(i => (long)i!["seq"]!));
            if (body["next_after_seq"] is not { } next)
            {
                break;
            }

            after = $"&after_seq={(long)next}";
        }

        Assert.That(paged, Is.EqualTo(new long[] { 7, 2, 5, 3, 4, 6, 1 }), "every item once, in step order, across pages");
    }

    [TestCase("image/png")]
    [TestCase("image/jpeg")]
    [TestCase("application/json")]
    public async Task Blob_PutThenGet_ReturnsTheBytesWithTheirTypeAndCachedForGood(string contentType)
    {
        var bytes = contentType == "application/json"
            ? Encoding.UTF8.GetBytes($"{{\"columns\":[\"id\",\"label\"],\"data\":[[1,\"{Guid.NewGuid():N}\"],[2,\"NaN\"]]}}")
            : NewFile();
        var sha = Sha(bytes);

        var put = await PutBlobAsync(sha, bytes, contentType);
        var get = await Http.GetAsync(BlobUrl(sha));

        Assert.That(put.StatusCode, Is.EqualTo(HttpStatusCode.OK), await put.Content.ReadAsStringAsync());
        Assert.That((await put.Content.ReadFromJsonAsync<JsonObject>())!.ToJsonString(), Is.EqualTo($"{{\"sha256\":\"{sha}\",\"bytes\":{bytes.Length},\"stored\":true}}"));
        Assert.That(get.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await get.Content.ReadAsByteArrayAsync(), Is.EqualTo(bytes));
        Assert.That(get.Content.Headers.ContentType!.MediaType, Is.EqualTo(contentType));
        Assert.That(get.Headers.CacheControl!.ToString(), Is.EqualTo("public, max-age=31536000, immutable"));
        Assert.That(get.Headers.ETag!.Tag, Is.EqualTo($"\"{sha}\""));

        using var conditional = new HttpRequestMessage(HttpMethod.Get, BlobUrl(sha));
        conditional.Headers.IfNoneMatch.Add(new EntityTagHeaderValue($"\"{sha}\""));
        Assert.That((await Http.SendAsync(conditional)).StatusCode, Is.EqualTo(HttpStatusCode.NotModified));
    }

    [Test]
    public async Task Blob_Head_Is200WithoutTheBytesWhenStoredAnd404WhenNot()
    {
        var bytes = NewFile();
        var sha = Sha(bytes);
        using var before = new HttpRequestMessage(HttpMethod.Head, BlobUrl(sha));
        var missing = await Http.SendAsync(before);
        await PutBlobAsync(sha, bytes, "image/png");
        using var after = new HttpRequestMessage(HttpMethod.Head, BlobUrl(sha));
        var present = await Http.SendAsync(after);

        Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(present.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(present.Content.Headers.ContentLength, Is.EqualTo(bytes.Length));
        Assert.That(present.Content.Headers.ContentType!.MediaType, Is.EqualTo("image/png"));
        Assert.That(await present.Content.ReadAsByteArrayAsync(), Is.Empty);
        Assert.That((await Http.GetAsync(BlobUrl(Sha(NewFile())))).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Blob_PutAgainAndAtOnce_IsStoredOnceAndSaysSo()
    {
        var bytes = NewFile();
        var sha = Sha(bytes);

        var concurrent = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => PutBlobAsync(sha, bytes, "image/png")));
        var again = await PutBlobAsync(sha, bytes, "image/png");

        Assert.That(concurrent.Select(r => r.StatusCode), Has.All.EqualTo(HttpStatusCode.OK));
        var stored = await Task.WhenAll(concurrent.Select(async r => (bool)(await r.Content.ReadFromJsonAsync<JsonObject>())!["stored"]!));
        Assert.That(stored.Count(s => s), Is.EqualTo(1), "one of the uploads stores the file, the others find it");
        Assert.That((await again.Content.ReadFromJsonAsync<JsonObject>())!.ToJsonString(), Is.EqualTo($"{{\"sha256\":\"{sha}\",\"bytes\":{bytes.Length},\"stored\":false}}"));
        Assert.That(await Http.GetByteArrayAsync(BlobUrl(sha)), Is.EqualTo(bytes));
    }

    [Test]
    public async Task Blob_BytesThatDoNotHashToTheName_Are400AndNotStored()
    {
        var bytes = NewFile();
        var claimed = Sha(NewFile());

        var response = await PutBlobAsync(claimed, bytes, "image/png");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That((string?)problem["detail"], Does.Contain($"the bytes hash to {Sha(bytes)}, not {claimed}").IgnoreCase);
        Assert.That((string?)problem["field"], Is.EqualTo("sha256"));
        Assert.That((await Http.GetAsync(BlobUrl(claimed))).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [TestCase("text/plain")]
    [TestCase("image/gif")]
    [TestCase("application/octet-stream")]
    [TestCase(null)]
    public async Task Blob_ContentTypeNotAMediaFile_Is400SayingWhichAreAllowed(string? contentType)
    {
        var bytes = NewFile();
        var sha = Sha(bytes);

        var response = await PutBlobAsync(sha, bytes, contentType);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var detail = (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["detail"];
        Assert.That(detail, Does.Contain("image/png").And.Contain("image/jpeg").And.Contain("application/json"));
        Assert.That((await Http.GetAsync(BlobUrl(sha))).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Blob_NameNotLowerCaseHexOrProjectInvalid_Is400()
    {
        var bytes = NewFile();
        var sha = Sha(bytes);

        var upper = await PutBlobAsync(sha.ToUpperInvariant(), bytes, "image/png");
        var shortName = await PutBlobAsync(sha[..40], bytes, "image/png");
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        var badProject = await Http.PutAsync($"/api/v1/projects/has%20space/blobs/{sha}", content);

        Assert.That(new[] { upper.StatusCode, shortName.StatusCode, badProject.StatusCode }, Has.All.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((string?)(await badProject.Content.ReadFromJsonAsync<JsonObject>())!["field"], Is.EqualTo("project"));
    }

    [Test]
    public async Task Blob_PutWithoutAValidKey_IsRefused()
    {
        var bytes = NewFile();
        var sha = Sha(bytes);
        using var anonymous = Server.Client(key: string.Empty);
        using var wrong = Server.Client(key: "trk_not-a-key");
        using var otherProject = Server.Client(await Server.CreateKeyAsync($"media-other-{Storage}", project: "elsewhere"));
        using var sameProject = Server.Client(await Server.CreateKeyAsync($"media-scoped-{Storage}", project: Project));

        Assert.That((await PutBlobAsync(sha, bytes, "image/png", anonymous)).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await PutBlobAsync(sha, bytes, "image/png", wrong)).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await PutBlobAsync(sha, bytes, "image/png", otherProject)).StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That((await Http.GetAsync(BlobUrl(sha))).StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "a refused upload stores nothing");
        Assert.That((await PutBlobAsync(sha, bytes, "image/png", sameProject)).StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task MediaItem_FileNeverUploaded_IsUnavailableUntilItArrivesInItsProject()
    {
        var runUrl = await CreateRunAsync();
        var bytes = NewFile();
        var sha = Sha(bytes);
        await PostRecordsAsync(runUrl, Image(1, step: 0, "samples", sha));

        async Task<bool> AvailableAsync() =>
            (bool)(await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/media?key=samples"))!["items"]![0]!["media"]!["available"]!;

        var before = await AvailableAsync();
        await PutBlobAsync(sha, bytes, "image/png", project: "another-project");
        var inOtherProject = await AvailableAsync();
        await PutBlobAsync(sha, bytes, "image/png");
        var after = await AvailableAsync();

        Assert.That((before, inOtherProject, after), Is.EqualTo((false, false, true)), "files are stored per project");
    }

    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"media\":{\"_type\":\"text\",\"text\":\"t\"}}", "key")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"\",\"media\":{\"_type\":\"text\",\"text\":\"t\"}}", "key")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":-1,\"key\":\"k\",\"media\":{\"_type\":\"text\",\"text\":\"t\"}}", "step")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":1.5,\"key\":\"k\",\"media\":{\"_type\":\"text\",\"text\":\"t\"}}", "step")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"key\":\"k\",\"media\":{\"_type\":\"text\",\"text\":\"t\"}}", "step")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\"}", "media")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\",\"media\":[1]}", "media")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\",\"media\":{\"_type\":\"video\"}}", "media._type")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\",\"media\":{\"text\":\"t\"}}", "media._type")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\",\"media\":{\"_type\":\"image\",\"sha256\":\"9f86\"}}", "media.sha256")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\",\"media\":{\"_type\":\"image\",\"sha256\":\"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\"}}", "media.sha256")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\",\"media\":{\"_type\":\"table\",\"columns\":[\"a\"]}}", "media.sha256")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\",\"media\":{\"_type\":\"histogram\",\"bins\":[0,1,2],\"counts\":[1,2,3]}}", "media.bins")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\",\"media\":{\"_type\":\"histogram\",\"bins\":[0,\"1\"],\"counts\":[1]}}", "media.bins")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\",\"media\":{\"_type\":\"histogram\",\"bins\":[0,1]}}", "media.counts")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":1,\"step\":0,\"key\":\"k\",\"media\":{\"_type\":\"text\",\"text\":5}}", "media.text")]
    [TestCase("{\"seq\":2,\"type\":\"media\",\"ts\":\"soon\",\"step\":0,\"key\":\"k\",\"media\":{\"_type\":\"text\",\"text\":\"t\"}}", "ts")]
    public async Task Append_MalformedMediaLine_Is400NamingTheLineAndFieldAndStoresNothing(string badLine, string field)
    {
        var runUrl = await CreateRunAsync();

        var response = await PostRecordsAsync(runUrl, Text(1, 0, "notes", "fine"), badLine);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That((string?)problem["field"], Is.EqualTo(field), (string?)problem["detail"]);
        Assert.That((string?)problem["detail"], Does.StartWith("line 2"));
        Assert.That((await Http.GetFromJsonAsync<JsonArray>($"{runUrl}/media"))!, Is.Empty, "nothing of a rejected batch is stored");
    }

    [Test]
    public async Task Append_ReplayedMediaLines_AreStoredOnce()
    {
        var runUrl = await CreateRunAsync();
        var sha = Sha(NewFile());
        string[] batch = [Image(1, step: 0, "samples", sha), Text(2, 0, "notes", "first")];

        await PostRecordsAsync(runUrl, batch);
        var replay = await PostRecordsAsync(runUrl, [.. batch, Text(3, 1, "notes", "second")]);

        Assert.That((await replay.Content.ReadFromJsonAsync<JsonObject>())!.ToJsonString(), Is.EqualTo("{\"acked_seq\":3,\"stored\":1,\"skipped\":2}"));
        var keys = await Http.GetFromJsonAsync<JsonArray>($"{runUrl}/media");
        Assert.That(keys!.Select(k => ((string?)k!["key"], (long)k["count"]!)), Is.EqualTo(new[] { ("notes", 2L), ("samples", 1L) }));
        var notes = (await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/media?key=notes"))!["items"]!.AsArray();
        Assert.That(notes.Select(n => (string?)n!["media"]!["text"]), Is.EqualTo(new[] { "first", "second" }));
    }

    [Test]
    public async Task Media_UnknownRunOrKey_Is404OrEmpty()
    {
        var runUrl = await CreateRunAsync();

        var unknownRun = await Http.GetAsync($"/api/v1/projects/{Project}/runs/never-created/media");
        var unknownKey = (await Http.GetFromJsonAsync<JsonObject>($"{runUrl}/media?key=nothing"))!;

        Assert.That(unknownRun.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(unknownKey.ToJsonString(), Is.EqualTo("{\"key\":\"nothing\",\"items\":[],\"next_after_seq\":null}"));
        Assert.That((await Http.GetAsync($"{runUrl}/media?key=x&after_seq=soon")).StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
    }

    private async Task<string> CreateRunAsync()
    {
        var url = $"/api/v1/projects/{Project}/runs/run{Interlocked.Increment(ref _run)}";
        var response = await Http.PutAsync(url, new StringContent("{\"name\":\"media\",\"state\":\"running\"}", Encoding.UTF8, "application/json"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        return url;
    }

    private Task<HttpResponseMessage> PostRecordsAsync(string runUrl, params string[] lines) =>
        Http.PostAsync($"{runUrl}/records", new StringContent(string.Join('\n', lines), Encoding.UTF8, "application/x-ndjson"));

    private Task<HttpResponseMessage> PutBlobAsync(string sha, byte[] bytes, string? contentType, HttpClient? client = null, string project = Project)
    {
        var content = new ByteArrayContent(bytes);
        if (contentType is not null)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        }

        return (client ?? Http).PutAsync(BlobUrl(sha, project), content);
    }

    private static string BlobUrl(string sha, string project = Project) => $"/api/v1/projects/{project}/blobs/{sha}";

    /// <summary>A file unique to the test: the server stores bytes as they are, so a PNG signature and noise will do.</summary>
    private static byte[] NewFile() => [.. PngSignature, .. RandomNumberGenerator.GetBytes(300)];

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string Image(long seq, long step, string key, string sha) =>
        $"{{\"seq\":{seq},\"type\":\"media\",\"ts\":1795736598409,\"step\":{step},\"key\":\"{key}\",\"media\":{{\"_type\":\"image\",\"sha256\":\"{sha}\",\"path\":\"media/{sha}.png\",\"format\":\"png\",\"width\":256,\"height\":256,\"bytes\":4120,\"caption\":\"digit 7\"}}}}";

    private static string Text(long seq, long step, string key, string text) =>
        $"{{\"seq\":{seq},\"type\":\"media\",\"ts\":1795736598409,\"step\":{step},\"key\":\"{key}\",\"media\":{{\"_type\":\"text\",\"text\":\"{text}\"}}}}";
}
