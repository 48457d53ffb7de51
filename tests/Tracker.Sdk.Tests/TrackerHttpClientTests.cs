using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.Timeout;
using Tracker.Online;

namespace Tracker.Tests;

public sealed class TrackerHttpClientTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 27, 0, 0, 0, TimeSpan.Zero);
    private static readonly byte[] ThreeLines = Encoding.UTF8.GetBytes(
        """{"seq":1,"type":"history","step":0,"ts":1,"values":{"x":1}}""" + "\n"
        + """{"seq":2,"type":"history","step":1,"ts":2,"values":{"x":2}}""" + "\n"
        + """{"seq":3,"type":"config","ts":3,"values":{"lr":0.1}}""" + "\n");

    private WatchedClock _time = new(Start);
    private FakeTrackerServer _server = new(TimeProvider.System);

    [SetUp]
    public void CreateServer()
    {
        _time = new WatchedClock(Start);
        _server = new FakeTrackerServer(_time);
    }

    [TearDown]
    public void DisposeServer() => _server.Dispose();

    [Test]
    public async Task AppendAsync_ServiceUnavailableTwiceThenOk_RetriesTheSameBodyAndReturnsAckedSeq()
    {
        var failures = 2;
        _server.Fault = (r, _) => Task.FromResult(r.IsAppend && failures-- > 0 ? FakeTrackerServer.Status(HttpStatusCode.ServiceUnavailable) : null);
        using var client = CreateClient();
        await client.PutRunAsync("p", "r", "{}"u8.ToArray(), CancellationToken.None);

        var append = client.AppendAsync("p", "r", ThreeLines, CancellationToken.None);
        await AdvanceUntil(() => append.IsCompleted);

        Assert.That(await append, Is.EqualTo(3));
        Assert.That(_server.Appends, Has.Count.EqualTo(3));
        Assert.That(_server.Appends.Select(a => a.Text), Has.All.EqualTo(Encoding.UTF8.GetString(ThreeLines)), "every attempt sends the whole batch");
        Assert.That(_server.Stored, Has.Count.EqualTo(3));
    }

    [Test]
    public async Task AppendAsync_RetryAfterSeconds_WaitsExactlyThatLong()
    {
        var first = true;
        _server.Fault = (r, _) => Task.FromResult(r.IsAppend && Interlocked.Exchange(ref first, false)
            ? WithRetryAfter(HttpStatusCode.TooManyRequests, new RetryConditionHeaderValue(TimeSpan.FromSeconds(7)))
            : null);
        using var client = CreateClient();
        await client.PutRunAsync("p", "r", "{}"u8.ToArray(), CancellationToken.None);

        var append = client.AppendAsync("p", "r", ThreeLines, CancellationToken.None);
        await WaitUntil(() => _time.DueTimes.Contains(TimeSpan.FromSeconds(7)));
        _time.Advance(TimeSpan.FromSeconds(7) - TimeSpan.FromMilliseconds(1));
        await Task.Delay(50);
        Assert.That(_server.Appends, Has.Count.EqualTo(1), "no retry before Retry-After");
        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.That(await append.WaitAsync(TimeSpan.FromSeconds(20)), Is.EqualTo(3));
        Assert.That(_server.Appends[1].At - _server.Appends[0].At, Is.EqualTo(TimeSpan.FromSeconds(7)));
    }

    [Test]
    public async Task AppendAsync_RetryAfterDate_WaitsUntilThatDate()
    {
        var first = true;
        _server.Fault = (r, _) => Task.FromResult(r.IsAppend && Interlocked.Exchange(ref first, false)
            ? WithRetryAfter(HttpStatusCode.ServiceUnavailable, new RetryConditionHeaderValue(_time.GetUtcNow() + TimeSpan.FromSeconds(12)))
            : null);
        using var client = CreateClient();
        await client.PutRunAsync("p", "r", "{}"u8.ToArray(), CancellationToken.None);

        var append = client.AppendAsync("p", "r", ThreeLines, CancellationToken.None);
        await WaitUntil(() => _time.DueTimes.Contains(TimeSpan.FromSeconds(12)));
        _time.Advance(TimeSpan.FromSeconds(12));

        Assert.That(await append.WaitAsync(TimeSpan.FromSeconds(20)), Is.EqualTo(3));
        Assert.That(_server.Appends[1].At - _server.Appends[0].At, Is.EqualTo(TimeSpan.FromSeconds(12)));
    }

    [TestCase(HttpStatusCode.BadRequest)]
    [TestCase(HttpStatusCode.NotFound)]
    [TestCase(HttpStatusCode.RequestEntityTooLarge)]
    [TestCase(HttpStatusCode.UnprocessableEntity)]
    public void AppendAsync_ClientError_IsNotRetriedAndIsPermanent(HttpStatusCode status)
    {
        _server.Fault = (_, _) => Task.FromResult<HttpResponseMessage?>(FakeTrackerServer.Status(status, """{"title":"Nope","detail":"line 2: bad value","status":400}"""));
        using var client = CreateClient();

        Assert.That(async () => await client.AppendAsync("p", "r", ThreeLines, CancellationToken.None),
            Throws.TypeOf<TrackerServerException>()
                .With.Property(nameof(TrackerServerException.IsTransient)).False
                .And.Property(nameof(TrackerServerException.StatusCode)).EqualTo(status)
                .And.Message.Contains("line 2: bad value"));
        Assert.That(_server.Requests, Has.Count.EqualTo(1));
    }

    [TestCase(HttpStatusCode.Unauthorized, "refused the API key")]
    [TestCase(HttpStatusCode.Forbidden, "refused the API key for project 'p'")]
    public void AppendAsync_AuthError_IsNotRetriedAndSaysHowToSetTheKey(HttpStatusCode status, string says)
    {
        _server.Fault = (_, _) => Task.FromResult<HttpResponseMessage?>(FakeTrackerServer.Status(status));
        using var client = CreateClient();

        Assert.That(async () => await client.AppendAsync("p", "r", ThreeLines, CancellationToken.None),
            Throws.TypeOf<TrackerAuthException>().With.Message.Contains(says).And.Message.Contains("TRACKER_API_KEY or RunOptions.ApiKey"));
        Assert.That(_server.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public void AppendAsync_Conflict_IsNotRetriedAndCarriesTheExpectedSeq()
    {
        _server.Fault = (_, _) => Task.FromResult<HttpResponseMessage?>(
            FakeTrackerServer.Status(HttpStatusCode.Conflict, """{"title":"Sequence gap","status":409,"field":"seq","expected_seq":42}"""));
        using var client = CreateClient();

        Assert.That(async () => await client.AppendAsync("p", "r", ThreeLines, CancellationToken.None),
            Throws.TypeOf<TrackerSequenceException>().With.Property(nameof(TrackerSequenceException.ExpectedSeq)).EqualTo(42));
        Assert.That(_server.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task AppendAsync_ServiceUnavailableEveryTime_GivesUpAfterThreeRetriesAsTransient()
    {
        _server.Fault = (_, _) => Task.FromResult<HttpResponseMessage?>(FakeTrackerServer.Status(HttpStatusCode.ServiceUnavailable));
        using var client = CreateClient();

        var append = client.AppendAsync("p", "r", ThreeLines, CancellationToken.None);
        await AdvanceUntil(() => append.IsCompleted);

        Assert.That(() => append, Throws.TypeOf<TrackerServerException>().With.Property(nameof(TrackerServerException.IsTransient)).True);
        Assert.That(_server.Requests, Has.Count.EqualTo(4));
    }

    [Test]
    public async Task AppendAsync_EveryAttemptHangs_GivesUpAtTheTotalTimeout()
    {
        _server.Fault = async (_, ct) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return null;
        };
        using var client = CreateClient();

        var started = _time.GetUtcNow();
        var append = client.AppendAsync("p", "r", ThreeLines, CancellationToken.None);
        await AdvanceUntil(() => append.IsCompleted, TimeSpan.FromSeconds(1));

        Assert.That(() => append, Throws.TypeOf<TimeoutRejectedException>());
        Assert.That(_time.GetUtcNow() - started, Is.InRange(TrackerHttpClient.TotalTimeout, TrackerHttpClient.TotalTimeout + TimeSpan.FromSeconds(1)));
        Assert.That(_server.Requests, Has.Count.EqualTo(4), "each attempt timed out on its own first");
    }

    [TestCase("http://127.0.0.1:5080", RequestCompression.Auto, null, Description = "a loopback server: compressing would only cost CPU")]
    [TestCase("http://localhost:5080", RequestCompression.Auto, null)]
    [TestCase("http://[::1]:5080", RequestCompression.Auto, null)]
    [TestCase("http://tracker.test", RequestCompression.Auto, "gzip")]
    [TestCase("http://127.0.0.1:5080", RequestCompression.Gzip, "gzip")]
    [TestCase("http://tracker.test", RequestCompression.None, null)]
    public async Task AppendAsync_Compression_FollowsTheOptionAndWhereTheServerIs(string baseUrl, RequestCompression compression, string? expectedEncoding)
    {
        using var client = CreateClient(baseUrl: baseUrl, compression: compression);
        await client.PutRunAsync("proj", "run1", "{\"id\":\"run1\"}"u8.ToArray(), CancellationToken.None);
        await client.AppendAsync("proj", "run1", ThreeLines, CancellationToken.None);

        var append = _server.Requests[1];
        Assert.That(append.ContentEncoding, Is.EqualTo(expectedEncoding));
        Assert.That(append.Body, Is.EqualTo(ThreeLines), "the body (decompressed where it was compressed) is exactly the lines");
    }

    [Test]
    public void PutRunAsync_UnauthorizedWithoutApiKey_SaysThatNoKeyIsSet()
    {
        _server.Fault = (_, _) => Task.FromResult<HttpResponseMessage?>(FakeTrackerServer.Status(HttpStatusCode.Unauthorized));
        using var client = CreateClient(apiKey: null);

        Assert.That(async () => await client.PutRunAsync("p", "r", "{}"u8.ToArray(), CancellationToken.None),
            Throws.TypeOf<TrackerAuthException>().With.Message.Contains("no API key is set").And.Message.Contains("TRACKER_API_KEY"));
    }

    [Test]
    public async Task AppendAsync_Body_IsGzippedNdjsonWithTheBearerKey()
    {
        using var client = CreateClient(apiKey: "trk_secret");
        await client.PutRunAsync("proj", "run1", "{\"id\":\"run1\"}"u8.ToArray(), CancellationToken.None);
        await client.AppendAsync("proj", "run1", ThreeLines, CancellationToken.None);

        var (put, append) = (_server.Requests[0], _server.Requests[1]);
        Assert.That(put.Method, Is.EqualTo(HttpMethod.Put));
        Assert.That(put.Uri, Is.EqualTo(new Uri("http://tracker.test/base/api/v1/projects/proj/runs/run1")));
        Assert.That(put.ContentType, Is.EqualTo("application/json"));
        Assert.That(put.Text, Is.EqualTo("{\"id\":\"run1\"}"));
        Assert.That(append.Uri, Is.EqualTo(new Uri("http://tracker.test/base/api/v1/projects/proj/runs/run1/records")));
        Assert.That(append.ContentType, Is.EqualTo("application/x-ndjson"));
        Assert.That(append.ContentEncoding, Is.EqualTo("gzip"));
        Assert.That(append.Body, Is.EqualTo(ThreeLines), "the decompressed body is exactly the lines");
        Assert.That(_server.Requests.Select(r => r.Authorization), Has.All.EqualTo("Bearer trk_secret"));
    }

    [Test]
    public async Task PutRunAsync_WithoutApiKey_SendsNoAuthorizationHeader()
    {
        using var client = CreateClient(apiKey: null);
        await client.PutRunAsync("p", "r", "{}"u8.ToArray(), CancellationToken.None);

        Assert.That(_server.Requests.Single().Authorization, Is.Null);
    }

    [Test]
    public async Task AppendAsync_TransportErrorThenOk_IsRetried()
    {
        var first = true;
        _server.Fault = (r, _) => r.IsAppend && Interlocked.Exchange(ref first, false)
            ? throw new HttpRequestException("Connection refused")
            : Task.FromResult<HttpResponseMessage?>(null);
        using var client = CreateClient();
        await client.PutRunAsync("p", "r", "{}"u8.ToArray(), CancellationToken.None);

        var append = client.AppendAsync("p", "r", ThreeLines, CancellationToken.None);
        await AdvanceUntil(() => append.IsCompleted);

        Assert.That(await append, Is.EqualTo(3));
        Assert.That(_server.Appends, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task AppendAsync_AttemptThatHangs_TimesOutAndIsRetried()
    {
        var first = true;
        _server.Fault = async (r, ct) =>
        {
            if (r.IsAppend && Interlocked.Exchange(ref first, false))
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            }

            return null;
        };
        using var client = CreateClient();
        await client.PutRunAsync("p", "r", "{}"u8.ToArray(), CancellationToken.None);

        var append = client.AppendAsync("p", "r", ThreeLines, CancellationToken.None);
        await AdvanceUntil(() => append.IsCompleted, TimeSpan.FromSeconds(1));

        Assert.That(await append, Is.EqualTo(3));
        Assert.That(_server.Appends[1].At - _server.Appends[0].At, Is.GreaterThanOrEqualTo(TrackerHttpClient.AttemptTimeout));
    }

    [Test]
    public void AppendAsync_OkWithoutAckedSeq_ThrowsAsNotATrackerServer()
    {
        _server.Fault = (_, _) => Task.FromResult<HttpResponseMessage?>(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("<html>proxy login</html>") });
        using var client = CreateClient();

        Assert.That(async () => await client.AppendAsync("p", "r", ThreeLines, CancellationToken.None),
            Throws.TypeOf<TrackerServerException>().With.Message.Contains("is http://tracker.test/base/ a Tracker server?"));
    }

    [Test]
    public void Create_ConfigureHttpResilience_ReplacesTheDefaultPipelineAndGetsTheRunsClock()
    {
        TimeProvider? clock = null;
        _server.Fault = (_, _) => Task.FromResult<HttpResponseMessage?>(FakeTrackerServer.Status(HttpStatusCode.ServiceUnavailable));
        using var client = CreateClient(configure: builder => clock = builder.TimeProvider);

        Assert.That(async () => await client.AppendAsync("p", "r", ThreeLines, CancellationToken.None),
            Throws.TypeOf<TrackerServerException>().With.Property(nameof(TrackerServerException.IsTransient)).True);
        Assert.That(_server.Requests, Has.Count.EqualTo(1), "an empty pipeline does not retry");
        Assert.That(clock, Is.SameAs(_time));
    }

    private static HttpResponseMessage WithRetryAfter(HttpStatusCode status, RetryConditionHeaderValue retryAfter)
    {
        var response = FakeTrackerServer.Status(status);
        response.Headers.RetryAfter = retryAfter;
        return response;
    }

    private static async Task WaitUntil(Func<bool> done)
    {
        for (var i = 0; i < 2000 && !done(); i++)
        {
            await Task.Delay(10);
        }

        Assert.That(done(), Is.True, "the condition did not come true");
    }

    private TrackerHttpClient CreateClient(string? apiKey = "trk_test", Action<ResiliencePipelineBuilder<HttpResponseMessage>>? configure = null, string baseUrl = "http://tracker.test/base", RequestCompression compression = RequestCompression.Auto) =>
        TrackerHttpClient.Create(new RunOptions
        {
            BaseUrl = new Uri(baseUrl),
            Compression = compression,
            ApiKey = apiKey,
            HttpHandler = _server,
            TimeProvider = _time,
            ConfigureHttpResilience = configure,
        });

    private async Task AdvanceUntil(Func<bool> done, TimeSpan? step = null)
    {
        for (var i = 0; i < 4000 && !done(); i++)
        {
            _time.Advance(step ?? TimeSpan.FromMilliseconds(250));
            await Task.Delay(2);
        }

        Assert.That(done(), Is.True, "the condition did not come true");
    }

    /// <summary>A fake clock that remembers the due time of every timer, so a test can see a delay being scheduled.</summary>
    private sealed class WatchedClock(DateTimeOffset start) : FakeTimeProvider(start)
    {
        public ConcurrentQueue<TimeSpan> DueTimes { get; } = new();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            DueTimes.Enqueue(dueTime);
            return base.CreateTimer(callback, state, dueTime, period);
        }
    }
}
