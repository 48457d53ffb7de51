using System.Buffers;
using System.Text.Json;

namespace Tracker.Format;

/// <summary>
/// The one fold of records into a run's state: summary (per metric definition, overrides lasting
/// until the key is logged again), config, tags, notes, final state, the next step (steps holding
/// only media count) and the next system-sample number. The SDK (live summary and resume), the run
/// reader, the server and the <c>tracker</c> command all fold records with it, so they agree.
/// Not thread-safe.
/// </summary>
public sealed class RunFold
{
    /// <summary>The summary.</summary>
    public SummaryTable Summary { get; } = new();

    /// <summary>The config, flat keys to plain values.</summary>
    public Dictionary<string, object?> Config { get; } = new(StringComparer.Ordinal);

    /// <summary>The tags, when a record set them.</summary>
    public IReadOnlyList<string>? Tags { get; private set; }

    /// <summary>The notes, when a record set them.</summary>
    public string? Notes { get; private set; }

    /// <summary>Whether a record set the notes (possibly to null).</summary>
    public bool HasNotes { get; private set; }

    /// <summary>The final state from a <c>finish</c> record; null while running.</summary>
    public FinishLine? Finish { get; private set; }

    /// <summary>The step after the highest one logged (history or media).</summary>
    public long NextStep { get; private set; }

    /// <summary>The number after the highest system sample.</summary>
    public long NextSystemStep { get; private set; }

    /// <summary>The highest sequence number folded.</summary>
    public long LastSeq { get; private set; }

    /// <summary>Folds one record in.</summary>
    /// <param name="record">The record.</param>
    public void Apply(RecordLine record)
    {
        LastSeq = Math.Max(LastSeq, record.Seq);
        switch (record)
        {
            case HistoryLine { IsSystem: true, Block.Rows: > 0 } system:
                NextSystemStep = Math.Max(NextSystemStep, system.Block.Steps.Max() + 1);
                break;
            case HistoryLine { IsSystem: true }:
                break;
            case HistoryLine history:
                ApplyHistory(history.Block);
                break;
            case MediaLine media:
                NextStep = Math.Max(NextStep, media.Step + 1);
                break;
            case ValuesLine { IsSummary: false } config:
                foreach (var (key, value) in config.Values)
                {
                    Config[key] = value;
                }

                break;
            case ValuesLine { IsFinal: false } summary:
                foreach (var (key, value) in summary.Values)
                {
                    Summary.Override(key, value);
                }

                break;
            case MetricLine metric:
                Summary.Define(metric.Definition);
                break;
            case RunLine run:
                Tags = run.Tags ?? Tags;
                if (run.HasNotes)
                {
                    Notes = run.Notes;
                    HasNotes = true;
                }

                break;
            case FinishLine finish:
                Finish = finish;
                break;
            default:
                break; // final summaries (recomputed here), output and later types
        }
    }

    /// <summary>Folds every record in.</summary>
    /// <param name="records">The records.</param>
    /// <returns>This fold.</returns>
    public RunFold ApplyAll(IEnumerable<RecordLine> records)
    {
        foreach (var record in records)
        {
            Apply(record);
        }

        return this;
    }

    private void ApplyHistory(HistoryBlock block)
    {
        foreach (var column in block.Columns)
        {
            var metric = Summary.Metric(column.Key);
            var others = column.Others;
            for (var row = 0; row < block.Rows; row++)
            {
                var other = others?[row];
                if (other is null)
                {
                    metric.Add(column.Numbers[row]);
                }
                else if (!ReferenceEquals(other, HistoryColumn.Absent))
                {
                    metric.Add(other);
                }
            }
        }

        if (block.Rows > 0)
        {
            NextStep = Math.Max(NextStep, block.Steps.Max() + 1);
        }
    }

