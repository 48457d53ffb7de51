using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using Tracker.Backends;
using Tracker.Internal;
using Tracker.Online;
using Tracker.Pipeline;
using Tracker.Reading;
using Tracker.SystemMetrics;

namespace Tracker;

/// <summary>
/// One experiment run: the thread-safe object training code logs to. Start one with
/// <see cref="Init(RunOptions)"/>, call <c>Log</c> once per step, and <see cref="Finish(int)"/>
/// (or dispose it) at the end. <c>Log</c> validates and enqueues; a background worker writes.
/// </summary>
public sealed partial class Run : IDisposable, IAsyncDisposable
{
    private const int ChunkSize = 2048;

    /// <summary>Pending media bytes (raw pixels mostly) above which Log writes media itself instead of queueing more.</summary>
    private const long MediaBacklogLimit = 128L * 1024 * 1024;

    private readonly object _sync = new();
    private readonly RunOptions _options;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly long _startUnixMs;
    private readonly double _msPerTick;
    private readonly bool _coarseClock;
    private readonly long _startTickCount;
    private readonly KeyRegistry _keys = new();
    private readonly Dictionary<string, object?> _config;
    private readonly SummaryTable _summary;
    private readonly List<MetricDefinition> _metrics = [];
    private readonly List<(MetricKey? Key, string Name, object Value)> _scratch = [];
    private RunInfo _started; // environment read in the background joins it (Run.Environment.cs)
    private readonly RecordQueue? _queue;
    private readonly RunWorker? _worker;
    private readonly RunSender? _sender;
    private readonly ITimer? _flushTimer;
    private readonly SystemSampler? _sampler;
    private readonly ConsoleCapture? _console;
    private readonly ConcurrentQueue<(string Stream, string Line)> _outputLines = new();
    private long _systemSamples;
    private bool _nestedInCall;
    private long _textBytesInCall;
    private readonly DiagnosticsSink _diagnostics;
    private readonly ConcurrentQueue<RecordPayload> _writtenMedia = new();
    private readonly List<Task> _mediaWrites = []; // guarded by _sync
    private long _mediaPendingBytes;
    private long _mediaDropped;
    private Chunk? _current;
    private bool _sealedSinceTick;
    private long _step;
    private long _received;
    private long _droppedByQueue;
    private long _stepsRejected;
    private IReadOnlyList<string> _tags;
    private string? _notes;
    private Task? _finishTask;

