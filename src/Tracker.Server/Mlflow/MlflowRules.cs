using System.Text.RegularExpressions;

namespace Tracker.Server.Mlflow;

/// <summary>
/// MLflow's limits and name rules for what its API logs, as MLflow's server applies them
/// (mlflow/utils/validation.py). Tracker's own record rules (<c>RecordRules</c>) apply on top, in
/// the ingest path every record takes.
/// </summary>
internal static partial class MlflowRules
{
    public const int MaxMetricsPerBatch = MlflowLimits.MaxMetricsPerBatch;
    public const int MaxParamsTagsPerBatch = MlflowLimits.MaxParamsPerBatch;
    public const int MaxEntitiesPerBatch = MlflowLimits.MaxEntitiesPerBatch;
    public const int MaxParamValueLength = 6000;
    public const int MaxTagValueLength = 5000;
    public const int MaxEntityKeyLength = 250;
    public const int MaxExperimentNameLength = 500;

    /// <summary>Most runs or experiments one search may ask for (MLflow's SEARCH_MAX_RESULTS_THRESHOLD).</summary>
    public const int MaxSearchResults = 50_000;

    /// <summary>Runs or experiments a search answers when <c>max_results</c> is not given.</summary>
    public const int DefaultSearchResults = 1000;

    /// <summary>Most points one <c>metrics/get-history</c> page holds, and its default.</summary>
    public const int MaxHistoryResults = 25_000;

    /// <summary>Most bytes of a log-batch request (MAX_BATCH_LOG_REQUEST_SIZE).</summary>
    public const int MaxBatchRequestBytes = MlflowLimits.MaxBatchRequestBytes;

    [GeneratedRegex(@"^[/\w.\- ]*$")]
    private static partial Regex ValidName();

    /// <summary>Throws INVALID_PARAMETER_VALUE unless <paramref name="key"/> is a valid metric, param or tag name.</summary>
    public static void CheckKey(string? key, string what)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw MlflowException.Invalid($"{char.ToUpperInvariant(what[0])}{what[1..]} name cannot be empty. A key name must be provided.");
        }

        if (!ValidName().IsMatch(key))
        {
            throw MlflowException.Invalid($"Invalid {what} name: '{key}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).");
        }

        // Names may be treated as files: no leading or trailing slash, no empty, '.' or '..' segment (MLflow's path_not_unique).
        if (key.Split('/').Any(segment => segment is "" or "." or ".."))
        {
            throw MlflowException.Invalid($"Invalid {what} name: '{key}'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such.");
        }

        CheckLength($"{char.ToUpperInvariant(what[0])}{what[1..]} name", MaxEntityKeyLength, key);
    }

    /// <summary>Throws INVALID_PARAMETER_VALUE when <paramref name="value"/> is longer than <paramref name="limit"/> characters.</summary>
    public static void CheckLength(string what, int limit, string value)
    {
        if (value.Length > limit)
        {
            throw MlflowException.Invalid($"{what} '{value[..Math.Min(250, value.Length)]}' had length {value.Length}, which exceeded length limit of {limit}");
        }
    }

    /// <summary>Throws INVALID_PARAMETER_VALUE when a log-batch holds more than MLflow allows.</summary>
    public static void CheckBatch(int metrics, int parameters, int tags)
    {
        CheckCount("metrics", MaxMetricsPerBatch, metrics);
        CheckCount("params", MaxParamsTagsPerBatch, parameters);
        CheckCount("tags", MaxParamsTagsPerBatch, tags);
        CheckCount("metrics, params, and tags", MaxEntitiesPerBatch, metrics + parameters + tags);
    }

    private static void CheckCount(string what, int limit, int count)
    {
        if (count > limit)
        {
            throw MlflowException.Invalid($"A batch logging request can contain at most {limit} {what}. Got {count} {what}. Please split up {what} across multiple requests and try again.");
        }
    }
}
