using Polly;
using Tracker.Export;

namespace Tracker;

/// <summary>Where a run's records go.</summary>
public enum RunMode
{
    /// <summary>Records are written to the local run directory and shipped to a Tracker server.</summary>
    Online,

    /// <summary>Records are written to the local run directory only (the default without a server URL).</summary>
    Offline,

    /// <summary>Every call is a cheap no-op; nothing is written anywhere.</summary>
    Disabled,
}

/// <summary>What <see cref="Run.Init(RunOptions)"/> does when a run with the same id already exists.</summary>
public enum ResumeMode
{
    /// <summary>Start a new run; an existing run with the same id is an error.</summary>
    Never,

    /// <summary>Continue the existing run with the same id, or start a new one if there is none.</summary>
    Allow,

    /// <summary>Continue the existing run with the same id; it is an error if there is none.</summary>
    Must,
}

/// <summary>What <c>Log</c> does when the background queue is full.</summary>
public enum QueueFullMode
{
    /// <summary>Wait until the writer catches up (back-pressure). Nothing is lost.</summary>
    Wait,

    /// <summary>Drop the newest points, count them in <see cref="RunStatistics.RecordsDropped"/> and report a warning.</summary>
    DropNewest,
}

/// <summary>Whether online mode compresses the records it sends.</summary>
public enum RequestCompression
{
    /// <summary>gzip, except to a server on this machine (a loopback address), where compressing only costs the training process CPU.</summary>
    Auto,

    /// <summary>Always gzip.</summary>
    Gzip,

    /// <summary>Never compress.</summary>
    None,
}

/// <summary>What <see cref="Run.Init(RunOptions)"/> records about the code and the machine in <c>run.json</c>; each piece can be turned off.</summary>
[Flags]
public enum EnvironmentCapture
{
    /// <summary>Nothing.</summary>
    None = 0,

    /// <summary>Git commit, branch, remote URL (credentials stripped) and whether there are uncommitted changes.</summary>
    Git = 1,

    /// <summary>The uncommitted changes themselves, saved as <c>files/diff.patch</c> in the run directory.</summary>
    GitDiff = 2,

    /// <summary>Host name and operating system.</summary>
    Host = 4,

    /// <summary>CPU model and count, and NVIDIA GPU names.</summary>
    Hardware = 8,

    /// <summary>The command line and the program (entry assembly) that started the run.</summary>
    CommandLine = 16,

    /// <summary>The .NET runtime version and the versions of ML.NET and TorchSharp when loaded.</summary>
    Libraries = 32,

    /// <summary>Everything above (the default).</summary>
    All = Git | GitDiff | Host | Hardware | CommandLine | Libraries,
}

/// <summary>
/// Settings of a run. Every property is optional; unset ones fall back to the <c>TRACKER_*</c>
/// environment variables and then to defaults.
/// </summary>
public sealed class RunOptions
{
    /// <summary>Project the run belongs to. Fallback: <c>TRACKER_PROJECT</c>, then the project of <c>tracker.json</c> (<see cref="Settings.ProjectSettings"/>), then <c>uncategorized</c>.</summary>
    public string? Project { get; set; }

    /// <summary>Display name. Default: a generated name such as <c>brisk-river-3</c>.</summary>
    public string? Name { get; set; }

    /// <summary>Unique run id (letters, digits, '-' and '_'). Fallback: <c>TRACKER_RUN_ID</c>, then 8 random characters.</summary>
    public string? Id { get; set; }

    /// <summary>Hyper-parameters: an anonymous object, a POCO or a dictionary. Nested objects flatten with '/'.</summary>
    public object? Config { get; set; }

    /// <summary>Tags used to filter runs.</summary>
    public IEnumerable<string>? Tags { get; set; }

    /// <summary>Free-text notes.</summary>
    public string? Notes { get; set; }

    /// <summary>Group of related runs (for example the runs of one cross-validation).</summary>
    public string? Group { get; set; }

    /// <summary>Kind of job, such as <c>train</c> or <c>eval</c>.</summary>
    public string? JobType { get; set; }

    /// <summary>Online, offline or disabled. Fallback: <c>TRACKER_MODE</c>, then online when a base URL is set, else offline.</summary>
    public RunMode? Mode { get; set; }

    /// <summary>Whether to continue an existing run with the same id. Fallback: <c>TRACKER_RESUME</c>, then <see cref="ResumeMode.Never"/>.</summary>
    public ResumeMode? Resume { get; set; }

