using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Tracker.Format;

namespace Tracker.Tests;

/// <summary>A fake clock and a fake Tracker server per test, and helpers to drive and inspect them.</summary>
public abstract class OnlineTestBase : RunTestBase
{
    protected static readonly Uri ServerUrl = new("http://tracker.test/");

    protected FakeTimeProvider Time { get; private set; } = new();

    protected FakeTrackerServer Server { get; private set; } = new(TimeProvider.System);

    [SetUp]
    public void CreateServer()
    {
        // Whole seconds, so that HTTP dates (second resolution) are exact.
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero));
        Server = new FakeTrackerServer(Time);
    }

    [TearDown]
    public void DisposeServer() => Server.Dispose();

    protected RunOptions OnlineOptions(string? id = null)
    {
        var options = Options(id);
        options.Mode = RunMode.Online;
        options.BaseUrl = ServerUrl;
        options.ApiKey = "trk_test";
        options.HttpHandler = Server;
        options.TimeProvider = Time;
        options.SendInterval = TimeSpan.Zero; // each test drives the clock itself; SendIntervalTests covers the spacing
        return options;
    }

    /// <summary>Advances the fake clock step by step, letting background work run, until <paramref name="done"/>.</summary>
    protected async Task AdvanceUntil(Func<bool> done, TimeSpan? step = null)
    {
        for (var i = 0; i < 4000 && !done(); i++)
        {
            Time.Advance(step ?? TimeSpan.FromMilliseconds(250));
            await Task.Delay(2);
        }

        Assert.That(done(), Is.True, "the condition did not come true");
    }

    /// <summary>Waits in real time, without touching the fake clock, until <paramref name="done"/>.</summary>
    protected static async Task WaitUntil(Func<bool> done)
    {
        for (var i = 0; i < 2000 && !done(); i++)
        {
            await Task.Delay(10);
        }

        Assert.That(done(), Is.True, "the condition did not come true");
    }

    protected static string RecordsPath(string directory) => Path.Combine(directory, RunFiles.RecordsFile);

    protected static List<string> LocalLines(string directory) => File.ReadAllLines(RecordsPath(directory)).ToList();

    protected static (long AckedSeq, bool Synced, string Server) SyncState(string directory)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory, RunFiles.SyncFile)));
        var root = json.RootElement;
        return (root.GetProperty("acked_seq").GetInt64(), root.GetProperty("synced").GetBoolean(), root.GetProperty("server").GetString()!);
    }

    /// <summary>History lines with seq <paramref name="first"/> to <paramref name="last"/>, as Tracker writes them.</summary>
    protected static string Lines(long first, long last) => string.Concat(
        Enumerable.Range((int)first, (int)(last - first + 1)).Select(seq => $$$"""{"seq":{{{seq}}},"type":"history","step":{{{seq - 1}}},"ts":1795736598404,"values":{"loss":0.5}}""" + "\n"));
}
