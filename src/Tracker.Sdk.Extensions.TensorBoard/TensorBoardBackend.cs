using System.Text.Json;
using System.Text.Json.Serialization;
using Tracker.Export;
using Tracker.Extensions.TensorBoard.Protos;
using Tracker.Format;
using Tracker.Reading;

namespace Tracker.Extensions.TensorBoard;

/// <summary>
/// Writes a run as TensorBoard event files, as PyTorch's <c>SummaryWriter</c> would have: history as
/// scalars (<c>simple_value</c>, float32), histograms as <c>HistogramProto</c>, images as
/// <c>Summary.Image</c>, texts through the <c>text</c> plugin and the config through the <c>hparams</c>
/// plugin. Register it in <see cref="RunOptions.Backends"/>; like every backend it runs on a loop of its
/// own, off the training thread, following the run directory.
/// </summary>
/// <remarks>
/// <para>
/// Files: <c>&lt;run directory&gt;/tensorboard/</c> by default, or <c>&lt;logDir&gt;/&lt;run name&gt;-&lt;run id&gt;/</c>
/// (one folder per run, as PyTorch's <c>runs/&lt;name&gt;</c>); point <c>tensorboard --logdir</c> at the
/// runs folder or at <c>logDir</c>. Each process that opens the run starts a new event file
/// (<c>events.out.tfevents.&lt;seconds&gt;.&lt;host&gt;.&lt;pid&gt;.&lt;n&gt;</c>), so a resumed run
/// appends a file and never rewrites one.
/// </para>
/// <para>
/// Mapping: a history row is one Event at its step and wall time (the record's time, in seconds), with
/// one value per number (bools as 0 and 1; strings are left out: TensorBoard's scalars are numbers);
/// system metrics keep their <c>system/</c> keys, stepped by sample number. Tables, summary values and
/// tags are not written.
/// </para>
/// <para>
/// Exactly once: the last sequence number written and the event file's length at it are kept in
/// <c>tensorboard.json</c> beside the event files. Records at or below it (a batch that comes again
/// after a crash) are skipped, and bytes past that length (a batch cut short by a crash or a failed
/// write) are cut off before the batch is written again.
/// </para>
/// </remarks>
public sealed class TensorBoardBackend : IRecordBackend
{
    /// <summary>The state file beside the event files; TensorBoard reads only files whose name holds <c>tfevents</c>.</summary>
    internal const string StateFile = "tensorboard.json";

    /// <summary>The folder in the run directory that holds the event files when no log folder is given.</summary>
    internal const string RunFolder = "tensorboard";

    private static readonly JsonSerializerOptions StateJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly string? _logDir;
    private readonly Dictionary<string, object?> _config = new(StringComparer.Ordinal);
    private string _folder = string.Empty;
    private string _runDirectory = string.Empty;
    private double _startTime;
    private State _state = new(0, null, 0);
    private EventFileWriter? _writer;
    private bool _broken;

    /// <summary>Writes the event files into the run directory's <c>tensorboard</c> folder.</summary>
    public TensorBoardBackend()
    {
    }

