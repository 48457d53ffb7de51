using System.Text;
using System.Text.Json;
using Tracker.Internal;

namespace Tracker.Reading;

/// <summary>One line of <c>records.jsonl</c>.</summary>
/// <param name="Seq">Per-run sequence number.</param>
/// <param name="Type">Record type: <c>history</c>, <c>config</c>, <c>summary</c>, <c>metric</c>, <c>run</c>, <c>system</c>, <c>output</c>, <c>media</c>, <c>finish</c>.</param>
/// <param name="Timestamp">When the record was made.</param>
/// <param name="Json">The whole line as JSON.</param>
public sealed record RunRecord(long Seq, string Type, DateTimeOffset Timestamp, string Json);

/// <summary>One step of a run's history, with the values logged at that step.</summary>
/// <param name="Step">The step (<c>_step</c>).</param>
/// <param name="Timestamp">When the step's first value was logged (<c>_time</c>).</param>
/// <param name="Runtime">Time since the run started (<c>_runtime</c>).</param>
/// <param name="Values">Values by key as logged: double (NaN and infinities included), long (ulong above long.MaxValue), bool or string.</param>
public sealed record HistoryRow(long Step, DateTimeOffset Timestamp, TimeSpan Runtime, IReadOnlyDictionary<string, object?> Values);

/// <summary>One media value of a run: an image, histogram, table or text logged at a step.</summary>
/// <param name="Step">The step it was logged at.</param>
/// <param name="Key">Its key.</param>
/// <param name="Timestamp">When it was logged.</param>
/// <param name="Kind"><c>image</c>, <c>histogram</c>, <c>table</c> or <c>text</c>.</param>
/// <param name="Json">The record's <c>media</c> object (docs/protocol.md): sizes, bins and counts, text, or the file's hash.</param>
/// <param name="FilePath">The full path of the image or table file; null for histograms and texts.</param>
public sealed record MediaRecord(long Step, string Key, DateTimeOffset Timestamp, string Kind, string Json, string? FilePath)
{
    /// <summary>The media object read by the run format: sizes, caption, bins and counts, text, file name.</summary>
    public MediaItem Item { get; init; } = new(Kind, Json);
}

/// <summary>
/// Reads a run directory written by Tracker, through the run format's one reader: a torn last line
/// (a crash mid-write) and lines that are not valid records are counted in <see cref="SkippedLines"/>
/// and skipped, and replayed sequence numbers are ignored.
/// </summary>
public sealed class RunReader
{
    private RunReader(string directory, RunInfo info)
    {
        Directory = directory;
        Info = info;
    }

    /// <summary>The run directory.</summary>
    public string Directory { get; }

    /// <summary>The run's metadata from <c>run.json</c>.</summary>
    public RunInfo Info { get; }

    /// <summary>Lines skipped by the last full read: a torn last line or lines that are not valid records.</summary>
    public int SkippedLines { get; private set; }

    /// <summary>Opens a run directory.</summary>
    /// <param name="runDirectory">A folder containing <c>run.json</c>.</param>
    /// <exception cref="DirectoryNotFoundException">The folder or its run.json does not exist.</exception>
    /// <exception cref="InvalidDataException">run.json is not valid, or one of the run's files is a
    /// directory or a symbolic link that leads out of the run directory (a crafted run must not make a
    /// reader read or show files from elsewhere).</exception>
    public static RunReader Open(string runDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(runDirectory);
        var runFile = Path.Combine(runDirectory, RunFiles.RunFile);
        if (!File.Exists(runFile) && new FileInfo(runFile).LinkTarget is null)
        {
            throw new DirectoryNotFoundException($"{runDirectory} is not a run directory: it has no {RunFiles.RunFile}.");
        }

        foreach (var name in (string[])[RunFiles.RunFile, RunFiles.RecordsFile, RunFiles.SummaryFile, RunFiles.SyncFile])
        {
            var path = Path.Combine(runDirectory, name);
            if (System.IO.Directory.Exists(path) && new FileInfo(path).LinkTarget is null)
            {
                throw new InvalidDataException($"{path} is a directory, not the run's {name} file.");
            }

            if (new FileInfo(path).LinkTarget is { } target && RunFiles.PathIn(runDirectory, name) is null)
            {
                throw new InvalidDataException($"{path} is a symbolic link to {target}, outside the run directory: it is not followed.");
            }
        }

        var records = Path.Combine(runDirectory, RunFiles.RecordsFile);
        if (File.Exists(records))
        {
            // Unreadable (permissions) is found now, with its path, not halfway through a command.
            File.OpenHandle(records, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete).Dispose();
        }

        try
        {
            var info = (JsonSerializer.Deserialize<RunInfo>(File.ReadAllBytes(runFile), Json.Options)
                ?? throw new InvalidDataException($"{runFile} is empty.")).WithEmptyCollections();
            return new RunReader(Path.GetFullPath(runDirectory), info);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{runFile} is not a valid run file: {ex.Message}", ex);
        }
    }