    /// <summary>Root folder of run directories. Fallback: <c>TRACKER_DIR</c>, then the dir of <c>tracker.json</c> (<see cref="Settings.ProjectSettings"/>), then <c>./tracker-runs</c>.</summary>
    public string? Dir { get; set; }

    /// <summary>Tracker server URL for online mode. Fallback: <c>TRACKER_BASE_URL</c>, then the server of <c>tracker.json</c> (<see cref="Settings.ProjectSettings"/>).</summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>API key for the server. Fallback: <c>TRACKER_API_KEY</c>, then the key <c>tracker login</c> stored for the server (<see cref="Settings.Credentials"/>).</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Whether record batches are sent gzip-compressed. Default <see cref="RequestCompression.Auto"/>:
    /// gzip, except to a server on a loopback address, where there is no network to save and
    /// compressing would take CPU from training.
    /// </summary>
    public RequestCompression Compression { get; set; } = RequestCompression.Auto;

    /// <summary>
    /// The HTTP handler online mode sends requests through: set one for a proxy, client
    /// certificates or a test double. Default: a new <see cref="SocketsHttpHandler"/>. The run does
    /// not dispose a handler given here.
    /// </summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>
    /// Builds the resilience pipeline every request to the server runs through, in place of the
    /// default one: a 2-minute total timeout around up to 3 retries of 408, 429, 5xx and transport
    /// errors (exponential back-off with jitter, or the server's <c>Retry-After</c> on 429 and 503),
    /// each attempt limited to 30 seconds. The builder's <see cref="ResiliencePipelineBuilderBase.TimeProvider"/>
    /// is preset to <see cref="TimeProvider"/>. Whatever the pipeline gives up on, the run sends
    /// again later with back-off until <see cref="Run.Finish(int)"/>, so nothing is lost either way.
    /// </summary>
    public Action<ResiliencePipelineBuilder<HttpResponseMessage>>? ConfigureHttpResilience { get; set; }

    /// <summary>
    /// How long <see cref="Run.Finish(int)"/> may spend writing what is queued and, in online mode and
    /// for each of <see cref="Backends"/>, waiting for them to take it. Default 30 seconds.
    /// </summary>
    public TimeSpan FinishTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most records (logged values) held in memory before <see cref="FullMode"/> applies. Default 131,072.</summary>
    public int MaxQueuedRecords { get; set; } = 131_072;

    /// <summary>What <c>Log</c> does when <see cref="MaxQueuedRecords"/> is reached. Default <see cref="QueueFullMode.Wait"/>.</summary>
    public QueueFullMode FullMode { get; set; } = QueueFullMode.Wait;

    /// <summary>Longest time a logged value waits in memory before it is handed to the writer. Default 1 second.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often system metrics are sampled: process CPU and memory, machine memory, disk and
    /// network, and per NVIDIA GPU its utilisation, memory, temperature and power (keys such as
    /// <c>system/cpu</c>, <c>system/gpu.0.util</c>), logged as <c>system</c> records apart from the
    /// run's steps. Default 10 seconds; null or zero turns them off.
    /// </summary>
    public TimeSpan? SystemMetricsInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Also keep what the program writes to <see cref="Console.Out"/> and <see cref="Console.Error"/>
    /// while the run lasts: in the run's <c>output.log</c>, and as <c>output</c> records that go to
    /// the server with the rest. The console still shows it. Default false.
    /// </summary>
    public bool CaptureConsole { get; set; }

    /// <summary>Test seam: what reads git, GPUs and the rest in the background instead of <see cref="Internal.EnvironmentInfo.Capture"/>.</summary>
    internal Func<EnvironmentCapture, string, IReadOnlyList<System.Reflection.Assembly>, CancellationToken, Internal.CapturedEnvironment>? ReadEnvironment { get; set; }

    /// <summary>
    /// How long an online run may have nothing to send before it tells the server it is alive, so
    /// that the server does not report it <c>crashed</c> (W&amp;B's heartbeat: 30 s). A test seam.
    /// </summary>
    internal TimeSpan HeartbeatInterval { get; set; } = Online.ServerBackend.DefaultHeartbeatInterval;

    /// <summary>Least time between two requests of an online run that carry less than a full batch. A test seam.</summary>
    internal TimeSpan SendInterval { get; set; } = Online.ServerBackend.DefaultSendInterval;

    /// <summary>Test seam: the probes the system sampler reads instead of the real ones.</summary>
    internal IReadOnlyList<SystemMetrics.ISystemProbe>? SystemProbes { get; set; }

