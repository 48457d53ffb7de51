using Polly;

namespace Tracker.Online;

/// <summary>
/// Runs every request through a resilience pipeline, as Microsoft.Extensions.Http.Resilience's
/// handler does, without its dependency-injection packages. Each retry sends the same request
/// again, so its content must be buffered (the client sends byte arrays).
/// </summary>
internal sealed class ResilienceHandler(ResiliencePipeline<HttpResponseMessage> pipeline) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        pipeline.ExecuteAsync(
            static (state, ct) => new ValueTask<HttpResponseMessage>(state.Handler.SendAttemptAsync(state.Request, ct)),
            (Handler: this, Request: request),
            cancellationToken).AsTask();

    private Task<HttpResponseMessage> SendAttemptAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.SendAsync(request, cancellationToken);
}
