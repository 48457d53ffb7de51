using System.Runtime.CompilerServices;
using System.Text;
using Tracker.Internal;
using Tracker.Pipeline;
using Tracker.Reading;

namespace Tracker;

// The step log: a call validated whole, then its values appended as entries of the current chunk, the step counter, and records beside the history.
public sealed partial class Run
{
    /// <summary>One value of a scalar overload: inlined into each, so the branches on a constant kind fold away.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void LogScalar(string key, EntryKind kind, double number, long bits, string? text, long? step, bool? commit)
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
            if (StoppedOrThrow())
            {
                return;
            }

            if (kind == EntryKind.Text && text!.Length > 1024)
            {
                _textBytesInCall = 0;
                ThrowIfTooLarge(key, text);
            }

            var metric = _keys.Find(key);
            if (metric is null)
            {
                ThrowIfKeyRefused(key); // before the step moves: a refused call changes nothing
            }

            ThrowIfStepOutOfRange(step);
            if (step.HasValue && !MoveTo(step.Value))
            {
                return;
            }

            metric ??= AddKey(key);
            ref var entry = ref NextEntry(sameLine: kind != EntryKind.Text && JoinsOpenRow(metric.Id));
            entry.Kind = kind;
            entry.KeyId = metric.Id;
            entry.Step = _step;
            entry.UnixMs = NowUnixMs();
            entry.Number = number;
            if (kind is EntryKind.Integer or EntryKind.UInteger)
            {
                entry.Bits = bits;
            }
            else if (kind == EntryKind.Text)
            {
                entry.Payload = text;
            }

