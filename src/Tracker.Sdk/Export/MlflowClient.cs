using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Tracker.Export;

/// <summary>
/// MLflow's tracking REST API (<c>/api/2.0/mlflow/</c>) as the MLflow backend calls it: one attempt
/// per call, bounded by <see cref="AttemptTimeout"/>. It does not retry: the backend's worker retries
/// whole calls with back-off, so a second layer of retries here would only multiply requests.
/// </summary>
internal sealed class MlflowClient : IDisposable
{
    /// <summary>How long one request may take before it counts as failed (and is sent again by the worker).</summary>
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http;
    private readonly Uri _api;

    /// <param name="trackingUri">The MLflow server, as MLFLOW_TRACKING_URI names it (a path prefix is kept).</param>
    /// <param name="token">Sent as <c>Authorization: Bearer</c>, as MLflow's clients send MLFLOW_TRACKING_TOKEN; none when null.</param>
    /// <param name="handler">The HTTP handler; a new <see cref="SocketsHttpHandler"/> when null. Not disposed when given.</param>
    public MlflowClient(Uri trackingUri, string? token, HttpMessageHandler? handler)
    {
        _api = new Uri(trackingUri.AbsoluteUri.TrimEnd('/') + "/api/2.0/mlflow/");
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.Timeout = Timeout.InfiniteTimeSpan; // each call has its own AttemptTimeout
        if (!string.IsNullOrEmpty(token))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    /// <summary>POSTs a JSON body and answers the JSON answer.</summary>
    public Task<JsonElement> PostAsync(string path, byte[] body, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, path, body, cancellationToken);

    /// <summary>GETs a path with its query and answers the JSON answer.</summary>
    public Task<JsonElement> GetAsync(string pathAndQuery, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, pathAndQuery, null, cancellationToken);

    public void Dispose() => _http.Dispose();

    private async Task<JsonElement> SendAsync(HttpMethod method, string path, byte[]? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_api, path));
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(AttemptTimeout);
        try
        {
            using var response = await _http.SendAsync(request, attempt.Token).ConfigureAwait(false);
            var bytes = await response.Content.ReadAsByteArrayAsync(attempt.Token).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return Parse(bytes) ?? throw new HttpRequestException(
                    $"MLflow server {_api} answered {method} {path} with a body that is not JSON; check that MLFLOW_TRACKING_URI names an MLflow tracking server.");
            }

            throw MlflowRequestException.From(method, path, response.StatusCode, Parse(bytes));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                $"MLflow server {_api} did not answer {method} {path} within {AttemptTimeout.TotalSeconds:N0} s."));
        }
    }

    private static JsonElement? Parse(byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes.Length == 0 ? "{}"u8.ToArray() : bytes);
            return document.RootElement.Clone(); // the document's pooled buffers go back now
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>An MLflow server's error answer: the HTTP status and MLflow's <c>error_code</c> and <c>message</c>.</summary>
internal sealed class MlflowRequestException : HttpRequestException
{
    private MlflowRequestException(string message, HttpStatusCode status, string errorCode, string mlflowMessage)
        : base(message, null, status)
    {
        ErrorCode = errorCode;
        MlflowMessage = mlflowMessage;
    }

    /// <summary>MLflow's <c>error_code</c> (<c>INVALID_PARAMETER_VALUE</c>, <c>RESOURCE_DOES_NOT_EXIST</c>, …); empty when the answer had none.</summary>
    public string ErrorCode { get; }

    /// <summary>MLflow's <c>message</c>.</summary>
    public string MlflowMessage { get; }

    /// <summary>
    /// The server refused what was sent (400, 413, 422 …): sending it again cannot succeed. Not a
    /// refusal: 401/403 (the token), 404 (a run or experiment gone), 408/429 and 5xx (transient):
    /// none of them is the fault of the records, so the worker retries them and the records wait.
    /// </summary>
    public bool IsRefusal => StatusCode is { } status && (int)status is >= 400 and < 500 and not (401 or 403 or 404 or 408 or 429);

    public static MlflowRequestException From(HttpMethod method, string path, HttpStatusCode status, JsonElement? body)
    {
        var code = body is { ValueKind: JsonValueKind.Object } b && b.TryGetProperty("error_code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : string.Empty;
        var text = body is { ValueKind: JsonValueKind.Object } m && m.TryGetProperty("message", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : string.Empty;
        var hint = (int)status switch
        {
            401 or 403 => " Check MLFLOW_TRACKING_TOKEN (the token MlflowBackend sends as Authorization: Bearer).",
            _ => string.Empty,
        };
        var message = string.Create(CultureInfo.InvariantCulture,
            $"MLflow answered {method} {path.Split('?')[0]} with {(int)status} {(code.Length > 0 ? code : status.ToString())}: {(text.Length > 0 ? text : "(no message)")}.{hint}");
        return new MlflowRequestException(message, status, code, text);
    }
}
