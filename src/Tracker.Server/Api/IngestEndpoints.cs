using System.IO.Compression;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Tracker.Server.Ingest;
using Tracker.Server.Storage;

namespace Tracker.Server.Api;

/// <summary>The write half of the protocol (docs/protocol.md): upsert a run, append records, finish.</summary>
internal static class IngestEndpoints
{
    public static void Map(WebApplication app)
    {
        var runs = app.MapGroup("/api/v1/projects/{project}/runs/{runId}");
        runs.MapPut("", UpsertAsync);
        runs.MapPost("/records", AppendAsync);
        runs.MapPost("/finish", FinishAsync);
    }

    private static async Task<IResult> UpsertAsync(string project, string runId, HttpContext context, SqlRunStore store, IOptions<ServerOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var body = await AcceptAsync(project, runId, context, store, options.Value, cancellationToken);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        JsonObject? metadata;
        try
        {
            metadata = JsonNode.Parse(body.Bytes) as JsonObject;
        }
        catch (JsonException ex)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Malformed run", $"The body is not valid JSON: {ex.Message}", "body");
        }

        if (metadata is null || (metadata["config"] is { } config && config is not JsonObject) || (metadata["tags"] is { } tags && tags is not JsonArray))
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Malformed run", "The body must be the run's run.json: an object whose config is an object and tags an array.", "body");
        }

        if (metadata["name"] is { } name && name.GetValueKind() != JsonValueKind.String)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Malformed run", "\"name\" must be a string.", "name");
        }

        metadata["project"] = project;
        metadata["id"] = runId;
        var acked = await store.UpsertRunAsync(project, runId, metadata, time.GetUtcNow(), cancellationToken);
        return Results.Ok(new { project, id = runId, acked_seq = acked });
    }

    private static async Task<IResult> AppendAsync(string project, string runId, HttpContext context, SqlRunStore store, IOptions<ServerOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var body = await AcceptAsync(project, runId, context, store, options.Value, cancellationToken);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        try
        {
            var lines = RecordParser.Parse(body.Bytes);
            var result = await store.AppendAsync(project, runId, lines, time.GetUtcNow(), cancellationToken);
            return Results.Ok(new { acked_seq = result.AckedSeq, stored = result.Stored, skipped = result.Skipped });
        }
        catch (IngestValidationException ex)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Malformed records", ex.Message, ex.Field);
        }
        catch (RunNotFoundException ex)
        {
            return Problems.Create(HttpStatusCode.NotFound, "Unknown run", ex.Message);
        }
        catch (SequenceGapException ex)
        {
            return Problems.Create(HttpStatusCode.Conflict, "Sequence gap", ex.Message, "seq", ex.Expected);
        }
    }

    private static async Task<IResult> FinishAsync(string project, string runId, HttpContext context, SqlRunStore store, IOptions<ServerOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var body = await AcceptAsync(project, runId, context, store, options.Value, cancellationToken);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        FinishRequest? request;
        try
        {
            request = JsonSerializer.Deserialize<FinishRequest>(body.Bytes, JsonOptions);
        }
        catch (JsonException ex)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Malformed finish", $"The body is not a valid finish request: {ex.Message}", "body");
        }

        if (request?.State is not ("finished" or "failed" or "crashed"))
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Malformed finish", "\"state\" must be finished, failed or crashed.", "state");
        }

        try
        {
            await store.FinishRunAsync(project, runId, request.State, request.ExitCode, request.EndTime ?? time.GetUtcNow(), cancellationToken);
            return Results.Ok(new { project, id = runId, state = request.State });
        }
        catch (RunNotFoundException ex)
        {
            return Problems.Create(HttpStatusCode.NotFound, "Unknown run", ex.Message);
        }
    }

    internal static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private sealed record FinishRequest(string? State, int? ExitCode, DateTimeOffset? EndTime);

    /// <summary>Project and run ids name folders on the client: the same rules apply here.</summary>
    internal static IResult? Validate(string project, string runId)
    {
        foreach (var (value, field) in new[] { (project, "project"), (runId, "runId") })
        {
            if (value.Length is 0 or > 128 || value is "." or ".." || value.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            {
                return Problems.Create(HttpStatusCode.BadRequest, "Invalid name", $"The {field} '{value}' is not valid: use 1 to 128 letters, digits, '-', '_' or '.'.", field);
            }
        }

        return null;
    }

    /// <summary>What every write does first: check the names and the key, then read the body.</summary>
    private static async Task<(byte[] Bytes, IResult? Problem)> AcceptAsync(string project, string runId, HttpContext context, SqlRunStore store, ServerOptions options, CancellationToken cancellationToken)
    {
        if (Validate(project, runId) is { } invalid)
        {
            return ([], invalid);
        }

        if (await ApiKeys.CheckAsync(context, store, project, cancellationToken) is { } denied)
        {
            return ([], denied);
        }

        return await ReadBodyAsync(context, options.MaxBodyBytes, cancellationToken);
    }

    /// <summary>Reads the body, gunzipping it when sent so, and refuses more than the limit either way.</summary>
    private static async Task<(byte[] Bytes, IResult? Problem)> ReadBodyAsync(HttpContext context, long limit, CancellationToken cancellationToken)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = limit;
        }

        var tooLarge = Problems.Create(HttpStatusCode.RequestEntityTooLarge, "Body too large",
            $"The request body is over {limit:N0} bytes (after decompression). Send smaller batches.");
        if (context.Request.ContentLength > limit)
        {
            return ([], tooLarge);
        }

        var gzip = context.Request.Headers.ContentEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase);
        using var buffer = new MemoryStream();
        try
        {
            var source = gzip ? new GZipStream(context.Request.Body, CompressionMode.Decompress) : context.Request.Body;
            await using (source)
            {
                var chunk = new byte[81920];
                int read;
                while ((read = await source.ReadAsync(chunk, cancellationToken)) > 0)
                {
                    if (buffer.Length + read > limit)
                    {
                        return ([], tooLarge);
                    }

                    buffer.Write(chunk, 0, read);
                }
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return ([], tooLarge);
        }
        catch (InvalidDataException ex)
        {
            return ([], Problems.Create(HttpStatusCode.BadRequest, "Malformed body", $"The body says Content-Encoding: gzip but is not gzip data: {ex.Message}", "body"));
        }

        return (buffer.ToArray(), null);
    }
}