    /// <summary>Run directories (<c>&lt;root&gt;/&lt;project&gt;/&lt;id&gt;</c>) under a root folder such as <c>./tracker-runs</c>.</summary>
    /// <param name="root">The root folder.</param>
    /// <returns>The run directories, sorted; empty when the root does not exist.</returns>
    public static IReadOnlyList<string> FindRuns(string root) =>
        !System.IO.Directory.Exists(root) ? [] :
        System.IO.Directory.EnumerateDirectories(root)
            .SelectMany(System.IO.Directory.EnumerateDirectories)
            .Where(d => File.Exists(Path.Combine(d, RunFiles.RunFile)))
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>
    /// The sequence number of the last complete record in a run directory's records.jsonl, read from
    /// its tail (cheap however long the run): a torn last line and lines that are not records do not count.
    /// </summary>
    /// <param name="runDirectory">The run directory.</param>
    /// <returns>The seq; 0 when there is no record.</returns>
    public static long ReadLastSeq(string runDirectory)
    {
        if (RunFiles.PathIn(runDirectory, RunFiles.RecordsFile) is not { } path || !File.Exists(path))
        {
            return 0; // none, or a link out of the run directory (Open refuses the run)
        }

        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(file);
        for (var window = 64 * 1024L; ; window *= 4)
        {
            var start = Math.Max(0, length - window);
            var buffer = new byte[length - start];
            var read = RandomAccess.Read(file, buffer, start);
            var data = buffer.AsSpan(0, read);
            var end = data.LastIndexOf((byte)'\n'); // a torn last line does not count
            while (end >= 0)
            {
                var lineStart = data[..end].LastIndexOf((byte)'\n') + 1;
                if (lineStart == 0 && start > 0)
                {
                    break; // the line goes on before the window: read more
                }

                var line = data[lineStart..end];
                if (RecordReader.ReadSeq(line) is var seq and > 0)
                {
                    return seq;
                }

                end = lineStart - 1; // not a record: look at the line before
            }

            if (start == 0)
            {
                return 0;
            }
        }
    }

    /// <summary>Streams the records in file order, each sequence number once.</summary>
    /// <param name="afterSeq">Only records with a greater sequence number.</param>
    /// <returns>The records.</returns>
    public IEnumerable<RunRecord> ReadRecords(long afterSeq = 0)
    {
        var file = new RecordFile(RecordsPath);
        foreach (var (record, line) in file.ReadWithLines(afterSeq))
        {
            yield return new RunRecord(record.Seq, record.Type, DateTimeOffset.FromUnixTimeMilliseconds(record.UnixMs), Encoding.UTF8.GetString(line.Bytes.Span));
        }

        SkippedLines = file.SkippedLines;
    }

    /// <summary>The run's media records in step order (a media record is written when its file is, so the file's order may differ).</summary>
    /// <param name="key">Only this key's media; all when null.</param>
    /// <returns>The media records.</returns>
    public IReadOnlyList<MediaRecord> ReadMedia(string? key = null) =>
    [
        .. Records().OfType<MediaLine>()
            .Where(m => key is null || m.Key == key)
            .Select(m => new MediaRecord(m.Step, m.Key, DateTimeOffset.FromUnixTimeMilliseconds(m.UnixMs), m.Media.Kind, m.Media.Json,
                m.Media.Path is { } relative ? RunFiles.PathIn(Directory, relative) : null) { Item = m.Media })
            .OrderBy(m => m.Step),
    ];

