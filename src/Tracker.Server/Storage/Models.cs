using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tracker.Server.Storage;

/// <summary>An API key as stored: only the SHA-256 hash of the secret, never the secret. A <paramref name="ReadOnly"/> key may read but never write.</summary>
internal sealed record ApiKey(string Name, string? Project, string Hash, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, bool ReadOnly = false);

/// <summary>A run as stored: indexed columns plus its metadata, config and summary as JSON.</summary>
internal sealed record StoredRun(
    long Pk, string Project, string RunId, string Name, string State, DateTimeOffset? StartTime, DateTimeOffset UpdatedAt,
    long AckedSeq, JsonObject Metadata, JsonObject Config, JsonObject Summary)
{
    /// <summary>The summary column's member that holds the run's <see cref="RunFold"/> state; summary keys cannot start with '_'.</summary>
    public const string FoldMember = "_fold";

    /// <summary>Whether the run was archived: left out of runs listings unless asked for.</summary>
    public bool Archived { get; init; }

    /// <summary>What users changed of the run's name, tags and notes (<see cref="RunEdits"/>), as stored; null when nothing.</summary>
    public string? Edits { get; init; }

    /// <summary>The run's records folded so far (appends only): kept in the summary column under <see cref="FoldMember"/>, out of every answer.</summary>
    public RunFold? Fold { get; init; }

    /// <summary>
    /// The summary column's value for a run's fold: the summary it gives, and its state beside it
    /// under <see cref="FoldMember"/>, written in one pass (every append writes it).
    /// </summary>
    public static string SummaryColumn(RunFold fold)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, RecordValue.WriterOptions))
        {
            json.WriteStartObject();
            foreach (var (key, value) in fold.Summary.Snapshot())
            {
                json.WritePropertyName(key);
                RecordValue.Write(json, value);
            }

            json.WritePropertyName(FoldMember);
            fold.Save(json);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>The summary a summary column holds, without the fold's state.</summary>
    public static JsonObject ReadSummary(string column)
    {
        var summary = JsonNode.Parse(column)!.AsObject();
        summary.Remove(FoldMember);
        return summary;
    }

    /// <summary>
    /// The fold of the records so far that a summary column keeps. A run stored before the fold was
    /// kept has only its summary: it stands as overrides, so nothing of it is lost, and each key is
    /// summarised afresh once it is logged again.
    /// </summary>
    public static RunFold ReadFold(string column)
    {
        using var json = JsonDocument.Parse(column);
        if (json.RootElement.TryGetProperty(FoldMember, out var state))
        {
            return RunFold.Load(Encoding.UTF8.GetBytes(state.GetRawText()));
        }

        var fold = new RunFold();
        foreach (var property in json.RootElement.EnumerateObject())
        {
            fold.Summary.Override(property.Name, RecordValue.FromJson(property.Value));
        }

        return fold;
    }
}

/// <summary>One project and its number of runs.</summary>
internal sealed record ProjectInfo(string Name, long RunCount, DateTimeOffset LastUpdate);

/// <summary>What a chunk row says about its points without decoding them.</summary>
internal sealed record ChunkSummary(
    long ChunkNo, long FirstStep, long LastStep, long FirstTime, long LastTime, int Count, double Min, double Max, double Last);

/// <summary>Per-key overview of a run's metrics.</summary>
internal sealed record MetricInfo(string Key, long Count, long FirstStep, long LastStep, double Min, double Max, double Last)
{
    /// <summary>When the point of <see cref="Last"/> was logged (Unix ms): MLflow's latest metric carries its timestamp.</summary>
    public long LastTime { get; init; }
}

/// <summary>Points of one chunk, sorted by step; times in Unix milliseconds.</summary>
internal sealed class PointBlock(long[] steps, long[] times, double[] values)
{
    public long[] Steps { get; } = steps;

    public long[] Times { get; } = times;

    public double[] Values { get; } = values;

    public int Count => Steps.Length;
}

/// <summary>A media record of a batch, ready to store: its <c>media</c> object as JSON, and the blob it names (images and tables).</summary>
internal sealed record MediaRecord(long Seq, long Time, long Step, string Key, string Kind, string? Sha256, string Body);

/// <summary>One stored media item; <see cref="Available"/> says whether the blob it names is stored (always false without one).</summary>
internal sealed record MediaItem(long Seq, long Step, long Time, string Kind, string? Sha256, string Body, bool Available);

/// <summary>Per-key overview of a run's media; <see cref="Kind"/> is the kind last logged under the key.</summary>
internal sealed record MediaKeyInfo(string Key, string Kind, long Count, long FirstStep, long LastStep);

/// <summary>A stored file; <see cref="Content"/> is null when only its headers were asked for.</summary>
internal sealed record StoredBlob(string ContentType, long Bytes, byte[]? Content);

/// <summary>The batch refers to sequence numbers the server cannot take yet.</summary>
internal sealed class SequenceGapException(long expected, long actual)
    : Exception($"Expected the record with seq {expected} next, got {actual}. Resend from seq {expected}.")
{
    public long Expected { get; } = expected;
}
