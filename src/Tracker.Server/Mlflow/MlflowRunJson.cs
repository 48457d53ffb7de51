using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tracker.Server.Storage;

namespace Tracker.Server.Mlflow;

/// <summary>
/// A Tracker run in MLflow's shape (<c>{"info", "data": {"metrics", "params", "tags"}}</c>) and the
/// mapping between the two: params are the config (strings kept as strings, other values as their
/// JSON text), metrics the latest point of each history key, tags the run's tags (an MLflow tag
/// <c>KEY</c> = <c>VALUE</c> is the Tracker tag <c>KEY:VALUE</c>; MLflow keys cannot hold a colon),
/// <c>mlflow.runName</c> the name and <c>mlflow.note.content</c> the notes.
/// </summary>
internal static class MlflowRunJson
{
    public const string RunNameTag = "mlflow.runName";
    public const string NoteTag = "mlflow.note.content";
    public const string UserTag = "mlflow.user";

    /// <summary>run.json member marking a run made through the MLflow API, which the API may write to.</summary>
    public const string ClientMember = "client";
    public const string ClientValue = "mlflow";

    /// <summary>run.json member keeping MLflow's system tags (<c>mlflow.source.name</c>, <c>mlflow.user</c>, …) as they came.</summary>
    public const string SystemTagsMember = "mlflow_tags";

    public static bool IsMlflowRun(StoredRun run) => (string?)run.Metadata[ClientMember] == ClientValue;

    /// <summary>The Tracker tag an MLflow tag becomes.</summary>
    public static string TrackerTag(string key, string value) => value.Length == 0 ? key : $"{key}:{value}";

    /// <summary>The MLflow tag a Tracker tag reads as: split at its first colon.</summary>
    public static (string Key, string Value) MlflowTag(string tag) =>
        tag.IndexOf(':', StringComparison.Ordinal) is > 0 and var at ? (tag[..at], tag[(at + 1)..]) : (tag, string.Empty);

    public static string Status(string state) => state switch
    {
        "running" => "RUNNING",
        "finished" => "FINISHED",
        "killed" => "KILLED",
        _ => "FAILED", // failed, and crashed: MLflow has no state for a run that went silent
    };

    public static JsonObject Info(StoredRun run)
    {
        var info = new JsonObject
        {
            ["run_id"] = run.RunId,
            ["run_uuid"] = run.RunId,
            ["run_name"] = run.Name,
            ["experiment_id"] = run.Project,
            ["user_id"] = (string?)SystemTags(run)[UserTag] ?? string.Empty,
            ["status"] = Status(run.State),
            ["artifact_uri"] = string.Empty,
            ["lifecycle_stage"] = "active",
        };
        if (run.StartTime is { } start)
        {
            info["start_time"] = start.ToUnixTimeMilliseconds();
        }

        if (Time(run.Metadata["end_time"]) is { } end && run.State != "running")
        {
            info["end_time"] = end.ToUnixTimeMilliseconds();
        }

        return info;
    }

    public static async Task<JsonObject> RunAsync(StoredRun run, MetricTable metrics, CancellationToken cancellationToken) =>
        Run(run, await metrics.ListMetricsAsync(run.Pk, cancellationToken));

    /// <summary>The run with its metric lists read already (a search reads its page's in one query).</summary>
    public static JsonObject Run(StoredRun run, IReadOnlyList<MetricInfo> metrics)
    {
        var latest = new JsonArray();
        foreach (var metric in metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            latest.Add(Metric(metric.Key, metric.Last, metric.LastTime, metric.LastStep));
        }

        var parameters = new JsonArray();
        foreach (var (key, value) in Params(run.Config))
        {
            parameters.Add(new JsonObject { ["key"] = key, ["value"] = value });
        }

        var tags = new JsonArray();
        foreach (var (key, value) in Tags(run))
        {
            tags.Add(new JsonObject { ["key"] = key, ["value"] = value });
        }

        return new JsonObject { ["info"] = Info(run), ["data"] = new JsonObject { ["metrics"] = latest, ["params"] = parameters, ["tags"] = tags } };
    }

    public static JsonObject Metric(string key, double value, long timestamp, long step) => new()
    {
        ["key"] = key,
        ["value"] = double.IsFinite(value) ? JsonValue.Create(value) : JsonValue.Create(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity"),
        ["timestamp"] = timestamp,
        ["step"] = step,
    };

    /// <summary>The config as MLflow params: nested objects flattened with '.', as the runs filter names them.</summary>
    public static IEnumerable<(string Key, string Value)> Params(JsonObject config, string prefix = "")
    {
        foreach (var (key, node) in config.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (node is JsonObject nested && !IsWrappedText(nested))
            {
                foreach (var pair in Params(nested, prefix + key + "."))
                {
                    yield return pair;
                }
            }
            else
            {
                yield return (prefix + key, ParamText(node));
            }
        }
    }

    public static string ParamText(JsonNode? node) => node switch
    {
        null => "null",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonObject wrapped when IsWrappedText(wrapped) => wrapped[RecordValue.TextMember]!.GetValue<string>(),
        _ => node.ToJsonString(),
    };

    /// <summary>The text NaN, Infinity or -Infinity as the record format keeps it apart from the number: <c>{"_str":"NaN"}</c>.</summary>
    private static bool IsWrappedText(JsonObject value) =>
        value.Count == 1 && value[RecordValue.TextMember] is JsonValue text && text.GetValueKind() == JsonValueKind.String;

    /// <summary>The run's MLflow tags: its Tracker tags, system tags, name and notes.</summary>
    public static IEnumerable<(string Key, string Value)> Tags(StoredRun run)
    {
        var tags = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var tag in TrackerTags(run))
        {
            var (key, value) = MlflowTag(tag);
            tags[key] = value;
        }

        foreach (var (key, value) in SystemTags(run))
        {
            tags[key] = (string?)value ?? string.Empty;
        }

        tags[RunNameTag] = run.Name;
        if ((string?)run.Metadata["notes"] is { } notes)
        {
            tags[NoteTag] = notes;
        }

        return tags.Select(p => (p.Key, p.Value));
    }

    public static List<string> TrackerTags(StoredRun run) =>
        run.Metadata["tags"] is JsonArray tags ? [.. tags.Select(t => t?.GetValueKind() == JsonValueKind.String ? t.GetValue<string>() : null).OfType<string>()] : [];

    private static JsonObject SystemTags(StoredRun run) => run.Metadata[SystemTagsMember] as JsonObject ?? [];

    private static DateTimeOffset? Time(JsonNode? node) =>
        node?.GetValueKind() == JsonValueKind.String && DateTimeOffset.TryParse(node.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time : null;
}
