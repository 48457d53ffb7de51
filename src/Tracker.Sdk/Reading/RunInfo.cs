namespace Tracker.Reading;

/// <summary>The run states written to <c>run.json</c>.</summary>
public static class RunStates
{
    /// <summary>The run is in progress, or its process died without any hook running.</summary>
    public const string Running = "running";

    /// <summary>The run called <c>Finish</c> with exit code 0.</summary>
    public const string Finished = "finished";

    /// <summary>The run finished with a non-zero exit code, an unhandled exception, or the process exited before <c>Finish</c>.</summary>
    public const string Failed = "failed";
}

/// <summary>A metric's definition from <see cref="Run.DefineMetric"/>.</summary>
/// <param name="Name">The metric key, or a prefix glob such as <c>val/*</c>.</param>
/// <param name="StepMetric">The key charts use as this metric's x-axis, if not <c>_step</c>.</param>
/// <param name="Summary">How the summary value is computed.</param>
/// <param name="Goal">Whether smaller or larger is better.</param>
public sealed record MetricDefinition(string Name, string? StepMetric, SummaryMode Summary, MetricGoal Goal)
{
    internal bool Matches(string key) =>
        Name.EndsWith('*') ? key.StartsWith(Name.AsSpan(0, Name.Length - 1), StringComparison.Ordinal) : key == Name;
}

/// <summary>The metadata of a run, as stored in its <c>run.json</c>.</summary>
public sealed class RunInfo
{
    /// <summary>Unique id of the run within its project.</summary>
    public required string Id { get; init; }

    /// <summary>Project the run belongs to.</summary>
    public required string Project { get; init; }

    /// <summary>Display name.</summary>
    public required string Name { get; init; }

    /// <summary>Tags.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>Notes.</summary>
    public string? Notes { get; init; }

    /// <summary>Group of related runs.</summary>
    public string? Group { get; init; }

    /// <summary>Kind of job.</summary>
    public string? JobType { get; init; }

    /// <summary>The mode the run was started in.</summary>
    public RunMode Mode { get; init; }

    /// <summary>Flattened config ("a/b" keys) with long, double, string, bool, null or list values.</summary>
    public IReadOnlyDictionary<string, object?> Config { get; init; } = new Dictionary<string, object?>();

    /// <summary>Metric definitions.</summary>
    public IReadOnlyList<MetricDefinition> Metrics { get; init; } = [];

    /// <summary>Machine name.</summary>
    public string? Host { get; init; }

    /// <summary>Operating system description.</summary>
    public string? Os { get; init; }

    /// <summary>.NET runtime description.</summary>
    public string? DotnetVersion { get; init; }

    /// <summary>Command line of the process that started the run.</summary>
    public string? CommandLine { get; init; }

    /// <summary>Version of Tracker.Sdk that wrote the run.</summary>
    public string? SdkVersion { get; init; }

    /// <summary>When the run started.</summary>
    public DateTimeOffset StartTime { get; init; }

    /// <summary>When the run finished, if it did.</summary>
    public DateTimeOffset? EndTime { get; init; }

    /// <summary>One of <see cref="RunStates"/>.</summary>
    public string State { get; init; } = RunStates.Running;

    /// <summary>Exit code given to <c>Finish</c>.</summary>
    public int? ExitCode { get; init; }

    /// <summary>Why the run failed, when a hook finished it.</summary>
    public string? Error { get; init; }

    /// <summary>How many times the run was resumed.</summary>
    public int Resumed { get; init; }
}
