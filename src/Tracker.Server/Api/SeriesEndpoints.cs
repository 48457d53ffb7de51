using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tracker.Server.Storage;

namespace Tracker.Server.Api;

/// <summary>
/// Series reads: one run's metric bucketed (<c>GET .../runs/{runId}/series</c>), and many runs'
/// and keys' at once (<c>POST .../series</c>), which the compare view uses instead of a request
/// per run and key. Both answer each series from <see cref="SeriesQuery"/>, in the same JSON.
/// </summary>
internal static class SeriesEndpoints
{
    /// <summary>Run × key pairs one batch request may ask for; the web UI asks for 50 at a time.</summary>
    public const int MaxBatchPairs = 200;

    /// <summary>Series of one batch read at once: enough to overlap the database's latency, few enough to leave connections to others.</summary>
    private const int BatchParallelism = 4;

    /// <summary>The prefix of a series' x that names another metric: <c>x=metric:epoch</c>.</summary>
    private const string MetricAxis = "metric:";

    /// <summary>How a series is asked for: its x-axis (<c>step</c>, <c>time</c> or <c>metric:KEY</c>), the other metric's key for the last, and the number of buckets.</summary>
    private sealed record Axis(string X, string? XKey, int Buckets);

    public static void MapReads(RouteGroupBuilder api)
    {
        api.MapGet("/projects/{project}/runs/{runId}/series", SeriesAsync);
        api.MapPost("/projects/{project}/series", BatchAsync);
    }

    private static async Task<IResult> SeriesAsync(string project, string runId, HttpContext context, SqlRunStore store, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        if (query["key"].ToString() is not { Length: > 0 } key)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Missing key", "Name the metric with ?key=, for example ?key=train/loss.", "key");
        }

        int? buckets = null;
        if (query["buckets"].Count > 0)
        {
            buckets = int.TryParse(query["buckets"], CultureInfo.InvariantCulture, out var b) ? b : -1;
        }

        var (axis, problem) = ReadAxis(query["x"].ToString(), buckets);
        if (problem is not null)
        {
            return problem;
        }

        if (!ReadEndpoints.TryLong(query["from"], out var from) || !ReadEndpoints.TryLong(query["to"], out var to))
        {
            var field = ReadEndpoints.TryLong(query["from"], out _) ? "to" : "from";
            return Problems.Create(HttpStatusCode.BadRequest, $"Invalid {field}", "from and to must be integers (steps, or Unix milliseconds with x=time).", field);
        }

        if (await store.Runs.GetRunAsync(project, runId, cancellationToken) is not { } run)
        {
            return Problems.Create(HttpStatusCode.NotFound, "Unknown run", $"Run '{runId}' of project '{project}' does not exist on this server.");
        }

