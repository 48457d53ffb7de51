using System.Net;
using System.Text;
using Tracker.Export;
using Tracker.Format;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>
/// <see cref="MlflowBackend"/>'s opening against a stub MLflow server (an HTTP handler answering
/// canned MLflow answers): the experiment race, the MLflow run kept for a retried or resumed open,
/// the environment's defaults, and which failures throw for the worker to retry. The end-to-end
/// tests against a real server are in Tracker.IntegrationTests (Mlflow/MlflowBackendTests).
/// </summary>
[NonParallelizable] // one test sets MLflow's environment variables
public sealed class MlflowBackendTests
{
    private string _directory = string.Empty;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("tracker-mlflow-unit").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public async Task Open_ExperimentCreatedByAnotherClientMeanwhile_UsesIt_AndARetriedOpenKeepsTheRun()
    {
        var gets = 0;
        using var stub = new StubMlflow(request => request switch
        {
            "GET experiments/get-by-name" => Interlocked.Increment(ref gets) == 1
                ? (HttpStatusCode.NotFound, """{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Could not find experiment with name 'team'"}""")
                : (HttpStatusCode.OK, """{"experiment":{"experiment_id":"17","name":"team"}}"""),
            "POST experiments/create" => (HttpStatusCode.BadRequest, """{"error_code":"RESOURCE_ALREADY_EXISTS","message":"Experiment 'team' already exists."}"""),
            "POST runs/create" => (HttpStatusCode.OK, """{"run":{"info":{"run_id":"0123abcd"}}}"""),
            "GET runs/get" => (HttpStatusCode.OK, """{"run":{"info":{"run_id":"0123abcd","status":"RUNNING"},"data":{"params":[{"key":"lr","value":"0.1"}]}}}"""),
            _ => (HttpStatusCode.OK, "{}"),
        });

        await using (var backend = new MlflowBackend(new Uri("http://mlflow.test/prefix/"), "secret", "team", stub))
        {
            await backend.OpenAsync(Run(), _directory, CancellationToken.None);
            Assert.That(backend.MlflowRunId, Is.EqualTo("0123abcd"));
        }

        await using (var again = new MlflowBackend(new Uri("http://mlflow.test/prefix/"), "secret", "team", stub))
        {
            await again.OpenAsync(Run(), _directory, CancellationToken.None);
            Assert.That(again.MlflowRunId, Is.EqualTo("0123abcd"), "the run the state file names");
        }

        var create = stub.Requests.Single(r => r.Call == "POST runs/create");
        Assert.That(create.Body, Does.Contain("\"experiment_id\":\"17\"").And.Contain("\"run_name\":\"brisk-river-3\"").And.Contain("\"start_time\":1795736598000").And.Contain("mlflow.runName"));
        Assert.That(stub.Requests.Count(r => r.Call == "POST runs/create"), Is.EqualTo(1), "a second open logs into the same MLflow run");
        Assert.That(stub.Requests.Count(r => r.Call == "GET experiments/get-by-name"), Is.EqualTo(2), "asked again after RESOURCE_ALREADY_EXISTS");
        Assert.That(stub.Requests, Has.All.Matches<StubRequest>(r => r.Path.StartsWith("/prefix/api/2.0/mlflow/", StringComparison.Ordinal) && r.Authorization == "Bearer secret"));
        var second = stub.Requests.SkipWhile(r => r.Call != "GET runs/get").Where(r => r.Call == "POST runs/log-batch").Single();
        Assert.That(second.Body, Does.Not.Contain("\"lr\""), "a param MLflow has with the same value is not sent again");
        Assert.That(File.ReadAllText(Path.Combine(_directory, RunFiles.BackendsFolder, "mlflow.state.json")), Does.Contain("\"run_id\":\"0123abcd\""));
    }

