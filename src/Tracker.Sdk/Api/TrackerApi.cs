using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Polly.Timeout;
using Tracker.Online;
using Tracker.Settings;

namespace Tracker.Api;

/// <summary>
/// Reads runs back from a Tracker server, as W&amp;B's <c>wandb.Api()</c> and MLflow's
/// <c>search_runs</c> do: projects, runs filtered and sorted by the server, and each run's metadata,
/// config, summary, full history and media. Requests go through the same HTTP client, key and
/// retries (408, 429, 5xx and transport errors, with back-off) as a run's online mode.
/// </summary>
/// <example>
/// <code>
/// using var api = new TrackerApi();                    // TRACKER_BASE_URL, tracker.json, tracker login
/// await foreach (var run in api.GetRunsAsync("mnist", filter: "summary.val/acc > 0.9 and state = finished"))
/// {
///     Console.WriteLine($"{run.Id} {run.Summary["val/acc"]}");
///     await foreach (var point in run.GetHistoryAsync("train/loss")) { /* point.Step, point.Value */ }
/// }
/// </code>
/// </example>
public sealed class TrackerApi : IDisposable
{
    private readonly TrackerHttpClient _http;

    /// <summary>
    /// A client for the server at <paramref name="baseUrl"/>, else <c>TRACKER_BASE_URL</c>, else the
    /// project's <c>tracker.json</c>, with the key <paramref name="apiKey"/>, else
    /// <c>TRACKER_API_KEY</c>, else the one <c>tracker login</c> stored for the server, as
    /// <c>Run.Init</c> finds them. Reads need no key from the server's own machine unless the server
    /// says otherwise (<c>Tracker:ReadAccess</c>).
    /// </summary>
    /// <param name="baseUrl">The server, such as <c>http://127.0.0.1:5080</c>.</param>
    /// <param name="apiKey">An API key; a read-only key is enough.</param>
    /// <param name="httpHandler">The handler requests are sent through (a proxy, a test handler); kept open when the client is disposed.</param>
    /// <exception cref="ArgumentException">No server is named anywhere, or the one named is not an http(s) URL.</exception>
    public TrackerApi(Uri? baseUrl = null, string? apiKey = null, HttpMessageHandler? httpHandler = null)
    {
        baseUrl = ProjectSettings.ServerFor(baseUrl)
            ?? throw new ArgumentException("No Tracker server is named: pass one to TrackerApi (such as http://127.0.0.1:5080), set TRACKER_BASE_URL, or name it in tracker.json (tracker init --server URL).", nameof(baseUrl));
        if (!baseUrl.IsAbsoluteUri || baseUrl.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"'{baseUrl}' is not a Tracker server URL: give an http or https URL such as http://127.0.0.1:5080.", nameof(baseUrl));
        }

