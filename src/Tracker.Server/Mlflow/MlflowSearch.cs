namespace Tracker.Server.Mlflow;

/// <summary>
/// MLflow's <c>search_runs</c> filter and order_by in the terms of the runs listing's own filter
/// (<see cref="RunFilter"/>, which took its syntax from MLflow): <c>metrics.K</c> and
/// <c>params.K</c> as they are, <c>attributes.status</c> with MLflow's state names,
/// <c>attributes.run_name</c>, <c>attributes.run_id</c>, and <c>tags.K = 'V'</c> as the Tracker tag
/// <c>K:V</c>. What the listing cannot express is refused with a message that says so.
/// </summary>
internal static class MlflowSearch
{
    public static List<RunCondition> Filter(string? filter)
    {
        if (string.IsNullOrWhiteSpace(filter))
        {
            return [];
        }

        var (conditions, problem) = RunFilter.Parse(filter);
        if (problem is not null)
        {
            throw MlflowException.Invalid($"Invalid filter '{filter}': {problem} (LIKE, ILIKE, IN and OR are not supported here.)");
        }

        return [.. conditions.Select(c => c switch
        {
            { Field: RunField.State } => c with { Value = new RunLiteral(null, State(c.Value.Text)) },
            { Field: RunField.SummaryOrConfig, Key: { } key } when key.StartsWith("tags.", StringComparison.Ordinal) => Tag(c, key["tags.".Length..].Trim('`', '"')),
            { Field: RunField.SummaryOrConfig, Key: { } key } => throw MlflowException.Invalid(
                $"Invalid filter '{filter}': '{key}' is not an MLflow search key. Name metrics.KEY, params.KEY, tags.KEY or attributes.status, attributes.run_name, attributes.run_id."),
            { Field: RunField.StartTime } => throw MlflowException.Invalid($"Invalid filter '{filter}': attributes.start_time is not supported in filters; order by it instead."),
            _ => c,
        })];
    }

    public static RunSort? OrderBy(IReadOnlyList<string> orderBy)
    {
        if (orderBy.Count == 0)
        {
            return null; // newest start first, as MLflow's default
        }

        if (orderBy.Count > 1)
        {
            throw MlflowException.Invalid($"order_by takes one clause here; got {orderBy.Count}: {string.Join(", ", orderBy)}.");
        }

        var words = orderBy[0].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var descending = words.Length == 2 && words[1].Equals("DESC", StringComparison.OrdinalIgnoreCase);
        if (words.Length is 0 or > 2 || (words.Length == 2 && !descending && !words[1].Equals("ASC", StringComparison.OrdinalIgnoreCase)))
        {
            throw MlflowException.Invalid($"Invalid order_by clause '{orderBy[0]}': write KEY, KEY ASC or KEY DESC, for example 'metrics.loss ASC'.");
        }

        var key = words[0].StartsWith("attributes.", StringComparison.Ordinal) ? words[0]["attributes.".Length..] : words[0];
        if (key.StartsWith("tags.", StringComparison.Ordinal) || key is "end_time" or "created")
        {
            throw MlflowException.Invalid($"Invalid order_by clause '{orderBy[0]}': order by metrics.KEY, params.KEY, attributes.start_time, attributes.run_name, attributes.run_id or attributes.status.");
        }

        var (sort, problem) = RunFilter.ParseSort((descending ? "-" : string.Empty) + key);
        return problem is null ? sort : throw MlflowException.Invalid($"Invalid order_by clause '{orderBy[0]}': {problem}");
    }

    private static RunCondition Tag(RunCondition condition, string key) => condition.Op is "=" or "<>"
        ? new RunCondition(RunField.Tag, null, condition.Op, new RunLiteral(null, MlflowRunJson.TrackerTag(key, condition.Value.Text)))
        : throw MlflowException.Invalid($"tags.{key} takes = or != only.");

    private static string State(string status) => status.ToUpperInvariant() switch
    {
        "RUNNING" => "running",
        "FINISHED" => "finished",
        "FAILED" => "failed",
        "KILLED" => "killed",
        _ => throw MlflowException.Invalid($"Invalid run status '{status}': use RUNNING, FINISHED, FAILED or KILLED."),
    };
}
