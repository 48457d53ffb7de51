using System.Collections.Concurrent;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>A fresh run root per test, and the diagnostics and console output runs produce.</summary>
public abstract class RunTestBase
{
    protected string Root { get; private set; } = string.Empty;

    protected ConcurrentQueue<RunDiagnostic> Diagnostics { get; } = new();

    protected StringWriter Output { get; private set; } = new();

    [SetUp]
    public void CreateRoot()
    {
        Root = Path.Combine(Path.GetTempPath(), "tracker-tests", Guid.NewGuid().ToString("N"));
        Diagnostics.Clear();
        Output = new StringWriter();
    }

    [TearDown]
    public void DeleteRoot()
    {
        Output.Dispose();
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }

    protected RunOptions Options(string? id = null) => new()
    {
        Project = "tests",
        Id = id,
        Dir = Root,
        Output = Output,
        Diagnostics = Diagnostics.Enqueue,
        FinishOnProcessExit = false,
    };

    /// <summary>Opens the run <paramref name="id"/> again, continuing it (<see cref="ResumeMode.Allow"/>).</summary>
    protected Run Resume(string id)
    {
        var options = Options(id);
        options.Resume = ResumeMode.Allow;
        return Run.Init(options);
    }

    protected static RunReader Read(Run run) => RunReader.Open(run.Directory!);

    protected static List<HistoryRow> History(Run run) => Read(run).ReadHistory().ToList();
}
