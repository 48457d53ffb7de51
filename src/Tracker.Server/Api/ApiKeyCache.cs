using System.Collections.Concurrent;
using Tracker.Server.Storage;

namespace Tracker.Server.Api;

/// <summary>
/// Keys looked up by hash, kept for <see cref="ServerOptions.KeyCacheDuration"/>: a live run
/// writes every second, and a database round trip per request only to find the same key again
/// costs more than the rest of a small request. Keys are revoked by another process
/// (<c>keys revoke</c>), so a revocation takes effect once the entry expires, at most that long
/// after; unknown keys are not kept, so a new key works at once.
/// </summary>
internal sealed class ApiKeyCache(KeyTable keys, TimeProvider time, TimeSpan duration)
{
    /// <summary>Entries kept; beyond it the cache starts over.</summary>
    private const int Capacity = 1_000;

    private readonly ConcurrentDictionary<string, (ApiKey Key, DateTimeOffset Expires)> _entries = new(StringComparer.Ordinal);

    /// <summary>The key with this hash (revoked or not), or null when none is stored.</summary>
    public async Task<ApiKey?> FindAsync(string hash, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_entries.TryGetValue(hash, out var entry) && entry.Expires > now)
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
