using System.Collections.Concurrent;
using Tracker.Server.Storage;

namespace Tracker.Server.Api;

/// <summary>
/// Keys looked up by hash, kept for <see cref="ServerOptions.KeyCacheDuration"/>: a live run
/// appends every second, and a separate database round trip per append only to find the same key
/// again costs more than the rest of a small request. Only appends use a kept entry, and an
/// append checks in its own transaction that the key is still active (keys are revoked by
/// another process, <c>keys revoke</c>), so a revoked key is refused at once everywhere. Unknown
/// keys are not kept, so a new key works at once.
/// </summary>
internal sealed class ApiKeyCache(KeyTable keys, TimeProvider time, TimeSpan duration)
{
    /// <summary>Entries kept; beyond it the cache starts over.</summary>
    private const int Capacity = 1_000;

    private readonly ConcurrentDictionary<string, (ApiKey Key, DateTimeOffset Expires)> _entries = new(StringComparer.Ordinal);

    /// <summary>The key with this hash (revoked or not), or null when none is stored; a kept entry when <paramref name="mayBeKept"/>.</summary>
    public async Task<ApiKey?> FindAsync(string hash, bool mayBeKept, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (mayBeKept && _entries.TryGetValue(hash, out var entry) && entry.Expires > now)
        {
            return entry.Key;
        }

        var key = await keys.FindKeyAsync(hash, cancellationToken);
        if (key is null)
        {
            _entries.TryRemove(hash, out _);
            return null;
        }

        if (duration > TimeSpan.Zero)
        {
            if (_entries.Count >= Capacity)
            {
                _entries.Clear();
            }

            _entries[hash] = (key, now + duration);
        }

        return key;
    }
}