    [TestCase(HttpStatusCode.ServiceUnavailable, "TEMPORARILY_UNAVAILABLE", "503")]
    [TestCase(HttpStatusCode.TooManyRequests, "REQUEST_LIMIT_EXCEEDED", "429")]
    [TestCase(HttpStatusCode.Unauthorized, "UNAUTHENTICATED", "MLFLOW_TRACKING_TOKEN")]
    public void Open_TransientOrTokenFailure_Throws_ForTheWorkerToRetry(HttpStatusCode status, string code, string hint)
    {
        using var stub = new StubMlflow(request => request switch
        {
            "GET experiments/get-by-name" => (HttpStatusCode.OK, """{"experiment":{"experiment_id":"17"}}"""),
            "POST runs/create" => (status, $$"""{"error_code":"{{code}}","message":"try later"}"""),
            _ => (HttpStatusCode.OK, "{}"),
        });
        var backend = new MlflowBackend(new Uri("http://mlflow.test"), null, "team", stub);

        Assert.That(() => backend.OpenAsync(Run(), _directory, CancellationToken.None),
            Throws.InstanceOf<HttpRequestException>().With.Message.Contains(code).And.Message.Contains("try later").And.Message.Contains(hint));
        Assert.That(File.Exists(Path.Combine(_directory, RunFiles.BackendsFolder, "mlflow.state.json")), Is.False, "no run was made: the next open creates it");
        Assert.That(stub.Requests, Has.All.Matches<StubRequest>(r => r.Authorization is null), "no token, no header");
    }

    [Test]
    public async Task Defaults_FromMlflowsEnvironmentVariables_ExperimentFromTheProject()
    {
        using var stub = new StubMlflow(request => request switch
        {
            "GET experiments/get-by-name" => (HttpStatusCode.OK, """{"experiment":{"experiment_id":"5"}}"""),
            "POST runs/create" => (HttpStatusCode.OK, """{"run":{"info":{"run_id":"r1"}}}"""),
            _ => (HttpStatusCode.OK, "{}"),
        });
        string[] names = ["MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_EXPERIMENT_NAME"];
        var saved = names.Select(Environment.GetEnvironmentVariable).ToArray();
        try
        {
            Environment.SetEnvironmentVariable("MLFLOW_TRACKING_URI", "https://mlflow.example:8443");
            Environment.SetEnvironmentVariable("MLFLOW_TRACKING_TOKEN", "from-env");
            Environment.SetEnvironmentVariable("MLFLOW_EXPERIMENT_NAME", null);
            var backend = new MlflowBackend(null, null, null, stub);
            await backend.OpenAsync(Run(), _directory, CancellationToken.None);

            Environment.SetEnvironmentVariable("MLFLOW_TRACKING_URI", null);
            Assert.That(() => new MlflowBackend(), Throws.ArgumentException.With.Message.Contains("MLFLOW_TRACKING_URI"));
            Environment.SetEnvironmentVariable("MLFLOW_TRACKING_URI", "not a url");
            Assert.That(() => new MlflowBackend(), Throws.ArgumentException.With.Message.Contains("'not a url' is not an absolute URL"));
            Assert.That(backend.TrackingUri, Is.EqualTo(new Uri("https://mlflow.example:8443")));
        }
        finally
        {
            for (var i = 0; i < names.Length; i++)
            {
                Environment.SetEnvironmentVariable(names[i], saved[i]);
            }
        }

        Assert.That(stub.Requests[0].Path + stub.Requests[0].Query, Is.EqualTo("/api/2.0/mlflow/experiments/get-by-name?experiment_name=vision-runs"), "the run's project");
        Assert.That(stub.Requests, Has.All.Matches<StubRequest>(r => r.Authorization == "Bearer from-env"));
    }

    private static RunInfo Run() => new()
    {
        Id = "abc123",
        Project = "vision-runs",
        Name = "brisk-river-3",
        StartTime = DateTimeOffset.FromUnixTimeMilliseconds(1_795_736_598_000),
        Config = new Dictionary<string, object?> { ["lr"] = "0.1" },
    };

    internal sealed record StubRequest(string Call, string Path, string Query, string? Authorization, string Body);

    /// <summary>Answers each call ("POST runs/create") with a status and JSON body, and keeps what it got.</summary>
    private sealed class StubMlflow(Func<string, (HttpStatusCode Status, string Body)> answer) : HttpMessageHandler
    {
        public List<StubRequest> Requests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            var call = $"{request.Method} {path[(path.IndexOf("/mlflow/", StringComparison.Ordinal) + 8)..]}";
            var body = request.Content is null ? string.Empty : await request.Content.ReadAsStringAsync(cancellationToken);
            lock (Requests)
            {
                Requests.Add(new StubRequest(call, path, request.RequestUri.Query, request.Headers.Authorization?.ToString(), body));
            }

            var (status, json) = answer(call);
            return new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        }
    }
}
