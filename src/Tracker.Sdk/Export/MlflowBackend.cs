using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tracker.Reading;

namespace Tracker.Export;

/// <summary>
/// Sends a run to an MLflow tracking server through MLflow's REST API (<c>/api/2.0/mlflow/</c>), so
/// a .NET team logs into the MLflow server its company already runs (or into Tracker's own
/// MLflow-compatible API). Register it in <see cref="RunOptions.Backends"/>; like every backend it
/// runs on a loop of its own, off the training thread, following the run directory.
/// </summary>
/// <remarks>
/// <para>
/// Opening: the experiment is found by name (<c>experiments/get-by-name</c>) or created, a run made
/// at another moment by the same name included; the MLflow run is created with the run's name
/// (<c>mlflow.runName</c>) and start time, and its id is kept in <c>backends/mlflow.state.json</c> in the
/// run directory, so a resumed run (or an open that is retried) logs into the same MLflow run.
/// </para>
/// <para>
/// Mapping: history points are metrics (key, value, timestamp = the record's time in Unix ms, step;
/// bools as 0 and 1, NaN and infinities as MLflow's JSON writes them, text left out: MLflow's
/// metrics are numbers; system metrics keep their <c>system/</c> keys); the config is params (text
/// as is, other values as their JSON text, keys flattened with <c>/</c>); tags are MLflow tags
/// (<c>key:value</c> becomes tag <c>key</c> = <c>value</c>, a tag without a colon an empty value),
/// the notes <c>mlflow.note.content</c>, the Tracker run id <c>tracker.run_id</c>; the finish is
/// <c>runs/update</c> with FINISHED, FAILED or KILLED and the end time. Summaries, metric
/// definitions, console output and media are not sent (MLflow's artifacts are out of scope); a tag
/// removed in Tracker stays in MLflow.
/// </para>
/// <para>
/// MLflow's params cannot change: a config value changed after it was logged is reported once through
/// <see cref="RunOptions.Diagnostics"/> and the MLflow run keeps the first value.
/// </para>
/// <para>
/// Limits: each <c>runs/log-batch</c> holds at most 1,000 metrics, 100 params, 100 tags, 1,000 of
/// them together and 1,000,000 bytes (MLflow's <c>mlflow/utils/validation.py</c>); a batch of
/// records takes as many requests as that needs.
/// </para>
/// <para>
/// Errors: a request MLflow refuses (400 <c>INVALID_PARAMETER_VALUE</c> and other 4xx answers about
/// the data) is split until the refused metric, param or tag is found; it is reported with MLflow's
/// message and left out (a refused metric or param key from then on), and the rest is sent. Network
/// failures, timeouts (30 s a request), 429, 5xx, and 401/403/404 (the token, a deleted run) throw, so
/// the worker retries with back-off and the records wait in the run directory.
/// </para>
/// <para>
/// Exactly once, as far as MLflow's protocol allows: log-batch is not idempotent, so the position of
/// the last request MLflow confirmed (record and point) is kept in the state file after each
/// request, and a batch that comes again resumes after it. A request that succeeded on the server
/// but whose answer was lost (a timeout) is sent again: those points are the remaining
/// at-least-once window.
/// </para>
/// </remarks>
public sealed class MlflowBackend : IReportingBackend
{
    /// <summary>The state file in the run directory's <c>backends</c> folder, beside the worker's cursor <c>mlflow.json</c>.</summary>
    internal const string StateFile = "mlflow.state.json";

    /// <summary>The tag that names the Tracker run an MLflow run came from.</summary>
    internal const string RunIdTag = "tracker.run_id";

    private const string RunNameTag = "mlflow.runName";
    private const string NoteTag = "mlflow.note.content";

    private static readonly JsonSerializerOptions StateJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly string? _token;
    private readonly string? _experimentName;
    private readonly HttpMessageHandler? _handler;
    private readonly Dictionary<string, string> _params = new(StringComparer.Ordinal);
    private readonly HashSet<string> _changedParams = new(StringComparer.Ordinal);
    private readonly HashSet<string> _refusedMetrics = new(StringComparer.Ordinal);
    private readonly HashSet<string> _refusedParams = new(StringComparer.Ordinal);
    private MlflowClient? _client;
    private Action<RunDiagnostic>? _report;
    private string _statePath = string.Empty;
    private string _trackerRunId = string.Empty;
    private State _state = new(string.Empty, string.Empty, string.Empty, 0, 0, 0);

