using System.Collections.Concurrent;
using Tracker.Pipeline;

namespace Tracker.Internal;

/// <summary>
/// The run's media log: histograms and texts become records at once; images and tables are encoded
/// and written on the thread pool, and their records join the run once the file exists (so a reader
/// never finds a record without its file). Past <see cref="BacklogLimit"/> pending bytes the caller
/// writes its own media: back-pressure, not unbounded memory. Calls that say so expect the run's lock held.
/// </summary>
internal sealed class MediaLog(string directory, DiagnosticsSink diagnostics)
{
    /// <summary>Pending media bytes (raw pixels mostly) above which Log writes media itself instead of queueing more.</summary>
    public const long BacklogLimit = 128L * 1024 * 1024;

    private readonly ConcurrentQueue<RecordPayload> _written = new();
    private readonly List<Task> _writes = []; // guarded by the run's lock
    private long _pendingBytes;
    private long _dropped;

    /// <summary>The run's <c>media/</c> folder.</summary>
    public string Directory { get; } = directory;

    /// <summary>Media that could not be written.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// The media of one Log call at <paramref name="step"/>: inline ones appended now; each image and
    /// table gets a write task, registered so that <see cref="Written"/> waits for it, and started by
    /// the caller outside the lock (at once when <c>Behind</c>). Caller holds the run's lock.
    /// </summary>
    public List<(Task Write, bool Behind)>? Append(IEnumerable<(string Key, Media Media)> media, long step, long unixMs, Action<RecordPayload> append)
    {
        List<(Task Write, bool Behind)>? writes = null;
        Drain(append);
        foreach (var (key, value) in media)
        {
            if (value is Histogram histogram && histogram.NaNCount + histogram.InfinityCount > 0)
            {
                diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
                    $"Histogram '{key}' at step {step} has {histogram.NaNCount:N0} NaN and {histogram.InfinityCount:N0} infinite values; they are counted in the histogram but not binned."));
            }

            if (value.HasFile)
            {
                var behind = Interlocked.Read(ref _pendingBytes) > BacklogLimit;
                (writes ??= []).Add((FileWrite(key, value, step, unixMs), behind));
            }
            else
            {
                append(Record(key, step, value.Materialize(Directory), unixMs));
            }
        }

        if (writes is not null)
        {
            _writes.RemoveAll(t => t.IsCompleted);
            _writes.AddRange(writes.Select(w => w.Write));
        }

        return writes;
    }

    /// <summary>Completes when every media file logged so far is written. Caller holds the run's lock.</summary>
    public Task Written() => Task.WhenAll([.. _writes]);

    /// <summary>Appends the records of media whose files are written. Caller holds the run's lock.</summary>
    public void Drain(Action<RecordPayload> append)
    {
        while (_written.TryDequeue(out var record))
        {
            append(record);
        }
    }

    /// <summary>
    /// A task, not started, that encodes and writes a media file; its record is queued for
    /// <see cref="Drain"/> once the file exists. The file's pending bytes count towards the backlog until then.
    /// </summary>
    private Task FileWrite(string key, Media media, long step, long unixMs)
    {
        var pending = media.PendingBytes;
        Interlocked.Add(ref _pendingBytes, pending);
        using (ExecutionContext.SuppressFlow())
        {
            return new Task(() =>
            {
                try
                {
                    _written.Enqueue(Record(key, step, media.Materialize(Directory), unixMs));
                }
#pragma warning disable CA1031 // a media file that cannot be written must not fail the run or Finish
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Interlocked.Increment(ref _dropped);
                    diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Error,
                        $"The {media.Kind} '{key}' of step {step} could not be written to {Directory} and was dropped: {ex.Message}", ex));
                }
                finally
                {
                    Interlocked.Add(ref _pendingBytes, -pending);
                }
            });
        }
    }

    /// <summary>A media record, timed when it was logged rather than when its file was written.</summary>
    private static RecordPayload Record(string key, long step, byte[] media, long unixMs) => new("media", RecordPayload.FieldsOf(MediaFiles.Json(json =>
    {
        json.WriteNumber("step", step);
        json.WriteString("key", key);
        json.WritePropertyName("media");
        json.WriteRawValue(media, skipInputValidation: true);
    })))
    {
        UnixMs = unixMs,
    };
}
