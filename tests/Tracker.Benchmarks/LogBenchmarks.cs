using BenchmarkDotNet.Attributes;
using Tracker.Backends;
using Tracker.Pipeline;

namespace Tracker.Benchmarks;

/// <summary>The cost of Log on the training thread, with a writer that discards batches.</summary>
[MemoryDiagnoser]
[MedianColumn]
public class LogBenchmarks
{
    private Run _run = null!;
    private Dictionary<string, object?> _tenKeys = null!;
    private long _i;

    [GlobalSetup]
    public void Setup()
    {
        _run = Run.Init(new RunOptions { Project = "bench", Dir = Path.Combine(Path.GetTempPath(), "tracker-bench"), PrintSummary = false, FinishOnProcessExit = false },
            (_, _) => new DiscardBackend());
        _tenKeys = Enumerable.Range(0, 10).ToDictionary(k => $"metric{k}", k => (object?)(k * 0.1));
    }

    [GlobalCleanup]
    public void Cleanup() => _run.Finish();

    [Benchmark]
    public void LogDouble() => _run.Log("train/loss", 1.0 / (++_i + 3));

    [Benchmark]
    public void LogDictionaryOfTen() => _run.Log(_tenKeys);

    /// <summary>A backend that accepts every batch at once, so only the producer side is measured.</summary>
    internal sealed class DiscardBackend : IRunBackend
    {
        public Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>Finish of a run whose queue is empty: flushing, writing the final state, closing files.</summary>
[MemoryDiagnoser]
[MedianColumn]
public class FinishBenchmarks
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "tracker-bench-finish");
    private Run _run = null!;

    [IterationSetup]
    public void StartRun()
    {
        _run = Run.Init(new RunOptions { Project = "bench", Dir = _root, PrintSummary = false, FinishOnProcessExit = false });
        _run.Log("loss", 1.0);
        _run.Flush(TimeSpan.FromSeconds(10));
    }

    [Benchmark]
    public void FinishWithEmptyQueue() => _run.Finish();

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_root, recursive: true);
}

/// <summary>The writer's cost per point: formatting a batch of history lines as JSON.</summary>
[MemoryDiagnoser]
[MedianColumn]
public class FormatterBenchmarks
{
    private readonly JsonlFormatter _formatter = new();
    private RecordBatch _batch = null!;

    [Params(false, true)]
    public bool ShortValues { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var keys = new Internal.KeyRegistry();
        var key = keys.Add("train/loss", new Tracker.Format.MetricSummary());
        _batch = new RecordBatch(keys) { FirstSeq = 1 };
        for (var c = 0; c < 32; c++)
        {
            var chunk = new Chunk(2048);
            for (var i = 0; i < 2048; i++)
            {
                var n = (c * 2048) + i;
                chunk.Entries[i] = new Entry { Kind = EntryKind.Number, KeyId = key.Id, Step = n, UnixMs = 1_795_736_598_404 + (n / 1000), Number = ShortValues ? n * 0.5 : 1.0 / (n + 3) };
                chunk.Count++;
            }

            _batch.Add(chunk);
        }
    }

    /// <summary>65,536 points per invocation.</summary>
    [Benchmark(OperationsPerInvoke = 65_536)]
    public void FormatPoint() => _formatter.Format(_batch);
}
