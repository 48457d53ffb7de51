using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Tracker.Online;

/// <summary>
/// The SDK's side of the ingest protocol (docs/protocol.md): upserts a run and appends lines of
/// its records.jsonl, gzip-compressed unless the server is on this machine. Requests run through a resilience pipeline that retries
/// transient failures; what it gives up on is thrown, as a <see cref="TrackerServerException"/>
/// when the server answered.
/// </summary>
internal sealed class TrackerHttpClient : IDisposable
{
    /// <summary>Longest time one attempt of a request may take.</summary>
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Longest time a request may take, all attempts and delays together.</summary>
    public static readonly TimeSpan TotalTimeout = TimeSpan.FromMinutes(2);

    private const int MaxRetries = 3;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly bool _hasApiKey;
    private readonly bool _gzip;

    private TrackerHttpClient(Uri baseUrl, string? apiKey, RequestCompression compression, HttpMessageHandler handler, bool disposeHandler, TimeProvider time)
    {
        _time = time;
        _gzip = compression == RequestCompression.Gzip || (compression == RequestCompression.Auto && !baseUrl.IsLoopback);

        // Relative request paths then extend a base path such as http://host/tracker.
        BaseUrl = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");

        // The pipeline owns timeouts, on the run's clock; cancellation bounds the rest.
        _http = new HttpClient(handler, disposeHandler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("Tracker.Sdk", typeof(TrackerHttpClient).Assembly.GetName().Version?.ToString()));
        _hasApiKey = !string.IsNullOrEmpty(apiKey);
        if (_hasApiKey)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
    }

    public Uri BaseUrl { get; }

