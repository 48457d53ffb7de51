using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Tracker.Extensions.TensorBoard;
using Tracker.Extensions.TensorBoard.Protos;
using Tracker.Extensions.TensorBoard.Protos.HParams;
using TensorType = Tracker.Extensions.TensorBoard.Protos.DataType;

namespace Tracker.Cli.Import;

/// <summary>What one run's import added and skipped.</summary>
internal sealed record TensorBoardImportResult(
    string Source, string RunDirectory, string RunId, long Scalars, long Histograms, long Images, long Texts, long HParams, long Corrupt, long Skipped, IReadOnlyList<string> Problems);

/// <summary>
/// Turns the event files of one TensorBoard run folder into a local Tracker run, through the
/// format's one writer: scalars into history (their steps and wall times), histograms, images and
/// text into media records, hparams into config. Resumable: the offset reached in each event file
/// and the length of records.jsonl are kept in <see cref="CursorFile"/>, so a second import appends
/// only what the files gained, and a crash between writing records and the cursor is undone by
/// cutting records.jsonl back to the length the cursor names.
/// </summary>
internal sealed class TensorBoardImport
{
    /// <summary>The import's cursor in the run directory.</summary>
    public const string CursorFile = "tensorboard.json";

    /// <summary>PyTorch's <c>add_text</c> appends this to the tag; the key is the tag the user gave.</summary>
    private const string TextSuffix = "/text_summary";

    private const int FlushBytes = 1 << 20;

    private readonly RecordWriter _writer = new();
    private readonly List<string> _problems = [];
    private readonly Dictionary<string, byte[]> _keyNames = new(StringComparer.Ordinal);
    private readonly List<(byte[] Key, double Value)> _row = [];
    private Cursor _cursor = new();
    private FileStream? _records;
    private string _runDirectory = "";
    private long _seq;
    private long _rowStep = -1;
    private long _rowTs;
    private long _scalars, _histograms, _images, _texts, _hparams, _skipped;

    /// <summary>A stable run id for a source folder: <c>tb-</c> and 16 hex digits of the SHA-256 of its full path.</summary>
    public static string RunIdFor(string sourceFolder) =>
        "tb-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(sourceFolder).TrimEnd(Path.DirectorySeparatorChar))))[..16];

    /// <summary>
    /// The runs under <paramref name="root"/>: each folder that holds event files, with the event
    /// files of the folders below it that hold event files too (PyTorch's <c>add_hparams</c> writes
    /// into <c>&lt;run&gt;/&lt;timestamp&gt;/</c>), in the order of their names, the folder's own first.
    /// </summary>
    public static IReadOnlyList<(string Folder, IReadOnlyList<string> Files)> FindRuns(string root)
    {
        var folders = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => EventFraming.IsEventFile(Path.GetFileName(f)))
            .GroupBy(f => Path.GetDirectoryName(f)!)
            .Select(g => g.Key)
            .Order(StringComparer.Ordinal)
            .ToList();
        var runs = new List<(string Folder, List<string> Files)>();
        foreach (var folder in folders)
        {
            var owner = runs.FindLast(r => folder.StartsWith(r.Folder + Path.DirectorySeparatorChar, StringComparison.Ordinal));
            var files = Directory.EnumerateFiles(folder).Where(f => EventFraming.IsEventFile(Path.GetFileName(f))).Order(StringComparer.Ordinal);
            if (owner.Folder is null)
            {
                runs.Add((folder, files.ToList()));
            }
            else
            {
                owner.Files.AddRange(files);
            }
        }

