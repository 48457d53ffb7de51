using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.Server.Storage;

namespace Tracker.Server.Api;

/// <summary>Creates API keys (shown once) and checks the Bearer key of a request against their hashes.</summary>
internal static class ApiKeys
{
    public static string NewSecret() => "trk_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>The request item holding the hash of the key a request was let in with.</summary>
    public const string HashItem = "Tracker.KeyHash";

    /// <summary>
    /// Null when the request may go on; otherwise the problem to answer with (401 or 403).
    /// <paramref name="rechecked"/>: the caller checks again, in its transaction, that the key
    /// (<see cref="HashItem"/>) is still active, so a kept lookup will do. <paramref name="write"/>:
    /// the request changes something, which a read-only key may not do (403).
    /// </summary>
    public static async Task<IResult?> CheckAsync(HttpContext context, ApiKeyCache keys, string project, CancellationToken cancellationToken, bool rechecked = false, bool write = true) =>
        await DenialAsync(context, keys, project, cancellationToken, rechecked, write) is { } denied
            ? Problems.Create(denied.Status, denied.Title, denied.Detail)
            : null;

    /// <summary>
    /// Why the request may not go on (401 or 403, with a title and what to do), or null when it
    /// may: the one key check, which the MLflow-compatible API answers in its own error shape.
    /// </summary>
    public static async Task<KeyDenial?> DenialAsync(HttpContext context, ApiKeyCache keys, string project, CancellationToken cancellationToken, bool rechecked = false, bool write = true)
    {
        var (key, denied) = await FindKeyAsync(context, keys, rechecked, cancellationToken);
        if (key is null)
        {
            return denied;
        }

        if (key.Project is not null && !string.Equals(key.Project, project, StringComparison.Ordinal))
        {
            return new KeyDenial(HttpStatusCode.Forbidden, "Key not valid for this project",
                $"The key '{key.Name}' may write to project '{key.Project}' only, not '{project}'.");
        }

        if (write && key.ReadOnly)
        {
            return new KeyDenial(HttpStatusCode.Forbidden, "Read-only key",
                $"The key '{key.Name}' is read-only: read-only access cannot change anything. Use a key created without --read-only to write.");
        }

        return null;
    }

    /// <summary>
    /// How this server's keys are made, as it was installed: the <c>tracker</c> tool (<c>tracker serve</c>)
    /// hosts it for most users; only a server started from the repository is its own program.
    /// </summary>
    internal static string KeysCreateCommand { get; } = System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name == "Tracker.Server"
        ? "dotnet run --project src/Tracker.Server -- keys create --name NAME"
        : "tracker keys create --name NAME";

    /// <summary>The active key the request's Bearer header names, or the 401 to answer with when it names none.</summary>
    public static async Task<(ApiKey? Key, IResult? Problem)> FindAsync(HttpContext context, ApiKeyCache keys, bool mayBeKept, CancellationToken cancellationToken)
    {
        var (key, denied) = await FindKeyAsync(context, keys, mayBeKept, cancellationToken);
        return (key, denied is null ? null : Problems.Create(denied.Status, denied.Title, denied.Detail));
    }

    private static async Task<(ApiKey? Key, KeyDenial? Denied)> FindKeyAsync(HttpContext context, ApiKeyCache keys, bool mayBeKept, CancellationToken cancellationToken)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
        {
            return (null, new KeyDenial(HttpStatusCode.Unauthorized, "API key required",
                $"Send the key as 'Authorization: Bearer <key>'. Create one where the server runs with: {KeysCreateCommand}"));
        }

        var hash = Hash(header[7..].Trim());
        context.Items[HashItem] = hash;
        var key = await keys.FindAsync(hash, mayBeKept, cancellationToken);
        return key is null || key.RevokedAt is not null
            ? (null, new KeyDenial(HttpStatusCode.Unauthorized, "Invalid API key",
                key is null ? "The key is not known to this server." : $"The key '{key.Name}' was revoked. Create a new one."))
            : (key, null);
    }

    /// <summary>
    /// <c>GET /api/v1/viewer</c>: who the request's key is (W&amp;B's viewer query), so that
    /// <c>tracker login</c> can check a key before storing it. Always needs a key, from loopback too.
    /// </summary>
    public static void MapViewer(WebApplication app) =>
        app.MapGet("/api/v1/viewer", async (HttpContext context, ApiKeyCache keys, CancellationToken cancellationToken) =>
        {
            var (key, problem) = await FindAsync(context, keys, mayBeKept: false, cancellationToken);
            return key is null ? problem! : Results.Ok(new { name = key.Name, project = key.Project, read_only = key.ReadOnly });
        });

    /// <summary>Reads are open to loopback clients unless configured otherwise (Tracker:ReadAccess = loopback | open | key).</summary>
    public static bool ReadNeedsKey(HttpContext context, string readAccess) => readAccess switch
    {
        "open" => false,
        "key" => true,
        _ => context.Connection.RemoteIpAddress is not { } ip || !IPAddress.IsLoopback(ip),
    };
}

/// <summary>Why a request's key does not let it go on: 401 (no key, unknown or revoked) or 403 (another project's, read-only on a write).</summary>
internal sealed record KeyDenial(HttpStatusCode Status, string Title, string Detail);

/// <summary>RFC 9457 problem responses that say what was wrong and what to do.</summary>
internal static class Problems
{
    public static IResult Create(HttpStatusCode status, string title, string detail, string? field = null, long? expectedSeq = null)
    {
        var extensions = new Dictionary<string, object?>();
        if (field is not null)
        {
            extensions["field"] = field;
        }

        if (expectedSeq is not null)
        {
            extensions["expected_seq"] = expectedSeq;
        }

        return Results.Problem(detail: detail, statusCode: (int)status, title: title, extensions: extensions);
    }

    /// <summary>
    /// The request body as a JSON object (<see cref="JsonBody"/>), or the 400 titled
    /// <paramref name="title"/> that says what is wrong and shows <paramref name="example"/>.
    /// </summary>
    public static async Task<(JsonObject? Body, IResult? Problem)> ReadObjectAsync(HttpContext context, string title, string example, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, cancellationToken);
        return ParseObject(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), title, example);
    }

    /// <summary>A body already read as a JSON object, or the 400 titled <paramref name="title"/> that says what is wrong and shows <paramref name="example"/>.</summary>
    public static (JsonObject? Body, IResult? Problem) ParseObject(ReadOnlySpan<byte> json, string title, string example) =>
        JsonBody.Parse(json, $"Send a JSON object such as {example}.", out var problem) is { } body
            ? (body, null)
            : (null, Create(HttpStatusCode.BadRequest, title, problem.Detail, problem.Field));
}
