using System.Buffers;
using System.Globalization;
using System.Text.Json.Nodes;
using Tracker.Server.Ingest;

namespace Tracker.Server.Storage;

/// <summary>What a batch of new lines does to a run: points per key, and metadata, config and summary updates.</summary>
internal sealed class RunChanges : IDisposable
{
    private readonly Dictionary<string, KeyState> _keys = new(StringComparer.Ordinal);

    /// <summary>Console lines the run captured (seq, time, stream, text), in order.</summary>
    public List<(long Seq, long Time, string Stream, string Line)> Output { get; } = [];

    /// <summary>Media records (images, histograms, tables, texts), in order; kept out of the summary and the charts.</summary>
    public List<MediaRecord> Media { get; } = [];

    /// <summary>Numeric points per key, sorted by step, one per step.</summary>
    public IEnumerable<(string Key, ArraySegment<(long Step, long Time, double Value)> Points)> Points =>
        _keys.Where(k => k.Value.Count > 0).Select(k => (k.Key, k.Value.Points));

    public void Dispose()
    {
        foreach (var state in _keys.Values)
        {
            state.Dispose();
        }
    }

    /// <summary>Applies the lines' metadata to <paramref name="run"/>'s JSON and gathers its points, sorted by step.</summary>
    public static RunChanges Apply(StoredRun run, IReadOnlyList<ParsedLine> lines)
    {
        var changes = new RunChanges();
        foreach (var line in lines)
        {
            switch (line.Type)
            {
                case "history":
                    changes.Add(line.History!, intoSummary: true);
                    break;
                case "system":
                    changes.Add(line.History!, intoSummary: false); // charted, not summarised
                    break;
                case "output":
                    if (line.Body?["line"] is JsonValue text && text.TryGetValue<string>(out var outputLine))
                    {
                        var time = line.Body["ts"] is JsonValue t && t.TryGetValue<long>(out var unixMs) ? unixMs : 0;
                        changes.Output.Add((line.Seq, time, (string?)line.Body["stream"] ?? "stdout", outputLine));
                    }

                    break;
                case "media":
                    // RecordParser validated the line: key, step and a media object with its _type.
                    var media = line.Body!["media"]!.AsObject();
                    var kind = (string)media["_type"]!;
                    changes.Media.Add(new MediaRecord(
                        line.Seq, line.Body["ts"] is JsonValue mediaTs && mediaTs.TryGetValue<long>(out var mediaMs) ? mediaMs : 0, (long)line.Body["step"]!,
                        (string)line.Body["key"]!, kind, kind is "image" or "table" ? (string?)media["sha256"] : null, media.ToJsonString()));
                    break;
                case "config":
                    Merge(run.Config, line.Body?["values"] as JsonObject);
                    run.Metadata["config"] = run.Config.DeepClone();
                    break;
                case "summary":
                    changes.FlushLastValues(run); // values logged before an override must not win over it
                    Merge(run.Summary, line.Body?["values"] as JsonObject);
                    break;
                case "run":
                    foreach (var (name, value) in line.Body!)
                    {
                        if (name is "tags" or "notes")
                        {
                            run.Metadata[name] = value?.DeepClone();
                        }
                    }

                    break;
                case "metric":
                    var metrics = run.Metadata["metrics"] as JsonArray ?? [];
                    var definition = new JsonObject();
                    foreach (var (name, value) in line.Body!)
                    {
                        if (name is not ("seq" or "type" or "ts"))
                        {
                            definition[name] = value?.DeepClone();
                        }
                    }

                    metrics.Add(definition);
                    run.Metadata["metrics"] = metrics.DeepClone();
                    break;
                case "finish":
                    run.Metadata["state"] = line.Body?["state"]?.DeepClone();
                    run.Metadata["exit_code"] = line.Body?["exit_code"]?.DeepClone();
                    run.Metadata["error"] = line.Body?["error"]?.DeepClone();
                    if (line.Body?["ts"] is JsonValue ts && ts.TryGetValue<long>(out var ms))
                    {
                        run.Metadata["end_time"] = DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("O", CultureInfo.InvariantCulture);
                    }

                    break;
                default:
                    break; // record types of later versions are acknowledged and kept out of the way
            }
        }

        changes.FlushLastValues(run);
        foreach (var state in changes._keys.Values)
        {
            state.SortAndDropRepeatedSteps();
        }

        return changes;
    }

