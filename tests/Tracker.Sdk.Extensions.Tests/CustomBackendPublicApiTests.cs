using Tracker.Export;
using Tracker.Format;
using Tracker.Reading;

namespace Tracker.Extensions.Tests;

/// <summary>
/// A custom backend as a third party writes it: this assembly has no access to the SDK's internals,
/// so this file compiling proves the public API suffices (the worker's behaviour is tested in
/// Tracker.Sdk.Tests, CustomBackendTests).
/// </summary>
public sealed class CustomBackendPublicApiTests
{
    private string _root = string.Empty;

    [SetUp]
    public void CreateRoot() => _root = Path.Combine(Path.GetTempPath(), "tracker-tests", Guid.NewGuid().ToString("N"));

    [TearDown]
    public void DeleteRoot()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Test]
    public void CustomBackend_WrittenAgainstThePublicApi_GetsTheRunOnceInOrder()
    {
        var backend = new CsvBackend();
        var options = new RunOptions { Project = "public-api", Dir = _root, Config = new { lr = 0.1 }, FinishOnProcessExit = false, PrintSummary = false, SystemMetricsInterval = null };
        options.Backends.Add(backend);
        var run = Run.Init(options);
        for (var step = 0; step < 3; step++)
        {
            run.Log(new Dictionary<string, object?> { ["loss"] = 1.0 / (step + 1), ["acc"] = step * 0.25 });
        }

        run.Tags = ["baseline"];
        run.Summary["best"] = 0.9;
        run.Finish(exitCode: 1);

        Assert.Multiple(() =>
        {
            Assert.That(backend.Header, Is.EqualTo($"run {run.Id} in public-api, lr=0.1"));
            Assert.That(backend.Rows, Is.EqualTo(new[]
            {
                "0,loss,1", "0,acc,0",
                "1,loss,0.5", "1,acc,0.25",
                "2,loss,0.3333333333333333", "2,acc,0.5",
                "tags,baseline",
                "summary,best,0.9",
                "final summary",
                "finish,failed,1",
            }));
            Assert.That(backend.Seqs, Is.Ordered.Ascending.And.Unique);
            Assert.That(backend.Flushed && backend.Disposed, Is.True);
        });
    }

    [Test]
    public void ReportingBackend_WrittenAgainstThePublicApi_ReportsThroughTheRunsDiagnostics()
    {
        var diagnostics = new List<RunDiagnostic>();
        var backend = new SkippingBackend();
        var options = new RunOptions { Project = "public-api", Dir = _root, FinishOnProcessExit = false, PrintSummary = false, SystemMetricsInterval = null, Diagnostics = diagnostics.Add };
        options.Backends.Add(backend);
        var run = Run.Init(options);
        run.Log("loss", 0.5);
        run.Log("note", "text");
        run.Finish();

        var said = diagnostics.Where(d => d.Message.StartsWith("Backend 'skipping'", StringComparison.Ordinal)).ToList();
        Assert.That(said, Has.Count.EqualTo(1), string.Join("\n", diagnostics));
        Assert.That(said[0].Level, Is.EqualTo(DiagnosticLevel.Warning));
        Assert.That(said[0].Message, Does.Contain("left out 'note'"));
        Assert.That(backend.ReporterBeforeOpen, Is.True, "the reporter comes before OpenAsync");
    }

    /// <summary>Takes numbers only, and reports each other key it leaves out once, through the run.</summary>
    private sealed class SkippingBackend : IReportingBackend
    {
        private readonly HashSet<string> _reported = [];
        private Action<RunDiagnostic>? _report;

        public string Name => "skipping";

        public bool ReporterBeforeOpen { get; private set; }

        public void UseDiagnostics(Action<RunDiagnostic> report) => _report = report;

        public Task OpenAsync(RunInfo run, string directory, CancellationToken cancellationToken)
        {
            ReporterBeforeOpen = _report is not null;
            return Task.CompletedTask;
        }

        public Task WriteAsync(BackendBatch batch, CancellationToken cancellationToken)
        {
            foreach (var column in batch.Records.OfType<HistoryLine>().SelectMany(h => h.Block.Columns))
            {
                if (column.Value(0) is not double && _reported.Add(column.Key))
                {
                    _report?.Invoke(new RunDiagnostic(DiagnosticLevel.Warning, $"Backend 'skipping' left out '{column.Key}': it stores numbers only."));
                }
            }

            return Task.CompletedTask;
        }

        public Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>Writes history points, tags, summary and the final state as text lines.</summary>
    private sealed class CsvBackend : IRecordBackend
    {
        public string Name => "csv";

        public string? Header { get; private set; }

        public List<string> Rows { get; } = [];

        public List<long> Seqs { get; } = [];

        public bool Flushed { get; private set; }

        public bool Disposed { get; private set; }

        public Task OpenAsync(RunInfo run, string directory, CancellationToken cancellationToken)
        {
            Header = FormattableString.Invariant($"run {run.Id} in {run.Project}, lr={run.Config["lr"]}");
            return Task.CompletedTask;
        }

        public Task WriteAsync(BackendBatch batch, CancellationToken cancellationToken)
        {
            foreach (var record in batch.Records)
            {
                Seqs.Add(record.Seq);
                switch (record)
                {
                    case HistoryLine { IsSystem: false } history:
                        for (var row = 0; row < history.Block.Rows; row++)
                        {
                            foreach (var column in history.Block.Columns)
                            {
                                Rows.Add(FormattableString.Invariant($"{history.Block.Steps[row]},{column.Key},{column.Value(row)}"));
                            }
                        }

                        break;
                    case RunLine { Tags: { } tags }:
                        Rows.Add("tags," + string.Join(';', tags));
                        break;
                    case ValuesLine { IsSummary: true, IsFinal: true }:
                        Rows.Add("final summary");
                        break;
                    case ValuesLine { IsSummary: true } summary:
                        Rows.AddRange(summary.Values.Select(v => FormattableString.Invariant($"summary,{v.Key},{v.Value}")));
                        break;
                    case FinishLine finish:
                        Rows.Add(FormattableString.Invariant($"finish,{finish.State},{finish.ExitCode}"));
                        break;
                }
            }

            return Task.CompletedTask;
        }

        public Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushed = true;
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }
    }
}
