namespace Tracker.Reading;

/// <summary>The run states written to <c>run.json</c>.</summary>
public static class RunStates
{
    /// <summary>
    /// The run is in progress, or its process died without any hook running (SIGKILL, power loss);
    /// a server marks such a run <see cref="Crashed"/> once it stops hearing from it.
    /// </summary>
    public const string Running = "running";

    /// <summary>The run called <c>Finish</c> with exit code 0.</summary>
    public const string Finished = "finished";

    /// <summary>The run finished with a non-zero exit code, an unhandled exception, or the process exited before <c>Finish</c>.</summary>
    public const string Failed = "failed";

    /// <summary>
    /// SIGINT (Ctrl+C) or SIGTERM stopped the process before <c>Finish</c>: what was logged is written,
    /// the exit code is 130 or 143 (128 + the signal's number) and the error names the signal. W&amp;B's name for this state.
    /// </summary>
    public const string Killed = "killed";

    /// <summary>Set by a server, never by the SDK: the run stopped sending (no records or heartbeats) while <see cref="Running"/>.</summary>
    public const string Crashed = "crashed";
}

/// <summary>Where the code came from: its git commit, branch and remote, and whether it had uncommitted changes.</summary>
/// <param name="Commit">The commit hash of HEAD.</param>
/// <param name="Branch">The branch; null on a detached HEAD.</param>
/// <param name="Remote">The origin remote's URL, without any credentials in it.</param>
/// <param name="Dirty">Tracked files had uncommitted changes; the run saved them as <c>files/diff.patch</c> unless turned off.</param>
public sealed record GitInfo(string Commit, string? Branch, string? Remote, bool Dirty);

/// <summary>The metadata of a run, as stored in its <c>run.json</c>.</summary>
public sealed record RunInfo
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

    /// <summary>Name and version of the program that started the run.</summary>
    public string? EntryAssembly { get; init; }

    /// <summary>CPU model, when the OS tells it.</summary>
    public string? CpuModel { get; init; }

    /// <summary>Logical processors.</summary>
    public int? CpuCount { get; init; }

    /// <summary>Names of the NVIDIA GPUs that <c>nvidia-smi</c> lists; empty without one.</summary>
    public IReadOnlyList<string> Gpus { get; init; } = [];

    /// <summary>Versions of the ML libraries loaded when the run started (ML.NET, TorchSharp), by assembly name.</summary>
    public IReadOnlyDictionary<string, string> Libraries { get; init; } = new Dictionary<string, string>();

    /// <summary>The git commit the code was at, when it runs from a git working tree.</summary>
    public GitInfo? Git { get; init; }

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

    /// <summary>
    /// The same metadata with empty collections where run.json left a member out (written by an
    /// older version or by hand): the compile-time deserializer sets them to null rather than to their initial value.
    /// </summary>
    internal RunInfo WithEmptyCollections() => this with
    {
        Tags = Tags ?? [],
        Config = Config ?? new Dictionary<string, object?>(),
        Metrics = Metrics ?? [],
        Gpus = Gpus ?? [],
        Libraries = Libraries ?? new Dictionary<string, string>(),
    };
}
