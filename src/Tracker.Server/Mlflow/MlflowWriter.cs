using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Tracker.Server.Ingest;
using Tracker.Server.Storage;

namespace Tracker.Server.Mlflow;

/// <summary>A metric point as MLflow logs it: key, value, timestamp (Unix ms) and step.</summary>
internal sealed record MlflowMetric(string Key, double Value, long Timestamp, long Step);

/// <summary>What one MLflow write adds to a run: metric points, params and tags.</summary>
internal sealed record MlflowBatch(IReadOnlyList<MlflowMetric> Metrics, IReadOnlyList<(string Key, string Value)> Params, IReadOnlyList<(string Key, string Value)> Tags);

/// <summary>
/// Turns MLflow writes into the run's next records, written by the one record writer
/// (<see cref="RecordWriter"/>) and stored by the ingest path the SDK's appends take
/// (<see cref="IngestService"/>): metric points become history rows (the point's timestamp is the
/// record's time), params a config record of strings, tags and the note a run record. The server
/// numbers these records itself, so writes to one run are taken one at a time.
/// </summary>
internal sealed class MlflowWriter(IngestService ingest, MlflowStore store, TimeProvider time)
{
    private readonly SemaphoreSlim[] _turns = [.. Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1))];

    /// <summary>Checks the batch against the run as stored and appends it; nothing is stored when any of it is refused.</summary>
    public async Task WriteAsync(string runId, MlflowBatch batch, string? keyHash, CancellationToken cancellationToken)
    {
        var turn = _turns[(int)((uint)StringComparer.Ordinal.GetHashCode(runId) % (uint)_turns.Length)];
        await turn.WaitAsync(cancellationToken);
        try
        {
            // Read inside the turn: the next sequence number, the params and tags are the run's latest.
            var run = await WritableRunAsync(runId, cancellationToken);
            var lines = Lines(run, batch, time.GetUtcNow().ToUnixTimeMilliseconds());
            if (lines.Length == 0)
            {
                return;
            }

            try
            {
                await ingest.AppendAsync(run.Project, run.RunId, lines, keyHash, cancellationToken);
            }
            catch (IngestException ex)
            {
                throw MlflowException.From(ex);
            }
        }
        finally
        {
            turn.Release();
        }
    }

    /// <summary>The run, when the MLflow API may write to it: one it created (the SDK numbers its own runs' records).</summary>
    public async Task<StoredRun> WritableRunAsync(string runId, CancellationToken cancellationToken)
    {
        var run = await store.FindRunAsync(runId, cancellationToken) ?? throw MlflowException.NoRun(runId);
        return MlflowRunJson.IsMlflowRun(run)
            ? run
            : throw MlflowException.Invalid($"Run '{runId}' was logged by the Tracker SDK, which numbers the run's records itself: log to it from its own process. The MLflow API writes to runs it created (runs/create) and reads every run.");
    }

    private static ReadOnlyMemory<byte> Lines(StoredRun run, MlflowBatch batch, long now)
    {
        var writer = new RecordWriter();
        var seq = run.AckedSeq;

        // Params are immutable in MLflow: the same value again is fine, another is refused.
        var fresh = new List<(string Key, string Value)>();
        foreach (var (key, value) in batch.Params)
        {
            if (run.Config[key] is { } stored)
            {
                var old = MlflowRunJson.ParamText(stored);
                if (old != value)
                {
                    throw MlflowException.Invalid($"Changing param values is not allowed. Param with key='{key}' was already logged with value='{old}' for run ID='{run.RunId}'. Attempted logging new value '{value}'.");
                }

                continue;
            }

            if (RecordRules.KeyProblem(key, metric: false) is { } problem)
            {
                throw MlflowException.Invalid(problem);
            }

            fresh.Add((key, value));
        }

        if (fresh.Count > 0)
        {
            var values = new RecordWriter();
            for (var i = 0; i < fresh.Count; i++)
            {
                values.Key(RecordWriter.KeyName(fresh[i].Key), first: i == 0);
                values.Text(fresh[i].Value);
            }

            writer.Record(++seq, "config", now, [.. "\"values\":{"u8, .. values.Written.Span, .. "}"u8]);
        }

        if (RunRecord(run, batch.Tags) is { } runFields)
        {
            writer.Record(++seq, "run", now, runFields);
        }

        // Points with the same step and time share a row, as long as no key comes twice in it.
        var rows = new List<List<MlflowMetric>>();
        foreach (var metric in batch.Metrics)
        {
            if (RecordRules.KeyProblem(metric.Key, metric: true) is { } problem)
            {
                throw MlflowException.Invalid($"{problem} (metric '{metric.Key}')");
            }

            if (RecordRules.StepProblem(metric.Step) is { } badStep)
            {
                throw MlflowException.Invalid($"Got invalid step {metric.Step} for metric '{metric.Key}': {badStep}");
            }

            if (rows.Count == 0 || rows[^1][0].Step != metric.Step || rows[^1][0].Timestamp != metric.Timestamp || rows[^1].Exists(m => m.Key == metric.Key))
            {
                rows.Add([]);
            }

            rows[^1].Add(metric);
        }

        // Consecutive rows with the same keys, steps and times rising, go as one block record: a
        // log-batch of 100 steps of 10 metrics is one line to parse and store, not 100.
        for (var first = 0; first < rows.Count;)
        {
            var end = first + 1;
            while (end < rows.Count && SameKeys(rows[end], rows[first]) && rows[end][0].Step > rows[end - 1][0].Step && rows[end][0].Timestamp >= rows[end - 1][0].Timestamp)
            {
                end++;
            }

            if (end - first == 1)
            {
                WriteRow(writer, ++seq, rows[first]);
            }
            else
            {
                WriteBlock(writer, ++seq, rows.GetRange(first, end - first));
            }

            first = end;
        }

        return writer.Written;
    }

    private static bool SameKeys(List<MlflowMetric> a, List<MlflowMetric> b) =>
        a.Count == b.Count && a.Select(m => m.Key).SequenceEqual(b.Select(m => m.Key), StringComparer.Ordinal);

    private static void WriteBlock(RecordWriter writer, long seq, List<List<MlflowMetric>> rows)
    {
        writer.BeginBlock(seq);
        for (var i = 0; i < rows.Count; i++)
        {
            writer.Delta(i == 0 ? rows[0][0].Step : rows[i][0].Step - rows[i - 1][0].Step, last: i == rows.Count - 1);
        }

        writer.BeginBlockTimes();
        for (var i = 0; i < rows.Count; i++)
        {
            writer.Delta(i == 0 ? rows[0][0].Timestamp : rows[i][0].Timestamp - rows[i - 1][0].Timestamp, last: i == rows.Count - 1);
        }

        writer.BeginBlockValues();
        for (var k = 0; k < rows[0].Count; k++)
        {
            writer.Key(RecordWriter.KeyName(rows[0][k].Key), first: k == 0);
            writer.BeginColumn();
            for (var i = 0; i < rows.Count; i++)
            {
                writer.Double(rows[i][k].Value);
                writer.EndItem(last: i == rows.Count - 1);
            }
        }

        writer.EndHistory();
    }

    private static void WriteRow(RecordWriter writer, long seq, List<MlflowMetric> row)
    {
        writer.BeginRow(seq, row[0].Step, row[0].Timestamp);
        for (var i = 0; i < row.Count; i++)
        {
            writer.Key(RecordWriter.KeyName(row[i].Key), first: i == 0);
            writer.Double(row[i].Value);
        }

        writer.EndHistory();
    }

    /// <summary>The members of a run record setting the run's tags and notes, or null when the tags change neither.</summary>
    private static byte[]? RunRecord(StoredRun run, IReadOnlyList<(string Key, string Value)> tags)
    {
        if (tags.Count == 0)
        {
            return null;
        }

        var current = MlflowRunJson.TrackerTags(run);
        var tagList = new List<string>(current);
        string? notes = null;
        foreach (var (key, value) in tags)
        {
            switch (key)
            {
                case MlflowRunJson.NoteTag:
                    notes = value;
                    break;
                case MlflowRunJson.RunNameTag when value == run.Name:
                    break;
                case MlflowRunJson.RunNameTag:
                    throw MlflowException.Invalid($"Tracker names a run when it is created (run_name, or the tag {MlflowRunJson.RunNameTag} of runs/create); rename it in the web UI or with PATCH /api/v1/projects/{run.Project}/runs/{run.RunId}.");
                case var system when system.StartsWith("mlflow.", StringComparison.Ordinal):
                    throw MlflowException.Invalid($"The system tag '{key}' is kept as runs/create gives it; set other tags (without the 'mlflow.' prefix) afterwards.");
                default:
                    tagList.RemoveAll(t => MlflowRunJson.MlflowTag(t).Key == key);
                    tagList.Add(CheckTag(key, value));
                    break;
            }
        }

        if (RecordRules.TagsProblem(tagList) is { } tooMany)
        {
            throw MlflowException.Invalid(tooMany);
        }

        if (notes is not null && RecordRules.RunTextProblem(notes, "notes") is { } badNotes)
        {
            throw MlflowException.Invalid(badNotes);
        }

        var changed = !tagList.SequenceEqual(current);
        if (!changed && notes is null)
        {
            return null;
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (changed)
            {
                json.WriteStartArray("tags");
                tagList.ForEach(json.WriteStringValue);
                json.WriteEndArray();
            }

            if (notes is not null)
            {
                json.WriteString("notes", notes);
            }

            json.WriteEndObject();
        }

        return buffer.WrittenSpan[1..^1].ToArray(); // the members, without the braces
    }

    /// <summary>The Tracker tag of an MLflow tag, when it fits Tracker's (and W&amp;B's) 64-character tag.</summary>
    public static string CheckTag(string key, string value)
    {
        var tag = MlflowRunJson.TrackerTag(key, value);
        return RecordRules.RunTextProblem(tag, "tags") is { } problem
            ? throw MlflowException.Invalid($"Tag '{key}' cannot be kept: Tracker keeps an MLflow tag as the run tag KEY:VALUE, and '{tag[..Math.Min(80, tag.Length)]}' breaks its rule: {problem}")
            : tag;
    }
}
