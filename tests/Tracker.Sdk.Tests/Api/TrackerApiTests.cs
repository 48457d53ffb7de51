using System.Net;
using System.Text;
using Tracker.Api;

namespace Tracker.Sdk.Tests.Api;

/// <summary>
/// The answers a real server gives only in states a test cannot bring about on its own (a read of a
/// deleted run answering 410, a key of another project), from a handler that answers as the server would.
/// </summary>
[TestFixture]
[NonParallelizable] // one test changes the current directory and TRACKER_BASE_URL
public sealed class TrackerApiTests
{
    [TestCase(HttpStatusCode.Gone, "was deleted on the Tracker server")]
    [TestCase(HttpStatusCode.Forbidden, "Use a key of that project")]
    public void GetRunAsync_ErrorStatus_ThrowsWithWhatToDo(HttpStatusCode status, string advice)
    {
        using var handler = new ProblemHandler(status);
        using var api = new TrackerApi(new Uri("http://tracker.test/"), "trk_test", handler);

        var error = Assert.ThrowsAsync<TrackerApiException>(() => api.GetRunAsync("p", "r1"));

        Assert.That(error!.StatusCode, Is.EqualTo((int)status));
        Assert.That(error.Message, Does.Contain(advice).And.Contain("the detail"));
    }

    [Test]
    public void Constructor_NoServerAnywhere_SaysWhereToNameOne()
    {
        var saved = Environment.GetEnvironmentVariable("TRACKER_BASE_URL");
        var directory = Directory.CreateTempSubdirectory().FullName;
        var current = Environment.CurrentDirectory;
        try
        {
            Environment.SetEnvironmentVariable("TRACKER_BASE_URL", null);
            Environment.CurrentDirectory = directory;
            var error = Assert.Throws<ArgumentException>(() => new TrackerApi());
            Assert.That(error!.Message, Does.Contain("TRACKER_BASE_URL").And.Contain("tracker.json"));
        }
        finally
        {
            Environment.CurrentDirectory = current;
            Environment.SetEnvironmentVariable("TRACKER_BASE_URL", saved);
            Directory.Delete(directory);
        }
    }

    /// <summary>Answers every request with a problem body, and no retries for statuses below 500.</summary>
    private sealed class ProblemHandler(HttpStatusCode status) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(status)
            {
                Content = new StringContent("{\"title\":\"t\",\"status\":0,\"detail\":\"the detail\"}", Encoding.UTF8, "application/problem+json"),
            });
    }
}
