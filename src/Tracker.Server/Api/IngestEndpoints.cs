using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Tracker.Server.Ingest;

namespace Tracker.Server.Api;

/// <summary>
/// The write half of the protocol (docs/protocol.md) over HTTP: names, key and body are checked
/// here; upsert, append, finish and media files are <see cref="IngestService"/>'s.
/// </summary>
internal static class IngestEndpoints
{
    public static void Map(WebApplication app)
    {
        var runs = app.MapGroup("/api/v1/projects/{project}/runs/{runId}");
        runs.MapPut("", UpsertAsync);
        runs.MapPost("/records", AppendAsync);
        runs.MapPost("/finish", FinishAsync);
        runs.MapPost("/heartbeat", HeartbeatAsync);
        app.MapPut("/api/v1/projects/{project}/blobs/{sha256}", PutBlobAsync);
    }

    private static async Task<IResult> UpsertAsync(string project, string runId, HttpContext context, IngestService ingest, ApiKeyCache keys, IOptions<ServerOptions> options, CancellationToken cancellationToken)
    {
        var (body, problem) = await AcceptAsync(project, runId, context, keys, options.Value, cancellationToken);
        using var _ = body;
        return problem ?? await CallAsync(async () =>
        {
            var acked = await ingest.UpsertRunAsync(project, runId, body.Bytes, cancellationToken);
            return Results.Ok(new { project, id = runId, acked_seq = acked });
        });
    }

    private static async Task<IResult> AppendAsync(string project, string runId, HttpContext context, IngestService ingest, ApiKeyCache keys, IOptions<ServerOptions> options, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var (body, problem) = await AcceptAsync(project, runId, context, keys, options.Value, cancellationToken, rechecked: true);
        using var _ = body;
        return problem ?? await CallAsync(async () =>
        {
            var result = await ingest.AppendAsync(project, runId, body.Bytes, context.Items[ApiKeys.HashItem] as string, cancellationToken);

            // The server's share of the request's time (key, body, parse, store), as clients and benchmarks see it (W3C Server-Timing).
            context.Response.Headers["Server-Timing"] = string.Create(CultureInfo.InvariantCulture, $"app;dur={Stopwatch.GetElapsedTime(start).TotalMilliseconds:F2}");
            return Results.Ok(new { acked_seq = result.AckedSeq, stored = result.Stored, skipped = result.Skipped });
        });
    }

    /// <summary>A run's client is alive with nothing to send: the run stays <c>running</c> rather than reading as <c>crashed</c>.</summary>
    private static async Task<IResult> HeartbeatAsync(string project, string runId, HttpContext context, IngestService ingest, ApiKeyCache keys, IOptions<ServerOptions> options, CancellationToken cancellationToken)
    {
        var (body, problem) = await AcceptAsync(project, runId, context, keys, options.Value, cancellationToken);
        using var _ = body;
        return problem ?? await CallAsync(async () =>
        {
            var acked = await ingest.HeartbeatAsync(project, runId, cancellationToken);
            return Results.Ok(new { project, id = runId, acked_seq = acked });
        });
    }

    private static async Task<IResult> FinishAsync(string project, string runId, HttpContext context, IngestService ingest, ApiKeyCache keys, IOptions<ServerOptions> options, CancellationToken cancellationToken)
    {
        var (body, problem) = await AcceptAsync(project, runId, context, keys, options.Value, cancellationToken);
        using var _ = body;
        if (problem is not null)
        {
            return problem;
        }

        FinishRequest? request;
        try
        {
            request = JsonSerializer.Deserialize<FinishRequest>(body.Bytes.Span, JsonOptions);
        }
        catch (JsonException ex)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Malformed finish", $"The body is not a valid finish request: {ex.Message}", "body");
        }

