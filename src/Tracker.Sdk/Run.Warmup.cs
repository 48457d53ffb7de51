using Tracker.Pipeline;
using Tracker.Reading;

namespace Tracker;

// The hot path's first use, paid off the caller's thread: a short run should not pay for warm-up (docs/benchmarks.md).
public sealed partial class Run
{
    private const int WarmupCalls = 64;
    private static int _warmupStarted;

    /// <summary>Whether the once-a-process warm-up that <c>Init</c> starts has run to its end.</summary>
    internal static bool WarmupDone { get; private set; }

    /// <summary>
    /// Once a process, compiles <c>Log(dictionary)</c>'s code path on the thread pool while the
    /// caller goes on: the first call would otherwise pay 5 ms or more of JIT for about 60 methods.
    /// The methods stay at tier 0 until the runtime promotes them, as any others.
    /// </summary>
    private static void StartWarmup()
    {
        if (Interlocked.Exchange(ref _warmupStarted, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static _ => WarmupDone = Warmup(), null);
        }
    }

    /// <summary>
    /// Logs a few rows into a throw-away run: no backend, no worker, a chunk never handed off, so
    /// nothing is written, sent or printed. Its values cover the kinds whose code differs (double,
    /// integer); a new key on the first row and known keys after, as a training loop's rows are.
    /// </summary>
    /// <returns>Whether every row was taken; false if the warm-up failed (it costs only speed).</returns>
    internal static bool Warmup()
    {
        try
        {
            var info = new RunInfo { Id = "warmup", Project = "warmup", Name = "warmup", Mode = RunMode.Disabled };
            var scratch = new Run(new RunOptions { PrintSummary = false, FinishOnProcessExit = false }, info, directory: null, backend: null, resumed: null, server: null)
            {
                _current = new Chunk(ChunkSize), // never full: WarmupCalls x 3 entries < ChunkSize
            };
            var row = new Dictionary<string, object?>(StringComparer.Ordinal) { ["loss"] = 0.5, ["accuracy"] = 0.25, ["epoch"] = 1 };
            for (var i = 0; i < WarmupCalls; i++)
            {
                scratch.LogRow(row, step: null, commit: null);
            }

            return true;
        }
#pragma warning disable CA1031 // a failed warm-up costs only speed; the real Log reports its own errors
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }
}