    /// <summary>Sends the run to an MLflow tracking server.</summary>
    /// <param name="trackingUri">
    /// The server's base URL, e.g. <c>http://mlflow.internal:5000</c> (a path prefix is kept); when
    /// null, the <c>MLFLOW_TRACKING_URI</c> environment variable, as MLflow's clients read it.
    /// </param>
    /// <param name="token">
    /// Sent as <c>Authorization: Bearer</c> on every request; when null, <c>MLFLOW_TRACKING_TOKEN</c>, as
    /// MLflow's clients send it (for Tracker's MLflow API: a Tracker API key). No header when neither is set.
    /// </param>
    /// <param name="experimentName">
    /// The MLflow experiment, found by name or created; when null, <c>MLFLOW_EXPERIMENT_NAME</c>, and
    /// when that is unset, the run's project.
    /// </param>
    /// <exception cref="ArgumentException">
    /// No tracking URI was given or set, or it is not an absolute <c>http</c> or <c>https</c> URL
    /// (MLflow's <c>file:</c>, <c>databricks</c> and database URIs are not servers this backend can call).
    /// </exception>
    public MlflowBackend(Uri? trackingUri = null, string? token = null, string? experimentName = null)
        : this(trackingUri, token, experimentName, handler: null)
    {
    }

    /// <summary>As the public constructor, with the HTTP handler requests go through (a test double); not disposed.</summary>
    internal MlflowBackend(Uri? trackingUri, string? token, string? experimentName, HttpMessageHandler? handler)
    {
        TrackingUri = trackingUri ?? UriFromEnvironment();
        if (!TrackingUri.IsAbsoluteUri || (TrackingUri.Scheme != Uri.UriSchemeHttp && TrackingUri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException(
                $"MLflow tracking URI '{TrackingUri}' is not an http or https URL. MlflowBackend calls an MLflow tracking server's REST API: give its URL, e.g. http://localhost:5000.",
                nameof(trackingUri));
        }

        _token = token ?? NonEmpty(Environment.GetEnvironmentVariable("MLFLOW_TRACKING_TOKEN"));
        _experimentName = NonEmpty(experimentName) ?? NonEmpty(Environment.GetEnvironmentVariable("MLFLOW_EXPERIMENT_NAME"));
        _handler = handler;
    }

    /// <summary><c>mlflow</c>: it names the cursor file <c>backends/mlflow.json</c>.</summary>
    public string Name => "mlflow";

    /// <summary>The MLflow tracking server the run is sent to.</summary>
    public Uri TrackingUri { get; }

    /// <summary>The MLflow run's id (32 hex digits on MLflow's own server) once the backend has opened; null before.</summary>
    public string? MlflowRunId => _state.RunId.Length > 0 ? _state.RunId : null;

    /// <summary>Reports refusals (a value MLflow does not take, a param it cannot change) where the run's other problems go.</summary>
    /// <param name="report">The run's diagnostics.</param>
    void IReportingBackend.UseDiagnostics(Action<RunDiagnostic> report) => _report = report;

    /// <inheritdoc/>
    public async Task OpenAsync(RunInfo run, string directory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(directory);
        _client ??= new MlflowClient(TrackingUri, _token, _handler);
        _trackerRunId = run.Id;
        _statePath = Path.Combine(directory, RunFiles.BackendsFolder, StateFile);
        var saved = ReadState();
        var uri = TrackingUri.AbsoluteUri;
        if (saved is not null && saved.TrackingUri == uri && saved.RunId.Length > 0 && await ReopenAsync(saved, run, cancellationToken).ConfigureAwait(false))
        {
            _state = saved;
        }
        else
        {
            if (saved is not null && saved.TrackingUri != uri && saved.RunId.Length > 0)
            {
                Report(DiagnosticLevel.Warning, $"Run {run.Id} was sent to MLflow run {saved.RunId} on {saved.TrackingUri}; it now goes to {uri}, where a new MLflow run gets the records from here on.");
            }

            var experimentId = await ExperimentIdAsync(_experimentName ?? run.Project, cancellationToken).ConfigureAwait(false);
            var runId = await CreateRunAsync(experimentId, run, cancellationToken).ConfigureAwait(false);

            // Saved before anything is logged: an open that is retried from here logs into this run.
            WriteState(new State(uri, experimentId, runId, saved?.Seq ?? 0, saved?.PartSeq ?? 0, saved?.PartDone ?? 0));
        }

        // The config, tags and notes as the run (re)started: setting them again changes nothing in MLflow.
        var entities = new List<Entity>();
        AddParams(run.Config, 0, entities);
        AddTags(run.Tags, run.Notes, run.Notes is not null, 0, entities);
        entities.Add(Entity.Tag(RunIdTag, run.Id, 0));
        await SendAsync(entities, track: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task WriteAsync(BackendBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.LastSeq <= _state.Seq)
        {
            return; // sent before a crash kept the worker's cursor from moving
        }

        var entities = new List<Entity>();
        foreach (var record in batch.Records)
        {
            if (record.Seq > _state.Seq)
            {
                var first = entities.Count;
                Add(record, entities);
                for (var i = first; i < entities.Count; i++)
                {
                    entities[i].Index = i - first;
                    entities[i].Last = i == entities.Count - 1;
                }

                if (record.Seq == _state.PartSeq)
                {
                    entities.RemoveRange(first, Math.Min(_state.PartDone, entities.Count - first)); // MLflow has the first points of this record
                }
            }
        }

        await SendAsync(entities, track: true, cancellationToken).ConfigureAwait(false);
        WriteState(_state with { Seq = batch.LastSeq, PartSeq = 0, PartDone = 0 });
    }

    /// <inheritdoc/>
    /// <remarks>Nothing is held back: each batch is sent when it comes.</remarks>
    public Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        _client?.Dispose();
        _client = null;
        return ValueTask.CompletedTask;
    }

    private static Uri UriFromEnvironment()
    {
        var text = NonEmpty(Environment.GetEnvironmentVariable("MLFLOW_TRACKING_URI"))
            ?? throw new ArgumentException("No MLflow tracking server: pass its URL to MlflowBackend or set MLFLOW_TRACKING_URI, as for MLflow's own clients.", "trackingUri");
        return Uri.TryCreate(text, UriKind.Absolute, out var uri)
            ? uri
            : throw new ArgumentException($"MLFLOW_TRACKING_URI '{text}' is not an absolute URL; set it to the MLflow tracking server's URL, e.g. http://localhost:5000.", "trackingUri");
    }

    private static string? NonEmpty(string? text) => string.IsNullOrWhiteSpace(text) ? null : text;

    private static string Query(string name, string value) => $"{name}={Uri.EscapeDataString(value)}";

    /// <summary>Opens the MLflow run the state file names; false when MLflow no longer has it.</summary>
    private async Task<bool> ReopenAsync(State saved, RunInfo run, CancellationToken cancellationToken)
    {
        JsonElement got;
        try
        {
            got = await _client!.GetAsync("runs/get?" + Query("run_id", saved.RunId), cancellationToken).ConfigureAwait(false);
        }
        catch (MlflowRequestException ex) when (ex.ErrorCode == "RESOURCE_DOES_NOT_EXIST")
        {
            Report(DiagnosticLevel.Warning, $"MLflow run {saved.RunId} of run {run.Id} is gone from {TrackingUri} ({ex.MlflowMessage}); a new MLflow run gets the records from here on.");
            return false;
        }

        if (!got.TryGetProperty("run", out var mlflowRun) || mlflowRun.ValueKind != JsonValueKind.Object)
        {
            throw new HttpRequestException($"MLflow server {TrackingUri} answered runs/get for run {saved.RunId} without a run; check that MLFLOW_TRACKING_URI names an MLflow tracking server.");
        }

        // MLflow's params are immutable: knowing the logged values keeps a changed one from refusing a whole request.
        if (mlflowRun.TryGetProperty("data", out var data) && data.TryGetProperty("params", out var logged) && logged.ValueKind == JsonValueKind.Array)
        {
            foreach (var param in logged.EnumerateArray())
            {
                if (param.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String && param.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.String)
                {
                    _params[key.GetString()!] = value.GetString() ?? string.Empty;
                }
            }
        }

        var status = mlflowRun.TryGetProperty("info", out var info) && info.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        if (run.Resumed > 0 && status is not null and not "RUNNING")
        {
            try
            {
                await _client.PostAsync("runs/update", Body(w => { w.WriteString("run_id", saved.RunId); w.WriteString("status", "RUNNING"); }), cancellationToken).ConfigureAwait(false);
            }
            catch (MlflowRequestException ex) when (ex.IsRefusal)
            {
                Report(DiagnosticLevel.Info, $"MLflow run {saved.RunId} stays {status} while run {run.Id} resumes: {ex.Message}");
            }
        }

        return true;
    }

    /// <summary>The experiment's id: found by name, or created (another client creating it at the same moment included).</summary>
    private async Task<string> ExperimentIdAsync(string name, CancellationToken cancellationToken)
    {
        if (await FindExperimentAsync(name, cancellationToken).ConfigureAwait(false) is { } found)
        {
            return found;
        }

        try
        {
            var created = await _client!.PostAsync("experiments/create", Body(w => w.WriteString("name", name)), cancellationToken).ConfigureAwait(false);
            return created.GetProperty("experiment_id").GetString()!;
        }
        catch (MlflowRequestException ex) when (ex.ErrorCode == "RESOURCE_ALREADY_EXISTS")
        {
            // Another client created it between the two calls.
            return await FindExperimentAsync(name, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"MLflow says experiment '{name}' exists but does not find it by name; the worker tries again.", ex);
        }
    }

    private async Task<string?> FindExperimentAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            var got = await _client!.GetAsync("experiments/get-by-name?" + Query("experiment_name", name), cancellationToken).ConfigureAwait(false);
            return got.GetProperty("experiment").GetProperty("experiment_id").GetString();
        }
        catch (MlflowRequestException ex) when (ex.ErrorCode == "RESOURCE_DOES_NOT_EXIST")
        {
            return null;
        }
    }

    private async Task<string> CreateRunAsync(string experimentId, RunInfo run, CancellationToken cancellationToken)
    {
        // MLflow's system tags, as its own clients set them; Tracker tags and the config follow through log-batch.
        var tags = new List<(string, string)> { (RunNameTag, run.Name), ("mlflow.user", Environment.UserName) };
        if (run.EntryAssembly is { Length: > 0 } source)
        {
            tags.Add(("mlflow.source.name", source));
        }

        if (run.Git?.Commit is { Length: > 0 } commit)
        {
            tags.Add(("mlflow.source.git.commit", commit));
        }

        var created = await _client!.PostAsync("runs/create", Body(w =>
        {
            w.WriteString("experiment_id", experimentId);
            w.WriteString("run_name", run.Name);
            w.WriteNumber("start_time", run.StartTime.ToUnixTimeMilliseconds());
            w.WriteStartArray("tags");
            foreach (var (key, value) in tags)
            {
                w.WriteStartObject();
                w.WriteString("key", key);
                w.WriteString("value", value);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }), cancellationToken).ConfigureAwait(false);
        var info = created.GetProperty("run").GetProperty("info");
        return (info.TryGetProperty("run_id", out var id) ? id : info.GetProperty("run_uuid")).GetString()!;
    }

    /// <summary>What MLflow gets of one record, numbered within the record so that a resumed batch skips what it had.</summary>
    private void Add(RecordLine record, List<Entity> entities)
    {
        switch (record)
        {
            case HistoryLine history:
                var block = history.Block;
                for (var row = 0; row < block.Rows; row++)
                {
                    foreach (var column in block.Columns)
                    {
                        if (column.IsNumber(row)) // Numbers holds bools as 1 and 0; text has no place in MLflow's metrics
                        {
                            entities.Add(Entity.Metric(column.Key, column.Numbers[row], block.Times[row], block.Steps[row], record.Seq));
                        }
                    }
                }

                break;
            case ValuesLine { IsSummary: false } config:
                AddParams(config.Values, record.Seq, entities);
                break;
            case RunLine line:
                AddTags(line.Tags, line.Notes, line.HasNotes, record.Seq, entities);
                break;
            case FinishLine finish:
                entities.Add(Entity.Finish(finish.State switch
                {
                    RunStates.Finished => "FINISHED",
                    RunStates.Killed => "KILLED",
                    _ => "FAILED",
                }, finish.UnixMs, record.Seq));
                break;
            default:
                break; // summaries, metric definitions, media, console output: MLflow has no place for them here
        }
    }

    private static void AddParams(IReadOnlyDictionary<string, object?> config, long seq, List<Entity> entities)
    {
        foreach (var (key, value) in config)
        {
            entities.Add(Entity.Param(key, ParamText(value), seq));
        }
    }

    private static void AddTags(IReadOnlyList<string>? tags, string? notes, bool hasNotes, long seq, List<Entity> entities)
    {
        foreach (var tag in tags ?? [])
        {
            var colon = tag.IndexOf(':', StringComparison.Ordinal);
            entities.Add(colon < 0 ? Entity.Tag(tag, string.Empty, seq) : Entity.Tag(tag[..colon], tag[(colon + 1)..], seq));
        }

        if (hasNotes)
        {
            entities.Add(Entity.Tag(NoteTag, notes ?? string.Empty, seq));
        }
    }

    /// <summary>A config value as MLflow's params hold it: text as is, anything else its JSON text (as Tracker's MLflow API reads an SDK run's config).</summary>
    private static string ParamText(object? value) => value switch
    {
        string text => text,
        double d when !double.IsFinite(d) => double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity",
        _ => RecordValue.ToJson(value),
    };

    /// <summary>
    /// Sends the entities in order, as few requests as MLflow's limits allow. A refused request is
    /// split in halves until the refused entity is found, reported and left out.
    /// </summary>
    /// <param name="entities">What to send, in order.</param>
    /// <param name="track">Whether to keep the position in the state file after each request (records), or not (what an open sends again each time).</param>
    /// <param name="cancellationToken">Cancelled when Finish's budget runs out.</param>
    private async Task SendAsync(List<Entity> entities, bool track, CancellationToken cancellationToken)
    {
        var position = 0;
        var cap = int.MaxValue;
        var capUntil = 0;
        while (position < entities.Count)
        {
            if (position >= capUntil)
            {
                cap = int.MaxValue;
            }

            if (entities[position].Kind == EntityKind.Finish)
            {
                await FinishAsync(entities[position], cancellationToken).ConfigureAwait(false);
                position++;
                Progress(entities[position - 1], track);
                continue;
            }

            var (end, metrics, parameters, tags) = NextRequest(entities, position, cap);
            var count = metrics.Count + parameters.Count + tags.Count;
            if (count == 0)
            {
                position = end; // every entity was left out: nothing to send
                continue;
            }

            try
            {
                await _client!.PostAsync("runs/log-batch", LogBatch(metrics, parameters, tags), cancellationToken).ConfigureAwait(false);
            }
            catch (MlflowRequestException ex) when (ex.IsRefusal)
            {
                if (count > 1)
                {
                    capUntil = Math.Max(capUntil, end);
                    cap = (count + 1) / 2;
                    continue;
                }

                var refused = metrics.Concat(parameters).Concat(tags).Single();
                Refused(refused, ex);
                position = end;
                Progress(entities[end - 1], track);
                continue;
            }

            foreach (var param in parameters)
            {
                _params[param.Key] = param.Text;
            }

            position = end;
            Progress(entities[end - 1], track);
        }
    }

    /// <summary>The entities from <paramref name="start"/> that one log-batch can hold: its end, and what it sends.</summary>
    private (int End, List<Entity> Metrics, List<Entity> Params, List<Entity> Tags) NextRequest(List<Entity> entities, int start, int cap)
    {
        List<Entity> metrics = [], parameters = [], tags = [];
        var bytes = 64 + _state.RunId.Length; // {"run_id":"…","metrics":[],"params":[],"tags":[]}
        var end = start;
        for (; end < entities.Count; end++)
        {
            var entity = entities[end];
            if (entity.Kind == EntityKind.Finish)
            {
                break; // the finish follows every point before it
            }

            if (LeftOut(entity, parameters))
            {
                continue;
            }

            var count = metrics.Count + parameters.Count + tags.Count;
            var full = count >= Math.Min(cap, MlflowLimits.MaxEntitiesPerBatch)
                || (count > 0 && bytes + entity.Json.Length + 1 > MlflowLimits.MaxBatchRequestBytes)
                || entity.Kind switch
                {
                    EntityKind.Metric => metrics.Count >= MlflowLimits.MaxMetricsPerBatch,
                    EntityKind.Param => parameters.Count >= MlflowLimits.MaxParamsPerBatch, // a second value of a key in it is left out above
                    _ => tags.Count >= MlflowLimits.MaxTagsPerBatch || tags.Exists(t => t.Key == entity.Key), // a tag set twice: the later value in a later request
                };
            if (full)
            {
                break;
            }

            bytes += entity.Json.Length + 1;
            (entity.Kind switch { EntityKind.Metric => metrics, EntityKind.Param => parameters, _ => tags }).Add(entity);
        }

        return (end, metrics, parameters, tags);
    }

    /// <summary>Whether an entity is not sent: a refused key, or a param MLflow already has (the same value) or cannot change.</summary>
    private bool LeftOut(Entity entity, List<Entity> pending)
    {
        switch (entity.Kind)
        {
            case EntityKind.Metric:
                return _refusedMetrics.Contains(entity.Key);
            case EntityKind.Param:
                if (_refusedParams.Contains(entity.Key))
                {
                    return true;
                }

                var logged = _params.TryGetValue(entity.Key, out var value) ? value : pending.Find(p => p.Key == entity.Key)?.Text;
                if (logged is null)
                {
                    return false;
                }

                if (logged != entity.Text && _changedParams.Add(entity.Key))
                {
                    Report(DiagnosticLevel.Warning,
                        $"Config key '{entity.Key}' of run {_trackerRunId} changed to '{Shorten(entity.Text)}', but MLflow run {_state.RunId} already has param '{entity.Key}' = '{Shorten(logged)}': MLflow's params cannot change, so it keeps the first value. Log the new value under another key to see it in MLflow.");
                }

                return true;
            default:
                return false;
        }
    }

    private void Refused(Entity entity, MlflowRequestException ex)
    {
        var what = entity.Kind switch { EntityKind.Metric => "metric", EntityKind.Param => "param", _ => "tag" };
        var rest = entity.Kind switch
        {
            EntityKind.Metric => " Its other points are left out too: rename the key to send it.",
            EntityKind.Param => " Its later values are left out too.",
            _ => string.Empty,
        };
        (entity.Kind switch { EntityKind.Metric => _refusedMetrics, EntityKind.Param => _refusedParams, _ => null })?.Add(entity.Key);
        Report(DiagnosticLevel.Warning, $"MLflow refused {what} '{entity.Key}' of run {_trackerRunId} (record {entity.Seq:N0}) and it was left out; everything else is sent. {ex.Message}{rest}");
    }

    private async Task FinishAsync(Entity finish, CancellationToken cancellationToken)
    {
        try
        {
            await _client!.PostAsync("runs/update", Body(w =>
            {
                w.WriteString("run_id", _state.RunId);
                w.WriteString("status", finish.Key);
                w.WriteNumber("end_time", finish.Time);
            }), cancellationToken).ConfigureAwait(false);
        }
        catch (MlflowRequestException ex) when (ex.IsRefusal)
        {
            Report(DiagnosticLevel.Warning, $"MLflow refused to mark run {_state.RunId} {finish.Key}: {ex.Message}");
        }
    }

    /// <summary>Keeps the position after <paramref name="last"/>: the records before its record and its entities up to it are in MLflow.</summary>
    private void Progress(Entity last, bool track)
    {
        if (track)
        {
            WriteState(last.Last
                ? _state with { Seq = last.Seq, PartSeq = 0, PartDone = 0 }
                : _state with { Seq = last.Seq - 1, PartSeq = last.Seq, PartDone = last.Index + 1 });
        }
    }

    private byte[] LogBatch(List<Entity> metrics, List<Entity> parameters, List<Entity> tags)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = RecordValue.WriterOptions.Encoder, SkipValidation = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("run_id", _state.RunId);
            foreach (var (name, list) in new[] { ("metrics", metrics), ("params", parameters), ("tags", tags) })
            {
                writer.WriteStartArray(name);
                foreach (var entity in list)
                {
                    writer.WriteRawValue(entity.Json, skipInputValidation: true);
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Body(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, RecordValue.WriterOptions))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static string Shorten(string text) => text.Length <= 100 ? text : text[..100] + "…";

    private void Report(DiagnosticLevel level, string message) => _report?.Invoke(new RunDiagnostic(level, $"Backend 'mlflow': {message}"));

    private State? ReadState()
    {
        if (!File.Exists(_statePath))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<State>(File.ReadAllBytes(_statePath), StateJson);
        }
        catch (JsonException ex)
        {
            throw new IOException($"{_statePath} is not the MLflow backend's state ({ex.Message}). Delete it to send the run to a new MLflow run from the worker's cursor.", ex);
        }
    }

    private void WriteState(State state)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_statePath)!);
        var temporary = _statePath + ".tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(state, StateJson));
        File.Move(temporary, _statePath, overwrite: true);
        _state = state;
    }

    private enum EntityKind
    {
        Metric,
        Param,
        Tag,
        Finish,
    }

    /// <summary>One metric point, param, tag or the finish, from record <paramref name="Seq"/> (0: what an open sends), with its JSON.</summary>
    private sealed record Entity(EntityKind Kind, string Key, string Text, long Time, long Seq, byte[] Json)
    {
        /// <summary>Its place among the entities of its record, which the state file counts.</summary>
        public int Index { get; set; }

        /// <summary>Whether it is the last entity of its record.</summary>
        public bool Last { get; set; } = true;

        public static Entity Metric(string key, double value, long time, long step, long seq)
        {
            var buffer = new ArrayBufferWriter<byte>(key.Length + 80);
            using (var writer = new Utf8JsonWriter(buffer, RecordValue.WriterOptions))
            {
                writer.WriteStartObject();
                writer.WriteString("key", key);
                if (double.IsFinite(value))
                {
                    writer.WriteNumber("value", value);
                }
                else
                {
                    writer.WriteString("value", double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity"); // as MLflow's protobuf JSON writes the doubles JSON has no number for
                }

                writer.WriteNumber("timestamp", time);
                writer.WriteNumber("step", step);
                writer.WriteEndObject();
            }

            return new Entity(EntityKind.Metric, key, string.Empty, time, seq, buffer.WrittenSpan.ToArray());
        }

        public static Entity Param(string key, string value, long seq) => new(EntityKind.Param, key, value, 0, seq, Pair(key, value));

        public static Entity Tag(string key, string value, long seq) => new(EntityKind.Tag, key, value, 0, seq, Pair(key, value));

        public static Entity Finish(string status, long time, long seq) => new(EntityKind.Finish, status, string.Empty, time, seq, []);

        private static byte[] Pair(string key, string value)
        {
            var buffer = new ArrayBufferWriter<byte>(key.Length + value.Length + 24);
            using (var writer = new Utf8JsonWriter(buffer, RecordValue.WriterOptions))
            {
                writer.WriteStartObject();
                writer.WriteString("key", key);
                writer.WriteString("value", value);
                writer.WriteEndObject();
            }

            return buffer.WrittenSpan.ToArray();
        }
    }

    /// <summary>
    /// The content of <see cref="StateFile"/>: the MLflow server, experiment and run, and how far
    /// the records went: every entity of the records up to <paramref name="Seq"/>, and the first
    /// <paramref name="PartDone"/> of record <paramref name="PartSeq"/> (0 when none).
    /// </summary>
    private sealed record State(
        [property: JsonPropertyName("tracking_uri")] string TrackingUri,
        [property: JsonPropertyName("experiment_id")] string ExperimentId,
        [property: JsonPropertyName("run_id")] string RunId,
        [property: JsonPropertyName("seq")] long Seq,
        [property: JsonPropertyName("part_seq")] long PartSeq,
        [property: JsonPropertyName("part_done")] int PartDone);
}
