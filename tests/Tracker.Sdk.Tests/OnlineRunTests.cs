using System.Diagnostics;
using System.Net;

namespace Tracker.Tests;

/// <summary>Runs in online mode: written locally first, shipped to a fake server, bounded at Finish.</summary>
public sealed class OnlineRunTests : OnlineTestBase
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);

    [Test]
    public async Task Finish_ServerTakesEverything_ServerHasExactlyTheLocalLines()
    {
        var run = Run.Init(OnlineOptions());
        for (var i = 0; i < 5000; i++)
        {
            run.Log("loss", 1.0 / (i + 1));
        }

        run.Config["lr"] = 0.1;
        run.Tags = ["baseline"];
        await run.FinishAsync().WaitAsync(Budget);

        var local = LocalLines(run.Directory!);
        Assert.That(Server.Stored, Is.EqualTo(local));
        Assert.That(Server.Requests[0].Method, Is.EqualTo(HttpMethod.Put));
        Assert.That(Server.Requests[0].Uri.AbsolutePath, Is.EqualTo($"/api/v1/projects/tests/runs/{run.Id}"));
        Assert.That(Server.Requests.Select(r => r.Authorization), Has.All.EqualTo("Bearer trk_test"));
        Assert.That(Server.Appends.Select(r => r.ContentEncoding), Has.All.EqualTo("gzip"));
        Assert.That(local[^1], Does.Contain("\"type\":\"finish\""));
        Assert.That(SyncState(run.Directory!), Is.EqualTo((FakeTrackerServer.SeqOf(local[^1]), true, ServerUrl.ToString())));
        Assert.That(run.Statistics.LinesUnsynced, Is.Zero);
        var lastSeq = FakeTrackerServer.SeqOf(local[^1]);
        Assert.That(run.Statistics.LinesWritten, Is.EqualTo(lastSeq));
        Assert.That(run.Statistics.LinesAcknowledged, Is.EqualTo(lastSeq), "every record line acknowledged");
        Assert.That(Output.ToString(), Does.Contain($"({lastSeq:N0} of {lastSeq:N0} record lines acknowledged by the server)"), "the footer's words");
        Assert.That(Output.ToString(), Does.Not.Contain("tracker sync"));
        Assert.That(Diagnostics.Where(d => d.Level != DiagnosticLevel.Info), Is.Empty);
    }

    [Test]
    public async Task StepsBetweenRequests_GoInOneRequestPerSendInterval_AndFinishDoesNotWait()
    {
        var options = OnlineOptions();
        options.SendInterval = TimeSpan.FromSeconds(1);
        var run = Run.Init(options);
        run.Log("loss", 1.0);
        await run.FlushAsync().WaitAsync(Budget);
        await WaitUntil(() => Server.Appends.Count == 1); // the first line after a quiet spell goes at once

        for (var i = 0; i < 5; i++)
        {
            run.Log("loss", i);
            await run.FlushAsync().WaitAsync(Budget);
        }

        await Task.Delay(200);
        Assert.That(Server.Appends, Has.Count.EqualTo(1), "steps logged within the interval wait for it");
        Time.Advance(TimeSpan.FromSeconds(1));
        await WaitUntil(() => Server.Appends.Count == 2);
        Assert.That(Server.Stored, Has.Count.EqualTo(LocalLines(run.Directory!).Count), "the five steps in one request");

        run.Log("loss", 9.0);
        await run.FinishAsync().WaitAsync(Budget); // the clock does not move: Finish sends without waiting out the interval
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(run.Directory!)));
    }

    [Test]
    public async Task Url_NamesTheRunOnTheServer_PrintedAtInitAndInTheFooter()
    {
        var run = Run.Init(OnlineOptions());
        var url = $"{ServerUrl}#/projects/tests/runs/{run.Id}";
        Assert.That(run.Url, Is.EqualTo(url));
        Assert.That(Output.ToString(), Does.Contain($"tracker: View run {run.Name} ({run.Id}) at {url}"), "said at Init, as W&B's 'View run at'");
        run.Log("x", 1.0);
        await run.FinishAsync().WaitAsync(Budget);

        Assert.That(Output.ToString().Split('\n').Count(l => l.Contains(url, StringComparison.Ordinal)), Is.EqualTo(2), "and once more in the footer");

        var offline = Run.Init(Options());
        Assert.That(offline.Url, Is.Null);
        offline.Finish();
    }

    [Test]
    public async Task Finish_ServerNotAnswering_SaysOnceHowLongItWaits()
    {
        Server.Fault = (_, _) => Task.FromResult<HttpResponseMessage?>(FakeTrackerServer.Status(HttpStatusCode.ServiceUnavailable));
        var options = OnlineOptions();
        options.FinishTimeout = TimeSpan.FromSeconds(10);
        var run = Run.Init(options);
        run.Log("x", 1.0);
        await run.FlushAsync().WaitAsync(Budget);
        await AdvanceUntil(() => Diagnostics.Any(d => d.Message.Contains("failed", StringComparison.Ordinal)));

        var finish = run.FinishAsync();
        await AdvanceUntil(() => finish.IsCompleted);
        await finish;

        var said = Diagnostics.Select(d => d.Message).Where(m => m.Contains("Finish waits", StringComparison.Ordinal)).ToList();
        Assert.That(said, Has.Count.EqualTo(1));
        Assert.That(said[0], Does.Contain(ServerUrl.ToString()).And.Contain("tracker sync"));
        // What is left of the 10 s budget once the local writes are done (the fake clock moves while Finish runs).
        var seconds = int.Parse(System.Text.RegularExpressions.Regex.Match(said[0], @"up to (\d+) s").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(seconds, Is.InRange(1, 10), said[0]);
    }

    [Test]
    public async Task Finish_ServerUp_SaysNothingAboutWaiting()
    {
        var run = Run.Init(OnlineOptions());
        run.Log("x", 1.0);
        await run.FinishAsync().WaitAsync(Budget);
        Assert.That(Diagnostics.Select(d => d.Message), Has.None.Contains("Finish waits"));
    }

    [Test]
    public async Task ServerUnavailableForAWhile_NothingIsLostAndRecoveryIsReportedOnce()
    {
        var down = true;
        Server.Fault = (_, _) => Task.FromResult(Volatile.Read(ref down) ? FakeTrackerServer.Status(HttpStatusCode.ServiceUnavailable) : null);
        var run = Run.Init(OnlineOptions());
        for (var i = 0; i < 1000; i++)
        {
            run.Log("x", i);
        }

        await run.FlushAsync().WaitAsync(Budget);
        await AdvanceUntil(() => Server.Requests.Count >= 12);
        Volatile.Write(ref down, false);
        await AdvanceUntil(() => Diagnostics.Any(d => d.Level == DiagnosticLevel.Info));
        run.Log("x", 1000);
        var finish = run.FinishAsync();
        await AdvanceUntil(() => finish.IsCompleted);
        await finish;

        Assert.That(Server.Stored, Is.EqualTo(LocalLines(run.Directory!)));
        var warnings = Diagnostics.Where(d => d.Level == DiagnosticLevel.Warning).ToList();
        Assert.That(warnings, Is.Not.Empty);
        Assert.That(warnings.Select(w => w.Message), Has.All.Contains("Nothing is lost"));
        Assert.That(warnings, Has.Count.LessThan(Server.Requests.Count / 4), "outage reports are rate-limited");
        Assert.That(Diagnostics.Single(d => d.Level == DiagnosticLevel.Info).Message, Does.Contain("up to date"));
        Assert.That(SyncState(run.Directory!).Synced, Is.True);
    }

    [Test]
    public async Task Init_ServerRefusesTheApiKey_ReportsAClearErrorAndTheRunCompletesLocally()
    {
        Server.Fault = (_, _) => Task.FromResult<HttpResponseMessage?>(
            FakeTrackerServer.Status(HttpStatusCode.Unauthorized, """{"title":"Unauthorized","detail":"unknown or revoked API key","status":401}"""));
        var run = Run.Init(OnlineOptions());
        for (var i = 0; i < 100; i++)
        {
            run.Log("x", i);
        }

        await WaitUntil(() => Diagnostics.Any(d => d.Level == DiagnosticLevel.Error));
        await run.FinishAsync().WaitAsync(Budget);

        var error = Diagnostics.Single(d => d.Level == DiagnosticLevel.Error).Message;
        Assert.That(error, Does.Contain("refused the API key").And.Contain("unknown or revoked API key").And.Contain("TRACKER_API_KEY"));
        Assert.That(error, Does.Contain($"keeps logging locally in {run.Directory}"));
        Assert.That(Server.Requests, Has.Count.EqualTo(1), "a refused key is not tried again");
        Assert.That(Read(run).Info.State, Is.EqualTo("finished"));
        Assert.That(History(run), Has.Count.EqualTo(100));
        var lines = LocalLines(run.Directory!).Count;
        Assert.That(run.Statistics.LinesUnsynced, Is.EqualTo(lines));
        Assert.That(Output.ToString(), Does.Contain($"tracker: {lines} record lines of run {run.Id} are not on {ServerUrl}").And.Contain($"tracker sync {run.Directory}"));
        Assert.That(SyncState(run.Directory!).Synced, Is.False);
        var count = Diagnostics.Single(d => d.Message.Contains("are not on", StringComparison.Ordinal));
        Assert.That(count.Level, Is.EqualTo(DiagnosticLevel.Warning), "the refusal was the error");
        Assert.That(count.Message, Does.Contain($"{lines} record lines of run {run.Id} are not on {ServerUrl}").And.Contain($"upload them later with: tracker sync {run.Directory}"));
    }

    [Test]
    public async Task Finish_WithoutADiagnosticsHook_PrintsWhatTheServerLacksOnce()
    {
        Server.Fault = async (_, ct) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return null;
        };
        var options = OnlineOptions();
        options.Diagnostics = null;
        options.FinishTimeout = TimeSpan.FromSeconds(2);
        var run = Run.Init(options);
        run.Log("x", 1);
        var finish = run.FinishAsync();
        await AdvanceUntil(() => finish.IsCompleted);
        await finish;

        // The upload's report goes to the output, so the footer does not say it again.
        var printed = Output.ToString().Split('\n').Where(l => l.Contains($"tracker sync {run.Directory}", StringComparison.Ordinal)).ToList();
        Assert.That(printed, Has.Count.EqualTo(1), Output.ToString());
        Assert.That(printed[0], Does.StartWith("tracker: error:"));
    }

    [Test]
    public async Task Finish_AfterTheServerSaidTheRunWasDeleted_SaysHowManyLinesItLacksWithoutSuggestingSync()
    {
        Server.Fault = (request, _) => Task.FromResult(request.IsAppend
            ? FakeTrackerServer.Status(HttpStatusCode.Gone, """{"title":"Run deleted","detail":"Run 'r' was deleted on this server.","status":410}""")
            : null);
        var run = Run.Init(OnlineOptions());
        run.Log("x", 1);
        await run.FinishAsync().WaitAsync(Budget);

        var lines = LocalLines(run.Directory!).Count;
        Assert.That(Diagnostics.Single(d => d.Level == DiagnosticLevel.Error).Message, Does.Contain("the run was deleted there"));
        var count = Diagnostics.Single(d => d.Message.Contains("are not on", StringComparison.Ordinal));
        Assert.That(count.Level, Is.EqualTo(DiagnosticLevel.Warning));
        Assert.That(count.Message, Does.Contain($"{lines} record lines of run {run.Id} are not on {ServerUrl}").And.Contain("tracker sync will refuse them too"));
        Assert.That(Output.ToString(), Does.Contain($"tracker: {count.Message}").And.Not.Contain("upload them later"), "the console is told the same, not to sync");
    }

    [Test]
    public async Task Finish_ServerNeverAnswers_ReturnsWithinFinishTimeoutAndLeavesTheRunForTrackerSync()
    {
        Server.Fault = async (_, ct) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return null;
        };
        var options = OnlineOptions();
        options.FinishTimeout = TimeSpan.FromSeconds(10);
        var run = Run.Init(options);
        for (var i = 0; i < 100; i++)
        {
            run.Log("x", i);
        }

        var started = Time.GetUtcNow();
        var finish = run.FinishAsync();
        await AdvanceUntil(() => Time.GetUtcNow() - started >= options.FinishTimeout - TimeSpan.FromMilliseconds(250));
        Assert.That(finish.IsCompleted, Is.False, "Finish waits for the server while it has budget");

        // The clock then stands still: Finish must be done when its budget is.
        Time.Advance(TimeSpan.FromMilliseconds(250));
        await finish.WaitAsync(Budget);

        Assert.That(Time.GetUtcNow() - started, Is.EqualTo(options.FinishTimeout));
        var lines = LocalLines(run.Directory!).Count;
        Assert.That(Read(run).Info.State, Is.EqualTo("finished"), "the local run is complete whatever the server does");
        Assert.That(SyncState(run.Directory!), Is.EqualTo((0L, false, ServerUrl.ToString())));
        Assert.That(run.Statistics.LinesUnsynced, Is.EqualTo(lines));
        var printed = Output.ToString().Split('\n').Where(l => l.Contains("are not on", StringComparison.Ordinal)).ToList();
        Assert.That(printed, Has.Count.EqualTo(1));
        Assert.That(printed[0], Does.StartWith("tracker: ").And.Contain($"They are safe in {run.Directory}; upload them later with: tracker sync {run.Directory}"));
        var said = Diagnostics.Where(d => d.Message.Contains("are not on", StringComparison.Ordinal)).ToList();
        Assert.That(said, Has.Count.EqualTo(1), "once, in the run's diagnostics too");
        Assert.That(said[0].Level, Is.EqualTo(DiagnosticLevel.Error));
        Assert.That(said[0].Message, Does.Contain($"{lines} record lines of run {run.Id} are not on {ServerUrl}").And.Contain("FinishTimeout").And.Contain($"tracker sync {run.Directory}"));
    }

    [Test]
    public void Finish_ServerRefusesConnections_WithRealClock_ReturnsWithinFinishTimeout()
    {
        var options = Options();
        options.Mode = RunMode.Online;
        options.BaseUrl = new Uri("http://127.0.0.1:1/"); // nothing listens on port 1
        options.FinishTimeout = TimeSpan.FromSeconds(1);
        var run = Run.Init(options);
        run.Log("x", 1);

        var clock = Stopwatch.StartNew();
        run.Finish();

        // Generous bound: this checks that Finish gives up, not how fast it is.
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
        Assert.That(run.Statistics.LinesUnsynced, Is.GreaterThan(0));
        Assert.That(Output.ToString(), Does.Contain($"tracker sync {run.Directory}"));
    }

    [Test]
    public async Task Finish_WhileTheSenderBacksOff_SendsAgainAtOnce()
    {
        var down = true;
        Server.Fault = (_, _) => Task.FromResult(Volatile.Read(ref down) ? FakeTrackerServer.Status(HttpStatusCode.ServiceUnavailable) : null);
        var run = Run.Init(OnlineOptions());
        run.Log("x", 1);
        await AdvanceUntil(() => Diagnostics.Count(d => d.Level == DiagnosticLevel.Warning) >= 1 && Server.Requests.Count >= 8);
        Volatile.Write(ref down, false);

        // The clock stands still: only cutting the back-off short lets Finish send.
        await run.FinishAsync().WaitAsync(Budget);

        Assert.That(Server.Stored, Is.EqualTo(LocalLines(run.Directory!)));
        Assert.That(SyncState(run.Directory!).Synced, Is.True);
    }

    [Test]
    public async Task Resume_Online_SendsOnlyWhatTheServerLacks()
    {
        var first = Run.Init(OnlineOptions("resumed"));
        first.Log("x", 1);
        await first.FinishAsync().WaitAsync(Budget);
        var before = Server.Requests.Count;
        var firstLines = LocalLines(first.Directory!).Count;

        var options = OnlineOptions("resumed");
        options.Resume = ResumeMode.Must;
        var second = Run.Init(options);
        second.Log("x", 2);
        await second.FinishAsync().WaitAsync(Budget);

        var resent = Server.Requests.Skip(before).Where(r => r.IsAppend).SelectMany(r => r.Lines).Select(FakeTrackerServer.SeqOf).ToList();
        Assert.That(resent, Has.All.GreaterThan(firstLines));
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(second.Directory!)));
        Assert.That(SyncState(second.Directory!).Synced, Is.True);
    }

    [Test]
    public void Init_OnlineWithoutBaseUrl_ThrowsAndSaysWhatToSet()
    {
        var options = Options();
        options.Mode = RunMode.Online;

        Assert.That(() => Run.Init(options), Throws.ArgumentException.With.Message.Contains("RunOptions.BaseUrl or TRACKER_BASE_URL"));
        Assert.That(Directory.Exists(Root), Is.False, "nothing is written");
    }

    [Test]
    public void Init_BaseUrlThatIsNotHttp_Throws()
    {
        var options = OnlineOptions();
        options.BaseUrl = new Uri("ftp://tracker.test/");

        Assert.That(() => Run.Init(options), Throws.ArgumentException.With.Message.Contains("not an absolute http or https URL"));
    }
}
