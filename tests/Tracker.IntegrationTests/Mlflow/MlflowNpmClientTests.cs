using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Tracker.Export;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests.Mlflow;

/// <summary>
/// A real MLflow client that no one here wrote, the <c>mlflow</c> package from npm (pinned in
/// npm/package-lock.json), logs a run into a real server and reads it back; the test then reads
/// the same run through Tracker's own API; it also reads a run the SDK's <see cref="MlflowBackend"/> sent.
/// The package is installed with <c>npm ci</c> on first use.
/// </summary>
[TestFixture("sqlite")]
public sealed class MlflowNpmClientTests(string storage)
{
    private const long T0 = 1_795_736_598_000;

    [Test]
    public async Task NpmMlflowClient_LogsAndReadsBack_Exactly()
    {
        var folder = await NpmFolderAsync();
        await using var server = await ServerProcess.StartAsync(storage);
        var experiment = $"npm-{Guid.NewGuid():N}"[..20];
        var (exit, output, error) = await RunAsync("node", ["client.js", experiment, T0.ToString(CultureInfo.InvariantCulture)], folder,
            new() { ["MLFLOW_TRACKING_URI"] = server.BaseUrl.ToString(), ["MLFLOW_TRACKING_TOKEN"] = server.ApiKey });

        Assert.That(exit, Is.Zero, $"{output}\n{error}");
        var result = JsonNode.Parse(output.Split('\n').Single(l => l.StartsWith("RESULT ", StringComparison.Ordinal))["RESULT ".Length..])!;
        var runId = (string)result["run_id"]!;

        // Read back through the client.
        Assert.That((string?)result["experiment_id"], Is.EqualTo(experiment));
        Assert.That((string?)result["experiment"]!["experiment"]!["name"], Is.EqualTo(experiment));
        Assert.That((string?)result["duplicate"], Does.Contain("RESOURCE_ALREADY_EXISTS"));
        var info = result["got"]!["run"]!["info"]!;
        Assert.That((string?)info["run_name"], Is.EqualTo("npm-run"));
        Assert.That((string?)info["status"], Is.EqualTo("FINISHED"));
        Assert.That((long?)info["start_time"], Is.EqualTo(T0));
        Assert.That((long?)info["end_time"], Is.EqualTo(T0 + 5000));
        var data = result["got"]!["run"]!["data"]!;
        Assert.That(Pairs(data["params"]), Is.EqualTo(new Dictionary<string, string> { ["epochs"] = "4", ["lr"] = "0.001", ["optimizer"] = "adam" }));
        var tags = Pairs(data["tags"]);
        Assert.That(tags["team"], Is.EqualTo("vision"));
        Assert.That(tags["stage"], Is.EqualTo("dev"));
        Assert.That(tags["mlflow.note.content"], Is.EqualTo("from the npm client"));
        Assert.That(data["metrics"]!.ToJsonString(), Is.EqualTo(
            $$"""[{"key":"loss","value":0.125,"timestamp":{{T0 + 400}},"step":3},{"key":"val/acc","value":0.875,"timestamp":{{T0 + 300}},"step":2}]"""));
        Assert.That(result["history"]!["metrics"]!.ToJsonString(), Is.EqualTo(
            $$"""[{"key":"loss","value":0.9,"timestamp":{{T0 + 100}},"step":0},{"key":"loss","value":0.45,"timestamp":{{T0 + 200}},"step":1},{"key":"loss","value":0.30000000000000004,"timestamp":{{T0 + 300}},"step":2},{"key":"loss","value":0.125,"timestamp":{{T0 + 400}},"step":3}]"""));
        Assert.That(result["search"]!["runs"]!.AsArray().Select(r => (string?)r!["info"]!["run_id"]), Is.EqualTo(new[] { runId }));

        // And through Tracker's own read API.
        using var http = server.Client();
        var run = (await http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{experiment}/runs/{runId}"))!;
        Assert.That((string?)run["name"], Is.EqualTo("npm-run"));
        Assert.That((string?)run["state"], Is.EqualTo("finished"));
        Assert.That((string?)run["notes"], Is.EqualTo("from the npm client"));
        Assert.That(run["tags"]!.AsArray().Select(t => (string?)t), Is.EquivalentTo(new[] { "team:vision", "stage:dev" }));
        Assert.That(run["config"]!.ToJsonString(), Is.EqualTo("""{"lr":"0.001","optimizer":"adam","epochs":"4"}"""));
        var export = (await http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{experiment}/runs/{runId}/export?key=loss"))!;
        Assert.That(export["points"]!.ToJsonString(), Is.EqualTo($"[[0,{T0 + 100},0.9],[1,{T0 + 200},0.45],[2,{T0 + 300},0.30000000000000004],[3,{T0 + 400},0.125]]"));
        var listed = (await http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{experiment}/runs"))!;
        Assert.That(listed.Select(r => (string?)r!["id"]), Is.EqualTo(new[] { runId }), "the run is listed beside SDK runs");
    }

    [Test]
    public async Task NpmMlflowClient_ReadsRunSentByMlflowBackend()
    {
        var folder = await NpmFolderAsync();
        await using var server = await ServerProcess.StartAsync(storage);
        var experiment = $"npm-out-{Guid.NewGuid():N}"[..20];
        var root = Path.Combine(Path.GetTempPath(), "tracker-mlflow-npm", Guid.NewGuid().ToString("N"));
        var backend = new MlflowBackend(server.BaseUrl, server.ApiKey, experiment);
        var options = new RunOptions
        {
            Project = experiment,
            Dir = root,
            Mode = RunMode.Offline,
            Name = "sdk-to-mlflow",
            Output = TextWriter.Null,
            FinishOnProcessExit = false,
            Config = new Dictionary<string, object?> { ["lr"] = 0.001, ["optimizer"] = "adam" },
            Tags = ["team:vision"],
        };
        options.Backends.Add(backend);
        var run = Run.Init(options);
        double[] values = [0.9, 0.45, 0.1 + 0.2, 0.125];
        foreach (var value in values)
        {
            run.Log(new Dictionary<string, object?> { ["loss"] = value });
        }

        await run.FinishAsync();
        try
        {
            var (exit, output, error) = await RunAsync("node", ["read.js", backend.MlflowRunId!, "loss"], folder,
                new() { ["MLFLOW_TRACKING_URI"] = server.BaseUrl.ToString(), ["MLFLOW_TRACKING_TOKEN"] = server.ApiKey });

            Assert.That(exit, Is.Zero, $"{output}\n{error}");
            var result = JsonNode.Parse(output.Split('\n').Single(l => l.StartsWith("RESULT ", StringComparison.Ordinal))["RESULT ".Length..])!;
            var info = result["got"]!["run"]!["info"]!;
            Assert.That((string?)info["run_name"], Is.EqualTo("sdk-to-mlflow"));
            Assert.That((string?)info["status"], Is.EqualTo("FINISHED"));
            Assert.That((string?)info["experiment_id"], Is.EqualTo(experiment));
            var data = result["got"]!["run"]!["data"]!;
            Assert.That(Pairs(data["params"]), Is.EqualTo(new Dictionary<string, string> { ["lr"] = "0.001", ["optimizer"] = "adam" }));
            Assert.That(Pairs(data["tags"])["team"], Is.EqualTo("vision"));
            Assert.That(Pairs(data["tags"])["tracker.run_id"], Is.EqualTo(run.Id));
            var points = result["history"]!["metrics"]!.AsArray();
            Assert.That(points.Select(p => (double)p!["value"]!), Is.EqualTo(values), "every point once, exact");
            Assert.That(points.Select(p => (long)p!["step"]!), Is.EqualTo(new[] { 0L, 1, 2, 3 }));
            Assert.That(result["search"]!["runs"]!.AsArray().Select(r => (string?)r!["info"]!["run_id"]), Is.EqualTo(new[] { backend.MlflowRunId }));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The npm folder with the mlflow package installed (<c>npm ci</c> on first use); ignores the test without node.</summary>
    private static async Task<string> NpmFolderAsync()
    {
        var folder = Path.Combine(Repository.Root, "tests", "Tracker.IntegrationTests", "Mlflow", "npm");
        if (FindOnPath("node") is null || FindOnPath("npm") is null)
        {
            Assert.Ignore("node and npm are not installed: this test runs the mlflow package from npm with them.");
        }

        if (!Directory.Exists(Path.Combine(folder, "node_modules", "mlflow")))
        {
            var install = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], folder, []);
            Assert.That(install.Exit, Is.Zero, $"npm ci failed:\n{install.Output}\n{install.Error}");
        }

        return folder;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    private static async Task<(int Exit, string Output, string Error)> RunAsync(string file, string[] args, string folder, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        args.ToList().ForEach(start.ArgumentList.Add);
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    private static Dictionary<string, string> Pairs(JsonNode? list) =>
        list!.AsArray().ToDictionary(p => (string)p!["key"]!, p => (string)p!["value"]!);
}