            _received++;
            if (commit ?? !step.HasValue)
            {
                _step++;
                _openRowChunk = null;
            }
            else if (kind == EntryKind.Text)
            {
                _openRowChunk = null; // text stays on a line of its own: its size is checked per call
            }
            else
            {
                var chunk = _current!;
                if (!entry.SameLine)
                {
                    (_openRowChunk, _openRowStart) = (chunk, chunk.Count - 1);
                }

                _openRowEnd = chunk.Count;
            }
        }
    }

    /// <summary>
    /// Whether a scalar value joins the line of the uncommitted scalar values just before it, as W&amp;B
    /// gathers <c>commit=False</c> calls into one row: one line, and rows of the same keys a block,
    /// rather than a line per value. Not when anything else was appended since, the step moved, the
    /// key is on the line already, or the line has <see cref="MaxScalarRowKeys"/> keys.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // into the scalar overloads, optimised at their first call
    private bool JoinsOpenRow(int keyId)
    {
        var chunk = _openRowChunk;
        if (chunk != _current || chunk is null || chunk.Count != _openRowEnd || _openRowEnd - _openRowStart >= MaxScalarRowKeys
            || chunk.Entries[_openRowStart].Step != _step)
        {
            return false;
        }

        for (var i = _openRowStart; i < _openRowEnd; i++)
        {
            if (chunk.Entries[i].KeyId == keyId)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The body of <see cref="Log(IReadOnlyDictionary{string, object?}, long?, bool?)"/>: validate the whole call, then append its row and media.</summary>
    // Optimised from its first call: a short run should not pay unoptimised code for its first tens
    // of thousands of calls (the runtime promotes code only after 100 ms without new compilation).
    // Without a profile it is as fast as promoted code because nothing here needs one: the summaries
    // are folded per chunk (FoldLogged), the common value is taken inline (docs/benchmarks.md).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void LogRow(IReadOnlyDictionary<string, object?> values, long? step, bool? commit)
    {
        List<(Task Write, bool Behind)>? mediaWrites = null;
        lock (_sync)
        {
            if (StoppedOrThrow())
            {
                return;
            }

            ThrowIfStepOutOfRange(step);
            _scratch.Clear();
            _nestedInCall = false;
            _newKeysInCall = 0;
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

            if (RecordRules.KeyCountProblem(_scratch.Count, "This Log call") is { } tooMany)
            {
                throw new ArgumentException(tooMany, nameof(values));
            }

            // Before the step moves or any value is appended: a call over the run's limit logs nothing.
            if (_newKeysInCall > 0 && RecordRules.RunKeyCountProblem(_summary.KeyCount + _newKeysInCall) is { } tooManyForRun)
            {
                throw new ArgumentException(tooManyForRun, nameof(values));
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
                if (value is not double && value is Media) // a double first: no cast helper call for the common value
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
                if (entry.Kind == EntryKind.Text)
                {
                    entry.Payload = value;
                }

                sameLine = true;
                _received++;
            }

            if (media > 0)
            {
                mediaWrites = _media!.Append(MediaOfCall(), _step, unixMs, _appendRecord);
            }

            _scratch.Clear();
            if (commit ?? !step.HasValue)
            {
                _step++;
            }
        }

        if (mediaWrites is null)
        {
            return; // most calls: no media, and no empty list made for them (AllocationTests)
        }

        foreach (var (write, behind) in mediaWrites)
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
    /// Refuses a step the format does not hold (beyond <see cref="RecordRules.MaxStep"/>, or negative)
    /// before anything of the call is logged; so the counter, at most one past the limit, never wraps.
    /// </summary>
    private void ThrowIfStepOutOfRange(long? step)
    {
        var target = step ?? _step;
        if (RecordRules.StepProblem(target) is { } problem)
        {
            throw new ArgumentOutOfRangeException(nameof(step), target, problem);
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

    /// <summary>
    /// Validates one value of a dictionary (flattening nested ones) into the call's values. The common
    /// one, a double under a key registered (so validated) before, is taken here, inlined into LogRow.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Collect(string key, object? value, int depth)
    {
        var known = _keys.Find(key);
        if (known is not null && value is double)
        {
            _scratch.Add((known, key, value));
            return;
        }

        CollectChecked(known, key, value, depth);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void CollectChecked(MetricKey? known, string key, object? value, int depth)
    {
        if (known is null)
        {
            RecordRules.ThrowIfInvalidKey(key, metric: true);
        }

        if (value is double)
        {
            AddNewValue(known, key, value);
            return;
        }

        if (value is null)
        {
            return;
        }

        if (value is Media logged)
        {
            var media = logged.ForLog();
            if (!media.HasFile)
            {
                media.Materialize(MediaDirectory); // its JSON, now: a call logs all its values or none
            }

            _scratch.Add((known, key, media));
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

        AddNewValue(known, key, value);
    }

    /// <summary>A history value of the call (not media) under a key that may be new: counted against the run's key limit.</summary>
    private void AddNewValue(MetricKey? known, string key, object value)
    {
        if (known is null && !_summary.Contains(key))
        {
            _newKeysInCall++;
        }

        _scratch.Add((known, key, value));
    }

    /// <summary>The media values of the call being logged, by key.</summary>
    private IEnumerable<(string Key, Media Media)> MediaOfCall()
    {
        foreach (var (_, name, value) in _scratch)
        {
            if (value is Media media)
            {
                yield return (name, media);
            }
        }
    }

    /// <summary>A call's text must fit one record line (<see cref="RecordRules.MaxLineBytes"/>), or the line could never be sent.</summary>
    private void ThrowIfTooLarge(string key, string text)
    {
        _textBytesInCall += Encoding.UTF8.GetByteCount(text);
        if (_textBytesInCall > RecordRules.MaxLineBytes - 4096)
        {
            throw new ArgumentException(
                $"The text logged for key '{key}' makes this call {_textBytesInCall:N0} bytes; one record line may have at most {RecordRules.MaxLineBytes:N0} bytes (16 MiB). "
                + "Log long text as a Text value (up to 1 MiB each), as a Table, or keep it in a file in the run directory's files/ folder.", "values");
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
        ThrowIfKeyRefused(key);
        return _keys.Add(key, _summary.Metric(key));
    }

    /// <summary>Throws when a new key is invalid or one too many for the run (<see cref="RecordRules.MaxKeysPerRun"/>).</summary>
    private void ThrowIfKeyRefused(string key)
    {
        RecordRules.ThrowIfInvalidKey(key, metric: true);
        if (!_summary.Contains(key) && RecordRules.RunKeyCountProblem(_summary.KeyCount + 1) is { } tooMany)
        {
            throw new ArgumentException(tooMany, nameof(key));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // read once a Log call
    private long NowUnixMs() => _coarseClock
        ? _startUnixMs + (Environment.TickCount64 - _startTickCount)
        : _startUnixMs + (long)((_time.GetTimestamp() - _startTimestamp) * _msPerTick);

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)] // inlined into LogRow; optimised at first call for the scalar overloads (docs/benchmarks.md)
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
        _folded = kept;
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
        _openRowChunk = null; // a line never spans chunks
        FoldLogged();
        if (!_queue!.TryPublish(chunk, wait))
        {
            return false;
        }

        _current = _queue.Rent();
        _folded = 0;
        return true;
    }

    /// <summary>
    /// Brings the live summaries and the finish footer's buckets up to every value logged so far,
    /// from the current chunk's entries (values a full queue then drops in DropNewest mode included,
    /// as W&amp;B's summary counts every logged value). Log only appends entries; this runs when a chunk is handed off and before the summary is read
    /// or changed, one tight loop, compiled optimised from its first call (docs/benchmarks.md).
    /// Caller holds the lock.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void FoldLogged()
    {
        var chunk = _current;
        if (chunk is null)
        {
            return;
        }

        var entries = chunk.Entries;
        for (var i = _folded; i < chunk.Count; i++)
        {
            ref readonly var entry = ref entries[i];
            if (entry.Kind == EntryKind.Record)
            {
                continue;
            }

            var metric = _keys[entry.KeyId];
            switch (entry.Kind)
            {
                case EntryKind.Number:
                    metric.Summary.Add(entry.Number);
                    break;
                case EntryKind.Integer:
                    metric.Summary.Add(entry.Bits);
                    break;
                case EntryKind.UInteger:
                    metric.Summary.Add(unchecked((ulong)entry.Bits));
                    break;
                case EntryKind.Bool:
                    metric.Summary.Add(entry.Number != 0);
                    break;
                default:
                    metric.Summary.Add((string)entry.Payload!);
                    continue; // text has no place on a chart
            }

            metric.Buckets.Add(entry.Step, entry.Number);
        }

        _folded = chunk.Count;
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
            _media?.Drain(_appendRecord);

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
            if (!IsDisabled && StoppedOrThrow())
            {
                return;
            }

            FoldLogged(); // a change (an override, a metric's definition) comes after what was logged before it
            apply();
            if (!IsDisabled)
            {
                var runJson = Json.Serialize(Snapshot(RunStates.Running, endTime: null, exitCode: null, error: null), indented: true);
                AppendRecord(new RecordPayload(type, RecordPayload.FieldsOf(fields), RunJson: runJson));
            }
        }
    }

    private static byte[] FieldsOf(object value) => RecordPayload.FieldsOf(Json.Serialize(value));

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

    private Dictionary<string, object?> SummarySnapshot()
    {
        FoldLogged();
        return _summary.Snapshot();
    }
}
