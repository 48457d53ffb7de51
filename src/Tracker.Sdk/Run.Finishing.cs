using System.Runtime.CompilerServices;
using Tracker.Internal;
using Tracker.Pipeline;
using Tracker.Reading;

namespace Tracker;

// Finishing: media first, then the last records, the writer and the sender within the budget, and the footer.
public sealed partial class Run
{
    internal Task FinishCoreAsync(int exitCode, string state, string? error)
    {
        _sampler?.Dispose(); // outside the lock: a sample in progress takes it to write
        _console?.Dispose(); // before the finish record, so the last line is in the run
        lock (_sync)
        {
            _stoppedBySignal |= _finishTask is null && state == RunStates.Killed;

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
            _media?.Drain(_appendRecord);
            var end = _time.GetUtcNow();
            var summary = SummarySnapshot();
            var summaryJson = Json.Serialize(summary, indented: true);
            AppendRecord(new RecordPayload("summary", FieldsOf(new { values = summary, final = true }), SummaryJson: summaryJson));
            var info = Snapshot(state, end, exitCode, error);
            _server?.RunChanged(info, upsert: false);
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
        try
        {
            await _flushTimer!.DisposeAsync().ConfigureAwait(false);
            await _worker!.StopAsync(_options.FinishTimeout, _time).ConfigureAwait(false);
            // Every local write is done, the finish record included: the server and each backend get what is left of the budget, side by side.
            var left = _options.FinishTimeout - _time.GetElapsedTime(started);
            left = left > TimeSpan.Zero ? left : TimeSpan.Zero;
            await Task.WhenAll(_followers.Select(f => f.StopAsync(left))).ConfigureAwait(false);
        }
        finally
        {
            _lock?.Dispose(); // after the last write of records.jsonl and sync.json: another process may open the run now
        }

        ProcessHooks.Unregister(this);
        var statistics = Statistics;
        if (statistics.RecordsDropped > 0)
        {
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Error,
                $"{statistics.RecordsDropped:N0} points of run {Id} were not written (see earlier messages); {statistics.RecordsWritten:N0} were."));
        }

        if (_options.PrintSummary)
        {
            lock (_sync)
            {
                FinishSummary.Print(_options.Output ?? Console.Error, this, _keys.All.ToList(), SummarySnapshot(), statistics);
            }
        }

        // The upload's report of what the server lacks, and what to do, went to the Diagnostics hook:
        // the console gets it too (without a hook it went to the console already).
        if (_options.Diagnostics is not null && _server?.NotTaken is { } notTaken)
        {
            var output = _options.Output ?? Console.Error;
            output.WriteLine($"tracker: {notTaken}");
            output.Flush();
        }
    }

    /// <summary>
    /// Whether a call must be left out because the run is over: false while it takes values; true
    /// when a signal stopped it (the process is exiting, so the training loop's last calls are dropped
    /// rather than thrown into it, which would turn Ctrl+C into a crash); throws after <c>Finish</c>.
    /// Called with the run's lock held.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // checked by every Log call: no call while the run is going
    private bool StoppedOrThrow() => _finishTask is not null && StoppedOrThrowFinished();

    private bool StoppedOrThrowFinished()
    {
        if (_stoppedBySignal)
        {
            return true;
        }

        throw new InvalidOperationException(
            $"Run {Id} is finished; it cannot log any more. Start a new run with Run.Init, or resume this one with Run.Init(id: \"{Id}\", resume: ResumeMode.Allow).");
    }
}