        return await CallAsync(async () =>
        {
            await ingest.FinishRunAsync(project, runId, request?.State, request?.ExitCode, request?.EndTime, cancellationToken);
            return Results.Ok(new { project, id = runId, state = request!.State });
        });
    }

    /// <summary>
    /// Stores a media file under the SHA-256 of its bytes, once per project: a file sent again
    /// (by another run, or after a lost response) is answered <c>stored: false</c>.
    /// </summary>
    private static async Task<IResult> PutBlobAsync(string project, string sha256, HttpContext context, IngestService ingest, ApiKeyCache keys, IOptions<ServerOptions> options, CancellationToken cancellationToken)
    {
        if (ValidName(project, "project") is { } invalid)
        {
            return invalid;
        }

        if (!RecordReader.IsSha256(sha256))
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Invalid sha256", $"'{sha256}' is not a SHA-256: name the file by the 64 lower-case hex digits of its bytes' hash.", "sha256");
        }

        if (await ApiKeys.CheckAsync(context, keys, project, cancellationToken) is { } denied)
        {
            return denied;
        }

        var contentType = context.Request.ContentType ?? string.Empty;
        var (body, problem) = await ReadBodyAsync(context, options.Value.MaxBodyBytes, cancellationToken);
        using var _ = body;
        return problem ?? await CallAsync(async () =>
        {
            var stored = await ingest.PutBlobAsync(project, sha256, contentType, body.Bytes, cancellationToken);
            return Results.Ok(new { sha256, bytes = body.Length, stored });
        });
    }

    /// <summary>Answers what the service refuses as a problem: 400, 401, 404, 409, 410 or 413.</summary>
    private static async Task<IResult> CallAsync(Func<Task<IResult>> call)
    {
        try
        {
            return await call();
        }
        catch (IngestException ex)
        {
            var status = ex.Error switch
            {
                IngestError.RunNotFound => HttpStatusCode.NotFound,
                IngestError.RunDeleted => HttpStatusCode.Gone,
                IngestError.SequenceGap or IngestError.RunIdInUse => HttpStatusCode.Conflict,
                IngestError.KeyRevoked => HttpStatusCode.Unauthorized,
                IngestError.TooLarge => HttpStatusCode.RequestEntityTooLarge,
                _ => HttpStatusCode.BadRequest,
            };
            return Problems.Create(status, ex.Title, ex.Message, ex.Field, ex.ExpectedSeq);
        }
    }

    internal static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private sealed record FinishRequest(string? State, int? ExitCode, DateTimeOffset? EndTime);

    /// <summary>Project and run ids name folders on the client: the same rules apply here.</summary>
    internal static IResult? Validate(string project, string runId) => ValidName(project, "project") ?? ValidName(runId, "runId");

    private static IResult? ValidName(string value, string field) =>
        IngestService.NameProblem(value, field) is { } problem ? Problems.Create(HttpStatusCode.BadRequest, "Invalid name", problem, field) : null;

    /// <summary>What every write does first: check the names and the key, then read the body.</summary>
    internal static async Task<(RequestBody Body, IResult? Problem)> AcceptAsync(string project, string runId, HttpContext context, ApiKeyCache keys, ServerOptions options, CancellationToken cancellationToken, bool rechecked = false)
    {
        if (Validate(project, runId) is { } invalid)
        {
            return (RequestBody.Empty, invalid);
        }

        if (await ApiKeys.CheckAsync(context, keys, project, cancellationToken, rechecked) is { } denied)
        {
            return (RequestBody.Empty, denied);
        }

        return await ReadBodyAsync(context, options.MaxBodyBytes, cancellationToken);
    }

    /// <summary>Reads the body, gunzipping it when sent so, and refuses more than the limit either way.</summary>
    private static async Task<(RequestBody Body, IResult? Problem)> ReadBodyAsync(HttpContext context, long limit, CancellationToken cancellationToken)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = limit;
        }

        var tooLarge = Problems.Create(HttpStatusCode.RequestEntityTooLarge, "Body too large",
            $"The request body is over {limit:N0} bytes (after decompression). Send smaller batches.");
        if (context.Request.ContentLength > limit)
        {
            return (RequestBody.Empty, tooLarge);
        }

        var gzip = context.Request.Headers.ContentEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase);
        var body = new RequestBody((int)Math.Min(limit, (context.Request.ContentLength ?? 0) * (gzip ? 4 : 1) + 4096));
        try
        {
            var source = gzip ? new GZipStream(context.Request.Body, CompressionMode.Decompress) : context.Request.Body;
            await using (source)
            {
                int read;
                while ((read = await source.ReadAsync(body.FreeSpace(), cancellationToken)) > 0)
                {
                    if (body.Length + read > limit)
                    {
                        body.Dispose();
                        return (RequestBody.Empty, tooLarge);
                    }

                    body.Advance(read);
                }
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            body.Dispose();
            return (RequestBody.Empty, tooLarge);
        }
        catch (InvalidDataException ex)
        {
            body.Dispose();
            return (RequestBody.Empty, Problems.Create(HttpStatusCode.BadRequest, "Malformed body", $"The body says Content-Encoding: gzip but is not gzip data: {ex.Message}", "body"));
        }

        return (body, null);
    }

    /// <summary>
    /// A request body in a pooled buffer: bodies run to megabytes, and a fresh array for each would
    /// land on the large-object heap and cost a full collection every few requests.
    /// </summary>
    internal sealed class RequestBody(int capacity) : IDisposable
    {
        public static readonly RequestBody Empty = new(0);

        private byte[] _buffer = capacity == 0 ? [] : ArrayPool<byte>.Shared.Rent(capacity);

        public int Length { get; private set; }

        public ReadOnlyMemory<byte> Bytes => _buffer.AsMemory(0, Length);

        public Memory<byte> FreeSpace()
        {
            if (Length == _buffer.Length)
            {
                var grown = ArrayPool<byte>.Shared.Rent(Math.Max(81920, _buffer.Length * 2));
                _buffer.AsSpan(0, Length).CopyTo(grown);
                Return();
                _buffer = grown;
            }

            return _buffer.AsMemory(Length);
        }

        public void Advance(int count) => Length += count;

        public void Dispose()
        {
            Return();
            _buffer = [];
            Length = 0;
        }

        private void Return()
        {
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
            }
        }
    }
}