    private void Add(HistoryColumns history, bool intoSummary)
    {
        foreach (var column in history.Columns)
        {
            if (!_keys.TryGetValue(column.Key, out var state))
            {
                _keys[column.Key] = state = new KeyState();
            }

            var others = column.Others;
            for (var row = 0; row < column.Numbers.Length; row++)
            {
                var other = others?[row];
                if (ReferenceEquals(other, RecordParser.Absent))
                {
                    continue;
                }

                if (intoSummary)
                {
                    state.Last = (column.Numbers[row], other);
                    state.Unflushed = true;
                }

                if (other is not string)
                {
                    state.Add((history.Steps[row], history.Times[row], column.Numbers[row])); // text is kept in the summary, not charted
                }
            }
        }
    }

    /// <summary>The summary holds each key's last value; written once per key, not per point.</summary>
    private void FlushLastValues(StoredRun run)
    {
        foreach (var (key, state) in _keys.Where(k => k.Value.Unflushed))
        {
            var (number, other) = state.Last;
            run.Summary[key] = other switch
            {
                string text => text,
                bool flag => flag,
                _ => double.IsFinite(number) ? number : JsonValue.Create(number.ToString(CultureInfo.InvariantCulture)),
            };
            state.Unflushed = false;
        }
    }

    private static void Merge(JsonObject target, JsonObject? values)
    {
        foreach (var (name, value) in values ?? [])
        {
            target[name] = value?.DeepClone();
        }
    }

    /// <summary>
    /// One key's points in a batch, in a pooled buffer: a batch holds hundreds of thousands of
    /// points, and growing fresh arrays that size would churn the large-object heap.
    /// </summary>
    private sealed class KeyState : IDisposable
    {
        private (long Step, long Time, double Value)[] _buffer = ArrayPool<(long, long, double)>.Shared.Rent(1024);

        public int Count { get; private set; }

        public ArraySegment<(long Step, long Time, double Value)> Points => new(_buffer, 0, Count);

        public (double Number, object? Other) Last { get; set; }

        public bool Unflushed { get; set; }

        public void Add((long Step, long Time, double Value) point)
        {
            if (Count == _buffer.Length)
            {
                var grown = ArrayPool<(long, long, double)>.Shared.Rent(_buffer.Length * 2);
                Array.Copy(_buffer, grown, Count);
                ArrayPool<(long, long, double)>.Shared.Return(_buffer);
                _buffer = grown;
            }

            _buffer[Count++] = point;
        }

        /// <summary>Sorts by step (stable, so of equal steps the later value stays last), then keeps one point per step, the later.</summary>
        public void SortAndDropRepeatedSteps()
        {
            var points = _buffer.AsSpan(0, Count);
            for (var i = 1; i < points.Length; i++)
            {
                if (points[i].Step < points[i - 1].Step)
                {
                    points.ToArray().OrderBy(p => p.Step).ToArray().CopyTo(points);
                    break;
                }
            }

            var kept = 0;
            for (var i = 0; i < points.Length; i++)
            {
                if (kept > 0 && points[kept - 1].Step == points[i].Step)
                {
                    points[kept - 1] = points[i];
                }
                else
                {
                    points[kept++] = points[i];
                }
            }

            Count = kept;
        }

        public void Dispose()
        {
            ArrayPool<(long, long, double)>.Shared.Return(_buffer);
            _buffer = [];
            Count = 0;
        }
    }
}
