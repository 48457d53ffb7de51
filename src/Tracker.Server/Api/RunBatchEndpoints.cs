using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Tracker.Server.Storage;

namespace Tracker.Server.Api;

/// <summary>
/// Many runs read at once, each with its metric list when asked (<c>POST .../runs/batch</c>): the
/// compare view and the project workspace chart hundreds of runs, and a request per run and per
/// metric list was hundreds of requests before the first chart.
/// </summary>
internal static class RunBatchEndpoints
{
    /// <summary>Runs one batch request may ask for; the web UI asks for 100 at a time.</summary>
    public const int MaxBatchRuns = 100;

    private const string Example = """{"runs": ["k3v9x0qa", "p2m7d1rz"], "metrics": true}""";

    public static void MapReads(RouteGroupBuilder api) => api.MapPost("/projects/{project}/runs/batch", BatchAsync);

    /// <summary>
    /// <c>{"runs": [ids], "metrics": false}</c> answers <c>{"runs": [{"run": …, "metrics": […]}]}</c>
    /// in the order asked (an id asked twice answers twice): <c>run</c> as <c>GET .../runs/{id}</c>
    /// answers it, <c>metrics</c> (only with <c>"metrics": true</c>) as <c>GET .../runs/{id}/metrics</c>.
    /// A run the project does not have is a 404 naming it, and nothing is answered, as the series batch does.
    /// </summary>
    private static async Task<IResult> BatchAsync(string project, HttpContext context, SqlRunStore store, TimeProvider time, IOptions<ServerOptions> options, CancellationToken cancellationToken)
    {
        var (body, invalid) = await Problems.ReadObjectAsync(context, "Invalid runs batch", Example, cancellationToken);
        if (body is null)
        {
            return invalid!;
        }

        if (body["runs"] is not JsonArray array || array.Any(r => r is not JsonValue v || !v.TryGetValue<string>(out var id) || id.Length == 0))
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Invalid runs", $"runs must be a list of run ids (non-empty strings), as in {Example}.", "runs");
        }

        if (array.Count > MaxBatchRuns)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Too many runs",
                $"{array.Count} runs asked; one request reads at most {MaxBatchRuns}. Split the runs over several requests.", "runs");
        }

        bool withMetrics;
        switch (body["metrics"])
        {
            case null: withMetrics = false; break;
            case JsonValue value when value.GetValueKind() is JsonValueKind.True or JsonValueKind.False: withMetrics = value.GetValue<bool>(); break;
            default: return Problems.Create(HttpStatusCode.BadRequest, "Invalid metrics", "metrics must be true (each run's metric list too) or false.", "metrics");
        }

        var ids = array.Select(r => r!.GetValue<string>()).ToList();
        var runs = (await store.Runs.GetRunsAsync(project, ids.Distinct().ToList(), cancellationToken)).ToDictionary(r => r.RunId, StringComparer.Ordinal);
        var unknown = ids.Where(id => !runs.ContainsKey(id)).Distinct().ToList();
        if (unknown.Count > 0)
        {
            return Problems.Create(HttpStatusCode.NotFound, "Unknown run",
                $"Project '{project}' has no run {string.Join(", ", unknown.Take(10).Select(id => $"'{id}'"))}{(unknown.Count > 10 ? $" and {unknown.Count - 10} more" : string.Empty)} on this server.", "runs");
        }

        var metrics = withMetrics ? await store.Metrics.ListMetricsAsync(runs.Values.Select(r => r.Pk).ToList(), cancellationToken) : null;
        var now = time.GetUtcNow();
        return Results.Ok(new
        {
            runs = ids.Select(id => runs[id]).Select(run => metrics is null
                ? (object)new { run = ReadEndpoints.RunJson(ReadEndpoints.AsHeard(run, now, options.Value.CrashedAfter)) }
                : new { run = ReadEndpoints.RunJson(ReadEndpoints.AsHeard(run, now, options.Value.CrashedAfter)), metrics = metrics[run.Pk].Select(ReadEndpoints.MetricJson) }),
        });
    }
}
