using System.Net;
using Tracker.Server.Api;
using Tracker.Server.Ingest;

namespace Tracker.Server.Mlflow;

/// <summary>
/// An MLflow API error: answered as MLflow answers it, <c>{"error_code": "...", "message": "..."}</c>
/// with the HTTP status MLflow gives the code (mlflow/exceptions.py, ERROR_CODE_TO_HTTP_STATUS).
/// </summary>
internal sealed class MlflowException(string errorCode, string message) : Exception(message)
{
    public const string InvalidParameterValue = "INVALID_PARAMETER_VALUE";
    public const string ResourceDoesNotExist = "RESOURCE_DOES_NOT_EXIST";
    public const string ResourceAlreadyExists = "RESOURCE_ALREADY_EXISTS";
    public const string Unauthenticated = "UNAUTHENTICATED";
    public const string PermissionDenied = "PERMISSION_DENIED";
    public const string TemporarilyUnavailable = "TEMPORARILY_UNAVAILABLE";

    public string ErrorCode { get; } = errorCode;

    public HttpStatusCode Status => ErrorCode switch
    {
        ResourceDoesNotExist => HttpStatusCode.NotFound,
        Unauthenticated => HttpStatusCode.Unauthorized,
        PermissionDenied => HttpStatusCode.Forbidden,
        TemporarilyUnavailable => HttpStatusCode.ServiceUnavailable,
        _ => HttpStatusCode.BadRequest, // INVALID_PARAMETER_VALUE and RESOURCE_ALREADY_EXISTS are 400 in MLflow
    };

    public static MlflowException Invalid(string message) => new(InvalidParameterValue, message);

    public static MlflowException NoRun(string runId) => new(ResourceDoesNotExist, $"Run with id={runId} not found");

    public static MlflowException From(KeyDenial denial) =>
        new(denial.Status == HttpStatusCode.Unauthorized ? Unauthenticated : PermissionDenied, $"{denial.Title}: {denial.Detail}");

    /// <summary>What the ingest path refused, in MLflow's terms: nothing of the request was stored.</summary>
    public static MlflowException From(IngestException ex) => ex.Error switch
    {
        IngestError.RunNotFound or IngestError.RunDeleted => new(ResourceDoesNotExist, ex.Message),
        IngestError.KeyRevoked => new(Unauthenticated, ex.Message),
        IngestError.SequenceGap => new(TemporarilyUnavailable, "Another request wrote to the run at the same time; send the request again."),
        _ => new(InvalidParameterValue, ex.Field is { } field ? $"{ex.Message} (field: {field})" : ex.Message),
    };

    public IResult ToResult() => Results.Json(new { error_code = ErrorCode, message = Message }, statusCode: (int)Status);
}
