using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tracker.Server.Storage;

namespace Tracker.Server.Ingest;

/// <summary>
/// Writes runs into the server's store, as the ingest protocol (docs/protocol.md) describes:
/// create or replace a run, append its records (each sequence number at most once, a batch
/// whole or not at all, refused on a gap), finish it, and store its media files. The HTTP
/// endpoints call it after checking the caller's key; <c>tracker ui</c> calls it in process.
/// Get it from the server's services.
/// </summary>
public sealed class IngestService
{
    /// <summary>The content types a media file may have: PNG and JPEG images, JSON tables.</summary>
    private static readonly string[] BlobContentTypes = ["image/png", "image/jpeg", "application/json"];

    private readonly SqlRunStore _store;
    private readonly TimeProvider _time;
    private readonly LiveRunCache _live = new();

    internal IngestService(SqlRunStore store, TimeProvider time)
    {
        _store = store;
        _time = time;
    }

    /// <summary>
    /// Creates the run or replaces its metadata. A run is known by its <c>start_time</c>, which a
    /// resumed run keeps: once the server holds records of a run, an upsert with another
    /// <c>start_time</c> is another run reusing the id and is refused, leaving the stored run as it was.
    /// </summary>
    /// <param name="project">The run's project.</param>
    /// <param name="runId">The run's id.</param>
    /// <param name="runJson">The run's <c>run.json</c>, UTF-8.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The highest sequence number stored for the run: a client resumes after it.</returns>
    /// <exception cref="IngestException">The names or the body are not valid, or the id is another run's (<see cref="IngestError.RunIdInUse"/>).</exception>
    public async Task<long> UpsertRunAsync(string project, string runId, ReadOnlyMemory<byte> runJson, CancellationToken cancellationToken)
    {
        CheckNames(project, runId);
        if (RunJsonRules.Problem(runJson.Span) is { } invalid)
        {
            throw new IngestException(IngestError.Invalid, "Malformed run", invalid.Problem, invalid.Field);
        }

        JsonObject? metadata;
        try
        {
            metadata = JsonNode.Parse(runJson.Span) as JsonObject;
        }
        catch (JsonException ex)
        {
            throw new IngestException(IngestError.Invalid, "Malformed run", $"The body is not valid JSON: {ex.Message}", "body");
        }

        if (metadata is null || (metadata["config"] is { } config && config is not JsonObject) || (metadata["tags"] is { } tags && tags is not JsonArray))
        {
            throw new IngestException(IngestError.Invalid, "Malformed run", "The body must be the run's run.json: an object whose config is an object and tags an array.", "body");
        }

        if (metadata["name"] is { } name && name.GetValueKind() != JsonValueKind.String)
        {
            throw new IngestException(IngestError.Invalid, "Malformed run", "\"name\" must be a string.", "name");
        }

        metadata["project"] = project;
        metadata["id"] = runId;
        using var turn = await _store.Dialect.EnterWriteAsync(cancellationToken);
        try
        {
            return await _store.Runs.UpsertRunAsync(project, runId, metadata, _time.GetUtcNow(), cancellationToken);
        }
        catch (RunIdInUseException ex)
        {
            throw new IngestException(IngestError.RunIdInUse, "Run id in use", ex.Message, "id");
        }
        catch (RunDeletedException ex)
        {
            throw Deleted(ex);
        }
    }

    /// <summary>Appends lines of a run's <c>records.jsonl</c>, each with its <c>seq</c>, in one transaction.</summary>
    /// <param name="project">The run's project.</param>
    /// <param name="runId">The run's id.</param>
    /// <param name="records">Complete lines, UTF-8, in sequence order.</param>
    /// <param name="cancellationToken">Cancels the write; nothing of the batch is stored then.</param>
    /// <returns>The run's acked sequence number after the batch, and how many lines were stored and skipped as replays.</returns>
    /// <exception cref="IngestException">A line is not valid, the run does not exist, or the batch leaves a gap.</exception>
    public Task<AppendResult> AppendAsync(string project, string runId, ReadOnlyMemory<byte> records, CancellationToken cancellationToken) =>
        AppendAsync(project, runId, records, keyHash: null, cancellationToken);

