using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.Format;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Reading;

namespace Tracker.IntegrationTests;

/// <summary>
/// Run management through a real server process: edits (PATCH), archive, delete, read-only keys,
/// which side wins when the SDK sends again after an edit, and a run that was deleted while its
/// client still sends.
/// </summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class RunManagementTests(string storage) : ServerTestsBase(storage, "tracker-manage")
{
    private const string Project = "manage";

    private int _run;

    [Test]
    public async Task Patch_EachField_IsStoredAndReadBack()
    {
        var url = await CreateRunAsync("""{"name":"first","tags":["a"],"notes":"from code"}""");

        var renamed = await PatchAsync(url, """{"name":"  renamed  "}""");
        var tagged = await PatchAsync(url, """{"tags":["x"," y ","x"]}""");
        var noted = await PatchAsync(url, """{"notes":"# Result\nbetter than **baseline**"}""");

        Assert.That(renamed.StatusCode, Is.EqualTo(HttpStatusCode.OK), await renamed.Content.ReadAsStringAsync());
        Assert.That(tagged.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(noted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var run = (await Http.GetFromJsonAsync<JsonObject>(url))!;
        Assert.That((string?)run["name"], Is.EqualTo("renamed"), "trimmed");
        Assert.That(Tags(run), Is.EqualTo(new[] { "x", "y" }), "trimmed and each once, as the SDK's Run.Tags");
        Assert.That((string?)run["notes"], Is.EqualTo("# Result\nbetter than **baseline**"));
        Assert.That((bool)run["archived"]!, Is.False);
        Assert.That((await noted.Content.ReadFromJsonAsync<JsonObject>())!["name"]!.GetValue<string>(), Is.EqualTo("renamed"), "a PATCH answers the run as GET does");

        var listed = (await Http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/runs?tag=y"))!;
        Assert.That(listed.Select(r => (string?)r!["name"]), Does.Contain("renamed"), "listings filter by the edited values");
        var id = url[(url.LastIndexOf('/') + 1)..];
        var byName = (await Http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/runs?filter={Uri.EscapeDataString($"name = 'renamed' and id = '{id}'")}"))!;
        Assert.That(byName.Select(r => (string?)r!["id"]), Is.EqualTo(new[] { id }), "the database filters by the name shown");
        Assert.That((await Http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/runs?filter={Uri.EscapeDataString($"name = 'first' and id = '{id}'")}"))!, Is.Empty);

        // The client upserts its run.json again (a resumed run): the listing still shows and finds the edits.
        Assert.That((await Http.PutAsync(url, Json("""{"name":"first","tags":["a"],"notes":"from code"}"""))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        byName = (await Http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/runs?filter={Uri.EscapeDataString($"name = 'renamed' and tag = 'y' and id = '{id}'")}"))!;
        Assert.That(byName.Select(r => (string?)r!["id"]), Is.EqualTo(new[] { id }), "after the client's upsert too");

        var cleared = await PatchAsync(url, """{"notes":null,"tags":[]}""");
        Assert.That(cleared.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        run = (await Http.GetFromJsonAsync<JsonObject>(url))!;
        Assert.That((string?)run["notes"], Is.Null);
        Assert.That(Tags(run), Is.Empty);
    }

    [TestCase("""{"name":""}""", "name")]
    [TestCase("""{"name":5}""", "name")]
    [TestCase("""{"name":"a\u0001b"}""", "name")]
    [TestCase("""{"tags":"a"}""", "tags")]
    [TestCase("""{"tags":["a",""]}""", "tags")]
    [TestCase("""{"tags":["a",1]}""", "tags")]
    [TestCase("""{"tags":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}""", "tags")]
    [TestCase("""{"notes":5}""", "notes")]
    [TestCase("""{"archived":"yes"}""", "archived")]
    [TestCase("""{"colour":"red"}""", "colour")]
    [TestCase("""{"name":"a","name":"b"}""", "name")]
    [TestCase("""{}""", "body")]
    [TestCase("""[1]""", "body")]
    [TestCase("""{not json""", "body")]
    public async Task Patch_InvalidEdit_Is400NamingTheFieldAndChangesNothing(string body, string field)
    {
        var url = await CreateRunAsync("""{"name":"kept","tags":["t"],"notes":"n"}""");

        var response = await PatchAsync(url, body);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That((string?)problem["field"], Is.EqualTo(field));
        Assert.That((string?)problem["detail"], Is.Not.Empty);
        var run = (await Http.GetFromJsonAsync<JsonObject>(url))!;
        Assert.That(((string?)run["name"], Tags(run), (string?)run["notes"]), Is.EqualTo(("kept", new[] { "t" }, "n")));
    }

    [TestCaseSource(typeof(NotAnObject), nameof(NotAnObject.Bodies))]
    public async Task Patch_BodyNotAnObject_Is400SayingWhatWasWrongAndWhatToSend(string body, string said)
    {
        var url = await CreateRunAsync("""{"name":"kept"}""");

        await NotAnObject.AssertProblemAsync(await PatchAsync(url, body), "Invalid run edit", said);
        Assert.That((string?)(await Http.GetFromJsonAsync<JsonObject>(url))!["name"], Is.EqualTo("kept"));
    }

    [Test]
    public async Task Patch_TooLongNotes_Is400WithTheLimit()
    {
        var url = await CreateRunAsync("{}");
        var notes = new string('x', RecordRules.MaxNotesLength + 1);

        var response = await PatchAsync(url, new JsonObject { ["notes"] = notes }.ToJsonString());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["detail"], Does.Contain("65,536"));
    }

    [Test]
    public async Task Archive_HidesTheRunFromTheListing_UnlessAskedFor()
    {
        var url = await CreateRunAsync("{}");
        var id = url[(url.LastIndexOf('/') + 1)..];

        var archived = await PatchAsync(url, """{"archived":true}""");

        Assert.That(archived.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await ListedAsync(""), Does.Not.Contain(id));
        Assert.That(await ListedAsync("?archived=all"), Does.Contain(id));
        Assert.That(await ListedAsync("?archived=true"), Does.Contain(id));
        Assert.That((bool)(await Http.GetFromJsonAsync<JsonObject>(url))!["archived"]!, Is.True, "the run itself is still there");
        Assert.That((await Http.GetAsync($"/api/v1/projects/{Project}/runs?archived=maybe")).StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));

        await PatchAsync(url, """{"archived":false}""");
        Assert.That(await ListedAsync(""), Does.Contain(id));
        Assert.That(await ListedAsync("?archived=true"), Does.Not.Contain(id));
    }

    [Test]
    public async Task Delete_RemovesTheRunsRowsAndItsOwnFiles_ButKeepsAFileAnotherRunUses()
    {
        var url = await CreateRunAsync("{}");
        var other = await CreateRunAsync("{}");
        var own = await PutBlobAsync();
        var shared = await PutBlobAsync();
        await AppendAsync(url,
            """{"seq":1,"type":"history","step":0,"ts":1795736598409,"values":{"loss":1.5}}""",
            """{"seq":2,"type":"output","ts":1795736598409,"stream":"stdout","line":"hello"}""",
            Image(3, own), Image(4, shared));
        await AppendAsync(other, Image(1, shared));
        var pk = await Server.ScalarAsync($"SELECT pk FROM runs WHERE project = '{Project}' AND run_id = '{url[(url.LastIndexOf('/') + 1)..]}'");
        Assert.That(await Server.ScalarAsync($"SELECT COUNT(*) FROM run_media WHERE run_pk = {pk}"), Is.EqualTo(2), "the run's rows are there before");

        var deleted = await Http.DeleteAsync(url);

        Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent), await deleted.Content.ReadAsStringAsync());
        Assert.That((await Http.GetAsync(url)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await Http.GetAsync($"{url}/metrics")).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await Http.DeleteAsync(url)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "deleting again");
        foreach (var table in new[] { "metric_chunks", "metric_pending", "run_output", "run_media" })
        {
            Assert.That(await Server.ScalarAsync($"SELECT COUNT(*) FROM {table} WHERE run_pk = {pk}"), Is.Zero, table);
        }

        Assert.That((await Http.GetAsync(BlobUrl(own))).StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "a file no run refers to any more goes");
        Assert.That((await Http.GetAsync(BlobUrl(shared))).StatusCode, Is.EqualTo(HttpStatusCode.OK), "a file another run uses stays");
        var items = (await Http.GetFromJsonAsync<JsonObject>($"{other}/media?key=samples"))!["items"]!.AsArray();
        Assert.That((bool)items[0]!["media"]!["available"]!, Is.True);
    }

    [Test]
    public async Task ReadOnlyKey_MayRead_ButGets403OnEveryWrite()
    {
        await using var server = await ServerProcess.StartAsync(Storage, "--Tracker:ReadAccess=key");
        var readOnly = await server.CreateKeyAsync("viewer", readOnly: true);
        using var writer = server.Client();
        var url = $"/api/v1/projects/{Project}/runs/ro1";
        (await writer.PutAsync(url, Json("""{"name":"ro"}"""))).EnsureSuccessStatusCode();
        using var reader = server.Client(readOnly);
        var file = NewFile();

        Assert.That((await reader.GetAsync(url)).StatusCode, Is.EqualTo(HttpStatusCode.OK), "reads need a key here, and a read-only key is one");
        var writes = new[]
        {
            await reader.PatchAsync(url, Json("""{"name":"x"}""")),
            await reader.DeleteAsync(url),
            await reader.PutAsync(url, Json("""{"name":"x"}""")),
            await reader.PostAsync($"{url}/records", Json("""{"seq":1,"type":"history","step":0,"ts":1,"values":{"x":1}}""")),
            await reader.PostAsync($"{url}/heartbeat", null),
            await reader.PostAsync($"{url}/finish", Json("""{"state":"finished"}""")),
            await reader.PutAsync($"/api/v1/projects/{Project}/blobs/{Sha(file)}", new ByteArrayContent(file) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }),
        };

        foreach (var response in writes)
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), $"{response.RequestMessage!.Method} {response.RequestMessage.RequestUri}");
            Assert.That((string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["detail"], Does.Contain("read-only access cannot change anything"));
        }

        var run = (await writer.GetFromJsonAsync<JsonObject>(url))!;
        Assert.That(((string?)run["name"], (long)run["acked_seq"]!), Is.EqualTo(("ro", 0L)), "nothing changed");
    }

    [Test]
    public async Task WritesWithoutAKey_Are401_FromLoopbackToo()
    {
        var url = await CreateRunAsync("""{"name":"open"}""");
        using var anonymous = Server.Client(key: string.Empty);

        Assert.That((await anonymous.GetAsync(url)).StatusCode, Is.EqualTo(HttpStatusCode.OK), "reads are open to loopback by default");
        Assert.That((await anonymous.PatchAsync(url, Json("""{"name":"x"}"""))).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await anonymous.DeleteAsync(url)).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        using var wrongProject = Server.Client(await Server.CreateKeyAsync($"other{Guid.NewGuid():N}", project: "elsewhere"));
        Assert.That((await wrongProject.DeleteAsync(url)).StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That((string?)(await Http.GetFromJsonAsync<JsonObject>(url))!["name"], Is.EqualTo("open"));
    }

    [Test]
    public async Task EditsInTheUi_SurviveTheSdksNextUpsert_AndLaterSdkChangesApply()
    {
        var dir = Path.Combine(Root, "run");
        var first = await SdkRunAsync(dir, "edited1", new RunOptions { Name = "from-code", Tags = ["a", "b"], Notes = "code notes" });
        var url = RunUrl(first);
        (await PatchAsync(url, """{"name":"from-ui","tags":["a","ui"],"notes":"ui notes"}""")).EnsureSuccessStatusCode();

        // Resumed from its directory: the SDK upserts its run.json again (name, tags and notes as the code set them), then adds a tag.
        await SdkRunAsync(dir, "edited1", new RunOptions { Resume = ResumeMode.Allow }, run => run.Tags = [.. run.Tags, "later"]);

        var stored = (await Http.GetFromJsonAsync<JsonObject>(url))!;
        Assert.That((string?)stored["name"], Is.EqualTo("from-ui"), "the rename sticks");
        Assert.That((string?)stored["notes"], Is.EqualTo("ui notes"));
        Assert.That(Tags(stored), Is.EqualTo(new[] { "a", "ui", "later" }), "the user's tags, without the one the user removed, plus the one the code added since");
        Assert.That(DiagnosticsSeen.Where(d => d.Level >= DiagnosticLevel.Warning), Is.Empty, string.Join("\n", DiagnosticsSeen.Select(d => d.Message)));

        // The code names the run anew: a change made after the edit, so it wins.
        await SdkRunAsync(dir, "edited1", new RunOptions { Resume = ResumeMode.Allow, Name = "renamed-in-code" });
        Assert.That((string?)(await Http.GetFromJsonAsync<JsonObject>(url))!["name"], Is.EqualTo("renamed-in-code"));
    }

    [Test]
    public async Task SendingToADeletedRun_Is410_AndTheSdkSaysSoOnceAndStops()
    {
        var url = await CreateRunAsync("{}");
        (await Http.DeleteAsync(url)).EnsureSuccessStatusCode();

        var answers = new[]
        {
            await Http.PutAsync(url, Json("{}")),
            await Http.PostAsync($"{url}/records", Json("""{"seq":1,"type":"history","step":0,"ts":1,"values":{"x":1}}""")),
            await Http.PostAsync($"{url}/heartbeat", null),
            await Http.PostAsync($"{url}/finish", Json("""{"state":"finished"}""")),
        };
        foreach (var answer in answers)
        {
            Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.Gone), $"{answer.RequestMessage!.Method} {answer.RequestMessage.RequestUri}");
            Assert.That((string?)(await answer.Content.ReadFromJsonAsync<JsonObject>())!["detail"], Does.Contain("was deleted").And.Contain("another id"));
        }

        Assert.That((await Http.GetAsync(url)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "a PUT does not bring it back");

        // A live SDK run deleted while it logs.
        var liveId = $"deleted-live-{Guid.NewGuid():N}"[..24];
        var options = Options(Path.Combine(Root, "live"), liveId);
        var live = Run.Init(options);
        live.Log("loss", 1.0);
        var liveUrl = RunUrl(live);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!(await Http.GetAsync(liveUrl)).IsSuccessStatusCode && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        (await Http.DeleteAsync(liveUrl)).EnsureSuccessStatusCode();
        for (var i = 0; i < 20; i++)
        {
            live.Log("loss", i);
            await Task.Delay(20);
        }

        await live.FinishAsync();

        var errors = DiagnosticsSeen.Where(d => d.Level == DiagnosticLevel.Error).ToList();
        var sync = Path.Combine(live.Directory!, "sync.json");
        Assert.That(errors, Has.Count.EqualTo(1), string.Join("\n", DiagnosticsSeen.Select(d => d.Message))
            + $"\nstatistics: {live.Statistics}\nsync.json: {(File.Exists(sync) ? File.ReadAllText(sync) : "none")}");
        Assert.That(errors[0].Message, Does.Contain(liveId).And.Contain("was deleted"));
        Assert.That(DiagnosticsSeen.Where(d => d.Message.Contains("retrying", StringComparison.Ordinal)), Is.Empty, "no retries of a refusal for good");
        Assert.That((await Http.GetAsync(liveUrl)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(RunReader.Open(live.Directory!).ReadHistory().Count(), Is.EqualTo(21), "the run kept logging locally");

        var synced = await CliProcess.RunAsync(["sync", live.Directory!, "--server", Server.BaseUrl.ToString(), "--api-key", Server.ApiKey], timeout: TimeSpan.FromSeconds(90));
        Assert.That(synced.ExitCode, Is.Not.Zero, synced.ToString());
        Assert.That(synced.Output + synced.Error, Does.Contain("was deleted"), synced.ToString());
    }

    private async Task<Run> SdkRunAsync(string dir, string id, RunOptions options, Action<Run>? act = null)
    {
        var full = Options(dir, id);
        full.Name = options.Name;
        full.Tags = options.Tags;
        full.Notes = options.Notes;
        full.Resume = options.Resume;
        var run = Run.Init(full);
        act?.Invoke(run);
        run.Log("loss", 1.0);
        await run.FinishAsync();
        return run;
    }

    private RunOptions Options(string dir, string id) => new()
    {
        Project = Project,
        Id = id,
        Dir = dir,
        Mode = RunMode.Online,
        BaseUrl = Server.BaseUrl,
        ApiKey = Server.ApiKey,
        Output = TextWriter.Null,
        Diagnostics = DiagnosticsSeen.Enqueue,
        FinishOnProcessExit = false,
        FinishTimeout = TimeSpan.FromSeconds(60),
    };

    private static string RunUrl(Run run) => $"/api/v1/projects/{run.Project}/runs/{run.Id}";

    private async Task<string> CreateRunAsync(string runJson)
    {
        var url = $"/api/v1/projects/{Project}/runs/{Storage}-{Interlocked.Increment(ref _run)}-{Guid.NewGuid():N}";
        var response = await Http.PutAsync(url, Json(runJson));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        return url;
    }

    private Task<HttpResponseMessage> PatchAsync(string url, string body) => Http.PatchAsync(url, Json(body));

    private async Task AppendAsync(string url, params string[] lines)
    {
        var response = await Http.PostAsync($"{url}/records", new StringContent(string.Join('\n', lines), Encoding.UTF8, "application/x-ndjson"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }

    private async Task<string> PutBlobAsync()
    {
        var bytes = NewFile();
        var response = await Http.PutAsync(BlobUrl(Sha(bytes)), new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        return Sha(bytes);
    }

    private async Task<List<string?>> ListedAsync(string query) =>
        [.. (await Http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/runs{query}"))!.Select(r => (string?)r!["id"])];

    private static string BlobUrl(string sha) => $"/api/v1/projects/{Project}/blobs/{sha}";

    private static byte[] NewFile() => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. RandomNumberGenerator.GetBytes(300)];

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string Image(long seq, string sha) =>
        $"{{\"seq\":{seq},\"type\":\"media\",\"ts\":1795736598409,\"step\":0,\"key\":\"samples\",\"media\":{{\"_type\":\"image\",\"sha256\":\"{sha}\",\"path\":\"media/{sha}.png\",\"format\":\"png\",\"width\":2,\"height\":2,\"bytes\":308}}}}";

    private static string[] Tags(JsonObject run) => [.. (run["tags"] as JsonArray ?? []).Select(t => (string)t!)];

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
