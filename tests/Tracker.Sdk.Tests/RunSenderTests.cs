using System.Net;
using Tracker.Internal;
using Tracker.Online;
using Tracker.Pipeline;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>The server upload (its backend and worker) on its own, over a records.jsonl the test writes.</summary>
public sealed class RunSenderTests : OnlineTestBase
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);
    private string _directory = string.Empty;

    [SetUp]
    public void CreateRunDirectory()
    {
        _directory = Path.Combine(Root, "p", "r");
        Directory.CreateDirectory(_directory);
    }

    [Test]
    public async Task Start_SendsEveryCompleteLineAndRecordsTheCursor()
    {
        Append(Lines(1, 500));
        var sender = StartSender(localSeq: 500);

        var unsynced = await sender.StopAsync(Budget).WaitAsync(Budget);

        Assert.That(unsynced, Is.Zero);
        Assert.That(Server.Requests[0].Method, Is.EqualTo(HttpMethod.Put));
        Assert.That(Server.Requests[0].Text, Does.Contain("\"id\":\"r\""));
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(_directory)));
        Assert.That(SyncState(_directory), Is.EqualTo((500L, true, ServerUrl.ToString())));
    }

    [Test]
    public async Task Restart_SecondSenderSendsOnlyTheRest()
    {
        Append(Lines(1, 500));
        var first = StartSender(localSeq: 500);
        await first.StopAsync(Budget).WaitAsync(Budget);
        Assert.That(SyncState(_directory).AckedSeq, Is.EqualTo(500));
        var before = Server.Requests.Count;

        Append(Lines(501, 800));
        var second = StartSender(localSeq: 800);
        Assert.That(second.Delivered, Is.EqualTo(500), "the cursor in sync.json is the first guess");
        var unsynced = await second.StopAsync(Budget).WaitAsync(Budget);

        var sentAgain = Server.Requests.Skip(before).Where(r => r.IsAppend).SelectMany(r => r.Lines).Select(FakeTrackerServer.SeqOf).ToList();
        Assert.That(unsynced, Is.Zero);
        Assert.That(sentAgain, Is.EqualTo(Enumerable.Range(501, 300).Select(s => (long)s)));
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(_directory)));
    }

    [Test]
    public async Task PartialLastLine_IsSentOnlyOnceComplete()
    {
        var third = Lines(3, 3);
        Append(Lines(1, 2) + third[..20]);
        var sender = StartSender(localSeq: 2);
        await WaitUntil(() => Server.AckedSeq == 2);
        await Task.Delay(50);
        Assert.That(Server.Stored, Has.Count.EqualTo(2));

        Append(third[20..]);
        sender.OnWritten(3);
        await WaitUntil(() => Server.AckedSeq == 3);
        await sender.StopAsync(Budget).WaitAsync(Budget);

        Assert.That(Server.Stored[2] + "\n", Is.EqualTo(third));
    }

    [Test]
    public async Task LinesNotReportedWritten_AreNotSentYet()
    {
        // A failed local write is cut back and its sequence numbers reused: only reported lines are final.
        Append(Lines(1, 10));
        var sender = StartSender(localSeq: 5);
        await WaitUntil(() => Server.AckedSeq == 5);
        await Task.Delay(50);
        Assert.That(Server.Stored, Has.Count.EqualTo(5));

        sender.OnWritten(10);
        var unsynced = await sender.StopAsync(Budget).WaitAsync(Budget);

        Assert.That(unsynced, Is.Zero);
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(_directory)));
    }

    [Test]
    public async Task LineLongerThanABatch_IsSentAloneAndWhole()
    {
        var huge = $$$"""{"seq":2,"type":"config","ts":1,"values":{"notes":"{{{new string('x', RunSync.MaxBatchBytes + 1000)}}}"}}""" + "\n";
        Append(Lines(1, 1) + huge + Lines(3, 4));
        var sender = StartSender(localSeq: 4);

        var unsynced = await sender.StopAsync(Budget).WaitAsync(Budget);

        Assert.That(unsynced, Is.Zero);
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(_directory)));
        Assert.That(Server.Appends.Single(a => a.Body.Length > RunSync.MaxBatchBytes).Lines, Has.Length.EqualTo(1));
    }

    [Test]
    public async Task LargeBacklogDuringOutage_EveryRequestHoldsAtMostOneBatch()
    {
        Append(Lines(1, 100_000));
        var down = 3;
        Server.Fault = (r, _) => Task.FromResult(r.IsAppend && Interlocked.Decrement(ref down) >= 0 ? FakeTrackerServer.Status(HttpStatusCode.ServiceUnavailable) : null);
        var sender = StartSender(localSeq: 100_000);

        await AdvanceUntil(() => Server.AckedSeq == 100_000);
        await sender.StopAsync(Budget).WaitAsync(Budget);

        var appends = Server.Appends;
        Assert.That(appends.Max(a => a.Lines.Length), Is.LessThanOrEqualTo(RunSync.MaxBatchLines));
        Assert.That(appends.Max(a => a.Body.Length), Is.LessThanOrEqualTo(RunSync.MaxBatchBytes));
        Assert.That(appends.Count(a => a.Lines.Length > 0), Is.GreaterThanOrEqualTo(100_000 / RunSync.MaxBatchLines));
        Assert.That(Server.Stored.Select(FakeTrackerServer.SeqOf), Is.EqualTo(Enumerable.Range(1, 100_000).Select(s => (long)s)));
    }

    [Test]
    public async Task ServerLostRecords_SendsAgainFromTheSeqItExpects()
    {
        Append(Lines(1, 500));
        var sender = StartSender(localSeq: 500);
        await WaitUntil(() => Server.AckedSeq == 500);

        Server.ForgetFrom(301);
        Append(Lines(501, 600));
        sender.OnWritten(600);
        var unsynced = await sender.StopAsync(Budget).WaitAsync(Budget);

        Assert.That(unsynced, Is.Zero);
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(_directory)));
        Assert.That(Diagnostics.Select(d => d.Message), Has.Some.Contains("only up to seq 300"));
    }

    [Test]
    public async Task PayloadTooLarge_SendsSmallerBatchesUntilTheServerTakesThem()
    {
        Append(Lines(1, 1000));
        Server.Fault = (r, _) => Task.FromResult(r.IsAppend && r.Lines.Length > 100 ? FakeTrackerServer.Status(HttpStatusCode.RequestEntityTooLarge) : null);
        var sender = StartSender(localSeq: 1000);

        var unsynced = await sender.StopAsync(Budget).WaitAsync(Budget);

        Assert.That(unsynced, Is.Zero);
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(_directory)));
        Assert.That(Diagnostics.Where(d => d.Level == DiagnosticLevel.Error), Is.Empty);
    }

    [Test]
    public async Task PayloadTooLarge_ForOneLine_SkipsItInPlaceAndSendsEverythingAfter()
    {
        var big = $"{{\"seq\":6,\"type\":\"history\",\"step\":5,\"ts\":1,\"values\":{{\"text\":\"{new string('x', 200_000)}\"}}}}\n";
        Append(Lines(1, 5) + big + Lines(7, 20));
        Server.Fault = (r, _) => Task.FromResult(r.IsAppend && r.Body.Length > 100_000 ? FakeTrackerServer.Status(HttpStatusCode.RequestEntityTooLarge) : null);
        var sender = StartSender(localSeq: 20);

        var unsynced = await sender.StopAsync(Budget).WaitAsync(Budget);

        Assert.That(unsynced, Is.Zero, "the refused line does not hold up the lines after it");
        Assert.That(Server.AckedSeq, Is.EqualTo(20));
        var stored = Server.Stored.ToList();
        Assert.That(stored.Where(l => !l.Contains("\"seq\":6,", StringComparison.Ordinal)), Is.EqualTo(LocalLines(_directory).Where(l => !l.Contains("\"seq\":6,", StringComparison.Ordinal))));
        Assert.That(stored.Single(l => l.Contains("\"seq\":6,", StringComparison.Ordinal)), Does.Contain("\"type\":\"dropped\""));
        Assert.That(Diagnostics.Single(d => d.Level == DiagnosticLevel.Error).Message, Does.Contain("seq 6").And.Contain("MaxBodyBytes"));
    }

    [Test]
    public async Task BadRequest_StopsSendingAndSaysHowToUploadLater()
    {
        Append(Lines(1, 10));
        Server.Fault = (r, _) => Task.FromResult(r.IsAppend ? FakeTrackerServer.Status(HttpStatusCode.BadRequest, """{"detail":"line 1: bad"}""") : null);
        var sender = StartSender(localSeq: 10);
        await WaitUntil(() => Diagnostics.Any(d => d.Level == DiagnosticLevel.Error));

        var unsynced = await sender.StopAsync(Budget).WaitAsync(Budget);

        Assert.That(unsynced, Is.EqualTo(10));
        Assert.That(Server.Appends, Has.Count.EqualTo(1));
        var error = Diagnostics.Single(d => d.Level == DiagnosticLevel.Error);
        Assert.That(error.Message, Does.Contain("the server refused it").And.Contain($"tracker sync {_directory}"));
        Assert.That(error.Exception!.Message, Does.Contain("line 1: bad"));
        Assert.That(SyncState(_directory), Is.EqualTo((0L, false, ServerUrl.ToString())));
    }

    [Test]
    public async Task ServerForgotTheRun_UpsertsItAgainAndSendsEverything()
    {
        Append(Lines(1, 100));
        var sender = StartSender(localSeq: 100);
        await WaitUntil(() => Server.AckedSeq == 100);

        var forgotten = 1;
        Server.Fault = (r, _) => Task.FromResult(r.IsAppend && Interlocked.Exchange(ref forgotten, 0) == 1 ? FakeTrackerServer.Status(HttpStatusCode.NotFound) : null);
        Append(Lines(101, 150));
        sender.OnWritten(150);
        var unsynced = await sender.StopAsync(Budget).WaitAsync(Budget);

        Assert.That(unsynced, Is.Zero);
        Assert.That(Server.Requests.Count(r => r.Method == HttpMethod.Put), Is.EqualTo(2));
        Assert.That(Server.Stored, Is.EqualTo(LocalLines(_directory)));
    }

    [Test]
    public async Task LinesThatAreNotRecords_AreSkippedWithAWarning()
    {
        Append(Lines(1, 2) + "garbage\n" + Lines(3, 4));
        var sender = StartSender(localSeq: 4);

        var unsynced = await sender.StopAsync(Budget).WaitAsync(Budget);

        Assert.That(unsynced, Is.Zero);
        Assert.That(Server.Stored.Select(FakeTrackerServer.SeqOf), Is.EqualTo(new long[] { 1, 2, 3, 4 }));
        Assert.That(Diagnostics.Select(d => d.Message), Has.Some.Contains("is not a record"));
    }

    private void Append(string text) => File.AppendAllText(RecordsPath(_directory), text);

    private BackendWorker StartSender(long localSeq)
    {
        var options = OnlineOptions();
        var run = new RunInfo { Id = "r", Project = "p", Name = "test" };
        var diagnostics = new DiagnosticsSink(Diagnostics.Enqueue, Output);
        BackendWorker? worker = null;
        var server = new ServerBackend(TrackerHttpClient.Create(options), run, _directory, diagnostics, Time, () => worker!.Written, sendInterval: TimeSpan.Zero);
        worker = new BackendWorker(server, run, _directory, localSeq, diagnostics, Time);
        worker.Start();
        return worker;
    }
}
