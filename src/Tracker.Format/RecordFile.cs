namespace Tracker.Format;

/// <summary>One complete line of a records file: its bytes (valid until the next line is read), where it starts, and its number.</summary>
/// <param name="Bytes">The line without its newline.</param>
/// <param name="Offset">The byte offset of its start in the file.</param>
/// <param name="Number">Its 1-based line number, counted from where reading started.</param>
public readonly record struct RawLine(ReadOnlyMemory<byte> Bytes, long Offset, int Number);

/// <summary>
/// Reads a run's <c>records.jsonl</c> leniently: complete lines only (a torn last line, left by a crash
/// mid-write, is counted, not read), each parsed by <see cref="RecordReader"/>; lines that are not
/// valid records are counted and skipped, and so is a line whose sequence number is at or below one
/// already read (a replay), so every reader of a run directory sees the same records.
/// </summary>
public sealed class RecordFile
{
    private readonly string _path;

    /// <summary>A reader of the records file at <paramref name="path"/>.</summary>
    /// <param name="path">The file; a missing file reads as empty.</param>
    public RecordFile(string path) => _path = path;

    /// <summary>Lines skipped by the last read: torn, corrupt or invalid ones.</summary>
    public int SkippedLines { get; private set; }

    /// <summary>The first problem of the last read, for a message.</summary>
    public RecordFormatException? FirstProblem { get; private set; }

    /// <summary>The records in file order, each sequence number once.</summary>
    /// <param name="afterSeq">Only records with a greater sequence number.</param>
    /// <returns>The records.</returns>
    public IEnumerable<RecordLine> Read(long afterSeq = 0) => ReadWithLines(afterSeq).Select(r => r.Record);

    /// <summary>The records in file order, each sequence number once, with the line each was read from (valid until the next one is read).</summary>
    /// <param name="afterSeq">Only records with a greater sequence number.</param>
    /// <returns>The records and their lines.</returns>
    public IEnumerable<(RecordLine Record, RawLine Line)> ReadWithLines(long afterSeq = 0)
    {
        SkippedLines = 0;
        FirstProblem = null;
        long lastSeq = 0;
        foreach (var line in ReadLines(_path, 0, torn => Skip(new RecordFormatException(torn.Number, "body", "the line is torn (the writer stopped mid-line) or longer than any record."))))
        {
            if (line.Bytes.IsEmpty)
            {
                continue;
            }

            if (!RecordReader.TryParse(line.Bytes.Span, out var record, out var problem))
            {
                Skip(new RecordFormatException(line.Number, problem!.Field, problem.Detail));
                continue;
            }

            if (record!.Seq <= lastSeq)
            {
                Skip(new RecordFormatException(line.Number, "seq", $"seq {record.Seq} repeats or goes back after {lastSeq}; the line is a replay."));
                continue;
            }

            lastSeq = record.Seq;
            if (record.Seq > afterSeq)
            {
                yield return (record, line);
            }
        }
    }

    /// <summary>
    /// The complete lines of a file from <paramref name="offset"/> on, without parsing them. A last
    /// line without its newline is not returned (it may still be being written, or be torn); it is
    /// passed to <paramref name="onTorn"/> when given.
    /// </summary>
    /// <param name="path">The file; a missing file reads as empty.</param>
    /// <param name="offset">Where to start: the start of a line.</param>
    /// <param name="onTorn">Called with an unfinished last line, and with an empty line for each line longer than any record (its bytes are not kept).</param>
    /// <returns>The lines.</returns>
    public static IEnumerable<RawLine> ReadLines(string path, long offset = 0, Action<RawLine>? onTorn = null)
    {
        if (!File.Exists(path))
        {
            yield break;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        stream.Seek(offset, SeekOrigin.Begin);
        var buffer = new byte[1 << 20];
        var filled = 0;
        var bufferOffset = offset; // file offset of buffer[0]
        var number = 0;
        var skipping = false; // inside a line too long to be a record: its bytes are dropped, not buffered
        while (true)
        {
            var read = stream.Read(buffer, filled, buffer.Length - filled);
            filled += read;
            var start = 0;
            while (true)
            {
                var newline = Array.IndexOf(buffer, (byte)'\n', start, filled - start);
                if (newline < 0)
                {
                    break;
                }

                var end = newline > start && buffer[newline - 1] == '\r' ? newline - 1 : newline;
                if (skipping)
                {
                    skipping = false;
                    onTorn?.Invoke(new RawLine(ReadOnlyMemory<byte>.Empty, bufferOffset + start, ++number)); // reported as unreadable
                }
                else
                {
                    yield return new RawLine(buffer.AsMemory(start, end - start), bufferOffset + start, ++number);
                }

                start = newline + 1;
            }

            // Keep the unfinished line; grow the buffer if one line is larger than it.
            Array.Copy(buffer, start, buffer, 0, filled - start);
            filled -= start;
            bufferOffset += start;
            if (read == 0)
            {
                if (filled > 0)
                {
                    onTorn?.Invoke(new RawLine(buffer.AsMemory(0, filled), bufferOffset, ++number));
                }

                yield break;
            }

            if (filled == buffer.Length)
            {
                if (buffer.Length > RecordRules.MaxLineBytes)
                {
                    // No record is this long (a crafted or broken file): drop its bytes up to the next newline.
                    skipping = true;
                    bufferOffset += filled;
                    filled = 0;
                    continue;
                }

                Array.Resize(ref buffer, buffer.Length * 2);
            }
        }
    }

    private void Skip(RecordFormatException problem)
    {
        SkippedLines++;
        FirstProblem ??= problem;
    }
}
