using Tracker.Internal;
using Tracker.Pipeline;

namespace Tracker;

// The media log: images and tables encoded and written on the thread pool, their records joining the run once the file exists; back-pressure past the backlog limit.
public sealed partial class Run
{
    /// <summary>
    /// The media values of the scratch list at the current step: histograms and texts become records
    /// now; each image and table gets a write task, registered here so that Finish waits for it, and
    /// started by the caller outside the lock. Caller holds the lock.
    /// </summary>
    private List<(Task Write, bool Behind)>? AppendMedia(long unixMs)
    {
        List<(Task Write, bool Behind)>? writes = null;
        DrainWrittenMedia();
        foreach (var (_, name, value) in _scratch)
        {
            if (value is not Media media)
            {
                continue;
            }

            if (media is Histogram histogram && histogram.NaNCount + histogram.InfinityCount > 0)
            {
                _diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
                    $"Histogram '{name}' at step {_step} has {histogram.NaNCount:N0} NaN and {histogram.InfinityCount:N0} infinite values; they are counted in the histogram but not binned."));
            }

            if (media.HasFile)
            {
                var behind = Interlocked.Read(ref _mediaPendingBytes) > MediaBacklogLimit;
                (writes ??= []).Add((MediaFileWrite(name, media, _step, unixMs), behind));
            }
            else
            {
                AppendRecord(MediaRecord(name, _step, media.Materialize(MediaDirectory), unixMs));
            }
        }

        if (writes is not null)
        {
            _mediaWrites.RemoveAll(t => t.IsCompleted);
            _mediaWrites.AddRange(writes.Select(w => w.Write));
        }

        return writes;
    }

    /// <summary>
    /// A task, not started, that encodes and writes a media file; its record joins the run once the
    /// file exists (drained by the flush tick, the next media Log and Finish), so a reader never finds
    /// a record without its file. The file's pending bytes count towards the backlog until then.
    /// </summary>
    private Task MediaFileWrite(string key, Media media, long step, long unixMs)
    {
        var pending = media.PendingBytes;
        Interlocked.Add(ref _mediaPendingBytes, pending);
        using (ExecutionContext.SuppressFlow())
        {
            return new Task(() =>
            {
                try
                {
                    _writtenMedia.Enqueue(MediaRecord(key, step, media.Materialize(MediaDirectory), unixMs));
                }
#pragma warning disable CA1031 // a media file that cannot be written must not fail the run or Finish
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Interlocked.Increment(ref _mediaDropped);
                    _diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Error,
                        $"The {media.Kind} '{key}' of step {step} could not be written to {MediaDirectory} and was dropped: {ex.Message}", ex));
                }
                finally
                {
                    Interlocked.Add(ref _mediaPendingBytes, -pending);
                }
            });
        }
    }

    /// <summary>Completes when every media file logged so far is written.</summary>
    private Task MediaFilesWritten()
    {
        lock (_sync)
        {
            return Task.WhenAll([.. _mediaWrites]);
        }
    }

    /// <summary>Records of media whose files are written; caller holds the lock.</summary>
    private void DrainWrittenMedia()
    {
        while (_writtenMedia.TryDequeue(out var record))
        {
            AppendRecord(record);
        }
    }

    /// <summary>A media record, timed when it was logged rather than when its file was written.</summary>
    private static RecordPayload MediaRecord(string key, long step, byte[] media, long unixMs) => new("media", StripBraces(MediaFiles.Json(json =>
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
