using System.Reflection;
using System.Text.Json.Nodes;
using Tracker.Internal;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>Git, GPUs and the rest are read after Init returns, and join run.json through the writer.</summary>
public sealed class EnvironmentCaptureInBackgroundTests : OnlineTestBase
{
    private static readonly GitInfo Git = new("0123456789abcdef0123456789abcdef01234567", "main", "https://git.example.com/team/model.git", Dirty: true);

    private ManualResetEventSlim _captureStarted = new();
    private ManualResetEventSlim _release = new();
    private CancellationToken _captureToken;
    private (EnvironmentCapture What, string Directory, int Loaded) _captured;

    [SetUp]
    public void CreateGates()
    {
        _captureStarted = new ManualResetEventSlim();
        _release = new ManualResetEventSlim();
        _captureToken = default;
        _captured = default;
    }

    [TearDown]
    public void ReleaseCapture()
    {
        _release.Set();
        _captureStarted.Dispose();
        _release.Dispose();
    }

    [Test]
    public void Init_SlowCapture_ReturnsBeforeItEnds_AndTheFinishedRunHasItsFields()
    {
        var options = SlowCaptureOptions();

        var run = Run.Init(options);

        Assert.That(_captureStarted.Wait(TimeSpan.FromSeconds(10)), Is.True, "the capture runs");
        Assert.That(_captured.What, Is.EqualTo(EnvironmentCapture.All));
        Assert.That(_captured.Directory, Is.EqualTo(Environment.CurrentDirectory), "the working directory at Init");
        Assert.That(_captured.Loaded, Is.Positive, "the assemblies loaded at Init");
        Assert.That(RunJson(run)["git"], Is.Null, "Init returned while the capture was still going");
        run.Log("loss", 0.5);
        _release.Set();
        run.Finish();

        var info = Read(run).Info;
        Assert.That(info.Git, Is.EqualTo(Git));
        Assert.That(info.Gpus, Is.EqualTo(new[] { "NVIDIA H200" }));
        Assert.That(info.CpuModel, Is.EqualTo("Test CPU"));
        Assert.That(info.Libraries, Is.EqualTo(new Dictionary<string, string> { ["TorchSharp"] = "0.105.0" }));
        Assert.That(info.State, Is.EqualTo(RunStates.Finished));
        Assert.That(info.CpuCount, Is.EqualTo(Environment.ProcessorCount), "the fast parts are there from the start");
        Assert.That(File.ReadAllText(Path.Combine(run.Directory!, "files", "diff.patch")), Does.Contain("+var lr = 0.3;"));
        Assert.That(History(run), Has.Count.EqualTo(1));
        Assert.That(Diagnostics, Is.Empty);
    }

    [Test]
    public void Capture_EndsWhileTheRunGoesOn_RunJsonHasItBeforeFinish()
    {
        _release.Set();
        var run = Run.Init(SlowCaptureOptions());

        Assert.That(run.Flush(TimeSpan.FromSeconds(10)), Is.True);
        WaitFor(() => RunJson(run)["git"] is not null);

        var json = RunJson(run);
        Assert.That((string?)json["git"]!["commit"], Is.EqualTo(Git.Commit));
        Assert.That((string?)json["state"], Is.EqualTo(RunStates.Running));
        run.Finish();
        Assert.That(Read(run).Info.Git, Is.EqualTo(Git));
    }

    [Test]
    public async Task Finish_WhileCaptureIsGoing_WaitsForIt_AndTheRunIsWhole()
    {
        var run = Run.Init(SlowCaptureOptions());
        Assert.That(_captureStarted.Wait(TimeSpan.FromSeconds(10)), Is.True);
        for (var i = 0; i < 1000; i++)
        {
            run.Log("loss", 1.0 / (i + 1));
        }

        var finish = run.FinishAsync();
        await Task.Delay(100);
        Assert.That(finish.IsCompleted, Is.False, "Finish waits for the capture");
        _release.Set();
        await finish.WaitAsync(TimeSpan.FromSeconds(30));

        var reader = Read(run);
        Assert.That(reader.Info.State, Is.EqualTo(RunStates.Finished));
        Assert.That(reader.Info.Git, Is.EqualTo(Git), "the finished run.json has what the capture read");
        Assert.That(reader.Info.EndTime, Is.Not.Null);
        Assert.That(reader.ReadHistory().Count(), Is.EqualTo(1000));
        var lines = File.ReadAllLines(Path.Combine(run.Directory!, "records.jsonl"));
        Assert.That(lines.Select(l => (string?)JsonNode.Parse(l)!["type"]).Distinct(), Is.EqualTo(new[] { "history", "summary", "finish" }), "the capture adds no line to the log");
        Assert.That(run.Statistics.RecordsWritten, Is.EqualTo(run.Statistics.RecordsReceived));
    }