        return Results.Ok(new { key, x = axis!.X, buckets = await BucketsAsync(store, run.Pk, key, axis, from, to, cancellationToken) });
    }

    /// <summary>
    /// Many series in one request: <c>{"runs": [...], "keys": [...], "x", "buckets", "from", "to"}</c>,
    /// each run × key pair bucketed as <c>GET .../runs/{runId}/series</c> would (a run may be
    /// <c>{"id", "from", "to"}</c> to give it its own range). Answers <c>{"series": [{"run", "key", "x", "buckets"}]}</c>,
    /// runs in the order asked, each run's keys in the order asked. It only reads, so it is mapped with the reads.
    /// </summary>
    private static async Task<IResult> BatchAsync(string project, HttpContext context, SqlRunStore store, CancellationToken cancellationToken)
    {
        var (body, invalid) = await Problems.ReadObjectAsync(context, "Invalid series batch", BatchExample, cancellationToken);
        if (body is null)
        {
            return invalid!;
        }

        var (runs, problem) = ReadRuns(body["runs"]);
        if (problem is not null)
        {
            return problem;
        }

        if (body["keys"] is not JsonArray keyArray || keyArray.Any(k => k is not JsonValue v || !v.TryGetValue<string>(out var s) || s.Length == 0))
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Invalid keys", $"keys must be a list of metric keys (non-empty strings), as in {BatchExample}.", "keys");
        }

        var keys = keyArray.Select(k => k!.GetValue<string>()).ToList();
        if ((long)runs!.Count * keys.Count > MaxBatchPairs)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Too many series",
                $"{runs.Count} runs × {keys.Count} keys is {(long)runs.Count * keys.Count} series; one request asks for at most {MaxBatchPairs}. Split the runs over several requests.", "runs");
        }

        var x = body["x"] is null ? null : Text(body["x"]);
        int? buckets = null;
        if (body["buckets"] is not null)
        {
            buckets = Integer(body["buckets"]) is { } b && b is >= 1 and <= SeriesQuery.MaxBuckets ? (int)b : -1;
        }

        if (body["x"] is not null && x is null)
        {
            return Problems.Create(HttpStatusCode.BadRequest, "Invalid x", "x must be step, time, or metric:KEY (another metric of the run, such as metric:epoch).", "x");
        }

        (var axis, problem) = ReadAxis(x, buckets);
        if (problem is not null)
        {
            return problem;
        }

        (var from, problem) = Bound(body, "from");
        (var to, var toProblem) = Bound(body, "to");
        if ((problem ?? toProblem) is { } badRange)
        {
            return badRange;
        }

        var pks = await store.Runs.GetRunPksAsync(project, runs.Select(r => r.Id).Distinct().ToList(), cancellationToken);
        var unknown = runs.Select(r => r.Id).Where(id => !pks.ContainsKey(id)).Distinct().ToList();
        if (unknown.Count > 0)
        {
            return Problems.Create(HttpStatusCode.NotFound, "Unknown run",
                $"Project '{project}' has no run {string.Join(", ", unknown.Take(10).Select(id => $"'{id}'"))}{(unknown.Count > 10 ? $" and {unknown.Count - 10} more" : string.Empty)} on this server.", "runs");
        }

        var pairs = runs.SelectMany(r => keys.Select(k => (Run: r, Key: k))).ToList();
        var series = new object[pairs.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, pairs.Count), new ParallelOptions { MaxDegreeOfParallelism = BatchParallelism, CancellationToken = cancellationToken }, async (i, token) =>
        {
            var (run, key) = pairs[i];
            var buckets = await BucketsAsync(store, pks[run.Id], key, axis!, run.From ?? from, run.To ?? to, token);
            series[i] = new { run = run.Id, key, x = axis!.X, buckets };
        });
        return Results.Ok(new { series });
    }

    private const string BatchExample = """{"runs": ["k3v9x0qa", "p2m7d1rz"], "keys": ["train/loss", "val/acc"], "x": "step", "buckets": 500}""";

    /// <summary>The axis and bucket count, or the problem with them; <paramref name="buckets"/> out of range (or -1 when not an integer) is a problem.</summary>
    private static (Axis? Axis, IResult? Problem) ReadAxis(string? x, int? buckets)
    {
        x = x is { Length: > 0 } ? x : "step";
        var xKey = x.StartsWith(MetricAxis, StringComparison.Ordinal) ? x[MetricAxis.Length..] : null;
        if (x is not ("step" or "time") && xKey is not { Length: > 0 })
        {
            return (null, Problems.Create(HttpStatusCode.BadRequest, "Invalid x", "x must be step, time, or metric:KEY (another metric of the run, such as metric:epoch).", "x"));
        }

        if (buckets is < 1 or > SeriesQuery.MaxBuckets)
        {
            return (null, Problems.Create(HttpStatusCode.BadRequest, "Invalid buckets", $"buckets must be an integer from 1 to {SeriesQuery.MaxBuckets}.", "buckets"));
        }

        return (new Axis(x, xKey, buckets ?? SeriesQuery.DefaultBuckets), null);
    }

    /// <summary>One series' buckets, as both endpoints answer them.</summary>
    private static async Task<IEnumerable<object>> BucketsAsync(SqlRunStore store, long runPk, string key, Axis axis, long? from, long? to, CancellationToken cancellationToken)
    {
        if (axis.XKey is { } xKey)
        {
            // Bucketed by step; each bucket's x is the other metric's value at the bucket's last step.
            var paired = await SeriesQuery.AgainstMetricAsync(store, runPk, key, xKey, axis.Buckets, from, to, cancellationToken);
            return paired.Select(p => (object)new
            {
                x0 = p.Bucket.X0, x1 = p.Bucket.X1, count = p.Bucket.Count, min = ReadEndpoints.Json(p.Bucket.Min), max = ReadEndpoints.Json(p.Bucket.Max),
                last = ReadEndpoints.Json(p.Bucket.Last), last_x = p.Bucket.LastX, first_x = p.Bucket.Points.FirstX, x_value = ReadEndpoints.Json(p.X),
            }).ToList();
        }

        var result = await SeriesQuery.RunAsync(store, runPk, key, axis.X == "time", axis.Buckets, from, to, cancellationToken);
        return result.Select(b => (object)new
        {
            x0 = b.X0, x1 = b.X1, count = b.Count, min = ReadEndpoints.Json(b.Min), max = ReadEndpoints.Json(b.Max), last = ReadEndpoints.Json(b.Last), last_x = b.LastX, first_x = b.Points.FirstX,
        }).ToList();
    }

    /// <summary>The batch's runs: ids, or <c>{"id", "from", "to"}</c> objects with a range of their own.</summary>
    private static (List<(string Id, long? From, long? To)>? Runs, IResult? Problem) ReadRuns(JsonNode? node)
    {
        var problem = Problems.Create(HttpStatusCode.BadRequest, "Invalid runs",
            $"runs must be a list of run ids, or of objects {{\"id\": \"k3v9x0qa\", \"from\": 0, \"to\": 500}} giving a run its own range, as in {BatchExample}.", "runs");
        if (node is not JsonArray array)
        {
            return (null, problem);
        }

        var runs = new List<(string, long?, long?)>(array.Count);
        foreach (var item in array)
        {
            if (Text(item) is { Length: > 0 } id)
            {
                runs.Add((id, null, null));
            }
            else if (item is JsonObject run && Text(run["id"]) is { Length: > 0 } objectId
                && Bound(run, "from") is { Problem: null } from && Bound(run, "to") is { Problem: null } to
                && run.All(member => member.Key is "id" or "from" or "to"))
            {
                runs.Add((objectId, from.Value, to.Value));
            }
            else
            {
                return (null, problem);
            }
        }

        return (runs, null);
    }

    /// <summary>An optional integer member <c>from</c> or <c>to</c>, or the problem with it.</summary>
    private static (long? Value, IResult? Problem) Bound(JsonObject owner, string name) =>
        owner[name] is not { } node ? (null, null)
        : Integer(node) is { } value ? (value, null)
        : (null, Problems.Create(HttpStatusCode.BadRequest, $"Invalid {name}", "from and to must be integers (steps, or Unix milliseconds with x=time).", name));

    private static string? Text(JsonNode? node) => node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private static long? Integer(JsonNode? node) => node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out var number) ? number : null;
}
