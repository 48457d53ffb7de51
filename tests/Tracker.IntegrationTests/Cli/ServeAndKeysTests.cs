using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary><c>tracker keys</c> and <c>tracker serve</c> on one SQLite file: a key works until it is revoked.</summary>
[TestFixture]
public sealed class ServeAndKeysTests
{
    [Test]
    public async Task KeysCreateListRevoke_AgainstTheServerThatServeRuns()
    {
        var directory = Path.Combine(Path.GetTempPath(), "tracker-serve-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var db = Path.Combine(directory, "tracker.db");
        try
        {
            var created = await CliProcess.RunAsync(["keys", "create", "--name", "ci", "--project", "p", "--db", db]);
            Assert.That(created.ExitCode, Is.Zero, created.ToString());
            var key = created.Output.Trim();
            Assert.That(key, Does.StartWith("trk_"));
            Assert.That(created.Error, Does.Contain("shown only this once"));

            var listed = await CliProcess.RunAsync(["keys", "list", "--db", db]);
            Assert.That(listed.Output, Does.Contain("ci").And.Contain("active").And.Not.Contain(key), "the list never shows a secret");

            var port = Postgres.FreePort();
            await using var serve = CliProcess.Start(["serve", "--db", db, "--urls", $"http://127.0.0.1:{port}"]);
            await serve.WaitForLineAsync(line => line.Contains($"127.0.0.1:{port}", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            Assert.That((await PutRunAsync(http, key)).StatusCode, Is.EqualTo(HttpStatusCode.OK));
            using var keyless = await http.PutAsync("/api/v1/projects/p/runs/r2", new StringContent("{}", Encoding.UTF8, "application/json"));
            Assert.That(keyless.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(await keyless.Content.ReadAsStringAsync(), Does.Contain("tracker keys create --name NAME").And.Not.Contain("dotnet run"),
                "the advice for a server the tracker tool runs");

            var viewer = await CliProcess.RunAsync(["keys", "create", "--name", "viewer", "--read-only", "--db", db]);
            Assert.That(viewer.ExitCode, Is.Zero, viewer.ToString());
            Assert.That(viewer.Error, Does.Contain("read-only key 'viewer'"));
            Assert.That((await CliProcess.RunAsync(["keys", "list", "--db", db])).Output, Does.Match(@"viewer\t.*\tread-only"));
            Assert.That((await PutRunAsync(http, viewer.Output.Trim())).StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), "a read-only key may not write");

            var revoked = await CliProcess.RunAsync(["keys", "revoke", "--name", "ci", "--db", db]);
            Assert.That(revoked.ExitCode, Is.Zero, revoked.ToString());
            Assert.That((await PutRunAsync(http, key)).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "a revoked key is refused at once");
            Assert.That((await CliProcess.RunAsync(["keys", "revoke", "--name", "nobody", "--db", db])).ExitCode, Is.EqualTo(1));
            Assert.That((await CliProcess.RunAsync(["serve", "--db", db, "--postgres", "Host=x"])).ExitCode, Is.EqualTo(2), "--db and --postgres together");
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<HttpResponseMessage> PutRunAsync(HttpClient http, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, "/api/v1/projects/p/runs/r1") { Content = new StringContent("{\"name\":\"r1\"}", Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return await http.SendAsync(request);
    }
}