    /// <summary>Writes the event files into <c>&lt;logDir&gt;/&lt;run name&gt;-&lt;run id&gt;/</c>, so that several runs share one log folder.</summary>
    /// <param name="logDir">The log folder, created when missing (TensorBoard's <c>--logdir</c>).</param>
    /// <exception cref="ArgumentException"><paramref name="logDir"/> is null, empty or blank.</exception>
    public TensorBoardBackend(string logDir)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(logDir);
        _logDir = Path.GetFullPath(logDir);
    }

    /// <summary><c>tensorboard</c>: it names the cursor file <c>backends/tensorboard.json</c>.</summary>
    public string Name => "tensorboard";

    /// <inheritdoc/>
    public Task OpenAsync(RunInfo run, string directory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(directory);
        _runDirectory = directory;
        _folder = _logDir is null ? Path.Combine(directory, RunFolder) : Path.Combine(_logDir, FolderName(run));
        _startTime = run.StartTime.ToUnixTimeMilliseconds() / 1000.0;
        _config.Clear();
        foreach (var (key, value) in run.Config)
        {
            _config[key] = value;
        }

        _state = ReadState();
        CutUnconfirmedTail();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task WriteAsync(BackendBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.LastSeq <= _state.Seq)
        {
            return Task.CompletedTask; // written before a crash, which kept the cursor from moving
        }

        if (_broken)
        {
            Undo();
        }

        try
        {
            var finished = false;
            foreach (var record in batch.Records)
            {
                if (record.Seq <= _state.Seq)
                {
                    continue;
                }

                switch (record)
                {
                    case HistoryLine history:
                        History(history.Block);
                        break;
                    case MediaLine media:
                        Media(media);
                        break;
                    case ValuesLine { IsSummary: false } config:
                        Config(config);
                        break;
                    case FinishLine:
                        finished = true;
                        break;
                }
            }

            var file = _state.File;
            var bytes = _state.Bytes;
            if (_writer is not null)
            {
                _writer.Flush(); // TensorBoard reads what is flushed: each batch shows as it comes
                file = Path.GetFileName(_writer.Path);
                bytes = _writer.Length;
            }

            WriteState(new State(batch.LastSeq, file, bytes));
            if (finished)
            {
                _writer?.Dispose();
                _writer = null;
            }
        }
        catch
        {
            _broken = true; // the file may hold part of the batch: cut off before it comes again
            throw;
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task FlushAsync(CancellationToken cancellationToken)
    {
        _writer?.Dispose();
        _writer = null;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        _writer?.Dispose();
        _writer = null;
        return ValueTask.CompletedTask;
    }

    /// <summary>The run's folder under a shared log folder: its name (made safe for a path) and its id, unique.</summary>
    internal static string FolderName(RunInfo run)
    {
        var invalid = Path.GetInvalidFileNameChars();
        var name = string.Concat(run.Name.Select(c => Array.IndexOf(invalid, c) >= 0 || c is '/' or '\\' || char.IsControl(c) ? '_' : c));
        return name.Length == 0 ? run.Id : $"{name}-{run.Id}";
    }

    private void History(HistoryBlock block)
    {
        for (var row = 0; row < block.Rows; row++)
        {
            Summary? summary = null;
            foreach (var column in block.Columns)
            {
                if (column.IsNumber(row))
                {
                    summary ??= new Summary();
                    summary.Value.Add(EventSummaries.ScalarValue(column.Key, (float)column.Numbers[row])); // Numbers holds bools as 1 and 0
                }
            }

            if (summary is not null)
            {
                Writer().Write(new Event { Step = block.Steps[row], WallTime = block.Times[row] / 1000.0, Summary = summary });
            }
        }
    }

    private void Media(MediaLine line)
    {
        var media = line.Media;
        var wallTime = line.UnixMs / 1000.0;
        switch (media.Kind)
        {
            case "histogram" when media.Bins is { } bins && media.Counts is { } counts && bins.Length == counts.Length + 1:
                Writer().Write(EventSummaries.Histogram(line.Key, bins, counts, line.Step, wallTime));
                break;
            case "text" when media.Text is { } text:
                Writer().Write(EventSummaries.Text(line.Key, text, line.Step, wallTime));
                break;
            case "image" when RunFiles.PathIn(_runDirectory, media.Path) is { } path && File.Exists(path):
                var encoded = File.ReadAllBytes(path);
                Writer().Write(EventSummaries.Image(line.Key, encoded, media.Width, media.Height, Channels(encoded), line.Step, wallTime));
                break;
            default:
                break; // tables, and an image whose file is gone from the run directory: TensorBoard has nothing to show
        }
    }

    private void Config(ValuesLine line)
    {
        var writer = Writer(); // a new file starts with the config as it was: the change follows it
        foreach (var (key, value) in line.Values)
        {
            _config[key] = value;
        }

        writer.Write(EventSummaries.HParams(_config, _startTime));
    }

    /// <summary>The event file of this process, created on first use with the config as its first summary.</summary>
    private EventFileWriter Writer()
    {
        if (_writer is null)
        {
            _writer = new EventFileWriter(_folder);
            if (_config.Count > 0)
            {
                _writer.Write(EventSummaries.HParams(_config, _startTime));
            }
        }

        return _writer;
    }

    /// <summary>After a failed write: drops what the file got past the last confirmed batch; the next batch starts a new file.</summary>
    private void Undo()
    {
        var writer = _writer;
        _writer = null;
        _broken = false;
        if (writer is null)
        {
            CutUnconfirmedTail();
            return;
        }

        try
        {
            writer.Dispose();
        }
        catch (IOException)
        {
            // the bytes it could not write are the ones cut off below
        }

        if (Path.GetFileName(writer.Path) == _state.File)
        {
            CutUnconfirmedTail();
        }
        else
        {
            File.Delete(writer.Path); // created for the failed batch: nothing in it was confirmed
        }
    }

    /// <summary>Cuts the last event file back to the length the state names: records past it are of a batch that will come again.</summary>
    private void CutUnconfirmedTail()
    {
        if (_state.File is null)
        {
            return;
        }

        var path = Path.Combine(_folder, _state.File);
        if (File.Exists(path) && new FileInfo(path).Length > _state.Bytes)
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read);
            stream.SetLength(_state.Bytes);
        }
    }

    private State ReadState()
    {
        var path = Path.Combine(_folder, StateFile);
        if (!File.Exists(path))
        {
            return new State(0, null, 0);
        }

        try
        {
            return JsonSerializer.Deserialize<State>(File.ReadAllBytes(path), StateJson) ?? new State(0, null, 0);
        }
        catch (JsonException ex)
        {
            throw new IOException($"{path} is not the TensorBoard backend's state ({ex.Message}). Delete it to write the run's records again from the worker's cursor.", ex);
        }
    }

    private void WriteState(State state)
    {
        Directory.CreateDirectory(_folder);
        var path = Path.Combine(_folder, StateFile);
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(state, StateJson));
        File.Move(temporary, path, overwrite: true);
        _state = state;
    }

    /// <summary>Channels of an encoded image (Summary.Image's colorspace): from a PNG's colour type; 3 for a JPEG.</summary>
    private static int Channels(ReadOnlySpan<byte> encoded) =>
        encoded.Length > 25 && encoded.StartsWith((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47])
            ? encoded[25] switch { 0 => 1, 4 => 2, 6 => 4, _ => 3 }
            : 3;

    /// <summary>The content of <see cref="StateFile"/>: the last sequence number written, and the event file and its length at it.</summary>
    private sealed record State(
        [property: JsonPropertyName("seq")] long Seq,
        [property: JsonPropertyName("file")] string? File,
        [property: JsonPropertyName("bytes")] long Bytes);
}