    /// <summary>Appends as the HTTP endpoint does: refused, in the batch's transaction, when the key of <paramref name="keyHash"/> is no longer active.</summary>
    internal async Task<AppendResult> AppendAsync(string project, string runId, ReadOnlyMemory<byte> records, string? keyHash, CancellationToken cancellationToken)
    {
        CheckNames(project, runId);
        try
        {
            var lines = RecordReader.ParseLines(records);
            if (RecordRules.BatchProblem(lines) is { } tooLarge)
            {
                throw new IngestException(IngestError.TooLarge, "Batch too large", tooLarge, "body");
            }

            return await AppendAsync(project, runId, lines, _time.GetUtcNow(), cancellationToken, keyHash);
        }
        catch (RecordFormatException ex)
        {
            throw new IngestException(IngestError.Invalid, "Malformed records", ex.Message, ex.Field);
        }
        catch (RunNotFoundException ex)
        {
            throw await NotFoundAsync(project, runId, ex, cancellationToken);
        }
        catch (SequenceGapException ex)
        {
            throw new IngestException(IngestError.SequenceGap, "Sequence gap", ex.Message, "seq", ex.Expected);
        }
    }

    /// <summary>Records that a run's client is alive though it has nothing to send: reads report a <c>running</c> run unheard for <c>Tracker:CrashedAfter</c> as <c>crashed</c>.</summary>
    /// <param name="project">The run's project.</param>
    /// <param name="runId">The run's id.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The highest sequence number stored for the run.</returns>
    /// <exception cref="IngestException">The names are not valid, or the run does not exist.</exception>
    public async Task<long> HeartbeatAsync(string project, string runId, CancellationToken cancellationToken)
    {
        CheckNames(project, runId);
        using var turn = await _store.Dialect.EnterWriteAsync(cancellationToken);
        return await _store.Runs.HeartbeatAsync(project, runId, _time.GetUtcNow(), cancellationToken)
            ?? throw await NotFoundAsync(project, runId, new RunNotFoundException(project, runId), cancellationToken);
    }

    /// <summary>Sets a run's final state without any records.</summary>
    /// <param name="project">The run's project.</param>
    /// <param name="runId">The run's id.</param>
    /// <param name="state">One of <see cref="RecordRules.FinalStates"/>.</param>
    /// <param name="exitCode">The process's exit code, if known.</param>
    /// <param name="endTime">When the run ended; now when null.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the state is stored.</returns>
    /// <exception cref="IngestException">The state is not a final state, or the run does not exist.</exception>
    public async Task FinishRunAsync(string project, string runId, string? state, int? exitCode, DateTimeOffset? endTime, CancellationToken cancellationToken)
    {
        CheckNames(project, runId);
        if (state is null || !RecordRules.FinalStates.Contains(state))
        {
            throw new IngestException(IngestError.Invalid, "Malformed finish", $"\"state\" must be one of {string.Join(", ", RecordRules.FinalStates)}.", "state");
        }

        try
        {
            using var turn = await _store.Dialect.EnterWriteAsync(cancellationToken);
            await _store.Runs.FinishRunAsync(project, runId, state, exitCode, endTime ?? _time.GetUtcNow(), cancellationToken);
        }
        catch (RunNotFoundException ex)
        {
            throw await NotFoundAsync(project, runId, ex, cancellationToken);
        }
    }

    /// <summary>Stores a media file under the SHA-256 of its bytes, once per project.</summary>
    /// <param name="project">The project the file belongs to.</param>
    /// <param name="sha256">The lower-case hex SHA-256 of <paramref name="content"/>.</param>
    /// <param name="contentType"><c>image/png</c>, <c>image/jpeg</c> or <c>application/json</c>.</param>
    /// <param name="content">The file's bytes.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>True when this call stored the file; false when the project had it already.</returns>
    /// <exception cref="IngestException">The name, hash or content type is not valid.</exception>
    public async Task<bool> PutBlobAsync(string project, string sha256, string contentType, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        CheckBlob(project, sha256);
        var mediaType = contentType.Split(';')[0].Trim();
        if (BlobContentTypes.FirstOrDefault(t => string.Equals(t, mediaType, StringComparison.OrdinalIgnoreCase)) is not { } known)
        {
            throw new IngestException(IngestError.Invalid, "Unsupported content type",
                $"Content-Type '{mediaType}' is not one a media file may have: send {string.Join(", ", BlobContentTypes)}.", "Content-Type");
        }

        var actual = Convert.ToHexStringLower(SHA256.HashData(content.Span));
        if (actual != sha256)
        {
            throw new IngestException(IngestError.Invalid, "Hash mismatch", $"The bytes hash to {actual}, not {sha256}. Send the file whose SHA-256 names it.", "sha256");
        }

        using var turn = await _store.Dialect.EnterWriteAsync(cancellationToken);
        return await _store.Media.PutBlobAsync(project, sha256, known, content.ToArray(), _time.GetUtcNow(), cancellationToken);
    }