    /// <summary>The fold's state as JSON, to continue folding later (<see cref="Load"/>): the server keeps it with the run.</summary>
    /// <returns>UTF-8 JSON.</returns>
    public byte[] Save()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, RecordValue.WriterOptions))
        {
            Save(json);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes the fold's state (<see cref="Save()"/>'s JSON object) as the next value of <paramref name="json"/>.</summary>
    /// <param name="json">The writer, at a value's place (after a property name, or at the top).</param>
    public void Save(Utf8JsonWriter json)
    {
        ArgumentNullException.ThrowIfNull(json);
        json.WriteStartObject();
        json.WriteNumber("last_seq", LastSeq);
        json.WriteNumber("next_step", NextStep);
        json.WriteNumber("next_system_step", NextSystemStep);
        json.WritePropertyName("config");
        RecordValue.Write(json, Config);
        json.WritePropertyName("overrides");
        RecordValue.Write(json, Summary.Overrides);
        json.WriteStartArray("definitions");
        foreach (var d in Summary.Definitions)
        {
            json.WriteStartArray();
            json.WriteStringValue(d.Name);
            json.WriteStringValue(d.StepMetric);
            json.WriteStringValue(d.Summary.ToString());
            json.WriteStringValue(d.Goal.ToString());
            json.WriteEndArray();
        }

        json.WriteEndArray();
        json.WriteStartObject("metrics");
        foreach (var (key, metric) in Summary.Metrics)
        {
            var s = metric.State;
            json.WriteStartArray(key);
            WriteScalar(json, s.First);
            WriteScalar(json, s.Last);
            json.WriteNumberValue(s.Count);
            json.WriteNumberValue(s.Numbers);
            RecordValue.WriteDouble(json, s.Sum);
            RecordValue.WriteDouble(json, s.Min);
            RecordValue.WriteDouble(json, s.Max);
            json.WriteBooleanValue(s.OnlyIntegers);
            json.WriteBooleanValue(metric.Overridden);
            RecordValue.Write(json, MetricSummary.Exact(s.MinInteger));
            RecordValue.Write(json, MetricSummary.Exact(s.MaxInteger));
            json.WriteEndArray();
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>A fold restored from <see cref="Save()"/>'s JSON.</summary>
    /// <param name="json">The saved state.</param>
    /// <returns>The fold.</returns>
    /// <exception cref="JsonException">The state is not one <see cref="Save()"/> wrote.</exception>
    public static RunFold Load(ReadOnlySpan<byte> json)
    {
        var fold = new RunFold();
        var reader = new Utf8JsonReader(json);
        reader.Read();
        var root = (Dictionary<string, object?>)RecordValue.Read(ref reader)!;
        fold.LastSeq = (long)root["last_seq"]!;
        fold.NextStep = (long)root["next_step"]!;
        fold.NextSystemStep = (long)root["next_system_step"]!;
        foreach (var (key, value) in (Dictionary<string, object?>)root["config"]!)
        {
            fold.Config[key] = value;
        }

        foreach (var item in (List<object?>)root["definitions"]!)
        {
            var d = (List<object?>)item!;
            fold.Summary.Define(new MetricDefinition((string)d[0]!, (string?)d[1], Enum.Parse<SummaryMode>((string)d[2]!), Enum.Parse<MetricGoal>((string)d[3]!)));
        }

        foreach (var (key, value) in (Dictionary<string, object?>)root["metrics"]!)
        {
            var s = (List<object?>)value!;
            var metric = fold.Summary.Metric(key);
            metric.State = (ReadScalar(s[0]), ReadScalar(s[1]), (long)s[2]!, (long)s[3]!, (double)s[4]!, (double)s[5]!, (double)s[6]!, (bool)s[7]!, Wide(s[9], Int128.MaxValue), Wide(s[10], Int128.MinValue));
        }

        foreach (var (key, value) in (Dictionary<string, object?>)root["overrides"]!)
        {
            fold.Summary.Override(key, value);
        }

        foreach (var (key, value) in (Dictionary<string, object?>)root["metrics"]!)
        {
            fold.Summary.Metric(key).Overridden = (bool)((List<object?>)value!)[8]!;
        }

        return fold;
    }

    private static Int128 Wide(object? integer, Int128 none) => integer switch
    {
        long l => l,
        ulong ul => ul,
        _ => none,
    };

    private static void WriteScalar(Utf8JsonWriter json, Scalar scalar) => RecordValue.Write(json, scalar.Kind == ScalarKind.None ? null : new List<object?> { scalar.ToObject() });

    private static Scalar ReadScalar(object? value) => value is List<object?> { Count: 1 } list ? Scalar.From(list[0]) : default;
}
