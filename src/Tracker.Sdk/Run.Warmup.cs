using Tracker.Backends;
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
    /// Once a process, compiles <c>Log(dictionary)</c>'s code path and the writer's on the thread
    /// pool while the caller goes on: the first call would otherwise pay 5 ms or more of JIT, and
    /// a run's worker would take tens of milliseconds to return its first written chunks.
    /// </summary>
    private static void StartWarmup()
    {
        if (Interlocked.Exchange(ref _warmupStarted, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static _ => WarmupDone = Warmup(), null);
        }
    }

    /// <summary>
    /// Logs a few rows into a throw-away run (no backend, nothing printed), folds its summaries, and
    /// has a worker of its own format the chunk and keep nothing: nothing is written or sent. Its
    /// values cover the kinds whose code differs (double, integer); a new key on the first row and
    /// known keys after, as a training loop's rows are.
    /// </summary>
    /// <returns>Whether every row was taken and formatted; false if the warm-up failed (it costs only speed).</returns>
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

            scratch.FoldLogged();
            scratch.Log("loss", 0.5); // the scalar overloads most used, each compiled whole at its first call (a disabled run returns at once)
            scratch.Log("epoch", 1);
            scratch.Log("samples", 1L);

            // The write path too: until a run's worker returns written chunks, Log fills new ones, and
            // filling fresh memory cost the caller about 1 us a call in a fresh process (docs/benchmarks.md).
            var queue = new RecordQueue(ChunkSize, capacityInChunks: 1);
            var worker = new RunWorker(queue, new FormatOnlyBackend(), scratch._keys, scratch._options, scratch._diagnostics, firstSeq: 1);
            worker.Start();
            var taken = queue.TryPublish(scratch._current, wait: false);
            queue.Complete();
            worker.StopAsync(TimeSpan.FromSeconds(10), TimeProvider.System).GetAwaiter().GetResult();
            return taken && worker.Counters.Written == WarmupCalls * row.Count;
        }
#pragma warning disable CA1031 // a failed warm-up costs only speed; the real Log reports its own errors
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }

    /// <summary>Formats each batch as a run directory's writer does, and keeps nothing.</summary>
    private sealed class FormatOnlyBackend : IRunBackend
    {
        private readonly JsonlFormatter _formatter = new();

        public Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken)
        {
            _formatter.Format(batch);
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