    /// <summary>
    /// A client for the run's server: the user's handler (kept open when the run ends) or a new
    /// one, behind the user's resilience pipeline or the default one.
    /// </summary>
    public static TrackerHttpClient Create(RunOptions options)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = options.TimeProvider };
        if (options.ConfigureHttpResilience is { } configure)
        {
            configure(builder);
        }
        else
        {
            AddDefaultStrategies(builder, options.TimeProvider);
        }

        var handler = new ResilienceHandler(builder.Build())
        {
            InnerHandler = options.HttpHandler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) },
        };
        return new TrackerHttpClient(options.BaseUrl!, options.ApiKey, options.Compression, handler, disposeHandler: options.HttpHandler is null, options.TimeProvider);
    }

    /// <summary>
    /// A total timeout around retries of 408, 429, 5xx and transport errors (exponential back-off
    /// with jitter, or the server's Retry-After on 429 and 503), each attempt with its own timeout.
    /// </summary>
    private static void AddDefaultStrategies(ResiliencePipelineBuilder<HttpResponseMessage> builder, TimeProvider time) =>
        builder
            .AddTimeout(TotalTimeout)
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromSeconds(1),
                MaxDelay = TimeSpan.FromSeconds(30),
                ShouldHandle = static args => new ValueTask<bool>(IsTransient(args.Outcome)),
                DelayGenerator = args => new ValueTask<TimeSpan?>(RetryAfter(args.Outcome.Result, time)),
            })
            .AddTimeout(AttemptTimeout);

    /// <summary>Upserts the run's metadata (its run.json).</summary>
    /// <returns>The highest sequence number the server has stored for the run.</returns>
    public async Task<long> PutRunAsync(string project, string runId, byte[] runJson, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, RunUri(project, runId, suffix: null))
        {
            Content = new ByteArrayContent(runJson),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return await SendAsync(request, project, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Appends complete lines of records.jsonl (each ending in '\n'), gzip-compressed unless the server is local.</summary>
    /// <returns>The highest sequence number the server has stored for the run.</returns>
    public async Task<long> AppendAsync(string project, string runId, ReadOnlyMemory<byte> ndjsonLines, CancellationToken cancellationToken)
    {
        // Compressed once: every attempt sends the same bytes.
        using var request = new HttpRequestMessage(HttpMethod.Post, RunUri(project, runId, "/records"))
        {
            Content = _gzip ? new ByteArrayContent(Gzip(ndjsonLines.Span)) : new ReadOnlyMemoryContent(ndjsonLines),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        if (_gzip)
        {
            request.Content.Headers.ContentEncoding.Add("gzip");
        }

        return await SendAsync(request, project, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Tells the server the run is alive while it has nothing to send (docs/protocol.md, "Heartbeats").</summary>
    /// <returns>The highest sequence number the server has stored for the run.</returns>
    public async Task<long> HeartbeatAsync(string project, string runId, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, RunUri(project, runId, "/heartbeat"));
        return await SendAsync(request, project, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Whether the server has the media file named <paramref name="sha256"/> in the project.</summary>
    public async Task<bool> HasBlobAsync(string project, string sha256, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, BlobUri(project, sha256));
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        return response.IsSuccessStatusCode ? true : throw Failure(request, response, [], project);
    }

    /// <summary>Uploads a media file; the server checks that its bytes hash to <paramref name="sha256"/>.</summary>
    public async Task PutBlobAsync(string project, string sha256, byte[] content, string contentType, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, BlobUri(project, sha256)) { Content = new ByteArrayContent(content) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw Failure(request, response, await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false), project);
        }
    }

    /// <summary>
    /// A read (<c>GET</c>) of <paramref name="relative"/> under the base URL, through the same
    /// resilience pipeline as writes. The answer is returned whatever its status, its body read, for
    /// the caller to judge; transport errors and timeouts left after retries are thrown.
    /// </summary>
    public async Task<HttpResponseMessage> GetAsync(string relative, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUrl, relative));
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        return response;
    }

    /// <summary>Whether the client sends an API key.</summary>
    public bool HasApiKey => _hasApiKey;

    public void Dispose() => _http.Dispose();

    /// <summary>408, 429, 5xx, a transport error or an attempt that timed out: worth another try.</summary>
    private static bool IsTransient(Outcome<HttpResponseMessage> outcome) => outcome.Exception switch
    {
        HttpRequestException or TimeoutRejectedException => true,
        null => outcome.Result is { } response && IsTransient(response.StatusCode),
        _ => false,
    };

    /// <summary>The delay a 429 or 503 asks for with Retry-After (seconds or an HTTP date), if any.</summary>
    private static TimeSpan? RetryAfter(HttpResponseMessage? response, TimeProvider time)
    {
        if (response?.StatusCode is not (HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable)
            || response.Headers.RetryAfter is not { } retryAfter)
        {
            return null;
        }

        var delay = retryAfter.Delta ?? (retryAfter.Date - time.GetUtcNow());
        return delay is { } d ? (d > TimeSpan.Zero ? d : TimeSpan.Zero) : null;
    }

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    private static byte[] Gzip(ReadOnlySpan<byte> content)
    {
        using var compressed = new MemoryStream(capacity: (content.Length / 4) + 64);
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(content);
        }

        return compressed.ToArray();
    }

    private Uri BlobUri(string project, string sha256) =>
        new(BaseUrl, $"api/v1/projects/{Uri.EscapeDataString(project)}/blobs/{sha256}");

    private Uri RunUri(string project, string runId, string? suffix) =>
        new(BaseUrl, $"api/v1/projects/{Uri.EscapeDataString(project)}/runs/{Uri.EscapeDataString(runId)}{suffix}");

    private async Task<long> SendAsync(HttpRequestMessage request, string project, CancellationToken cancellationToken)
    {
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return ReadAckedSeq(body) ?? throw new TrackerServerException(
                $"{request.Method} {request.RequestUri} answered {(int)response.StatusCode} without an acked_seq: is {BaseUrl} a Tracker server?",
                statusCode: null, isTransient: false);
        }

        throw Failure(request, response, body, project);
    }

    /// <summary>The exception for an answer that is not a success: auth, sequence, or a plain server error.</summary>
    private Exception Failure(HttpRequestMessage request, HttpResponseMessage response, byte[] body, string project)
    {
        var problem = ReadProblem(body);
        var status = response.StatusCode;
        var what = $"{(int)status} {response.ReasonPhrase}{(problem.Detail ?? problem.Title) switch { null => string.Empty, var d => ": " + d }}";
        return status switch
        {
            HttpStatusCode.Unauthorized => new TrackerAuthException(
                $"The Tracker server at {BaseUrl} refused {(_hasApiKey ? "the API key" : "the request: no API key is set")} ({what}). Set TRACKER_API_KEY or RunOptions.ApiKey to a valid key, or store one with: tracker login {BaseUrl}",
                status),
            HttpStatusCode.Forbidden => new TrackerAuthException(
                $"The Tracker server at {BaseUrl} refused the API key for project '{project}' ({what}). Set TRACKER_API_KEY or RunOptions.ApiKey to a key that may write to this project.",
                status),
            HttpStatusCode.Conflict when problem.ExpectedSeq is { } expected => new TrackerSequenceException(
                $"{request.Method} {request.RequestUri} answered {what}; the server expects seq {expected} next.", expected),
            HttpStatusCode.Conflict when request.Method == HttpMethod.Put => new TrackerRunIdInUseException(
                $"The Tracker server at {BaseUrl} refused the run ({what})."),
            _ => new TrackerServerException(
                $"{request.Method} {request.RequestUri} answered {what}", status, IsTransient(status), RetryAfter(response, _time)),
        };
    }

    private static long? ReadAckedSeq(byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("acked_seq", out var acked) && acked.ValueKind == JsonValueKind.Number && acked.TryGetInt64(out var seq)
                ? seq
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The parts of an RFC 9457 problem body the SDK uses; all null when it is not one.</summary>
    private static (string? Title, string? Detail, long? ExpectedSeq) ReadProblem(byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return default;
            }

            return (
                root.TryGetProperty("title", out var title) && title.ValueKind == JsonValueKind.String ? title.GetString() : null,
                root.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.String ? detail.GetString() : null,
                root.TryGetProperty("expected_seq", out var expected) && expected.ValueKind == JsonValueKind.Number && expected.TryGetInt64(out var seq) ? seq : null);
        }
        catch (JsonException)
        {
            return default;
        }
    }
}
