using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
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

    /// <summary>Series answers: NaN and ±Infinity as the strings "NaN", "Infinity" and "-Infinity", as every read answers them.</summary>
    private static readonly JsonSerializerOptions SeriesJson = new(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The fields of a bucket, in the order a row answers them; <c>x_value</c> only with <c>x=metric:KEY</c>.</summary>
    private static readonly string[] BucketFields = ["x0", "x1", "count", "min", "max", "last", "last_x", "first_x", "x_value"];

    /// <summary>
    /// How a series is asked for: its x-axis (<c>step</c>, <c>time</c> or <c>metric:KEY</c>), the other
    /// metric's key for the last, the number of buckets, and the bucket fields to answer as columns
    /// (null: every field, a row per bucket).
    /// </summary>
    private sealed record Axis(string X, string? XKey, int Buckets, IReadOnlyList<string>? Columns)
    {
        /// <summary>The fields of this axis's buckets.</summary>
        public IReadOnlyList<string> Fields => XKey is null ? BucketFields[..^1] : BucketFields;
    }

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

        var columns = query["columns"].Count > 0 ? query["columns"].ToString().Split(',', StringSplitOptions.TrimEntries) : null;
        var (axis, problem) = ReadAxis(query["x"].ToString(), buckets, columns);
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

        var answer = await BucketsAsync(store, run.Pk, key, axis!, from, to, cancellationToken);
        return axis!.Columns is null
            ? Results.Json(new { key, x = axis.X, buckets = answer }, SeriesJson)
            : Results.Json(new { key, x = axis.X, columns = answer }, SeriesJson);
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

        string[]? columns = null;
        if (body["columns"] is not null)
        {
            columns = body["columns"] is JsonArray list && list.All(c => Text(c) is not null) ? list.Select(c => Text(c)!).ToArray() : [];
        }

        (var axis, problem) = ReadAxis(x, buckets, columns);
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
            var answer = await BucketsAsync(store, pks[run.Id], key, axis!, run.From ?? from, run.To ?? to, token);
            series[i] = axis!.Columns is null ? new { run = run.Id, key, x = axis.X, buckets = answer } : new { run = run.Id, key, x = axis.X, columns = answer };
        });
        return Results.Json(new { series }, SeriesJson);
    }

    private const string BatchExample = """{"runs": ["k3v9x0qa", "p2m7d1rz"], "keys": ["train/loss", "val/acc"], "x": "step", "buckets": 500}""";

    /// <summary>
    /// The axis, bucket count and columns, or the problem with them; <paramref name="buckets"/> out of
    /// range (or -1 when not an integer) is a problem, and so are columns that name no field (an empty list included).
    /// </summary>
    private static (Axis? Axis, IResult? Problem) ReadAxis(string? x, int? buckets, IReadOnlyList<string>? columns)
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

        var axis = new Axis(x, xKey, buckets ?? SeriesQuery.DefaultBuckets, columns);
        if (columns is not null && (columns.Count == 0 || columns.Any(c => !axis.Fields.Contains(c))))
        {
            return (null, Problems.Create(HttpStatusCode.BadRequest, "Invalid columns",
                $"columns must list bucket fields to answer, from {string.Join(", ", axis.Fields)}{(xKey is null ? " (x_value only with x=metric:KEY)" : string.Empty)}.", "columns"));
        }

        return (axis, null);
    }

    /// <summary>
    /// One series' buckets, as both endpoints answer them: a row per bucket with every field, or with
    /// <see cref="Axis.Columns"/> an array per field asked for, bucket i at index i of each.
    /// </summary>
    private static async Task<object> BucketsAsync(SqlRunStore store, long runPk, string key, Axis axis, long? from, long? to, CancellationToken cancellationToken)
    {
        IReadOnlyList<PairedBucket> buckets = axis.XKey is { } xKey
            // Bucketed by step; each bucket's x is the other metric's value at the bucket's last step.
            ? await SeriesQuery.AgainstMetricAsync(store, runPk, key, xKey, axis.Buckets, from, to, cancellationToken)
            : (await SeriesQuery.RunAsync(store, runPk, key, axis.X == "time", axis.Buckets, from, to, cancellationToken)).Select(b => new PairedBucket(b, double.NaN)).ToList();
        var columns = (axis.Columns ?? axis.Fields).ToDictionary(f => f, f => Column(buckets, f));
        return axis.Columns is not null
            ? columns
            : Enumerable.Range(0, buckets.Count).Select(i => columns.ToDictionary(c => c.Key, c => c.Value.GetValue(i))).ToList();
    }

    /// <summary>One field of every bucket, by its name in <see cref="BucketFields"/>: x fields as integers, values as doubles.</summary>
    private static Array Column(IReadOnlyList<PairedBucket> buckets, string field) => field switch
    {
        "x0" => buckets.Select(p => p.Bucket.X0).ToArray(),
        "x1" => buckets.Select(p => p.Bucket.X1).ToArray(),
        "count" => buckets.Select(p => p.Bucket.Count).ToArray(),
        "min" => buckets.Select(p => p.Bucket.Min).ToArray(),
        "max" => buckets.Select(p => p.Bucket.Max).ToArray(),
        "last" => buckets.Select(p => p.Bucket.Last).ToArray(),
        "last_x" => buckets.Select(p => p.Bucket.LastX).ToArray(),
        "first_x" => buckets.Select(p => p.Bucket.Points.FirstX).ToArray(),
        "x_value" => buckets.Select(p => p.X).ToArray(),
        _ => throw new ArgumentOutOfRangeException(nameof(field), field, "not a bucket field"),
    };

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
