using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
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
    private const int MaxScalarRowKeys = 256; // bounds the scan for a key already on the line

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
    private readonly ServerBackend? _server;
    private readonly BackendWorker? _upload; // the server's, first of the followers
    private readonly BackendWorker[] _followers = [];
    private readonly ITimer? _flushTimer;
    private readonly SystemSampler? _sampler;
    private readonly ConsoleCapture? _console;
    private readonly ConcurrentQueue<(string Stream, string Line)> _outputLines = new();
    private long _systemSamples;
    private bool _nestedInCall;
    private int _newKeysInCall; // keys the Log call being validated would add to the run
    private long _textBytesInCall;
    private readonly DiagnosticsSink _diagnostics;
    private readonly MediaLog? _media;
    private readonly Action<RecordPayload> _appendRecord;
    private Chunk? _current;
    private int _folded; // entries of _current already in the summaries (FoldLogged)
    private Chunk? _openRowChunk; // the uncommitted scalar values' line: entries _openRowStart.._openRowEnd of this chunk (JoinsOpenRow)
    private int _openRowStart;
    private int _openRowEnd;
    private bool _sealedSinceTick;
    private long _step;
    private long _received;
    private long _droppedByQueue;
    private long _stepsRejected;
    private IReadOnlyList<string> _tags;
    private string? _notes;
    private Task? _finishTask;
    private bool _stoppedBySignal;
    private RunLock? _lock; // set by Init once the run is open; released when Finish has written everything

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

    /// <summary>
    /// Where the run is shown on the server's web UI (W&amp;B's <c>run.url</c>), such as
    /// <c>http://127.0.0.1:6145/#/projects/mnist/runs/abc123</c>; null offline or disabled.
    /// </summary>
    public string? Url { get; }

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
            var tags = RecordRules.NormalizeTags(value)
                ?? throw new ArgumentException("Tags must not be null, empty or whitespace.", nameof(value));
            ThrowIfRunTextInvalid(tags);
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

        set
        {
            ThrowIfRunTextInvalid(null, notes: value);
            UpdateMetadata("run", () => _notes = value, Json.Serialize(new { notes = value }));
        }
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

    /// <summary>Counters of points logged, written, retried and dropped, and of record lines written and acknowledged by the server.</summary>
    public RunStatistics Statistics
    {
        get
        {
            lock (_sync)
            {
                var worker = _worker?.Counters ?? default;
                return new RunStatistics(_received, worker.Written, worker.Retried, worker.Dropped + _droppedByQueue + (_media?.Dropped ?? 0), _stepsRejected, _upload?.Pending ?? 0)
                {
                    LinesWritten = worker.LastSeq,
                    LinesAcknowledged = _upload?.Delivered ?? 0,
                };
            }
        }
    }

    private bool IsDisabled => _queue is null;

    private string MediaDirectory => _media!.Directory;

    /// <summary>Completes when every media file logged so far is written.</summary>
    private Task MediaFilesWritten()
    {
        lock (_sync)
        {
            return _media?.Written() ?? Task.CompletedTask;
        }
    }

    // The scalar overloads are optimised at their first call (Init's warm-up compiles the double one
    // off the caller's thread) and never inlined into the caller: a training loop recompiled on the
    // stack after ~1,000 iterations then stays small and quick to compile (docs/benchmarks.md).
    private const MethodImplOptions ScalarLog = MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization;

    /// <summary>
    /// Logs one value at the current step. With the default <paramref name="commit"/> the step
    /// then advances, so log several metrics of one step with a dictionary or <c>commit: false</c>.
    /// Allocation-free.
    /// </summary>
    /// <param name="key">Metric name, such as <c>train/loss</c> (at most 256 characters, not starting with '_').</param>
    /// <param name="value">The value; NaN and infinities are kept.</param>
    /// <param name="step">Explicit step; must not be lower than <see cref="Step"/>.</param>
    /// <param name="commit">Whether to advance the step afterwards; default: true without <paramref name="step"/>, false with it.</param>
    /// <exception cref="ArgumentException">The key is empty, too long or reserved; or the step is outside 0 to <see cref="RecordRules.MaxStep"/> (2^53 - 1).</exception>
    /// <exception cref="InvalidOperationException">The run is finished.</exception>
    [MethodImpl(ScalarLog)]
    public void Log(string key, double value, long? step = null, bool? commit = null) =>
        LogScalar(key, EntryKind.Number, value, 0, null, step, commit);

    /// <summary>Logs an integer at the current step, kept exact (up to 2^63 - 1) in the record, the server and exports. Allocation-free.</summary>
    /// <inheritdoc cref="Log(string, double, long?, bool?)"/>
    [MethodImpl(ScalarLog)]
    public void Log(string key, long value, long? step = null, bool? commit = null) =>
        LogScalar(key, EntryKind.Integer, value, value, null, step, commit);

    /// <inheritdoc cref="Log(string, long, long?, bool?)"/>
    [MethodImpl(ScalarLog)]
    public void Log(string key, int value, long? step = null, bool? commit = null) =>
        LogScalar(key, EntryKind.Integer, value, value, null, step, commit);

    /// <summary>Logs an unsigned integer at the current step, kept exact up to 2^64 - 1. Allocation-free.</summary>
    /// <inheritdoc cref="Log(string, double, long?, bool?)"/>
    [MethodImpl(ScalarLog)]
    public void Log(string key, ulong value, long? step = null, bool? commit = null) =>
        LogScalar(key, value > long.MaxValue ? EntryKind.UInteger : EntryKind.Integer, value, unchecked((long)value), null, step, commit);

    /// <summary>Logs a float at the current step, as the double it widens to exactly. Allocation-free.</summary>
    /// <inheritdoc cref="Log(string, double, long?, bool?)"/>
    [MethodImpl(ScalarLog)]
    public void Log(string key, float value, long? step = null, bool? commit = null) =>
        LogScalar(key, EntryKind.Number, value, 0, null, step, commit);

    /// <summary>Logs a decimal at the current step as the nearest double (metrics are doubles, as in W&amp;B). Allocation-free.</summary>
    /// <inheritdoc cref="Log(string, double, long?, bool?)"/>
    [MethodImpl(ScalarLog)]
    public void Log(string key, decimal value, long? step = null, bool? commit = null) =>
        LogScalar(key, EntryKind.Number, (double)value, 0, null, step, commit);

    /// <summary>Logs a boolean at the current step: kept a boolean in the record and exports, charted as 0 and 1. Allocation-free.</summary>
    /// <inheritdoc cref="Log(string, double, long?, bool?)"/>
    [MethodImpl(ScalarLog)]
    public void Log(string key, bool value, long? step = null, bool? commit = null) =>
        LogScalar(key, EntryKind.Bool, value ? 1 : 0, 0, null, step, commit);

    /// <summary>
    /// Logs text at the current step, such as a predicted label: kept as text (the string "NaN" too),
    /// shown in the summary and exports, not charted. Longer text belongs in a <see cref="Text"/> value.
    /// </summary>
    /// <inheritdoc cref="Log(string, double, long?, bool?)"/>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="ArgumentException">The key is invalid, or the text makes the record line larger than <see cref="RecordRules.MaxLineBytes"/>.</exception>
    [MethodImpl(ScalarLog)]
    public void Log(string key, string value, long? step = null, bool? commit = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        LogScalar(key, EntryKind.Text, double.NaN, 0, value, step, commit);
    }

    /// <summary>
    /// Logs the public properties of an object as one history row, as <c>Log(new { loss, acc })</c>:
    /// property names are the keys, nested objects flatten to <c>parent/child</c> as in
    /// <see cref="Config"/>, and values follow the dictionary overload's rules (numbers, bool,
    /// string, <see cref="Media"/>). A dictionary is logged as the dictionary overload logs it.
    /// </summary>
    /// <param name="values">An anonymous object, a class or record, or a dictionary.</param>
    /// <param name="step">Explicit step; must not be lower than <see cref="Step"/>.</param>
    /// <param name="commit">Whether to advance the step afterwards; default: true without <paramref name="step"/>, false with it.</param>
    /// <exception cref="ArgumentException">A property name is not a valid key, or a value has an unsupported type.</exception>
    public void Log(object values, long? step = null, bool? commit = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        Log(values as IReadOnlyDictionary<string, object?> ?? Internal.Values.Properties(values), step, commit);
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
    /// <exception cref="ArgumentException">The key is empty, too long or reserved; or the step is outside 0 to <see cref="RecordRules.MaxStep"/> (2^53 - 1).</exception>
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
    /// <exception cref="ArgumentException">A key is invalid, a value has an unsupported type, or the step is outside 0 to <see cref="RecordRules.MaxStep"/> (2^53 - 1).</exception>
    /// <exception cref="InvalidOperationException">The run is finished.</exception>
    public void Log(IReadOnlyDictionary<string, object?> values, long? step = null, bool? commit = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (!IsDisabled)
        {
            LogRow(values, step, commit);
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
                _media?.Drain(_appendRecord);
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

    /// <summary>
    /// Finishes the run as <c>killed</c>, as the exit hooks do on SIGINT or SIGTERM: for a host or
    /// launcher that handles signals itself. Otherwise as <see cref="FinishAsync(int)"/>.
    /// </summary>
    /// <param name="exitCode">The exit code recorded: by the shells' convention 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).</param>
    /// <param name="reason">Why the run stopped, recorded as its error, such as <c>stopped by SIGTERM</c>.</param>
    /// <returns>A task that completes when the run is finished.</returns>
    public Task FinishKilledAsync(int exitCode, string reason) => FinishCoreAsync(exitCode, RunStates.Killed, reason);

    /// <summary>Finishes the run with exit code 0 if it is not finished yet.</summary>
    public void Dispose() => Finish();

    /// <summary>Finishes the run with exit code 0 if it is not finished yet.</summary>
    public ValueTask DisposeAsync() => new(FinishAsync());
}
