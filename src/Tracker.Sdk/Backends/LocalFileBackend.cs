using Tracker.Pipeline;

namespace Tracker.Backends;

/// <summary>
/// Writes a run directory: appends batches to <c>records.jsonl</c> and replaces <c>run.json</c>
/// and <c>summary.json</c> atomically. A failed append is cut back so nothing half-written stays.
/// </summary>
internal sealed class LocalFileBackend : IRunBackend
{
    private readonly string _directory;
    private readonly FileStream _records;
    private readonly JsonlFormatter _formatter = new();
    private long _length;

    private LocalFileBackend(string directory, FileStream records)
    {
        _directory = directory;
        _records = records;
        _length = records.Length;
    }

    /// <summary>
    /// Opens (or creates) a run directory for appending and writes its first run.json.
    /// A torn last line left by a crash is cut off so that new lines start clean.
    /// </summary>
    public static LocalFileBackend Open(string directory, byte[] runJson)
    {
        Directory.CreateDirectory(directory);
        Directory.CreateDirectory(Path.Combine(directory, "media"));
        Directory.CreateDirectory(Path.Combine(directory, "files"));
        var records = new FileStream(Path.Combine(directory, RunFiles.RecordsFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
        try
        {
            records.SetLength(LengthWithoutTornTail(records));
            ReplaceAtomically(Path.Combine(directory, RunFiles.RunFile), runJson);
            return new LocalFileBackend(directory, records);
        }
        catch
        {
            records.Dispose();
            throw;
        }
    }

    public Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _formatter.Format(batch);

        // The newest metadata in the batch wins.
        byte[]? runJson = null;
        byte[]? summaryJson = null;
        foreach (var chunk in batch.Chunks)
        {
            foreach (ref readonly var entry in chunk.Entries.AsSpan(0, chunk.Count))
            {
                if (entry.Payload is RecordPayload payload)
                {
                    runJson = payload.RunJson ?? runJson;
                    summaryJson = payload.SummaryJson ?? summaryJson;
                }
            }
        }

        // All of the batch or none of it: a failed replacement cuts the appended lines back too, or
        // the retry would write them a second time.
        try
        {
            _records.Position = _length;
            _records.Write(_formatter.Written.Span);
            if (summaryJson is not null)
            {
                ReplaceAtomically(Path.Combine(_directory, RunFiles.SummaryFile), summaryJson);
            }

            if (runJson is not null)
            {
                ReplaceAtomically(Path.Combine(_directory, RunFiles.RunFile), runJson);
            }
        }
        catch
        {
            TryCutBack();
            throw;
        }

        _length += _formatter.Written.Length;
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            _records.Flush(flushToDisk: true);
        }
        finally
        {
            _records.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Writes a temporary file, flushes it to disk, and renames it over the target.</summary>
    internal static void ReplaceAtomically(string path, byte[] content)
    {
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    private static long LengthWithoutTornTail(FileStream stream)
    {
        var length = stream.Length;
        var buffer = new byte[4096];
        var end = length;
        while (end > 0)
        {
            var start = Math.Max(0, end - buffer.Length);
            stream.Position = start;
            stream.ReadExactly(buffer, 0, (int)(end - start));
            var newline = Array.LastIndexOf(buffer, (byte)'\n', (int)(end - start) - 1);
            if (newline >= 0)
            {
                return start + newline + 1;
            }

            end = start;
        }

        return 0;
    }

    private void TryCutBack()
    {
        try
        {
            _records.SetLength(_length);
        }
#pragma warning disable CA1031 // the original write error is the one to report
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