    private Run(RunOptions options, RunInfo started, string? directory, IRunBackend? backend, RunFold? resumed, TrackerHttpClient? server)
    {
        _options = options;
        _time = options.TimeProvider;
        _started = started;
        Directory = directory;
        _diagnostics = new DiagnosticsSink(options.Diagnostics, options.Output);
        _config = new Dictionary<string, object?>(started.Config, StringComparer.Ordinal);
        _tags = started.Tags;
        _notes = started.Notes;
        _metrics.AddRange(started.Metrics);

        // A resumed run continues its summary where the records leave it: accumulators and overrides alike.
        _summary = resumed?.Summary ?? new SummaryTable();
        foreach (var definition in started.Metrics)
        {
            _summary.Define(definition);
        }
        _startTimestamp = _time.GetTimestamp();
        _startUnixMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _msPerTick = 1000.0 / _time.TimestampFrequency;

        // A precise clock read costs ~60 ns on some virtual machines, more than the rest of Log;
        // the coarse monotonic tick (a few ms resolution) costs ~14 ns and is plenty for row times.
        _coarseClock = ReferenceEquals(_time, TimeProvider.System);
        _startTickCount = Environment.TickCount64;
        Config = new RunConfig(this);
        Summary = new RunSummary(this);
        if (backend is null)
        {
            return; // disabled
        }

        _step = resumed?.NextStep ?? 0;
        _systemSamples = resumed?.NextSystemStep ?? 0;
        var firstSeq = (resumed?.LastSeq ?? 0) + 1;
        if (server is not null)
        {
            // Its own sink: outage reports must not rate-limit the run's warnings, nor the reverse.
            _sender = new RunSender(server, started, directory!, firstSeq - 1, new DiagnosticsSink(options.Diagnostics, options.Output), _time);
            backend = new NotifyingBackend(backend, _sender);
        }

        var capacity = Math.Max(2, options.MaxQueuedRecords / ChunkSize);
        _queue = new RecordQueue(ChunkSize, capacity);
        _current = _queue.Rent();
        _worker = new RunWorker(_queue, backend, _keys, options, _diagnostics, firstSeq);
        _worker.Start();
        _sender?.Start();
        _flushTimer = _time.CreateTimer(static s => ((Run)s!).OnFlushTick(), this, options.FlushInterval, options.FlushInterval);
        if (options.CaptureConsole)
        {
            _console = new ConsoleCapture(directory!, WriteOutputLine);
        }

        if (options.SystemMetricsInterval is { } interval && interval > TimeSpan.Zero)
        {
            _sampler = new SystemSampler(options.SystemProbes ?? SystemSampler.DefaultProbes(directory!), interval, _time, WriteSystemSample,
                ex => _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning, $"A system metrics probe failed and is no longer sampled: {ex.Message}", ex)));
        }

        if (options.FinishOnProcessExit)
        {
            ProcessHooks.Register(this);
        }
    }

    /// <summary>The run's id, unique within its project.</summary>
    public string Id => _started.Id;

    /// <summary>The run's display name.</summary>
    public string Name => _started.Name;

    /// <summary>The project the run belongs to.</summary>
    public string Project => _started.Project;

    /// <summary>Online, offline or disabled.</summary>
    public RunMode Mode => _started.Mode;

    /// <summary>The run directory (<c>&lt;dir&gt;/&lt;project&gt;/&lt;id&gt;</c>); null when the run is disabled.</summary>
    public string? Directory { get; }

    /// <summary>The step the next committed <c>Log</c> call writes to.</summary>
    public long Step
    {
        get
        {
            lock (_sync)
            {
                return _step;
            }
        }
    }

    /// <summary>The run's hyper-parameters; can be updated while the run is going.</summary>
    public RunConfig Config { get; }

    /// <summary>Each metric's summary value (its last value unless <see cref="DefineMetric"/> says otherwise); writable.</summary>
    public RunSummary Summary { get; }

    /// <summary>Tags of the run; assign to replace them.</summary>
    [SuppressMessage("Usage", "CA2227:Collection properties should be read only", Justification = "Assigning replaces the tags, as in W&B.")]
    public IReadOnlyList<string> Tags
    {
        get
        {
            lock (_sync)
            {
                return _tags;
            }
        }

        set
        {
            ArgumentNullException.ThrowIfNull(value);
            var tags = value.Select(t => string.IsNullOrWhiteSpace(t)
                ? throw new ArgumentException("Tags must not be null, empty or whitespace.", nameof(value))
                : t.Trim()).Distinct(StringComparer.Ordinal).ToArray();
            UpdateMetadata("run", () => _tags = tags, Json.Serialize(new { tags }));
        }
    }

    /// <summary>Free-text notes of the run; assign to replace them.</summary>
    public string? Notes
    {
        get
        {
            lock (_sync)
            {
                return _notes;
            }
        }

        set => UpdateMetadata("run", () => _notes = value, Json.Serialize(new { notes = value }));
    }

    /// <summary>Whether <see cref="Finish(int)"/> has been called.</summary>
    public bool IsFinished
    {
        get
        {
            lock (_sync)
            {
                return _finishTask is not null;
            }
        }
    }

    /// <summary>Counters of records received, written, retried and dropped.</summary>
    public RunStatistics Statistics
    {
        get
        {
            lock (_sync)
            {
                var worker = _worker?.Counters ?? default;
                return new RunStatistics(_received, worker.Written, worker.Retried, worker.Dropped + _droppedByQueue + Interlocked.Read(ref _mediaDropped), _stepsRejected, _sender?.Unsynced ?? 0);
            }
        }
    }

    private bool IsDisabled => _queue is null;

    private string MediaDirectory => Path.Combine(Directory!, RunFiles.MediaFolder);

    /// <summary>
    /// Logs one value at the current step. With the default <paramref name="commit"/> the step
    /// then advances, so log several metrics of one step with a dictionary or <c>commit: false</c>.
    /// Allocation-free.
    /// </summary>
    /// <param name="key">Metric name, such as <c>train/loss</c> (at most 256 characters, not starting with '_').</param>
    /// <param name="value">The value; NaN and infinities are kept.</param>
    /// <param name="step">Explicit step; must not be lower than <see cref="Step"/>.</param>
    /// <param name="commit">Whether to advance the step afterwards; default: true without <paramref name="step"/>, false with it.</param>
    /// <exception cref="ArgumentException">The key is empty, too long or reserved.</exception>
    /// <exception cref="InvalidOperationException">The run is finished.</exception>
    public void Log(string key, double value, long? step = null, bool? commit = null)
    {
        if (IsDisabled)
        {
            return;
        }

        if (key is null)
        {
            RecordRules.ThrowIfInvalidKey(key, metric: true); // throws the explanatory ArgumentNullException
        }

        lock (_sync)
        {
            ThrowIfFinished();
            if (step.HasValue && !MoveTo(step.Value))
            {
                return;
            }

            var metric = _keys.Find(key) ?? AddKey(key);
            metric.Summary.Add(value);
            metric.Buckets.Add(_step, value);
            ref var entry = ref NextEntry(sameLine: false);
            entry.Kind = EntryKind.Number;
            entry.KeyId = metric.Id;
            entry.Step = _step;
            entry.UnixMs = NowUnixMs();
            entry.Number = value;
            _received++;
            if (commit ?? !step.HasValue)
            {
                _step++;
            }
        }
    }

    /// <summary>
    /// Logs an image, histogram, table or text at the current step. Images are encoded and files
    /// written on the thread pool, so this returns at once and the scalar path never waits for them;
    /// only when more than 128 MiB of pixels are waiting does the call write its media itself.
    /// </summary>
    /// <param name="key">Media name, such as <c>samples</c> (at most 256 characters, not starting with '_').</param>
    /// <param name="media">An <see cref="Image"/>, <see cref="Histogram"/>, <see cref="Table"/> or <see cref="Text"/>.</param>
    /// <param name="step">Explicit step; must not be lower than <see cref="Step"/>.</param>
    /// <param name="commit">Whether to advance the step afterwards; default: true without <paramref name="step"/>, false with it.</param>
    /// <exception cref="ArgumentException">The key is empty, too long or reserved.</exception>
    /// <exception cref="InvalidOperationException">The run is finished.</exception>
    public void Log(string key, Media media, long? step = null, bool? commit = null)
    {
        ArgumentNullException.ThrowIfNull(media);
        Log(new Dictionary<string, object?>(1, StringComparer.Ordinal) { [key] = media }, step, commit);
    }

    /// <summary>
    /// Logs several values at the current step as one history row. Values may be numbers, bool,
    /// string, <see cref="Media"/> (images, histograms, tables, texts), or nested dictionaries
    /// (keys flatten to <c>parent/child</c>); null values are skipped.
    /// Either every value is logged or, on bad input, none is.
    /// </summary>
    /// <param name="values">Metric names and values.</param>
    /// <param name="step">Explicit step; must not be lower than <see cref="Step"/>.</param>
    /// <param name="commit">Whether to advance the step afterwards; default: true without <paramref name="step"/>, false with it.</param>
    /// <exception cref="ArgumentException">A key is invalid or a value has an unsupported type.</exception>
    /// <exception cref="InvalidOperationException">The run is finished.</exception>
    public void Log(IReadOnlyDictionary<string, object?> values, long? step = null, bool? commit = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (IsDisabled)
        {
            return;
        }

        List<(Task Write, bool Behind)>? mediaWrites = null;
        lock (_sync)
        {
            ThrowIfFinished();
            _scratch.Clear();
            _nestedInCall = false;
            _textBytesInCall = 0;
            if (values is Dictionary<string, object?> concrete)
            {
                foreach (var pair in concrete)
                {
                    Collect(pair.Key, pair.Value, depth: 0);
                }
            }
            else
            {
                foreach (var pair in values)
                {
                    Collect(pair.Key, pair.Value, depth: 0);
                }
            }

            if (_nestedInCall)
            {
                ThrowIfKeyTwice();
            }

            if (step.HasValue && !MoveTo(step.Value))
            {
                return;
            }

            var unixMs = NowUnixMs();
            var sameLine = false;
            var media = 0;
            foreach (var (known, name, value) in _scratch)
            {
                if (value is Media)
                {
                    media++;
                    continue; // records of their own, after the row
                }

                var metric = known ?? _keys.Find(name) ?? AddKey(name);
                ref var entry = ref NextEntry(sameLine);
                entry.KeyId = metric.Id;
                entry.Step = _step;
                entry.UnixMs = unixMs;
                entry.Kind = Values.Classify(value, out entry.Number, out entry.Bits);
                switch (entry.Kind)
                {
                    case EntryKind.Number:
                        metric.Summary.Add(entry.Number);
                        break;
                    case EntryKind.Integer:
                        metric.Summary.Add(entry.Bits);
                        break;
                    case EntryKind.Text:
                        entry.Payload = value;
                        metric.Summary.Add(value);
                        break;
                    default:
                        metric.Summary.Add(value); // a bool, or a ulong above long.MaxValue
                        break;
                }

                if (entry.Kind != EntryKind.Text)
                {
                    metric.Buckets.Add(_step, entry.Number);
                }

                sameLine = true;
                _received++;
            }

            if (media > 0)
            {
                mediaWrites = AppendMedia(unixMs);
            }

            _scratch.Clear();
            if (commit ?? !step.HasValue)
            {
                _step++;
            }
        }

        foreach (var (write, behind) in mediaWrites ?? [])
        {
            // Past the backlog limit the caller writes its own media: back-pressure, not unbounded memory.
            if (behind)
            {
                write.RunSynchronously(TaskScheduler.Default);
            }
            else
            {
                write.Start(TaskScheduler.Default);
            }
        }
    }

    /// <summary>
    /// Says how a metric is summarised and which key is its x-axis, as W&amp;B's <c>define_metric</c>.
    /// <paramref name="name"/> may end with '*' to match a prefix (<c>val/*</c>).
    /// </summary>
    /// <param name="name">Metric key or prefix glob.</param>
    /// <param name="stepMetric">Key to chart this metric against, such as <c>epoch</c>.</param>
    /// <param name="summary">How <see cref="Summary"/> computes the metric's value.</param>
    /// <param name="goal">Whether smaller or larger is better; needed by <see cref="SummaryMode.Best"/>.</param>
    public void DefineMetric(string name, string? stepMetric = null, SummaryMode summary = SummaryMode.Last, MetricGoal goal = MetricGoal.None)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (RecordRules.MetricNameProblem(name) is { } problem)
        {
            throw new ArgumentException(problem, nameof(name));
        }

        if (stepMetric is not null)
        {
            RecordRules.ThrowIfInvalidKey(stepMetric, metric: false, nameof(stepMetric));
        }

        if (summary == SummaryMode.Best && goal == MetricGoal.None)
        {
            throw new ArgumentException($"Summary 'Best' of '{name}' needs a goal: pass goal: MetricGoal.Minimize or MetricGoal.Maximize.", nameof(goal));
        }

        var definition = new MetricDefinition(name, stepMetric, summary, goal);
        UpdateMetadata("metric", () =>
        {
            _metrics.RemoveAll(m => m.Name == name);
            _metrics.Add(definition);
            _summary.Define(definition);
        }, Json.Serialize(new { name, step_metric = stepMetric, summary, goal }));
    }

    /// <summary>
    /// Writes everything logged before this call, waiting at most <paramref name="timeout"/>.
    /// </summary>
    /// <returns>True when everything was written in time.</returns>
    public bool Flush(TimeSpan timeout)
    {
        var task = FlushAsync();
        return task.Wait(timeout) && task.Result;
    }

    /// <summary>Writes everything logged before this call.</summary>
    /// <returns>True when everything was written; false if the run finished before the flush completed.</returns>
    public async Task<bool> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (IsDisabled)
        {
            return true;
        }

        await MediaFilesWritten().WaitAsync(cancellationToken).ConfigureAwait(false);
        var marker = new Chunk(0) { FlushSignal = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously) };
        Task? finishing;
        lock (_sync)
        {
            finishing = _finishTask;
            if (finishing is null)
            {
                DrainWrittenMedia();
                Seal(wait: true);
                _queue!.TryPublishUnbounded(marker);
            }
        }

        if (finishing is not null)
        {
            // Finish writes everything it can; its own outcome is reported there, not here.
            await finishing.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).WaitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }

        return await marker.FlushSignal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Finishes the run: writes everything queued (within <see cref="RunOptions.FinishTimeout"/>),
    /// records the final state, and prints the run's history and summary. In online mode it also
    /// waits, within what is left of the same budget, for the server to acknowledge every line, and
    /// prints how to upload the rest when it does not. Calling it again does nothing.
    /// </summary>
    /// <param name="exitCode">0 marks the run finished; anything else marks it failed.</param>
    public void Finish(int exitCode = 0) => FinishAsync(exitCode).GetAwaiter().GetResult();

    /// <summary>Asynchronous <see cref="Finish(int)"/>.</summary>
    /// <param name="exitCode">0 marks the run finished; anything else marks it failed.</param>
    public Task FinishAsync(int exitCode = 0) =>
        FinishCoreAsync(exitCode, exitCode == 0 ? RunStates.Finished : RunStates.Failed, error: null);

    /// <summary>Finishes the run with exit code 0 if it is not finished yet.</summary>
    public void Dispose() => Finish();

    /// <summary>Finishes the run with exit code 0 if it is not finished yet.</summary>
    public ValueTask DisposeAsync() => new(FinishAsync());

    internal Task FinishCoreAsync(int exitCode, string state, string? error)
    {
        _sampler?.Dispose(); // outside the lock: a sample in progress takes it to write
        _console?.Dispose(); // before the finish record, so the last line is in the run
        lock (_sync)
        {
            // From here Log throws; media already logged are written first, then the last records.
            return _finishTask ??= IsDisabled ? Task.CompletedTask : FinishAfterMediaAsync(exitCode, state, error);
        }
    }

    private async Task FinishAfterMediaAsync(int exitCode, string state, string? error)
    {
        try
        {
            await MediaFilesWritten().WaitAsync(_options.FinishTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
                $"Media files of run {Id} were still being written when Finish's budget (FinishTimeout = {_options.FinishTimeout.TotalSeconds:N0} s) ran out; their records are left out."));
        }

        var started = _time.GetTimestamp(); // the budget of what follows, waiting for the environment included
        await EnvironmentCapturedAsync().ConfigureAwait(false);

        lock (_sync)
        {
            DrainOutputLines();
            DrainWrittenMedia();
            var end = _time.GetUtcNow();
            var summary = SummarySnapshot();
            var summaryJson = Json.Serialize(summary, indented: true);
            AppendRecord(new RecordPayload("summary", FieldsOf(new { values = summary, final = true }), SummaryJson: summaryJson));
            var info = Snapshot(state, end, exitCode, error);
            _sender?.RunChanged(info, upsert: false);
            AppendRecord(new RecordPayload("finish", FieldsOf(new { state, exit_code = exitCode, error }), RunJson: Json.Serialize(info, indented: true)));

            // The last chunk takes no slot: finishing must not wait on a writer that is stuck.
            var last = _current!;
            _current = null;
            _queue!.TryPublishUnbounded(last);
            _queue.Complete();
        }

        await CompleteFinishAsync(started).ConfigureAwait(false);
    }

    private async Task CompleteFinishAsync(long started)
    {
        await _flushTimer!.DisposeAsync().ConfigureAwait(false);
        await _worker!.StopAsync(_options.FinishTimeout, _time).ConfigureAwait(false);
        if (_sender is not null)
        {
            // Every local write is done, the finish record included: the server gets what is left of the budget.
            var left = _options.FinishTimeout - _time.GetElapsedTime(started);
            await _sender.StopAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero).ConfigureAwait(false);
        }

        ProcessHooks.Unregister(this);
        var statistics = Statistics;
        if (statistics.RecordsDropped > 0)
        {
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
                $"{statistics.RecordsDropped:N0} records of run {Id} were not written (see earlier messages); {statistics.RecordsWritten:N0} were."));
        }

        if (_options.PrintSummary)
        {
            lock (_sync)
            {
                FinishSummary.Print(_options.Output ?? Console.Error, this, _keys.All.ToList(), SummarySnapshot(), statistics);
            }
        }

        if (statistics.LinesUnsynced > 0)
        {
            var output = _options.Output ?? Console.Error;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"tracker: {statistics.LinesUnsynced:N0} lines of run {Id} are not on the server yet; they are safe in {Directory}. Upload them later with: tracker sync {Directory}"));
            output.Flush();
        }
    }

    private void ThrowIfFinished()
    {
        if (_finishTask is not null)
        {
            throw new InvalidOperationException(
                $"Run {Id} is finished; it cannot log any more. Start a new run with Run.Init, or resume this one with Run.Init(id: \"{Id}\", resume: ResumeMode.Allow).");
        }
    }

    /// <summary>Applies an explicit step: forward moves the current step, backward is rejected.</summary>
    private bool MoveTo(long step)
    {
        if (step >= _step)
        {
            _step = step;
            return true;
        }

        _stepsRejected++;
        var message = $"Step {step} is lower than the current step {_step}; the values were not logged. Steps must not go backwards: log at step {_step} or later.";
        if (_options.StrictSteps)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, message);
        }

        _diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning, message));
        return false;
    }

    /// <summary>Validates one value of a dictionary (flattening nested ones) into the scratch list.</summary>
    private void Collect(string key, object? value, int depth)
    {
        // A key already registered was validated then; most calls repeat the same keys.
        var known = _keys.Find(key);
        if (known is null)
        {
            RecordRules.ThrowIfInvalidKey(key, metric: true);
        }

        if (value is null)
        {
            return;
        }

        if (value is Media media)
        {
            if (!media.HasFile)
            {
                media.Materialize(MediaDirectory); // its JSON, now: a call logs all its values or none
            }

            _scratch.Add((known, key, value));
            return;
        }

        if (value is not double && Values.IsNested(value))
        {
            if (depth > 32)
            {
                throw new ArgumentException($"The value for key '{key}' nests more than 32 levels deep.", nameof(value));
            }

            _nestedInCall = true;
            foreach (var child in Values.Entries(value))
            {
                RecordRules.ThrowIfInvalidKey(child.Key, metric: false, nameof(value));
                Collect(key + "/" + child.Key, child.Value, depth + 1);
            }

            return;
        }

        if (value is string { Length: > 1024 } text)
        {
            ThrowIfTooLarge(key, text);
        }
        else if (value is not (double or bool or string) && Values.Classify(value, out _, out _) == EntryKind.Record)
        {
            throw Values.Unsupported(key, value);
        }

        _scratch.Add((known, key, value));
    }

    /// <summary>A call's text must fit one record line (<see cref="RecordRules.MaxLineBytes"/>), or the line could never be sent.</summary>
    private void ThrowIfTooLarge(string key, string text)
    {
        _textBytesInCall += Encoding.UTF8.GetByteCount(text);
        if (_textBytesInCall > RecordRules.MaxLineBytes - 4096)
        {
            throw new ArgumentException(
                $"The text logged for key '{key}' makes this call {_textBytesInCall:N0} bytes; one record line may have at most {RecordRules.MaxLineBytes:N0} bytes (16 MiB). "
                + "Log long text as a Text value (up to 1 MiB each), as a Table, or keep it in a file in the run directory's files/ folder.", nameof(text));
        }
    }

    /// <summary>Nested dictionaries flatten into "a/b" keys, which may name a key given flat too: one value per key and call.</summary>
    private void ThrowIfKeyTwice()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, name, _) in _scratch)
        {
            if (!seen.Add(name))
            {
                throw new ArgumentException(
                    $"Key '{name}' is given two values in one Log call (as '{name}' and nested, as in {{\"a\": {{\"b\": ...}}}}). Give each key one value.", "values");
            }
        }
    }

    private MetricKey AddKey(string key)
    {
        RecordRules.ThrowIfInvalidKey(key, metric: true);
        return _keys.Add(key, _summary.Metric(key));
    }

    private long NowUnixMs() => _coarseClock
        ? _startUnixMs + (Environment.TickCount64 - _startTickCount)
        : _startUnixMs + (long)((_time.GetTimestamp() - _startTimestamp) * _msPerTick);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)] // no tier-0 warm-up (docs/benchmarks.md)
    private ref Entry NextEntry(bool sameLine)
    {
        var chunk = _current!;
        if (chunk.IsFull)
        {
            Seal(wait: _options.FullMode == QueueFullMode.Wait);
            chunk = _current!;
            sameLine = false; // a line never spans chunks; readers merge lines of one step
        }

        ref var entry = ref chunk.Entries[chunk.Count++];
        entry.SameLine = sameLine;
        return ref entry;
    }

    /// <summary>
    /// Hands the current chunk to the worker, waiting for room when <paramref name="wait"/> is set;
    /// otherwise a full queue drops the chunk's points (DropNewest). Caller holds the lock.
    /// </summary>
    private void Seal(bool wait)
    {
        if (TryHandOff(wait))
        {
            return;
        }

        // Queue full in DropNewest mode: drop the chunk's points but keep its metadata records.
        var chunk = _current!;
        var kept = 0;
        for (var i = 0; i < chunk.Count; i++)
        {
            if (chunk.Entries[i].Kind == EntryKind.Record)
            {
                chunk.Entries[kept++] = chunk.Entries[i];
            }
        }

        var dropped = chunk.Count - kept;
        Array.Clear(chunk.Entries, kept, dropped);
        chunk.Count = kept;
        _droppedByQueue += dropped;
        _diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
            $"The queue of run {Id} is full (MaxQueuedRecords = {_options.MaxQueuedRecords:N0}) and FullMode is DropNewest: {dropped:N0} points were dropped, {_droppedByQueue:N0} so far. Raise MaxQueuedRecords or use QueueFullMode.Wait to lose nothing."));
    }

    /// <summary>Publishes the current chunk if it holds anything; false when the queue is full.</summary>
    private bool TryHandOff(bool wait)
    {
        var chunk = _current!;
        if (chunk.Count == 0)
        {
            return true;
        }

        _sealedSinceTick = true;
        if (!_queue!.TryPublish(chunk, wait))
        {
            return false;
        }

        _current = _queue.Rent();
        return true;
    }

    private void OnFlushTick()
    {
        // Never block the timer thread behind a producer that waits for queue space.
        if (!Monitor.TryEnter(_sync))
        {
            return;
        }

        try
        {
            if (_current is null || _finishTask is not null)
            {
                return; // finishing: Finish hands off the last chunk, with its final records, in one piece
            }

            DrainOutputLines();
            DrainWrittenMedia();

            // A full queue means the writer is busy anyway: keep the chunk, never drop it here.
            if (!_sealedSinceTick)
            {
                TryHandOff(wait: false);
            }

            _sealedSinceTick = false;
        }
        finally
        {
            Monitor.Exit(_sync);
        }
    }

    /// <summary>
    /// The media values of the scratch list at the current step: histograms and texts become records
    /// now; each image and table gets a write task, registered here so that Finish waits for it, and
    /// started by the caller outside the lock. Caller holds the lock.
    /// </summary>
    private List<(Task Write, bool Behind)>? AppendMedia(long unixMs)
    {
        List<(Task Write, bool Behind)>? writes = null;
        DrainWrittenMedia();
        foreach (var (_, name, value) in _scratch)
        {
            if (value is not Media media)
            {
                continue;
            }

            if (media is Histogram histogram && histogram.NaNCount + histogram.InfinityCount > 0)
            {
                _diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
                    $"Histogram '{name}' at step {_step} has {histogram.NaNCount:N0} NaN and {histogram.InfinityCount:N0} infinite values; they are counted in the histogram but not binned."));
            }

            if (media.HasFile)
            {
                var behind = Interlocked.Read(ref _mediaPendingBytes) > MediaBacklogLimit;
                (writes ??= []).Add((MediaFileWrite(name, media, _step, unixMs), behind));
            }
            else
            {
                AppendRecord(MediaRecord(name, _step, media.Materialize(MediaDirectory), unixMs));
            }
        }

        if (writes is not null)
        {
            _mediaWrites.RemoveAll(t => t.IsCompleted);
            _mediaWrites.AddRange(writes.Select(w => w.Write));
        }

        return writes;
    }

    /// <summary>
    /// A task, not started, that encodes and writes a media file; its record joins the run once the
    /// file exists (drained by the flush tick, the next media Log and Finish), so a reader never finds
    /// a record without its file. The file's pending bytes count towards the backlog until then.
    /// </summary>
    private Task MediaFileWrite(string key, Media media, long step, long unixMs)
    {
        var pending = media.PendingBytes;
        Interlocked.Add(ref _mediaPendingBytes, pending);
        using (ExecutionContext.SuppressFlow())
        {
            return new Task(() =>
            {
                try
                {
                    _writtenMedia.Enqueue(MediaRecord(key, step, media.Materialize(MediaDirectory), unixMs));
                }
#pragma warning disable CA1031 // a media file that cannot be written must not fail the run or Finish
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Interlocked.Increment(ref _mediaDropped);
                    _diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Error,
                        $"The {media.Kind} '{key}' of step {step} could not be written to {MediaDirectory} and was dropped: {ex.Message}", ex));
                }
                finally
                {
                    Interlocked.Add(ref _mediaPendingBytes, -pending);
                }
            });
        }
    }

    /// <summary>Completes when every media file logged so far is written.</summary>
    private Task MediaFilesWritten()
    {
        lock (_sync)
        {
            return Task.WhenAll([.. _mediaWrites]);
        }
    }

    /// <summary>Records of media whose files are written; caller holds the lock.</summary>
    private void DrainWrittenMedia()
    {
        while (_writtenMedia.TryDequeue(out var record))
        {
            AppendRecord(record);
        }
    }

    /// <summary>A media record, timed when it was logged rather than when its file was written.</summary>
    private static RecordPayload MediaRecord(string key, long step, byte[] media, long unixMs) => new("media", StripBraces(MediaFiles.Json(json =>
    {
        json.WriteNumber("step", step);
        json.WriteString("key", key);
        json.WritePropertyName("media");
        json.WriteRawValue(media, skipInputValidation: true);
    })))
    {
        UnixMs = unixMs,
    };

    /// <summary>A system metrics sample, as a <c>system</c> record numbered on its own axis.</summary>
    private void WriteSystemSample(IReadOnlyDictionary<string, double> values)
    {
        lock (_sync)
        {
            if (_finishTask is null)
            {
                AppendRecord(new RecordPayload("system", FieldsOf(new { step = _systemSamples++, values })));
            }
        }
    }

    /// <summary>
    /// A line the program wrote to the console. Only queued here: the console's own lock is held
    /// while this runs, so taking the run's lock could deadlock with a thread that holds the run's
    /// lock and writes to the console. The flush tick and Finish turn the lines into records.
    /// </summary>
    private void WriteOutputLine(string stream, string line) => _outputLines.Enqueue((stream, line));

    /// <summary>Queued console lines as <c>output</c> records; called with the run's lock held.</summary>
    private void DrainOutputLines()
    {
        while (_outputLines.TryDequeue(out var output))
        {
            AppendRecord(new RecordPayload("output", FieldsOf(new { stream = output.Stream, line = output.Line })));
        }
    }

    private void AppendRecord(RecordPayload payload)
    {
        ref var entry = ref NextEntry(sameLine: false);
        entry.Kind = EntryKind.Record;
        entry.Step = _step;
        entry.UnixMs = payload.UnixMs ?? NowUnixMs();
        entry.Payload = payload;
        _received++;
    }

    /// <summary>Applies a metadata change and queues its record with a fresh run.json.</summary>
    private void UpdateMetadata(string type, Action apply, byte[] fields)
    {
        lock (_sync)
        {
            if (!IsDisabled)
            {
                ThrowIfFinished();
            }

            apply();
            if (!IsDisabled)
            {
                var runJson = Json.Serialize(Snapshot(RunStates.Running, endTime: null, exitCode: null, error: null), indented: true);
                AppendRecord(new RecordPayload(type, StripBraces(fields), RunJson: runJson));
            }
        }
    }

    private static byte[] FieldsOf(object value) => StripBraces(Json.Serialize(value));

    private static byte[] StripBraces(byte[] json) => json.AsSpan(1, json.Length - 2).ToArray();

    private RunInfo Snapshot(string state, DateTimeOffset? endTime, int? exitCode, string? error) => _started with
    {
        Tags = _tags,
        Notes = _notes,
        Config = new Dictionary<string, object?>(_config, StringComparer.Ordinal),
        Metrics = _metrics.ToList(),
        EndTime = endTime,
        State = state,
        ExitCode = exitCode,
        Error = error,
    };

    private Dictionary<string, object?> SummarySnapshot() => _summary.Snapshot();
}
