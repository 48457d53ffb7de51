namespace Tracker.Format;

/// <summary>
/// MLflow's limits on one <c>runs/log-batch</c> request, as MLflow's server applies them
/// (<c>mlflow/utils/validation.py</c>): the server's MLflow-compatible API refuses a request past
/// them, and the SDK's MLflow backend splits what it sends to stay within them.
/// </summary>
public static class MlflowLimits
{
    /// <summary>Most metric points in one log-batch (MAX_METRICS_PER_BATCH).</summary>
    public const int MaxMetricsPerBatch = 1000;

    /// <summary>Most params in one log-batch (MAX_PARAMS_TAGS_PER_BATCH); as many tags.</summary>
    public const int MaxParamsPerBatch = 100;

    /// <summary>Most tags in one log-batch (MAX_PARAMS_TAGS_PER_BATCH).</summary>
    public const int MaxTagsPerBatch = 100;

    /// <summary>Most metrics, params and tags together in one log-batch (MAX_ENTITIES_PER_BATCH).</summary>
    public const int MaxEntitiesPerBatch = 1000;

    /// <summary>Most bytes of one log-batch request body (MAX_BATCH_LOG_REQUEST_SIZE).</summary>
    public const int MaxBatchRequestBytes = 1_000_000;
}
