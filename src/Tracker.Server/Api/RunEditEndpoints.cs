using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Tracker.Server.Storage;

namespace Tracker.Server.Api;

/// <summary>
/// Run management (docs/protocol.md): edit a run's name, tags and notes, archive or unarchive it,
/// delete it. Every request needs a key that may write to the project, from loopback too.
/// </summary>
internal static class RunEditEndpoints
{
    public static void Map(WebApplication app)
    {
        var run = app.MapGroup("/api/v1/projects/{project}/runs/{runId}");
        run.MapPatch("", EditAsync);
        run.MapDelete("", DeleteAsync);
    }

    private static async Task<IResult> EditAsync(string project, string runId, HttpContext context, SqlRunStore store, ApiKeyCache keys, TimeProvider time, IOptions<ServerOptions> options, CancellationToken cancellationToken)
    {
        var (body, problem) = await IngestEndpoints.AcceptAsync(project, runId, context, keys, options.Value, cancellationToken);
        using var _ = body;
        if (problem is not null)
        {
            return problem;
        }

        if (Parse(body.Bytes.Span, out var edit) is { } invalid)
        {
            return invalid;
        }

        StoredRun? run;
        using (await store.Dialect.EnterWriteAsync(cancellationToken))
        {
            run = await store.Runs.EditRunAsync(project, runId, edit.Name, edit.Tags, edit.SetNotes, edit.Notes, edit.Archived, cancellationToken);
        }

        return run is null
            ? ReadEndpoints.NotFound(project, runId)
            : Results.Ok(ReadEndpoints.RunJson(ReadEndpoints.AsHeard(run, time.GetUtcNow(), options.Value.CrashedAfter)));
    }

    private static async Task<IResult> DeleteAsync(string project, string runId, HttpContext context, SqlRunStore store, ApiKeyCache keys, TimeProvider time, IOptions<ServerOptions> options, CancellationToken cancellationToken)
    {
        var (body, problem) = await IngestEndpoints.AcceptAsync(project, runId, context, keys, options.Value, cancellationToken);
        using var _ = body;
        if (problem is not null)
        {
            return problem;
        }

        bool deleted;
        using (await store.Dialect.EnterWriteAsync(cancellationToken))
        {
            deleted = await store.Runs.DeleteRunAsync(project, runId, time.GetUtcNow(), cancellationToken);
        }

        return deleted ? Results.NoContent() : ReadEndpoints.NotFound(project, runId);
    }

    /// <summary>What a PATCH asks to change; null members stay as they are.</summary>
    private sealed record RunEdit(string? Name, IReadOnlyList<string>? Tags, bool SetNotes, string? Notes, bool? Archived);

    /// <summary>Reads a PATCH body by the rules the SDK applies to the same fields (<see cref="RecordRules"/>); the problem, or null.</summary>
    private static IResult? Parse(ReadOnlySpan<byte> json, out RunEdit edit)
    {
        edit = new RunEdit(null, null, false, null, null);
        var (body, malformed) = Problems.ParseObject(json, Title, """{"name":"baseline","tags":["v2"],"notes":"lr halved","archived":false}""");
        if (body is null)
        {
            return malformed;
        }

        if (body.Count == 0)
        {
            return Invalid("Send a JSON object with one or more of \"name\" (string), \"tags\" (array of strings), \"notes\" (string or null) and \"archived\" (true or false).", "body");
        }

        foreach (var (field, value) in body)
        {
            switch (field)
            {
                case "name":
                    if (value?.GetValueKind() != JsonValueKind.String || string.IsNullOrWhiteSpace((string?)value))
                    {
                        return Invalid("\"name\" must be a non-empty string.", field);
                    }

                    if (RecordRules.RunTextProblem((string)value!, field) is { } badName)
                    {
                        return Invalid(badName, field);
                    }

                    edit = edit with { Name = ((string)value!).Trim() };
                    break;
                case "tags":
                    // Kept as the SDK's Run.Tags keeps them: trimmed, each once.
                    if (value is not JsonArray array || array.Any(t => t?.GetValueKind() != JsonValueKind.String)
                        || RecordRules.NormalizeTags(array.Select(t => (string?)t)) is not { } tags)
                    {
                        return Invalid("\"tags\" must be an array of non-empty strings, such as [\"baseline\", \"v2\"]; [] removes every tag.", field);
                    }

                    if (RecordRules.TagsProblem(tags) is { } badTags)
                    {
                        return Invalid(badTags, field);
                    }

                    edit = edit with { Tags = tags };
                    break;
                case "notes":
                    if (value is not null && value.GetValueKind() != JsonValueKind.String)
                    {
                        return Invalid("\"notes\" must be a string (Markdown), or null to remove them.", field);
                    }

                    if (RecordRules.RunTextProblem((string?)value, field) is { } badNotes)
                    {
                        return Invalid(badNotes, field);
                    }

                    edit = edit with { SetNotes = true, Notes = (string?)value };
                    break;
                case "archived":
                    if (value?.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                    {
                        return Invalid("\"archived\" must be true or false.", field);
                    }

                    edit = edit with { Archived = (bool)value };
                    break;
                default:
                    return Invalid($"\"{RecordRules.Printable(field)}\" is not a field a run edit may change: send \"name\", \"tags\", \"notes\" or \"archived\".", field);
            }
        }

        return null;
    }

    private const string Title = "Invalid run edit";

    private static IResult Invalid(string detail, string field) => Problems.Create(HttpStatusCode.BadRequest, Title, detail, field);
}
