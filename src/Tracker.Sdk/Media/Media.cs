using Tracker.Internal;

namespace Tracker;

/// <summary>
/// An image, histogram, table or text, logged at a step like a number:
/// <c>run.Log("samples", Image.FromFile("digit.png"))</c>. Build one with <see cref="Image"/>,
/// <see cref="Histogram"/>, <see cref="Table"/> or <see cref="Text"/>. Media are immutable, so
/// one instance may be logged many times; its file is written once.
/// </summary>
public abstract class Media
{
    private readonly object _gate = new();
    private byte[]? _json;
    private string? _file;
    private string? _writtenTo;

    private protected Media()
    {
    }

    /// <summary>The record's <c>_type</c>: image, histogram, table or text.</summary>
    internal abstract string Kind { get; }

    /// <summary>Whether the media is saved as a file (images, tables), written off the caller's thread.</summary>
    internal virtual bool HasFile => false;

    /// <summary>What a Log call logs of this media: itself, or for a table that can still grow, a copy of it as it is now.</summary>
    internal virtual Media ForLog() => this;

    /// <summary>Bytes this media holds until it is written (raw pixels, say): bounds a run's backlog.</summary>
    internal virtual long PendingBytes => 0;

    /// <summary>
    /// The JSON object that goes into the record as <c>"media"</c>, writing the media's file into
    /// <paramref name="mediaDirectory"/> first if it has one. Idempotent and thread-safe.
    /// </summary>
    internal byte[] Materialize(string mediaDirectory)
    {
        lock (_gate)
        {
            if (_json is null)
            {
                (_json, _file) = Write(mediaDirectory);
                _writtenTo = mediaDirectory;
            }
            else if (_file is not null && mediaDirectory != _writtenTo)
            {
                // Logged to another run too (a sweep): its folder gets a copy of the file written first.
                MediaFiles.Copy(Path.Combine(_writtenTo!, _file), mediaDirectory);
            }

            return _json;
        }
    }

    /// <summary>Whether <see cref="Materialize"/> has run, so nothing is pending any more.</summary>
    internal bool IsMaterialized
    {
        get
        {
            lock (_gate)
            {
                return _json is not null;
            }
        }
    }

    /// <summary>Writes the file, if any, and returns the record's <c>"media"</c> JSON object and the file's name.</summary>
    private protected abstract (byte[] Json, string? File) Write(string mediaDirectory);
}
