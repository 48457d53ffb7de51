using System.Numerics;
using Microsoft.Win32.SafeHandles;
using Tracker.Internal;

namespace Tracker.Online;

/// <summary>
/// Reads the part of records.jsonl after a cursor in bounded batches for a follower of the file: the
/// worker of each backend (<see cref="Pipeline.BackendWorker"/>), the server upload's included.
/// The backlog stays in the file, so an outage of any length costs one batch of memory. Owned by one
/// follower's loop; not thread-safe.
/// </summary>
/// <param name="directory">The run directory holding records.jsonl.</param>
/// <param name="diagnostics">Where a line that is not a record is reported.</param>
internal sealed class RecordTail(string directory, DiagnosticsSink diagnostics)
{
    private const int MinBufferBytes = 64 * 1024;

    private byte[] _buffer = [];
    private long _offset;
    private int _maxLines = RunSync.MaxBatchLines;

    /// <summary>The batch's lines, valid until the next read.</summary>
    public ReadOnlyMemory<byte> Lines(Batch batch) => _buffer.AsMemory(batch.Start, batch.Length);

    /// <summary>Reads from the start of the file again (the server has less than it acknowledged, or is another server).</summary>
    public void Rewind() => _offset = 0;

    /// <summary>The server has the batch: the next read starts after it.</summary>
    public void Consumed(Batch batch)
    {
        _offset += batch.Length;
        if (_buffer.Length > RunSync.MaxBatchBytes)
        {
            _buffer = []; // grown for one long line; give the memory back
        }
    }

    /// <summary>The server takes smaller bodies than ours: send fewer lines from now on.</summary>
    public void Shrink(Batch refused) => _maxLines = Math.Max(1, refused.Lines / 2);

    /// <summary>
    /// Reads the next batch after <paramref name="acked"/> into the buffer: lines the backend has
    /// reported written (up to <paramref name="written"/>), at most <see cref="RunSync.MaxBatchLines"/>
    /// of them and <see cref="RunSync.MaxBatchBytes"/> (more only for a single longer line). Lines the
    /// server already has, and lines that are not records, are skipped. A line not reported yet may
    /// still be cut back by a failed write.
    /// </summary>
    /// <returns>The batch; no lines when there is nothing to send.</returns>
    public Batch Read(long written, long acked)
    {
        using var file = File.OpenHandle(Path.Combine(directory, RunFiles.RecordsFile), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        while (true)
        {
            // Sized to the backlog, so a run that keeps up holds a small buffer.
            var wanted = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(RandomAccess.GetLength(file) - _offset, MinBufferBytes, RunSync.MaxBatchBytes));
            if (_buffer.Length < wanted)
            {
                _buffer = new byte[wanted];
            }

            var read = ReadAt(file, _buffer, _offset);
            var data = _buffer.AsSpan(0, read);
            int start = 0, end = 0, lines = 0;
            long first = 0, last = 0;
            var unreported = false;
            while (lines < _maxLines)
            {
                var newline = data[end..].IndexOf((byte)'\n');
                if (newline < 0)
                {
                    break;
                }

                var seq = RecordReader.ReadSeq(data.Slice(end, newline));
                if (lines == 0 && seq <= acked)
                {
                    if (seq < 0)
                    {
                        diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
                            $"Line at byte {_offset + end:N0} of {RunFiles.RecordsFile} in {directory} is not a record; it is not sent."));
                    }

                    end += newline + 1;
                    start = end;
                    continue;
                }

                if (seq > written)
                {
                    unreported = true;
                    break;
                }

                if (lines > 0 && (seq <= last || end + newline + 1 - start > RunSync.MaxBatchBytes))
                {
                    break; // not a record or a replayed seq (the next read skips it), or a full batch
                }

                first = lines == 0 ? seq : first;
                last = seq;
                lines++;
                end += newline + 1;
            }

            _offset += start;
            if (lines > 0)
            {
                return new Batch(start, end - start, lines, first, last);
            }

            if (start > 0)
            {
                continue; // skipped everything read so far: read on from there
            }

            if (read < _buffer.Length || unreported)
            {
                return default; // nothing, the start of a line being written, or a line not reported yet
            }

            Array.Resize(ref _buffer, checked(_buffer.Length * 2)); // one line longer than the buffer
        }
    }

    private static int ReadAt(SafeFileHandle file, byte[] buffer, long offset)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = RandomAccess.Read(file, buffer.AsSpan(total), offset + total);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    /// <summary>Lines <c>Start</c>..<c>Start + Length</c> of the tail's buffer, sequence numbers <c>FirstSeq</c> to <c>LastSeq</c>.</summary>
    public readonly record struct Batch(int Start, int Length, int Lines, long FirstSeq, long LastSeq);
}
