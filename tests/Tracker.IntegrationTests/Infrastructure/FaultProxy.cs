using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// A real HTTP proxy on 127.0.0.1 in front of a real server. While a fault is set it answers
/// with that status (and Retry-After) instead of forwarding, as an overloaded server does.
/// </summary>
internal sealed class FaultProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private volatile Func<HttpResponseMessage?>? _fault;
    private long _faulted;

    private FaultProxy(WebApplication app, HttpClient upstream, Uri baseUrl)
    {
        _app = app;
        _upstream = upstream;
        BaseUrl = baseUrl;
    }

    public Uri BaseUrl { get; }

    /// <summary>Requests answered with a fault so far.</summary>
    public long Faulted => Interlocked.Read(ref _faulted);

    /// <summary>Requests forwarded to the server (successfully or not) so far.</summary>
    public long Forwarded { get; private set; }

    public static async Task<FaultProxy> StartAsync(Uri upstream)
    {
        var port = Postgres.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var proxy = new FaultProxy(app, new HttpClient { BaseAddress = upstream }, new Uri($"http://127.0.0.1:{port}"));
        app.Run(proxy.HandleAsync);
        await app.StartAsync();
        return proxy;
    }

    /// <summary>Answers every request with <paramref name="status"/> and Retry-After until <see cref="Heal"/>.</summary>
    public void Fail(int status, TimeSpan? retryAfter) => _fault = () =>
    {
        var response = new HttpResponseMessage((System.Net.HttpStatusCode)status);
        if (retryAfter is { } delay)
        {
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(delay);
        }

        return response;
    };

    public void Heal() => _fault = null;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (_fault?.Invoke() is { } fault)
        {
            Interlocked.Increment(ref _faulted);
            using (fault)
            {
                context.Response.StatusCode = (int)fault.StatusCode;
                if (fault.Headers.RetryAfter is { } retryAfter)
                {
                    context.Response.Headers.RetryAfter = retryAfter.ToString();
                }
            }

            return;
        }

        Forwarded++;
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString);
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        request.Content = new ByteArrayContent(body.ToArray());
        foreach (var header in context.Request.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray()))
            {
                request.Content.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray());
            }
        }

        request.Headers.Host = null;
        using var response = await _upstream.SendAsync(request);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Content.Headers)
        {
            context.Response.Headers[header.Key] = header.Value.ToArray();
        }

        context.Response.Headers.Remove("transfer-encoding");
        await response.Content.CopyToAsync(context.Response.Body);
    }
}