    /// <summary>Whether the project has the media file named by <paramref name="sha256"/>.</summary>
    /// <param name="project">The project.</param>
    /// <param name="sha256">The lower-case hex SHA-256 of the file's bytes.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>True when the file is stored.</returns>
    /// <exception cref="IngestException">The name or hash is not valid.</exception>
    public async Task<bool> HasBlobAsync(string project, string sha256, CancellationToken cancellationToken)
    {
        CheckBlob(project, sha256);
        return await _store.Media.GetBlobAsync(project, sha256, withContent: false, cancellationToken) is not null;
    }

    /// <summary>The problem with a project or run name, or null: names become folders on clients, so the same rules apply here.</summary>
    internal static string? NameProblem(string value, string field) => RecordRules.IdProblem(value, field);

    /// <summary>
    /// Stores the lines not stored yet, in one transaction: lines at or below the run's acked
    /// sequence number are replays and skipped; the first new one must follow it without a gap.
    /// </summary>
    internal async Task<AppendResult> AppendAsync(string project, string runId, IReadOnlyList<RecordLine> lines, DateTimeOffset now, CancellationToken cancellationToken, string? keyHash = null)
    {
        // Most batches hold only points (and output or media): they leave metadata and config alone, so neither is read nor written.
        var withMetadata = lines.Any(l => l is ValuesLine { IsSummary: false } or RunLine or MetricLine or FinishLine);
        var dialect = _store.Dialect;
        using var turn = await dialect.EnterWriteAsync(cancellationToken);
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var target = await _store.Runs.LockForAppendAsync(connection, transaction, project, runId, withMetadata, keyHash, cancellationToken)
            ?? throw new RunNotFoundException(project, runId);
        if (keyHash is not null && !target.KeyActive)
        {
            throw new IngestException(IngestError.KeyRevoked, "Invalid API key", "The key was revoked. Create a new one.");
        }

        var fresh = lines.Where(l => l.Seq > target.AckedSeq).ToList();
        var expected = target.AckedSeq + 1;
        foreach (var line in fresh)
        {
            if (line.Seq != expected)
            {
                throw new SequenceGapException(expected, line.Seq);
            }

            expected++;
        }

        if (fresh.Count == 0)
        {
            return new AppendResult(target.AckedSeq, 0, lines.Count);
        }

        // The run's summary and series positions as the last append left them, when this process made it.
        var live = _live.Take(target.Pk, target.AckedSeq)
            ?? new LiveRun(target.Pk, await RunTable.ReadFoldAsync(connection, transaction, target.Pk, cancellationToken),
                await SeriesTails.LoadAsync(connection, transaction, target.Pk, cancellationToken));
        var run = new StoredRun(target.Pk, project, runId, target.Name, target.State, null, now, target.AckedSeq, target.Metadata ?? [], target.Config ?? [], Summary: []) { Fold = live.Fold }; // the summary column is written from the fold
        // The run's filterable values before and after the batch: only those that change are written.
        var valuesBefore = RunValueTable.OfSummary(live.Fold.Summary.Snapshot());
        if (withMetadata)
        {
            valuesBefore = valuesBefore.Concat(RunValueTable.OfConfig(run.Config, run.Metadata["tags"])).ToDictionary();
        }

        using var changes = RunChanges.Apply(run, fresh);

        // Limits of the run as a whole, not only of this request (the fold is dropped with the transaction).
        if (RecordRules.RunKeyCountProblem(live.Fold.Summary.KeyCount) is { } tooMany)
        {
            throw new IngestException(IngestError.Invalid, "Too many keys", tooMany, "values");
        }

        if (withMetadata && RecordRules.DocumentSizeProblem(Encoding.UTF8.GetByteCount(run.Config.ToJsonString()), "The run's config") is { } tooLarge)
        {
            throw new IngestException(IngestError.Invalid, "Config too large", tooLarge, "values");
        }

        var pending = await live.Tails.AppendBatchAsync(dialect, connection, transaction, run.Pk, changes.Points, fresh.Exists(l => l.Type == "finish"), cancellationToken);
        if (changes.Output.Count > 0)
        {
            await OutputTable.InsertAsync(connection, transaction, run.Pk, changes.Output, cancellationToken);
        }

        if (changes.Media.Count > 0)
        {
            await MediaTable.InsertAsync(connection, transaction, run.Pk, changes.Media, cancellationToken);
        }

        var acked = fresh[^1].Seq;
        await RunTable.UpdateAfterAppendAsync(connection, transaction, run, acked, withMetadata, now, pending, cancellationToken);
        var valuesAfter = RunValueTable.OfSummary(live.Fold.Summary.Snapshot());
        if (withMetadata)
        {
            valuesAfter = valuesAfter.Concat(RunValueTable.OfConfig(run.Config, run.Metadata["tags"])).ToDictionary();
        }

        await RunValueTable.UpdateAsync(connection, transaction, project, run.Pk, valuesBefore, valuesAfter, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        _live.Return(live, acked);
        return new AppendResult(acked, fresh.Count, lines.Count - fresh.Count);
    }

    /// <summary>A run that is not stored: deleted (410, for good) or never created (404, which a client answers by creating it).</summary>
    private async Task<IngestException> NotFoundAsync(string project, string runId, RunNotFoundException notFound, CancellationToken cancellationToken) =>
        await _store.Runs.IsDeletedAsync(project, runId, cancellationToken)
            ? Deleted(new RunDeletedException(project, runId))
            : new IngestException(IngestError.RunNotFound, "Unknown run", notFound.Message);

    private static IngestException Deleted(RunDeletedException ex) => new(IngestError.RunDeleted, "Run deleted", ex.Message);

    private static void CheckNames(string project, string runId)
    {
        CheckName(project, "project");
        CheckName(runId, "runId");
    }

    private static void CheckBlob(string project, string sha256)
    {
        CheckName(project, "project");
        if (!RecordReader.IsSha256(sha256))
        {
            throw new IngestException(IngestError.Invalid, "Invalid sha256", $"'{sha256}' is not a SHA-256: name the file by the 64 lower-case hex digits of its bytes' hash.", "sha256");
        }
    }

    private static void CheckName(string value, string field)
    {
        if (NameProblem(value, field) is { } problem)
        {
            throw new IngestException(IngestError.Invalid, "Invalid name", problem, field);
        }
    }
}

/// <summary>The outcome of appending a batch of records.</summary>
/// <param name="AckedSeq">The highest sequence number stored for the run after the batch.</param>
/// <param name="Stored">Lines of the batch stored now.</param>
/// <param name="Skipped">Lines of the batch skipped, stored before (replays).</param>
public sealed record AppendResult(long AckedSeq, int Stored, int Skipped);

/// <summary>What kind of problem an <see cref="IngestException"/> reports.</summary>
public enum IngestError
{
    /// <summary>The request is not valid: a name, a line, a value, a hash or a content type.</summary>
    Invalid,

