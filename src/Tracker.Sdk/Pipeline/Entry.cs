namespace Tracker.Pipeline;

internal enum EntryKind : byte
{
    Number,
    Bool,
    Text,
    Record,
    Media,
}

/// <summary>
/// One logged value, or one metadata record. Entries of one history line share a step and
/// follow each other with <see cref="SameLine"/> set on all but the first.
/// </summary>
internal struct Entry
{
    public EntryKind Kind;
    public bool SameLine;
    public int KeyId;
    public long Step;
    public long UnixMs;
    public double Number;

    /// <summary>The text of a <see cref="EntryKind.Text"/> value, the <see cref="RecordPayload"/> of a record, or the <see cref="MediaEntry"/> of a media value.</summary>
    public object? Payload;
}

/// <summary>
/// A non-history record, serialised when it is created so the writer only copies bytes.
/// <see cref="Fields"/> is the JSON members after seq/type/ts, without braces.
/// </summary>
internal sealed record RecordPayload(string Type, byte[] Fields, byte[]? RunJson = null, byte[]? SummaryJson = null);

/// <summary>
/// A media value on its way to the writer: its key, and the media, turned into files and record
/// JSON on the writer's thread (<see cref="Materialize"/>) so Log never encodes an image itself.
/// </summary>
internal sealed class MediaEntry(string key, Media media, MediaBacklog backlog)
{
    private long _pending = backlog.Add(media.PendingBytes);

    public string Key { get; } = key;

    public Media Media { get; } = media;

    /// <summary>The record's "media" object once written; a retried batch reuses it.</summary>
    public byte[]? Json { get; private set; }

    public void Materialize(string mediaDirectory)
    {
        Json ??= Media.Materialize(mediaDirectory);
        Release();
    }

    /// <summary>Stops counting the entry's bytes in the backlog: written, or dropped.</summary>
    public void Release()
    {
        backlog.Remove(Interlocked.Exchange(ref _pending, 0));
    }
}

/// <summary>Bytes of media queued but not yet written (raw pixels mostly): Log writes media itself when it is too high.</summary>
internal sealed class MediaBacklog
{
    /// <summary>Above this many pending bytes, Log writes media on the caller's thread: back-pressure instead of unbounded memory.</summary>
    public const long Limit = 128L * 1024 * 1024;

    private long _bytes;

    public long Bytes => Interlocked.Read(ref _bytes);

    public long Add(long bytes)
    {
        Interlocked.Add(ref _bytes, bytes);
        return bytes;
    }

    public void Remove(long bytes) => Interlocked.Add(ref _bytes, -bytes);
}

/// <summary>A block of entries handed from the run to the worker in one piece.</summary>
internal sealed class Chunk
{
    public Chunk(int capacity) => Entries = new Entry[capacity];

    public Entry[] Entries { get; }

    public int Count { get; set; }

    public bool IsFull => Count == Entries.Length;

    /// <summary>Set on a flush marker: completed once everything queued before it is written.</summary>
    public TaskCompletionSource<bool>? FlushSignal { get; init; }

    /// <summary>Whether the chunk took one of the queue's slots (and gives it back when returned).</summary>
    public bool HoldsSlot { get; set; }

    public void Reset()
    {
        Array.Clear(Entries, 0, Count); // drop references to payloads
        Count = 0;
        HoldsSlot = false;
    }
}
