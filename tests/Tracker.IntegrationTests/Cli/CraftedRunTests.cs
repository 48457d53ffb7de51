using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>
/// Crafted run directories beside good ones, through the real <c>tracker</c> command: a NUL in a
/// media path, media files that are links out of the run directory, a records.jsonl that is a
/// directory or a link out. Each bad run is named and skipped (or its bad file left out), and
/// the command goes on with the rest; nothing from outside a run directory is read.
/// </summary>
[TestFixture]
public sealed class CraftedRunTests
{
    private const string Project = "p";

    /// <summary>Tables as wide as their longest message (a path and a reason), so no cell wraps.</summary>
    private static readonly Dictionary<string, string> Wide = new() { ["COLUMNS"] = "500" };

    private ServerProcess _server = null!;
    private string _root = string.Empty;
    private string _outside = string.Empty;
    private byte[] _outsideImage = [];
    private string _linkedSha = string.Empty;

    [OneTimeSetUp]
    public async Task StartServer() => _server = await ServerProcess.StartAsync("sqlite");

    [OneTimeTearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [SetUp]
    public void CraftRuns()
    {
        var test = Path.Combine(Path.GetTempPath(), "tracker-crafted", Guid.NewGuid().ToString("N"));
        _root = Path.Combine(test, "runs");
        _outside = Path.Combine(test, "outside");

        // A file outside every run directory that a link in a crafted run points at: an image in a colour no run logged.
        var outsideImage = Logged(_outside, "elsewhere", (250, 10, 10));
        _outsideImage = File.ReadAllBytes(Directory.GetFiles(Path.Combine(outsideImage, "media")).Single());

        Logged(_root, "good1", (10, 200, 10));
        Logged(_root, "good2", (10, 10, 200));

        // NUL in a media path: the record stays, the file is not looked for.
        var nul = Logged(_root, "nul", (20, 20, 20));
        var records = Path.Combine(nul, "records.jsonl");
        File.WriteAllText(records, File.ReadAllText(records).Replace(".png\"", "\\u0000.png\"", StringComparison.Ordinal));
        Assert.That(File.ReadAllText(records), Does.Contain("\\u0000.png"));

        // The media file is a link to a file outside the run directory.
        var linked = Logged(_root, "linked", (30, 30, 30));
        var media = Directory.GetFiles(Path.Combine(linked, "media")).Single();
        _linkedSha = Path.GetFileNameWithoutExtension(media);
        File.Delete(media);
        File.CreateSymbolicLink(media, Directory.GetFiles(Path.Combine(outsideImage, "media")).Single());

        // records.jsonl is a directory.
        var recordsDirectory = Logged(_root, "recdir", (40, 40, 40));
        File.Delete(Path.Combine(recordsDirectory, "records.jsonl"));
        Directory.CreateDirectory(Path.Combine(recordsDirectory, "records.jsonl"));

        // records.jsonl is a link to another run's records, outside the run directory.
        var recordsLink = Logged(_root, "reclink", (50, 50, 50));
        File.Delete(Path.Combine(recordsLink, "records.jsonl"));
        File.CreateSymbolicLink(Path.Combine(recordsLink, "records.jsonl"), Path.Combine(outsideImage, "records.jsonl"));
    }

    [TearDown]
    public void DeleteRuns() => Directory.Delete(Path.GetDirectoryName(_root)!, recursive: true);

    [Test]
    public async Task Report_BadRunsNamedAndSkipped_TheOthersInTheReport_NothingFromOutsideInlined()
    {
        var html = Path.Combine(_root, "report.html");

        var result = await CliProcess.RunAsync(["report", "good1", "nul", "linked", "recdir", "reclink", "good2", "--dir", _root, "-o", html]);

        Assert.That(result.ExitCode, Is.EqualTo(1), "two runs were left out: " + result);
        Assert.That(result.Error, Does.Contain("skipped recdir").And.Contain(Path.Combine(_root, Project, "recdir", "records.jsonl") + " is a directory"), result.ToString());
        Assert.That(result.Error, Does.Contain("skipped reclink").And.Contain(Path.Combine(_root, Project, "reclink", "records.jsonl") + " is a symbolic link"), result.ToString());
        Assert.That(result.Error, Does.Contain("4 runs; 2 skipped"));
        var report = await File.ReadAllTextAsync(html);
        foreach (var id in new[] { "good1", "good2", "nul", "linked" })
        {
            Assert.That(report, Does.Contain($"<span class=\"muted\">{id}</span>"), $"run {id} is in the report");
        }

        Assert.That(report, Does.Not.Contain("recdir").And.Not.Contain("reclink"));
        Assert.That(report, Does.Not.Contain(Convert.ToBase64String(_outsideImage)), "the linked file from outside the run is not inlined");
        Assert.That(report, Does.Contain("1 image file missing from the run directory, left out."), "the NUL path and the link are reported as missing files");
    }

    [Test]
    public async Task Ls_ListsEveryRun_BadOnesUnreadableWithTheReason()
    {
        var result = await CliProcess.RunAsync(["ls", "--dir", _root], Wide);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var table = CliTable.Find(result.Output, "Project");
        foreach (var id in new[] { "good1", "good2", "nul", "linked" })
        {
            Assert.That(table.Words(table.Row("Run", id), "State"), Is.EqualTo("finished"), result.ToString());
        }

        Assert.That(table.Words(table.Row("Run", "recdir"), "State"), Is.EqualTo("unreadable"));
        Assert.That(table.Words(table.Row("Run", "reclink"), "State"), Is.EqualTo("unreadable"));
        Assert.That(result.Output, Does.Contain(Path.Combine(_root, Project, "recdir", "records.jsonl") + " is a directory").And.Contain(Path.Combine(_root, Project, "reclink", "records.jsonl") + " is a symbolic link"));
    }

    [Test]
    public async Task Show_BadRunExitsOneNamingIt_RunsWithBadMediaPathsShown()
    {
        var recdir = await CliProcess.RunAsync(["show", "recdir", "--dir", _root]);
        Assert.That(recdir.ExitCode, Is.EqualTo(1), recdir.ToString());
        Assert.That(recdir.FirstErrorLine, Does.Contain(Path.Combine(_root, Project, "recdir")).And.Contain("is a directory"));

        var reclink = await CliProcess.RunAsync(["show", "reclink", "--dir", _root]);
        Assert.That(reclink.ExitCode, Is.EqualTo(1), reclink.ToString());
        Assert.That(reclink.FirstErrorLine, Does.Contain("symbolic link").And.Contain("not followed"));

        foreach (var id in new[] { "nul", "linked" })
        {
            var result = await CliProcess.RunAsync(["show", id, "--dir", _root]);
            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            Assert.That(CliTable.Find(result.Output, "Media").Words(CliTable.Find(result.Output, "Media").Row("Media", "samples"), "Kind"), Is.EqualTo("image"));
        }
    }

    [Test]
    public async Task Sync_BadRunsSkipped_TheOthersSynced_NoFileFromOutsideUploaded()
    {
        var result = await CliProcess.RunAsync(["sync", _root, "--server", _server.BaseUrl.ToString(), "--api-key", _server.ApiKey], Wide, timeout: TimeSpan.FromSeconds(90));

        Assert.That(result.ExitCode, Is.EqualTo(1), "two runs are not on the server: " + result);
        var table = CliTable.Find(result.Output, "Run");
        foreach (var id in new[] { "good1", "good2", "nul", "linked" })
        {
            Assert.That(table.Words(table.Row("Run", $"{Project}/{id}"), "State"), Does.StartWith("synced"), result.ToString());
        }

        Assert.That(table.Words(table.Row("Run", $"{Project}/recdir"), "State"), Does.StartWith("skipped").And.Contain("isadirectory"));
        Assert.That(table.Words(table.Row("Run", $"{Project}/reclink"), "State"), Does.StartWith("skipped").And.Contain("symboliclink"));
        using var http = _server.Client();
        foreach (var id in new[] { "good1", "good2", "nul", "linked" })
        {
            Assert.That((await http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{Project}/runs/{id}"))!["state"]!.GetValue<string>(), Is.EqualTo("finished"));
        }

        Assert.That((await http.GetAsync($"/api/v1/projects/{Project}/runs/recdir")).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await http.GetAsync($"/api/v1/projects/{Project}/blobs/{_linkedSha}")).StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "the linked file was not uploaded");
    }

    [Test]
    public async Task Ui_BadRunsReportedOnStderr_TheOthersImported()
    {
        var url = $"http://127.0.0.1:{Postgres.FreePort()}";
        await using var ui = CliProcess.Start(["ui", _root, "--urls", url]);
        await ui.WaitForLineAsync(l => l.StartsWith("Tracker UI:", StringComparison.Ordinal), TimeSpan.FromSeconds(60));

        using var http = new HttpClient { BaseAddress = new Uri(url) };
        var listed = (await http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/runs"))!.Select(r => (string?)r!["id"]).ToList();
        Assert.That(listed, Is.EquivalentTo(new[] { "good1", "good2", "nul", "linked" }), ui.Error);
        for (var i = 0; i < 50 && !ui.Error.Contains("reclink", StringComparison.Ordinal); i++)
        {
            await Task.Delay(100);
        }

        Assert.That(ui.Error, Does.Contain($"skipped {Path.Combine(_root, Project, "recdir")}").And.Contain("is a directory"));
        Assert.That(ui.Error, Does.Contain($"skipped {Path.Combine(_root, Project, "reclink")}").And.Contain("symbolic link"));
        Assert.That((await http.GetAsync($"/api/v1/projects/{Project}/blobs/{_linkedSha}")).StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "the linked file was not imported");
    }

    /// <summary>A finished offline run with 20 points of loss and one 4x3 image in <paramref name="colour"/>; returns its directory.</summary>
    private static string Logged(string root, string id, (byte R, byte G, byte B) colour)
    {
        using var run = Run.Init(new RunOptions
        {
            Project = Project, Id = id, Dir = root, Mode = RunMode.Offline, PrintSummary = false, FinishOnProcessExit = false, Output = TextWriter.Null,
        });
        for (var step = 0; step < 20; step++)
        {
            run.Log("loss", 1.0 / (step + 1));
        }

        var pixels = Enumerable.Range(0, 12).SelectMany(_ => new[] { colour.R, colour.G, colour.B }).ToArray();
        run.Log(new Dictionary<string, object?> { ["samples"] = Image.FromPixels(pixels, 4, 3, 3) });
        run.Finish();
        return run.Directory!;
    }
}
