using System.Buffers;
using System.Globalization;
using System.Text.Json.Nodes;

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

    /// <summary>
    /// Folds the lines into <paramref name="run"/> with the format's <see cref="RunFold"/> (summary,
    /// config, tags, notes, metric definitions, final state; the summary column is written from the
    /// fold, which it keeps between batches) and gathers its points, sorted by step.
    /// </summary>
    public static RunChanges Apply(StoredRun run, IReadOnlyList<RecordLine> lines)
    {
        var changes = new RunChanges();
        var fold = run.Fold ?? throw new ArgumentException("An append folds into the run's fold; read it with the summary.", nameof(run));
        foreach (var line in lines)
        {
            fold.Apply(line);
            switch (line)
            {
                case HistoryLine history:
                    changes.Add(history.Block); // system samples too: charted, and kept out of the summary by the fold
                    break;
                case OutputLine output:
                    changes.Output.Add((output.Seq, output.UnixMs, output.Stream, output.Text));
                    break;
                case MediaLine media:
                    changes.Media.Add(new MediaRecord(media.Seq, media.UnixMs, media.Step, media.Key, media.Media.Kind, media.Media.Sha256, media.Media.Json));
                    break;
                case ValuesLine { IsSummary: false } config:
                    foreach (var (key, value) in config.Values)
                    {
                        run.Config[key] = Node(value);
                    }

                    run.Metadata["config"] = run.Config.DeepClone();
                    break;
                case RunLine:
                    run.Metadata["tags"] = fold.Tags is { } tags ? new JsonArray([.. tags.Select(t => (JsonNode?)JsonValue.Create(t))]) : run.Metadata["tags"]?.DeepClone();
                    if (fold.HasNotes)
                    {
                        run.Metadata["notes"] = fold.Notes;
                    }

                    break;
                case MetricLine:
                    run.Metadata["metrics"] = new JsonArray([.. fold.Summary.Definitions.Select(d => (JsonNode?)new JsonObject
                    {
                        ["name"] = d.Name,
                        ["step_metric"] = d.StepMetric,
                        ["summary"] = d.Summary.ToString().ToLowerInvariant(),
                        ["goal"] = d.Goal.ToString().ToLowerInvariant(),
                    })]);
                    break;
                case FinishLine finish:
                    run.Metadata["state"] = finish.State;
                    run.Metadata["exit_code"] = finish.ExitCode;
                    run.Metadata["error"] = finish.Error;
                    run.Metadata["end_time"] = DateTimeOffset.FromUnixTimeMilliseconds(finish.UnixMs).ToString("O", CultureInfo.InvariantCulture);
                    break;
                default:
                    break; // final summaries are recomputed by the fold; types of later versions are kept out of the way
            }
        }

        foreach (var key in changes._keys.Values)
        {
            key.SortAndDropRepeatedSteps();
        }

        return changes;
    }

    /// <summary>A plain value as JSON, by the format's value codec: integers exact, text that reads as a special double wrapped.</summary>
    private static JsonNode? Node(object? value) => JsonNode.Parse(RecordValue.ToJson(value));

    private void Add(HistoryBlock block)
    {
        foreach (var column in block.Columns)
        {
            if (!_keys.TryGetValue(column.Key, out var state))
            {
                _keys[column.Key] = state = new KeyState(block.Rows);
            }

            for (var row = 0; row < block.Rows; row++)
            {
                if (column.IsNumber(row))
                {
                    state.Add((block.Steps[row], block.Times[row], column.Numbers[row])); // text is kept in the summary, not charted
                }
            }
        }
    }

    /// <summary>
    /// One key's points in a batch, in a pooled buffer: a batch holds hundreds of thousands of
    /// points, and growing fresh arrays that size would churn the large-object heap. It starts at
    /// the size of the first block holding the key and grows as points come: a batch of many keys
    /// with a point each takes a point's room per key, not a fixed buffer per key.
    /// </summary>
    private sealed class KeyState(int rows) : IDisposable
    {
        private (long Step, long Time, double Value)[] _buffer = ArrayPool<(long, long, double)>.Shared.Rent(Math.Max(rows, 1));

        public int Count { get; private set; }

        public ArraySegment<(long Step, long Time, double Value)> Points => new(_buffer, 0, Count);

        public void Add((long Step, long Time, double Value) point)
        {
            if (Count == _buffer.Length)
            {
                var grown = ArrayPool<(long, long, double)>.Shared.Rent(Math.Max(16, _buffer.Length * 2));
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
