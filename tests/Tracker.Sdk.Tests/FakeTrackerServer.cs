using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Tracker.Tests;

/// <summary>One request as the fake server saw it, with its body decompressed.</summary>
public sealed record RecordedRequest(HttpMethod Method, Uri Uri, string? Authorization, string? ContentType, string? ContentEncoding, byte[] Body, DateTimeOffset At)
{
    public string Text => Encoding.UTF8.GetString(Body);

    public string[] Lines => Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public bool IsAppend => Method == HttpMethod.Post && Uri.AbsolutePath.EndsWith("/records", StringComparison.Ordinal);

    /// <summary>The hash a <c>.../blobs/{sha256}</c> request names; null for other requests.</summary>
    public string? BlobSha256 => Uri.AbsolutePath.LastIndexOf("/blobs/", StringComparison.Ordinal) is var at and >= 0
        ? Uri.AbsolutePath[(at + "/blobs/".Length)..]
        : null;

    public bool IsBlobPut => Method == HttpMethod.Put && BlobSha256 is not null;

    public bool IsBlobHead => Method == HttpMethod.Head && BlobSha256 is not null;
}

/// <summary>A media file the fake server stores: its bytes and the content type it came with.</summary>
public sealed record StoredBlob(byte[] Bytes, string? ContentType);

/// <summary>
/// An in-memory Tracker server behind an <see cref="HttpMessageHandler"/>: it records requests and
/// follows the ingest protocol (acked cursor, replays skipped, 409 on a gap, 404 for an unknown
/// run) and the blob endpoints (HEAD 200/404, PUT checked against its hash and content type),
/// unless <see cref="Fault"/> answers a request first.
/// </summary>
public sealed class FakeTrackerServer(TimeProvider time) : HttpMessageHandler
{
    private readonly object _lock = new();
    private readonly List<RecordedRequest> _requests = [];
    private readonly List<string> _stored = [];
    private readonly Dictionary<string, StoredBlob> _blobs = new(StringComparer.Ordinal);
    private bool _known;
    private long _ackedSeq;