    /// <summary>Streams the history, one row per step; lines of the same step are merged, later values winning.</summary>
    /// <returns>The history rows in step order.</returns>
    public IEnumerable<HistoryRow> ReadHistory()
    {
        Dictionary<string, object?>? values = null;
        long step = 0;
        long unixMs = 0;
        foreach (var history in Records().OfType<HistoryLine>().Where(h => !h.IsSystem))
        {
            var block = history.Block;
            for (var row = 0; row < block.Rows; row++)
            {
                if (values is null || block.Steps[row] != step)
                {
                    if (values is not null)
                    {
                        yield return Row(step, unixMs, values);
                    }

                    (step, unixMs, values) = (block.Steps[row], block.Times[row], new Dictionary<string, object?>(StringComparer.Ordinal));
                }

                foreach (var column in block.Columns)
                {
                    var value = column.Value(row);
                    if (!ReferenceEquals(value, HistoryColumn.Absent))
                    {
                        values[column.Key] = value;
                    }
                }
            }
        }

        if (values is not null)
        {
            yield return Row(step, unixMs, values);
        }
    }

    /// <summary>
    /// Every numeric history value as (key, step, value), in file order, without building rows:
    /// the fast way to chart or bucket a long run. Bools count as 1 and 0; text and nulls are left out.
    /// </summary>
    /// <param name="onPoint">Called with each point's key, step and value.</param>
    public void ReadPoints(Action<string, long, double> onPoint)
    {
        foreach (var history in Records().OfType<HistoryLine>().Where(h => !h.IsSystem))
        {
            var block = history.Block;
            foreach (var column in block.Columns)
            {
                for (var row = 0; row < block.Rows; row++)
                {
                    if (column.IsNumber(row))
                    {
                        onPoint(column.Key, block.Steps[row], column.Numbers[row]);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The run's metadata as the SDK sends it to a server (the body of an upsert, docs/protocol.md):
    /// <see cref="Info"/> serialized by the run format's JSON options.
    /// </summary>
    /// <returns>UTF-8 JSON.</returns>
    public byte[] ReadRunJson() => Json.Serialize(Info);

    /// <summary>The run's records folded into its state: summary, config, tags, notes, final state, next step (see <see cref="RunFold"/>).</summary>
    /// <returns>The fold.</returns>
    public RunFold ReadState() => new RunFold().ApplyAll(Records());

    /// <summary>
    /// The run's summary: <c>summary.json</c> when the run finished, otherwise the fold of its records
    /// (each metric by its definition, with the user's overrides), as the run itself computes it.
    /// </summary>
    /// <returns>Summary values by key.</returns>
    public IReadOnlyDictionary<string, object?> ReadSummary()
    {
        var summaryFile = Path.Combine(Directory, RunFiles.SummaryFile);
        if (Info.State != RunStates.Running && File.Exists(summaryFile))
        {
            var bytes = File.ReadAllBytes(summaryFile);
            var reader = new Utf8JsonReader(bytes);
            reader.Read();
            return RecordValue.Read(ref reader) as Dictionary<string, object?> ?? [];
        }

        return ReadState().Summary.Snapshot();
    }

    private string RecordsPath => Path.Combine(Directory, RunFiles.RecordsFile);

    private HistoryRow Row(long step, long unixMs, Dictionary<string, object?> values)
    {
        var timestamp = DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
        return new(step, timestamp, timestamp - Info.StartTime, values);
    }

    /// <summary>The valid records, each sequence number once; counts what it skips.</summary>
    private IEnumerable<RecordLine> Records()
    {
        var file = new RecordFile(RecordsPath);
        foreach (var record in file.Read())
        {
            yield return record;
        }

        SkippedLines = file.SkippedLines;
    }
}