        return runs.Select(r => (r.Folder, (IReadOnlyList<string>)r.Files)).ToList();
    }

    /// <summary>Imports one run folder's event files into <c>&lt;dir&gt;/&lt;project&gt;/&lt;run id&gt;</c>.</summary>
    public TensorBoardImportResult Import(string root, string folder, IReadOnlyList<string> files, string dir, string project)
    {
        var runId = RunIdFor(folder);
        _runDirectory = Path.Combine(dir, project, runId);
        Directory.CreateDirectory(_runDirectory);
        _cursor = ReadCursor();
        var recordsPath = Path.Combine(_runDirectory, RunFiles.RecordsFile);
        _records = new FileStream(recordsPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        long corrupt = 0;
        try
        {
            if (_records.Length < _cursor.RecordsBytes)
            {
                throw new CliException($"{recordsPath} is shorter ({_records.Length:N0} bytes) than the import wrote ({_cursor.RecordsBytes:N0}); it was changed by hand. Delete {_runDirectory} and import again.");
            }

            if (_records.Length > _cursor.RecordsBytes)
            {
                _records.SetLength(_cursor.RecordsBytes); // lines written after the last cursor, by an import that stopped
            }

            _records.Position = _cursor.RecordsBytes;
            _seq = _cursor.Seq;
            foreach (var file in files)
            {
                var name = Path.GetRelativePath(folder, file).Replace(Path.DirectorySeparatorChar, '/');
                _cursor.Files.TryGetValue(name, out var offset);
                using var reader = new EventFileReader(file, offset);
                while (reader.TryRead(out var value))
                {
                    Add(value!);
                }

                EndRow();
                Flush();
                corrupt += reader.CorruptRecords;
                _cursor.Files[name] = reader.Offset;
                _cursor.Corrupt += reader.CorruptRecords;
                _cursor.RecordsBytes = _records.Position;
                _cursor.Seq = _seq;
                WriteRunJson(Path.GetRelativePath(root, folder) is "." ? Path.GetFileName(Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar)) : Path.GetRelativePath(root, folder).Replace(Path.DirectorySeparatorChar, '/'), folder, runId, project);
                WriteCursor();
            }
        }
        finally
        {
            _records.Dispose();
            _records = null;
        }

        return new(folder, _runDirectory, runId, _scalars, _histograms, _images, _texts, _hparams, corrupt, _skipped, _problems);
    }

    private void Add(Event e)
    {
        var ts = (long)Math.Round(e.WallTime * 1000);
        if (e.WallTime > 0)
        {
            _cursor.FirstTs = _cursor.FirstTs == 0 ? ts : Math.Min(_cursor.FirstTs, ts);
            _cursor.LastTs = Math.Max(_cursor.LastTs, ts);
        }

        if (e.WhatCase != Event.WhatOneofCase.Summary)
        {
            return; // file_version, graphs, session logs: nothing Tracker shows
        }

        foreach (var value in e.Summary.Value)
        {
            var plugin = value.Metadata?.PluginData?.PluginName;
            if (plugin == EventSummaries.HParamsPlugin)
            {
                HParams(value, ts);
                continue;
            }

            switch (value.ValueCase)
            {
                case Summary.Types.Value.ValueOneofCase.SimpleValue:
                    Scalar(value.Tag, e.Step, ts, value.SimpleValue);
                    break;
                case Summary.Types.Value.ValueOneofCase.Tensor when plugin == EventSummaries.TextPlugin || value.Tensor.Dtype == TensorType.DtString:
                    var tag = value.Tag.EndsWith(TextSuffix, StringComparison.Ordinal) ? value.Tag[..^TextSuffix.Length] : value.Tag;
                    Media(tag, e.Step, ts, "text", json => json.WriteString("text", EventSummaries.TensorText(value.Tensor)));
                    break;
                case Summary.Types.Value.ValueOneofCase.Tensor when ScalarOf(value.Tensor) is { } scalar:
                    Scalar(value.Tag, e.Step, ts, scalar); // TensorFlow 2 writes scalars as rank-0 tensors
                    break;
                case Summary.Types.Value.ValueOneofCase.Histo:
                    Histogram(value.Tag, e.Step, ts, value.Histo);
                    break;
                case Summary.Types.Value.ValueOneofCase.Image:
                    Image(value.Tag, e.Step, ts, value.Image);
                    break;
                default:
                    Skip($"{value.Tag} at step {e.Step}: {value.ValueCase} values are not imported.");
                    break;
            }
        }
    }

    private static double? ScalarOf(TensorProto tensor) =>
        tensor.TensorShape is { Dim.Count: > 0 } ? null
        : tensor.Dtype == TensorType.DtFloat && tensor.FloatVal.Count == 1 ? tensor.FloatVal[0]
        : tensor.Dtype == TensorType.DtDouble && tensor.DoubleVal.Count == 1 ? tensor.DoubleVal[0]
        : tensor.Dtype == TensorType.DtFloat && tensor.TensorContent.Length == 4 ? BitConverter.ToSingle(tensor.TensorContent.Span)
        : tensor.Dtype == TensorType.DtDouble && tensor.TensorContent.Length == 8 ? BitConverter.ToDouble(tensor.TensorContent.Span)
        : null;

    private void Scalar(string tag, long step, long ts, double value)
    {
        if (Refused(tag, step, metric: true))
        {
            return;
        }

        if (!_keyNames.TryGetValue(tag, out var key))
        {
            key = RecordWriter.KeyName(tag);
            _keyNames[tag] = key;
        }

        // Values at one step form one row, as one Log call would; a key seen again starts the next.
        if (step != _rowStep || _row.Exists(v => ReferenceEquals(v.Key, key)))
        {
            EndRow();
            _rowStep = step;
            _rowTs = ts;
        }

        _row.Add((key, value));
        _scalars++;
    }

    private void EndRow()
    {
        if (_row.Count == 0)
        {
            return;
        }

        _writer.BeginRow(++_seq, _rowStep, _rowTs);
        for (var i = 0; i < _row.Count; i++)
        {
            _writer.Key(_row[i].Key, first: i == 0);
            _writer.Double(_row[i].Value);
        }

        _writer.EndHistory();
        _row.Clear();
        _rowStep = -1;
        if (_writer.Written.Length >= FlushBytes)
        {
            Flush();
        }
    }

    private void Histogram(string tag, long step, long ts, HistogramProto histogram)
    {
        // TensorBoard's buckets run from the previous limit (-DBL_MAX for the first) up to their
        // limit; Tracker's need finite edges, so the open ends close at the values' min and max.
        var limits = histogram.BucketLimit;
        var counts = histogram.Bucket;
        if (limits.Count == 0 || limits.Count != counts.Count)
        {
            Skip($"{tag} at step {step}: a histogram with {limits.Count} bucket limits and {counts.Count} counts.");
            return;
        }

        var edges = new double[limits.Count + 1];
        edges[0] = histogram.Min < limits[0] ? histogram.Min : limits[0] - (limits.Count > 1 ? limits[1] - limits[0] : 1);
        for (var i = 0; i < limits.Count; i++)
        {
            var limit = limits[i];
            edges[i + 1] = double.IsFinite(limit) && limit < double.MaxValue ? limit : Math.Max(histogram.Max, edges[i] + 1);
        }

        for (var i = 1; i < edges.Length; i++)
        {
            if (!double.IsFinite(edges[i]) || !(edges[i] > edges[i - 1]))
            {
                Skip($"{tag} at step {step}: the histogram's bucket limits are not finite and ascending.");
                return;
            }
        }

        if (Media(tag, step, ts, "histogram", json =>
            {
                json.WriteStartArray("bins");
                foreach (var edge in edges)
                {
                    RecordValue.WriteDouble(json, edge);
                }

                json.WriteEndArray();
                json.WriteStartArray("counts");
                foreach (var count in counts)
                {
                    RecordValue.Write(json, count == Math.Floor(count) && count < 1e15 ? (object)(long)count : count); // counts as integers, as the SDK writes them
                }

                json.WriteEndArray();
                json.WriteNumber("nan", 0);
                json.WriteNumber("inf", 0);
            }))
        {
            _histograms++;
        }
    }

    private void Image(string tag, long step, long ts, Summary.Types.Image image)
    {
        var bytes = image.EncodedImageString.Span;
        var format = bytes.StartsWith((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47]) ? "png" : bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]) ? "jpeg" : null;
        if (format is null)
        {
            Skip($"{tag} at step {step}: the image is neither PNG nor JPEG.");
            return;
        }

        var sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var size = bytes.Length;
        var relative = $"{RunFiles.MediaFolder}/{sha256}{(format == "png" ? ".png" : ".jpg")}";
        if (Refused(tag, step, metric: false))
        {
            return;
        }

        var path = RunFiles.PathIn(_runDirectory, relative)!;
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, bytes);
        }

        if (Media(tag, step, ts, "image", json =>
            {
                json.WriteString("sha256", sha256);
                json.WriteString("path", relative);
                json.WriteString("format", format);
                json.WriteNumber("width", image.Width);
                json.WriteNumber("height", image.Height);
                json.WriteNumber("bytes", size);
            }))
        {
            _images++;
        }
    }

    private void HParams(Summary.Types.Value value, long ts)
    {
        HParamsPluginData data;
        try
        {
            data = HParamsPluginData.Parser.ParseFrom(value.Metadata.PluginData.Content);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            Skip($"{value.Tag}: the hparams plugin data is not readable.");
            return;
        }

        if (data.DataCase != HParamsPluginData.DataOneofCase.SessionStartInfo || data.SessionStartInfo.Hparams.Count == 0)
        {
            return; // the experiment's declarations and the session's end: nothing new for the config
        }

        var values = data.SessionStartInfo.Hparams.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        foreach (var (name, _) in values)
        {
            if (RecordRules.KeyProblem(name, metric: false) is { } problem)
            {
                Skip($"hparam {RecordRules.Printable(name)}: {problem}");
                return;
            }
        }

        EndRow();
        var fields = Fields(json =>
        {
            json.WriteStartObject("values");
            foreach (var (name, v) in values)
            {
                json.WritePropertyName(name);
                RecordValue.Write(json, Plain(v));
            }

            json.WriteEndObject();
        });
        _writer.Record(++_seq, "config", ts, fields);
        foreach (var (name, v) in values)
        {
            using var document = JsonDocument.Parse(RecordValue.ToJson(Plain(v)));
            _cursor.Config[name] = document.RootElement.Clone();
        }
        _hparams += values.Count;
    }

    private static object? Plain(Google.Protobuf.WellKnownTypes.Value value) => value.KindCase switch
    {
        Google.Protobuf.WellKnownTypes.Value.KindOneofCase.NumberValue => value.NumberValue,
        Google.Protobuf.WellKnownTypes.Value.KindOneofCase.StringValue => value.StringValue,
        Google.Protobuf.WellKnownTypes.Value.KindOneofCase.BoolValue => value.BoolValue,
        _ => null,
    };

    private bool Media(string tag, long step, long ts, string type, Action<Utf8JsonWriter> body)
    {
        if (type == "text" && Refused(tag, step, metric: false))
        {
            return false;
        }

        EndRow();
        var fields = Fields(json =>
        {
            json.WriteNumber("step", step);
            json.WriteString("key", tag);
            json.WriteStartObject("media");
            json.WriteString("_type", type);
            body(json);
            json.WriteEndObject();
        });
        _writer.Record(++_seq, "media", ts, fields);
        if (type == "text")
        {
            _texts++;
        }

        return true;
    }

    /// <summary>JSON members without the braces around them, as <see cref="RecordWriter.Record"/> takes them.</summary>
    private static byte[] Fields(Action<Utf8JsonWriter> members)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, RecordValue.WriterOptions))
        {
            json.WriteStartObject();
            members(json);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan[1..^1].ToArray();
    }

    private bool Refused(string tag, long step, bool metric)
    {
        var problem = RecordRules.KeyProblem(tag, metric) ?? RecordRules.StepProblem(step);
        if (problem is not null)
        {
            Skip($"{RecordRules.Printable(tag)} at step {step}: {problem}");
        }

        return problem is not null;
    }

    private void Skip(string problem)
    {
        _skipped++;
        if (_problems.Count < 10)
        {
            _problems.Add(problem);
        }
    }

    private void Flush()
    {
        _records!.Write(_writer.Written.Span);
        _writer.Clear();
        _records.Flush(flushToDisk: false);
    }

    private void WriteRunJson(string name, string folder, string runId, string project)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = RecordValue.WriterOptions.Encoder }))
        {
            json.WriteStartObject();
            json.WriteString("id", runId);
            json.WriteString("project", project);
            json.WriteString("name", name);
            json.WriteStartArray("tags");
            json.WriteStringValue("tensorboard");
            json.WriteEndArray();
            json.WriteString("notes", $"Imported from TensorBoard event files in {Path.GetFullPath(folder)}.");
            json.WriteString("mode", "offline");
            json.WriteStartObject("config"); // the hparams, as show and ls read them; the config records carry them to a server
            foreach (var (key, value) in _cursor.Config.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                json.WritePropertyName(key);
                RecordValue.Write(json, RecordValue.FromJson(value));
            }

            json.WriteEndObject();
            json.WriteString("start_time", DateTimeOffset.FromUnixTimeMilliseconds(_cursor.FirstTs).ToString("O", CultureInfo.InvariantCulture));
            json.WriteString("end_time", DateTimeOffset.FromUnixTimeMilliseconds(Math.Max(_cursor.FirstTs, _cursor.LastTs)).ToString("O", CultureInfo.InvariantCulture));
            json.WriteString("state", "finished");
            json.WriteNumber("exit_code", 0);
            json.WriteEndObject();
        }

        ReplaceIfChanged(Path.Combine(_runDirectory, RunFiles.RunFile), buffer.WrittenSpan);
    }

    private Cursor ReadCursor()
    {
        var path = Path.Combine(_runDirectory, CursorFile);
        if (!File.Exists(path))
        {
            return new Cursor();
        }

        try
        {
            return JsonSerializer.Deserialize<Cursor>(File.ReadAllBytes(path), CursorJson) ?? new Cursor();
        }
        catch (JsonException ex)
        {
            throw new CliException($"{path} is not a valid import cursor ({ex.Message}); delete {_runDirectory} and import again.");
        }
    }

    private void WriteCursor() => ReplaceIfChanged(Path.Combine(_runDirectory, CursorFile), JsonSerializer.SerializeToUtf8Bytes(_cursor, CursorJson));

    /// <summary>Replaces a file only when its content changes: importing what was imported touches nothing.</summary>
    private static void ReplaceIfChanged(string path, ReadOnlySpan<byte> content)
    {
        if (!File.Exists(path) || !File.ReadAllBytes(path).AsSpan().SequenceEqual(content))
        {
            ReplaceAtomically(path, content);
        }
    }

    private static readonly JsonSerializerOptions CursorJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    private static void ReplaceAtomically(string path, ReadOnlySpan<byte> content)
    {
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            file.Write(content);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Where the import of a run folder stands: the offset reached per event file (by its path under the folder).</summary>
    private sealed class Cursor
    {
        public Dictionary<string, long> Files { get; set; } = new(StringComparer.Ordinal);

        public long RecordsBytes { get; set; }

        public long Seq { get; set; }

        public long Corrupt { get; set; }

        public long FirstTs { get; set; }

        public long LastTs { get; set; }

        public Dictionary<string, JsonElement> Config { get; set; } = new(StringComparer.Ordinal);
    }
}