    /// <summary>The run was never created on this server.</summary>
    RunNotFound,

    /// <summary>The batch's first new line does not follow the run's acked sequence number; resend from <see cref="IngestException.ExpectedSeq"/>.</summary>
    SequenceGap,

    /// <summary>
    /// A new run names a run id the server holds with records of another run (one that started at
    /// another time): resume that run from its directory or pick another id.
    /// </summary>
    RunIdInUse,

    /// <summary>The run was deleted on this server: its id takes no more records, and a client stops sending it.</summary>
    RunDeleted,

    /// <summary>The API key the request came with was revoked.</summary>
    KeyRevoked,

    /// <summary>The batch holds more keys or values than one request may (RecordRules.BatchProblem); send fewer lines at a time.</summary>
    TooLarge,
}

/// <summary>A write the server refuses, and why; nothing of it was stored.</summary>
public sealed class IngestException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="error">The kind of problem.</param>
    /// <param name="title">A short summary of the problem.</param>
    /// <param name="message">What was wrong and what to do.</param>
    /// <param name="field">The field at fault, if one is.</param>
    /// <param name="expectedSeq">For a gap, the sequence number the server expects next.</param>
    public IngestException(IngestError error, string title, string message, string? field = null, long? expectedSeq = null)
        : base(message)
    {
        Error = error;
        Title = title;
        Field = field;
        ExpectedSeq = expectedSeq;
    }

    /// <summary>The kind of problem.</summary>
    public IngestError Error { get; }

    /// <summary>A short summary of the problem.</summary>
    public string Title { get; }

    /// <summary>The field at fault, if one is.</summary>
    public string? Field { get; }

    /// <summary>For <see cref="IngestError.SequenceGap"/>, the sequence number the server expects next.</summary>
    public long? ExpectedSeq { get; }
}