    [Test]
    public async Task Finish_CaptureOutlastsTheBudget_StopsIt_AndALateResultChangesNothing()
    {
        var options = SlowCaptureOptions(honourCancellation: false);
        options.FinishTimeout = TimeSpan.FromMilliseconds(300);
        var run = Run.Init(options);
        Assert.That(_captureStarted.Wait(TimeSpan.FromSeconds(10)), Is.True);
        run.Log("loss", 0.5);

        await run.FinishAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var finished = File.ReadAllBytes(Path.Combine(run.Directory!, "run.json"));
        Assert.That(_captureToken.IsCancellationRequested, Is.True, "Finish stops the capture (killing git or nvidia-smi)");

        // The capture returns after all: it must not write an older run.json over the final one.
        _release.Set();
        await Task.Delay(200);

        Assert.That(File.ReadAllBytes(Path.Combine(run.Directory!, "run.json")), Is.EqualTo(finished));
        Assert.That(File.Exists(Path.Combine(run.Directory!, "files", "diff.patch")), Is.False, "no diff for a run.json that does not say dirty");
        var info = Read(run).Info;
        Assert.That(info.State, Is.EqualTo(RunStates.Finished));
        Assert.That(info.Git, Is.Null);
        Assert.That(info.CpuCount, Is.EqualTo(Environment.ProcessorCount));
        Assert.That(History(run), Has.Count.EqualTo(1));
        Assert.That(Diagnostics.Select(d => d.Message), Has.Some.Contains("took longer than Finish's budget"));
    }

    [Test]
    public void Capture_Throws_TheRunGoesOnWithoutItsFields()
    {
        var options = Options();
        options.ReadEnvironment = (_, _, _, _) => throw new InvalidOperationException("no git today");

        var run = Run.Init(options);
        run.Log("loss", 0.5);
        run.Finish();

        Assert.That(Read(run).Info.State, Is.EqualTo(RunStates.Finished));
        Assert.That(Read(run).Info.Git, Is.Null);
        Assert.That(Diagnostics.Select(d => d.Message), Has.Some.Contains("no git today"));
    }

    [Test]
    public async Task Online_FieldsReadAfterInit_ReachTheServer()
    {
        var options = OnlineOptions();
        options.ReadEnvironment = SlowRead(honourCancellation: true);
        var run = Run.Init(options);
        run.Log("loss", 0.5);
        Assert.That(await run.FlushAsync(), Is.True);
        await WaitUntil(() => Server.AckedSeq >= 1);

        _release.Set();
        await run.FinishAsync().WaitAsync(TimeSpan.FromSeconds(30));

        var requests = Server.Requests;
        var upserts = requests.Where(r => r.Method == HttpMethod.Put && r.Uri.AbsolutePath.EndsWith($"/runs/{run.Id}", StringComparison.Ordinal)).ToList();
        Assert.That(upserts, Has.Count.GreaterThanOrEqualTo(2), "the run is upserted again once the capture is done");
        Assert.That(JsonNode.Parse(upserts[0].Text)!["git"], Is.Null);
        var last = JsonNode.Parse(upserts[^1].Text)!;
        Assert.That((string?)last["git"]!["commit"], Is.EqualTo(Git.Commit));
        Assert.That((string?)last["gpus"]![0], Is.EqualTo("NVIDIA H200"));
        var finishSent = requests.ToList().FindIndex(r => r.IsAppend && r.Text.Contains("\"type\":\"finish\"", StringComparison.Ordinal));
        Assert.That(finishSent, Is.GreaterThan(requests.ToList().IndexOf(upserts[^1])).Or.Matches<int>(_ => (string?)last["state"] == RunStates.Finished),
            "an upsert after the finish record carries the final state, never an older one");
        Assert.That(run.Statistics.LinesUnsynced, Is.Zero);
    }

    private static JsonNode RunJson(Run run) => JsonNode.Parse(File.ReadAllText(Path.Combine(run.Directory!, "run.json")))!;

    private static void WaitFor(Func<bool> done)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!done() && DateTime.UtcNow < until)
        {
            Thread.Sleep(10);
        }

        Assert.That(done(), Is.True, "the condition did not come true");
    }

    private RunOptions SlowCaptureOptions(bool honourCancellation = true)
    {
        var options = Options();
        options.ReadEnvironment = SlowRead(honourCancellation);
        return options;
    }

    /// <summary>A capture that starts, then waits for the test to release it (or, if it honours it, for cancellation).</summary>
    private Func<EnvironmentCapture, string, IReadOnlyList<Assembly>, CancellationToken, CapturedEnvironment> SlowRead(bool honourCancellation) =>
        (what, directory, loaded, cancellationToken) =>
        {
            _captured = (what, directory, loaded.Count);
            _captureToken = cancellationToken;
            _captureStarted.Set();
            _release.Wait(honourCancellation ? cancellationToken : CancellationToken.None);
            return new CapturedEnvironment(Git, "-var lr = 0.1;\n+var lr = 0.3;", "Test CPU", ["NVIDIA H200"], new Dictionary<string, string> { ["TorchSharp"] = "0.105.0" });
        };
}
