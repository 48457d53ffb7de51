using Tracker.Internal;
using Tracker.Pipeline;
using Tracker.Reading;

namespace Tracker;

/// <summary>
/// The environment a run records that takes processes or files to read (git, GPUs, CPU model,
/// library versions) is read after Init has returned, and joins run.json through the writer like
/// any metadata change: one writer of run.json, in order. Finish waits for it, within its budget,
/// so a finished run has it; a capture that ends after the final run.json is queued is dropped
/// rather than written over it.
/// </summary>
public sealed partial class Run
{
    private readonly CancellationTokenSource _stopCapture = new();
    private Task _environmentCaptured = Task.CompletedTask;

    /// <summary>Starts <paramref name="read"/> on the thread pool; its result is applied with <see cref="ApplyEnvironment"/>.</summary>
    private void CaptureEnvironment(Func<CancellationToken, CapturedEnvironment> read)
    {
        var token = _stopCapture.Token;

        // The capture must not carry the caller's ExecutionContext (AsyncLocals, activities).
        using (ExecutionContext.SuppressFlow())
        {
            _environmentCaptured = Task.Run(
                () =>
                {
                    try
                    {
                        ApplyEnvironment(read(token));
                    }
#pragma warning disable CA1031 // a failed capture costs the run its git and GPU fields, never the run
                    catch (Exception ex)
#pragma warning restore CA1031
                    {
                        _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning, $"Could not read the git and machine information of run {Id}: {ex.Message}", ex));
                    }
                },
                CancellationToken.None);
        }
    }

    /// <summary>
    /// Adds the captured fields to the run and queues the new run.json for the writer (and tells the
    /// sender, which upserts the run again). Too late once the final run.json is queued.
    /// </summary>
    private void ApplyEnvironment(CapturedEnvironment environment)
    {
        if (environment.Diff is not null && !IsFinalRunJsonQueued())
        {
            SaveDiff(Directory!, environment.Diff, _diagnostics); // before run.json says dirty; outside the lock, it is a file write
        }

        lock (_sync)
        {
            if (_current is null)
            {
                return; // finished without it: Finish stopped waiting and wrote the final run.json
            }

            _started = _started with
            {
                Git = environment.Git,
                CpuModel = environment.CpuModel,
                Gpus = environment.Gpus,
                Libraries = environment.Libraries,
            };
            var info = Snapshot(RunStates.Running, endTime: null, exitCode: null, error: null);

            // Through the writer, in order with everything else: the backend replaces run.json, and
            // records.jsonl gets no line (the fields are run.json's, not the history's).
            ref var entry = ref NextEntry(sameLine: false);
            entry.Kind = EntryKind.Record;
            entry.Step = _step;
            entry.UnixMs = NowUnixMs();
            entry.Payload = new RecordPayload("run", [], RunJson: Json.Serialize(info, indented: true)) { WithoutLine = true };
            _server?.RunChanged(info, upsert: true);
            _upload?.Wake();
        }
    }

    private bool IsFinalRunJsonQueued()
    {
        lock (_sync)
        {
            return _current is null;
        }
    }

    /// <summary>
    /// Waits for the capture, within <see cref="RunOptions.FinishTimeout"/>; then stops it (killing
    /// a git or nvidia-smi still running) and finishes without its fields.
    /// </summary>
    private async Task EnvironmentCapturedAsync()
    {
        if (!_environmentCaptured.IsCompleted)
        {
            try
            {
                await _environmentCaptured.WaitAsync(_options.FinishTimeout, _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await _stopCapture.CancelAsync().ConfigureAwait(false);
                _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning,
                    $"Reading the git and machine information of run {Id} took longer than Finish's budget (FinishTimeout = {_options.FinishTimeout.TotalSeconds:N0} s); the run is recorded without it."));
            }
        }

        _stopCapture.Dispose();
    }
}