    /// <summary>Answers a request instead of the protocol when it returns a response; null lets the protocol answer.</summary>
    public Func<RecordedRequest, CancellationToken, Task<HttpResponseMessage?>>? Fault { get; set; }

    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return _requests.ToList();
            }
        }
    }

    public IReadOnlyList<RecordedRequest> Appends => Requests.Where(r => r.IsAppend).ToList();

    public IReadOnlyList<string> Stored
    {
        get
        {
            lock (_lock)
            {
                return _stored.ToList();
            }
        }
    }

    /// <summary>Media files by SHA-256, as uploaded (or added by <see cref="AddBlob"/>).</summary>
    public IReadOnlyDictionary<string, StoredBlob> Blobs
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, StoredBlob>(_blobs, StringComparer.Ordinal);
            }
        }
    }

    public IReadOnlyList<RecordedRequest> BlobPuts => Requests.Where(r => r.IsBlobPut).ToList();

    public long AckedSeq
    {
        get
        {
            lock (_lock)
            {
                return _ackedSeq;
            }
        }
    }

    /// <summary>Forgets everything from <paramref name="seq"/> on, as a server restored from an old backup.</summary>
    public void ForgetFrom(long seq)
    {
        lock (_lock)
        {
            _stored.RemoveAll(line => SeqOf(line) >= seq);
            _ackedSeq = Math.Min(_ackedSeq, seq - 1);
        }
    }

    /// <summary>Stores a file as if uploaded earlier (by another run, say); returns its hash.</summary>
    public string AddBlob(byte[] content, string contentType)
    {
        var sha256 = Sha256Hex(content);
        lock (_lock)
        {
            _blobs[sha256] = new StoredBlob(content.ToArray(), contentType);
        }

        return sha256;
    }

    public static string Sha256Hex(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(SHA256.HashData(content));

    public static HttpResponseMessage Status(HttpStatusCode status, string? problemJson = null)
    {
        var response = new HttpResponseMessage(status);
        if (problemJson is not null)
        {
            response.Content = new StringContent(problemJson, Encoding.UTF8, "application/problem+json");
        }

        return response;
    }

    public static long SeqOf(string line)
    {
        using var json = JsonDocument.Parse(line);
        return json.RootElement.GetProperty("seq").GetInt64();
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken);
        var encoding = request.Content?.Headers.ContentEncoding.FirstOrDefault();
        if (encoding == "gzip")
        {
            using var gzip = new GZipStream(new MemoryStream(body), CompressionMode.Decompress);
            using var plain = new MemoryStream();
            await gzip.CopyToAsync(plain, cancellationToken);
            body = plain.ToArray();
        }

        var recorded = new RecordedRequest(request.Method, request.RequestUri!, request.Headers.Authorization?.ToString(),
            request.Content?.Headers.ContentType?.MediaType, encoding, body, time.GetUtcNow());
        lock (_lock)
        {
            _requests.Add(recorded);
        }

        if (Fault is { } fault && await fault(recorded, cancellationToken) is { } faulted)
        {
            return faulted;
        }

        if (recorded.BlobSha256 is { } sha256)
        {
            return AnswerBlob(recorded, sha256);
        }

        lock (_lock)
        {
            if (recorded.Method == HttpMethod.Put)
            {
                _known = true;
                return Acked();
            }

            if (!_known)
            {
                return Status(HttpStatusCode.NotFound, """{"title":"Unknown run","status":404}""");
            }

            var fresh = recorded.Lines.Where(line => SeqOf(line) > _ackedSeq).ToList();
            if (fresh.Count > 0 && SeqOf(fresh[0]) != _ackedSeq + 1)
            {
                return Status(HttpStatusCode.Conflict, $$"""{"title":"Sequence gap","status":409,"expected_seq":{{_ackedSeq + 1}}}""");
            }

            _stored.AddRange(fresh);
            _ackedSeq = fresh.Count > 0 ? SeqOf(fresh[^1]) : _ackedSeq;
            return Acked();
        }
    }

    /// <summary>docs/protocol.md, "Media": HEAD says whether the file is here, PUT stores it once its bytes match its name.</summary>
    private HttpResponseMessage AnswerBlob(RecordedRequest request, string sha256)
    {
        lock (_lock)
        {
            if (request.Method == HttpMethod.Head)
            {
                return new HttpResponseMessage(_blobs.ContainsKey(sha256) ? HttpStatusCode.OK : HttpStatusCode.NotFound);
            }

            if (request.Method == HttpMethod.Get)
            {
                return _blobs.TryGetValue(sha256, out var blob)
                    ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(blob.Bytes) }
                    : Status(HttpStatusCode.NotFound, """{"title":"Unknown blob","status":404}""");
            }

            if (request.Method != HttpMethod.Put)
            {
                return Status(HttpStatusCode.MethodNotAllowed);
            }

            if (request.ContentType is not ("image/png" or "image/jpeg" or "application/json"))
            {
                return Status(HttpStatusCode.BadRequest, $$"""{"title":"Bad blob","detail":"content type {{request.ContentType}} is not image/png, image/jpeg or application/json","status":400}""");
            }

            if (Sha256Hex(request.Body) != sha256)
            {
                return Status(HttpStatusCode.BadRequest, """{"title":"Bad blob","detail":"the bytes do not hash to the name","status":400}""");
            }

            var stored = _blobs.TryAdd(sha256, new StoredBlob(request.Body, request.ContentType));
            return new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new StringContent($$"""{"sha256":"{{sha256}}","bytes":{{request.Body.Length}},"stored":{{(stored ? "true" : "false")}}}""", Encoding.UTF8, "application/json"),
            };
        }
    }

    private HttpResponseMessage Acked() => new(HttpStatusCode.OK)
    {
        Content = new StringContent($$"""{"acked_seq":{{_ackedSeq}}}""", Encoding.UTF8, "application/json"),
    };
}