        apiKey = Credentials.ApiKeyFor(baseUrl, apiKey);
        _http = TrackerHttpClient.Create(new RunOptions { BaseUrl = baseUrl, ApiKey = apiKey, HttpHandler = httpHandler });
    }

    /// <summary>The server's address.</summary>
    public Uri BaseUrl => _http.BaseUrl;

    /// <summary>Every project on the server, with its number of runs.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The projects, as the server orders them.</returns>
    /// <exception cref="TrackerApiException">The server could not be reached or refused the request.</exception>
    public async Task<IReadOnlyList<ApiProject>> GetProjectsAsync(CancellationToken cancellationToken = default)
    {
        using var answer = await GetJsonAsync("api/v1/projects", project: null, runId: null, cancellationToken).ConfigureAwait(false);
        return answer.Json.RootElement.EnumerateArray().Select(p => new ApiProject(
            p.GetProperty("name").GetString()!,
            p.TryGetProperty("run_count", out var count) && count.ValueKind == JsonValueKind.Number ? count.GetInt64() : 0,
            p.TryGetProperty("last_update", out var last) && last.ValueKind == JsonValueKind.String && last.TryGetDateTimeOffset(out var at) ? at : null)).ToList();
    }

    /// <summary>
    /// The project's runs that match <paramref name="filter"/>, in the order of <paramref name="sort"/>,
    /// read a page at a time as the caller iterates. Archived runs are left out, as in the web UI.
    /// </summary>
    /// <param name="project">The project.</param>
    /// <param name="filter">
    /// The server's filter (docs/protocol.md, "Filtering and sorting runs"; MLflow's filter string):
    /// <c>KEY OP VALUE</c> conditions joined by <c>and</c>, such as
    /// <c>summary.val/acc &gt; 0.8 and config.optimizer = 'sgd' and state = finished and tag = baseline</c>.
    /// </param>
    /// <param name="sort"><c>[-]FIELD</c>: <c>name</c>, <c>id</c>, <c>state</c>, <c>start_time</c>, <c>summary.K</c> or <c>config.K</c>; by default newest first.</param>
    /// <param name="pageSize">Runs per request, 1 to 10,000.</param>
    /// <param name="cancellationToken">Cancels the iteration.</param>
    /// <returns>The matching runs.</returns>
    /// <exception cref="TrackerApiException">The server could not be reached, refused the request, or refused the filter or sort (the message says where it is wrong).</exception>
    public async IAsyncEnumerable<ApiRun> GetRunsAsync(string project, string? filter = null, string? sort = null, int pageSize = 1_000, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(project);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, 10_000);
        long? offset = 0;
        while (offset is { } from)
        {
            var query = $"limit={pageSize}&offset={from}"
                + (string.IsNullOrEmpty(filter) ? string.Empty : "&filter=" + Uri.EscapeDataString(filter))
                + (string.IsNullOrEmpty(sort) ? string.Empty : "&sort=" + Uri.EscapeDataString(sort));
            using var answer = await GetJsonAsync($"{ProjectPath(project)}/runs?{query}", project, runId: null, cancellationToken).ConfigureAwait(false);
            var runs = answer.Json.RootElement.EnumerateArray().Select(r => ApiRun.FromJson(this, r)).ToList();
            offset = answer.Headers.TryGetValues("Tracker-Next-Offset", out var next)
                && long.TryParse(next.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > from ? n : null;
            foreach (var run in runs)
            {
                yield return run;
            }
        }
    }

    /// <summary>One run: its metadata, config and summary; history and media are read from it on demand.</summary>
    /// <param name="project">The project.</param>
    /// <param name="runId">The run's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The run as the server holds it now.</returns>
    /// <exception cref="TrackerApiException">The server could not be reached or refused the key; the run does not exist (404) or was deleted (410).</exception>
    public async Task<ApiRun> GetRunAsync(string project, string runId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(project);
        ArgumentException.ThrowIfNullOrEmpty(runId);
        using var answer = await GetJsonAsync(RunPath(project, runId), project, runId, cancellationToken).ConfigureAwait(false);
        return ApiRun.FromJson(this, answer.Json.RootElement);
    }

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();

    internal static string ProjectPath(string project) => $"api/v1/projects/{Uri.EscapeDataString(project)}";

    internal static string RunPath(string project, string runId) => $"{ProjectPath(project)}/runs/{Uri.EscapeDataString(runId)}";

    /// <summary>A successful answer's JSON and headers.</summary>
    internal sealed class Answer(JsonDocument json, System.Net.Http.Headers.HttpResponseHeaders headers) : IDisposable
    {
        public JsonDocument Json { get; } = json;

        public System.Net.Http.Headers.HttpResponseHeaders Headers { get; } = headers;

        public void Dispose() => Json.Dispose();
    }

    internal async Task<Answer> GetJsonAsync(string relative, string? project, string? runId, CancellationToken cancellationToken)
    {
        using var response = await GetAsync(relative, project, runId, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return new Answer(JsonDocument.Parse(body), response.Headers);
        }
        catch (JsonException ex)
        {
            throw new TrackerApiException($"GET {new Uri(BaseUrl, relative)} did not answer JSON ({ex.Message}): is {BaseUrl} a Tracker server?", (int)response.StatusCode, ex);
        }
    }

    internal async Task<byte[]> GetBytesAsync(string relative, string project, CancellationToken cancellationToken)
    {
        using var response = await GetAsync(relative, project, runId: null, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A successful answer, or the exception that says what went wrong and what to do.</summary>
    private async Task<HttpResponseMessage> GetAsync(string relative, string? project, string? runId, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.GetAsync(relative, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException)
        {
            throw new TrackerApiException(
                $"Could not reach the Tracker server at {BaseUrl} ({ex.Message}). Check that it is running (tracker serve) and that the URL is right (TrackerApi's baseUrl, TRACKER_BASE_URL or tracker.json).",
                statusCode: null, ex);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var detail = Problem(await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false));
            var what = $"{(int)response.StatusCode} {response.ReasonPhrase}{(detail is null ? string.Empty : ": " + detail)}";
            var run = runId is null ? null : $"run '{runId}' of project '{project}'";
            throw new TrackerApiException(response.StatusCode switch
            {
                HttpStatusCode.Unauthorized => $"The Tracker server at {BaseUrl} refused {(_http.HasApiKey ? "the API key" : "the read: it asks this machine for an API key")} ({what}). Pass a valid key to TrackerApi, set TRACKER_API_KEY, or store one with: tracker login {BaseUrl}",
                HttpStatusCode.Forbidden => $"The Tracker server at {BaseUrl} refused the API key for project '{project}' ({what}). Use a key of that project, or one made without --project.",
                HttpStatusCode.NotFound when run is not null => $"The Tracker server at {BaseUrl} has no {run} ({what}). Check the id and project: list the project's runs with GetRunsAsync (tracker ls).",
                HttpStatusCode.NotFound => $"The Tracker server at {BaseUrl} has nothing at {relative} ({what}).",
                HttpStatusCode.Gone => $"The {run ?? "run"} was deleted on the Tracker server at {BaseUrl} ({what}); its data is gone there. A copy may remain in the run's local directory.",
                HttpStatusCode.BadRequest => $"The Tracker server at {BaseUrl} refused the request ({what}).",
                _ => $"GET {new Uri(BaseUrl, relative)} answered {what}.",
            }, (int)response.StatusCode);
        }
    }

    /// <summary>An RFC 9457 problem's detail, else its title; null when the body is not one.</summary>
    private static string? Problem(byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            return root.ValueKind != JsonValueKind.Object ? null
                : root.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.String ? detail.GetString()
                : root.TryGetProperty("title", out var title) && title.ValueKind == JsonValueKind.String ? title.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
