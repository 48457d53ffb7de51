using System.Globalization;
using System.Net;
using System.Text;
using Tracker.Server.Storage;

namespace Tracker.Server.Api;

/// <summary>
/// Saved views of a project: <c>PUT</c> and <c>DELETE</c> need a key with rights to the project,
/// as every write does; reads are mapped with the other reads (<see cref="ReadEndpoints"/>).
/// </summary>
internal static class ViewEndpoints
{
    public static void MapReads(RouteGroupBuilder api)
    {
        api.MapGet("/projects/{project}/views", ListAsync);
        api.MapGet("/projects/{project}/views/{name}", GetAsync);
    }

    public static void MapWrites(WebApplication app)
    {
        var views = app.MapGroup("/api/v1/projects/{project}/views/{name}").AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var project = http.Request.RouteValues["project"] as string ?? string.Empty;
            return await ApiKeys.CheckAsync(http, http.RequestServices.GetRequiredService<ApiKeyCache>(), project, http.RequestAborted) ?? await next(context);
        });
        views.MapPut("", PutAsync);
        views.MapDelete("", DeleteAsync);
    }

    private static async Task<IResult> ListAsync(string project, SqlRunStore store, CancellationToken cancellationToken) =>
        Results.Ok((await store.Views.ListAsync(project, cancellationToken)).Select(v => new { name = v.Name, updated_at = v.UpdatedAt.ToString("O", CultureInfo.InvariantCulture) }));

    private static async Task<IResult> GetAsync(string project, string name, HttpContext context, SqlRunStore store, CancellationToken cancellationToken)
    {
        if (await store.Views.GetAsync(project, name, cancellationToken) is not { } view)
        {
            return NotFound(project, name);
        }

        context.Response.Headers.LastModified = view.UpdatedAt.ToString("R", CultureInfo.InvariantCulture);
        return Results.Text(view.Body, "application/json", Encoding.UTF8);
    }

    private static async Task<IResult> PutAsync(string project, string name, HttpContext context, SqlRunStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        if (RecordRules.IdProblem(project, "project") is { } badProject)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Invalid name", badProject, "project");
        }

        if (ViewTable.NameProblem(name) is { } badName)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Invalid view name", badName, "name");
        }

        // Read one byte past the limit to tell a body at the limit from one over it.
        var buffer = new byte[ViewTable.MaxBodyBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await context.Request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
        }

        if (length > ViewTable.MaxBodyBytes)
        {
            return Problems.Create(HttpStatusCode.RequestEntityTooLarge, "View too large",
                $"A view is at most {ViewTable.MaxBodyBytes / 1024} KiB of JSON. Keep settings in it, not data (runs, points).", "body");
        }

        var (body, malformed) = Problems.ParseObject(buffer.AsSpan(0, length), "Malformed view", """{"columns":["summary.loss"],"sort":"-summary.loss"}""");
        if (body is null)
        {
            return malformed!;
        }

        var created = await store.Views.PutAsync(project, name, body.ToJsonString(), time.GetUtcNow(), cancellationToken);
        return created ? Results.Created($"/api/v1/projects/{project}/views/{Uri.EscapeDataString(name)}", body) : Results.Ok(body);
    }

    private static async Task<IResult> DeleteAsync(string project, string name, SqlRunStore store, CancellationToken cancellationToken) =>
        await store.Views.DeleteAsync(project, name, cancellationToken) ? Results.NoContent() : NotFound(project, name);

    private static IResult NotFound(string project, string name) =>
        Problems.Create(HttpStatusCode.NotFound, "Unknown view", $"Project '{project}' has no view named '{name}'. Save one with PUT /api/v1/projects/{project}/views/NAME.");
}