    /// <summary>Most records written in one batch. Default 65,536.</summary>
    public int MaxBatchRecords { get; set; } = 65_536;

    /// <summary>Approximate most bytes written in one batch. Default 8 MiB.</summary>
    public int MaxBatchBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Attempts to write one batch before it is given up and counted as dropped. Default 5.</summary>
    public int MaxWriteAttempts { get; set; } = 5;

    /// <summary>When true, a step that goes backwards throws instead of being rejected with a warning.</summary>
    public bool StrictSteps { get; set; }

    /// <summary>Whether <see cref="Run.Finish(int)"/> prints the run history and summary, and an online run prints its <see cref="Run.Url"/> at Init. Default true.</summary>
    public bool PrintSummary { get; set; } = true;

    /// <summary>Where the finish summary and default warnings are printed. Default <see cref="Console.Error"/>.</summary>
    public TextWriter? Output { get; set; }

    /// <summary>
    /// Receives warnings and errors from the run and its background writer (a step going backwards,
    /// a failed write, dropped records). Called on the thread that observed the problem; must not throw.
    /// When unset, they are printed to <see cref="Output"/>.
    /// </summary>
    public Action<RunDiagnostic>? Diagnostics { get; set; }

    /// <summary>
    /// Whether the run is finished when the process ends before <c>Finish</c>: as failed on process
    /// exit or an unhandled exception, as killed on SIGINT (Ctrl+C) or SIGTERM (then the process exits
    /// with 130 or 143, as without the hook). Default true. Set false in a host that handles signals
    /// itself and calls <c>Finish</c> on its own shutdown path.
    /// </summary>
    public bool FinishOnProcessExit { get; set; } = true;

    /// <summary>
    /// What the run records about the code and the machine (git, host, hardware, command line,
    /// libraries). Default: everything. Turn pieces off for privacy, such as
    /// <c>EnvironmentCapture.All &amp; ~EnvironmentCapture.GitDiff</c>.
    /// </summary>
    public EnvironmentCapture Capture { get; set; } = EnvironmentCapture.All;

    /// <summary>
    /// More names whose values the recorded command line writes as <c>***</c>, beside those redacted
    /// always: options and <c>NAME=VALUE</c> pairs whose name ends in key, token, secret, password
    /// (<c>--api-key</c>, <c>--token</c>, <c>HF_TOKEN=</c>, <c>AWS_SECRET_ACCESS_KEY=</c>, <c>DB_PASSWORD=</c>)
    /// and any value starting with <c>trk_</c> (a Tracker API key). A name matches with or without
    /// leading dashes, case and <c>-</c>/<c>_</c> ignored: <c>"--hf-auth"</c> also redacts <c>HF_AUTH=...</c>.
    /// To record no command line at all, leave <see cref="EnvironmentCapture.CommandLine"/> out of <see cref="Capture"/>.
    /// </summary>
    public IEnumerable<string>? RedactArguments { get; set; }

    /// <summary>
    /// The command line to record in place of this process's own, one argument per item (the
    /// program first), redacted as <see cref="RedactArguments"/> says: for a launcher such as
    /// <c>tracker run</c> that records the program it starts. Default: this process's command line.
    /// </summary>
    public IReadOnlyList<string>? CommandLine { get; set; }

    /// <summary>
    /// Whether the system metrics' <c>system/cpu</c> and <c>system/memory_rss_mb</c> add up this
    /// process and every process it started, and theirs (read from <c>/proc</c>; Linux only, elsewhere
    /// this process alone): for a launcher such as <c>tracker run</c>. Default false: this process.
    /// </summary>
    public bool SystemMetricsProcessTree { get; set; }

    /// <summary>Clock used for timestamps, flush intervals and retry back-off. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Custom backends that get the run's records besides its run directory, which is always written
    /// first and is not one of them (nor is the server upload of online mode). Each gets every record
    /// in order, at least once, on a loop of its own from its cursor in the run directory; see
    /// <see cref="IRecordBackend"/> for the contract. Names must be unique ignoring case, or Init throws
    /// <see cref="ArgumentException"/>. The run disposes each backend when Finish ends; in
    /// <see cref="RunMode.Disabled"/> mode, or when Init throws, they are not used and stay the caller's.
    /// Default empty.
    /// </summary>
    public IList<IRecordBackend> Backends { get; private set; } = new List<IRecordBackend>();

    internal RunOptions Clone()
    {
        var clone = (RunOptions)MemberwiseClone();
        clone.Backends = Backends.ToList(); // the run's own list: a later change to the options does not reach it
        return clone;
    }
}
