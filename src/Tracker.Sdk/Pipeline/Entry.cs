namespace Tracker.Pipeline;

internal enum EntryKind : byte
{
    Number,
    Integer,
    UInteger,
    Bool,
    Text,
    Record,
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

    /// <summary>An <see cref="EntryKind.Integer"/>'s value, or an <see cref="EntryKind.UInteger"/>'s bits; <see cref="Number"/> holds it as a double.</summary>
    public long Bits;

    /// <summary>The text of a <see cref="EntryKind.Text"/> value, or the <see cref="RecordPayload"/> of a record.</summary>
    public object? Payload;
}

/// <summary>
/// A non-history record, serialised when it is created so the writer only copies bytes.
/// <see cref="Fields"/> is the JSON members after seq/type/ts, without braces.
/// </summary>
internal sealed record RecordPayload(string Type, byte[] Fields, byte[]? RunJson = null, byte[]? SummaryJson = null)
{
    /// <summary>The members of a serialised JSON object, without its braces, as <see cref="Fields"/> holds them.</summary>
    public static byte[] FieldsOf(byte[] json) => json.AsSpan(1, json.Length - 2).ToArray();

    /// <summary>When the record was made, if not when it is queued (a media file written later).</summary>
    public long? UnixMs { get; init; }

    /// <summary>
    /// Only <see cref="RunJson"/> is written, no line: the run's metadata changed in a way the log
    /// does not record (the git and machine fields read after Init). Not counted as a record.
    /// </summary>
    public bool WithoutLine { get; init; }
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
