using System.Reflection;
using System.Runtime.InteropServices;
using Tracker.Backends;
using Tracker.Internal;
using Tracker.Online;
using Tracker.Pipeline;
using Tracker.Reading;
using Tracker.Settings;
using Tracker.SystemMetrics;

namespace Tracker;

public sealed partial class Run
{
    /// <summary>
    /// Starts a run. Every argument is optional and falls back to its <c>TRACKER_*</c> environment
    /// variable, then to a default; see <see cref="RunOptions"/> for each one.
    /// </summary>
    /// <param name="project">Project name.</param>
    /// <param name="name">Display name.</param>
    /// <param name="id">Run id, needed to resume.</param>
    /// <param name="config">Hyper-parameters: anonymous object, POCO or dictionary.</param>
    /// <param name="tags">Tags.</param>
    /// <param name="notes">Notes.</param>
    /// <param name="group">Group of related runs.</param>
    /// <param name="jobType">Kind of job.</param>
    /// <param name="mode">Online, offline or disabled.</param>
    /// <param name="resume">Whether to continue an existing run with this id.</param>
    /// <param name="dir">Root folder of run directories.</param>
    /// <returns>The started run.</returns>
    public static Run Init(
        string? project = null, string? name = null, string? id = null, object? config = null,
        IEnumerable<string>? tags = null, string? notes = null, string? group = null, string? jobType = null,
        RunMode? mode = null, ResumeMode? resume = null, string? dir = null) =>
        Init(new RunOptions
        {
            Project = project, Name = name, Id = id, Config = config, Tags = tags, Notes = notes,
            Group = group, JobType = jobType, Mode = mode, Resume = resume, Dir = dir,
        });

    /// <summary>Starts a run with the given options.</summary>
    /// <param name="options">The run's settings; unset ones fall back to environment variables and defaults.</param>
    /// <returns>The started run.</returns>
    /// <exception cref="ArgumentException">An option or environment variable has an invalid value, or the config cannot be serialised.</exception>
    /// <exception cref="InvalidOperationException">Resuming was asked for and not possible, or the id is taken.</exception>
    public static Run Init(RunOptions options) => Init(options, LocalFileBackend.Open);

    /// <summary>Starts a run whose batches go to the backend <paramref name="openBackend"/> makes from the run directory and first run.json.</summary>
    internal static Run Init(RunOptions options, Func<string, byte[], IRunBackend> openBackend)
    {
        ArgumentNullException.ThrowIfNull(options);
        var o = options.Clone();
        ValidateLimits(o);

        // Options, then TRACKER_* variables, then the project's tracker.json (tracker init), then defaults.
        var settings = ProjectSettings.Find();
        o.BaseUrl = ProjectSettings.ServerFor(o.BaseUrl);
        var mode = o.Mode ?? ParseEnum<RunMode>("TRACKER_MODE") ?? (o.BaseUrl is null ? RunMode.Offline : RunMode.Online);
        if (mode == RunMode.Online)
        {
            ValidateServer(o.BaseUrl);
            o.ApiKey = Credentials.ApiKeyFor(o.BaseUrl!, o.ApiKey);
        }

        var resume = o.Resume ?? ParseEnum<ResumeMode>("TRACKER_RESUME") ?? ResumeMode.Never;
        var project = o.Project ?? Env("TRACKER_PROJECT") ?? settings?.Project ?? "uncategorized";
        ValidateName(project, "project");
        var id = o.Id ?? Env("TRACKER_RUN_ID") ?? RunNames.NewId();
        ValidateName(id, "id");
        var root = Path.GetFullPath(o.Dir ?? Env("TRACKER_DIR") ?? settings?.FullDir ?? "tracker-runs");
        var config = o.Config is null ? new Dictionary<string, object?>() : Json.Flatten(o.Config, "config");
        var tags = RecordRules.NormalizeTags(o.Tags ?? [])
            ?? throw new ArgumentException("Tags must not be null, empty or whitespace.", nameof(options));
        ThrowIfRunTextInvalid(tags, o.Name, o.Notes, o.Group, o.JobType);

        if (mode == RunMode.Disabled)
        {
            var disabled = new RunInfo { Id = id, Project = project, Name = o.Name ?? "disabled", Mode = mode, Config = config, Tags = tags };
            return new Run(o, disabled, directory: null, backend: null, resumed: null, server: null);
        }

        StartWarmup(); // overlaps Init's own work, on another thread
        var directory = Path.Combine(root, project, id);
        var exists = File.Exists(Path.Combine(directory, RunFiles.RunFile));
        if (exists && resume == ResumeMode.Never)
        {
            throw new InvalidOperationException(
                $"A run with id '{id}' already exists in {directory}. Pass resume: ResumeMode.Allow to continue it, or choose another id.");
        }

        if (!exists && resume == ResumeMode.Must)
        {
            throw new InvalidOperationException(
                $"There is no run with id '{id}' in {Path.Combine(root, project)} to resume (ResumeMode.Must). Check the id, project and dir, or pass ResumeMode.Allow to start it anew.");
        }

        // Made first so that a faulty ConfigureHttpResilience fails before the run directory is opened.
        var server = mode == RunMode.Online ? TrackerHttpClient.Create(o) : null;
        var created = !System.IO.Directory.Exists(directory);
        RunLock? runLock = null;
        try
        {
            System.IO.Directory.CreateDirectory(directory);
            runLock = AcquireLock(directory, id);

            // Read again under the lock: a process that held the run may have finished or created it meanwhile.
            exists = File.Exists(Path.Combine(directory, RunFiles.RunFile));
            if (exists && resume == ResumeMode.Never)
            {
                throw new InvalidOperationException(
                    $"A run with id '{id}' already exists in {directory}. Pass resume: ResumeMode.Allow to continue it, or choose another id.");
            }

            var run = Open(o, mode, project, id, root, directory, exists, config, tags, server, openBackend);
            run._lock = runLock;
            return run;
        }
        catch
        {
            server?.Dispose();
            if (runLock is not null && created)
            {
                TryRemoveEmpty(directory); // under the lock, so no other process is using the file removed
            }

            runLock?.Dispose();
            throw;
        }
    }

    /// <summary>Builds the run's parts: the writer and, as the options say, the sender, the flush timer, console capture, the system sampler and the exit hooks.</summary>
    private Run(RunOptions options, RunInfo started, string? directory, IRunBackend? backend, RunFold? resumed, TrackerHttpClient? server)
    {
        _options = options;
        _time = options.TimeProvider;
        _started = started;
        Directory = directory;
        Url = server is null ? null : RunFiles.UrlOf(server.BaseUrl, started.Project, started.Id);
        _diagnostics = new DiagnosticsSink(options.Diagnostics, options.Output);
        _appendRecord = AppendRecord;
        _media = directory is null ? null : new MediaLog(Path.Combine(directory, RunFiles.MediaFolder), _diagnostics);
        _config = new Dictionary<string, object?>(started.Config, StringComparer.Ordinal);
        _tags = started.Tags;
        _notes = started.Notes;
        _metrics.AddRange(started.Metrics);

        // A resumed run continues its summary where the records leave it: accumulators and overrides alike.
        _summary = resumed?.Summary ?? new SummaryTable();
        foreach (var definition in started.Metrics)
        {
            _summary.Define(definition);
        }

        _startTimestamp = _time.GetTimestamp();
        _startUnixMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _msPerTick = 1000.0 / _time.TimestampFrequency;

        // A precise clock read costs ~60 ns on some virtual machines, more than the rest of Log;
        // the coarse monotonic tick (a few ms resolution) costs ~14 ns and is plenty for row times.
        _coarseClock = ReferenceEquals(_time, TimeProvider.System);
        _startTickCount = Environment.TickCount64;
        Config = new RunConfig(this);
        Summary = new RunSummary(this);
        if (backend is null)
        {
            return; // disabled
        }

        _step = resumed?.NextStep ?? 0;
        _systemSamples = resumed?.NextSystemStep ?? 0;
        var lastSeq = resumed?.LastSeq ?? 0;
        if (resumed is not null && SyncCursor.ReadAckedSeq(directory!) is var acked && acked > lastSeq)
        {
            // The server acknowledged lines this file no longer holds (its tail was lost after they
            // were sent): numbering after them, since the server skips numbers it holds as replays.
            _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning,
                $"Run {started.Id}: the server acknowledged records up to {acked:N0} ({RunFiles.SyncFile}) but {RunFiles.RecordsFile} ends at {lastSeq:N0}; its tail was lost after it was sent. New records are numbered from {acked + 1:N0}; the lost ones stay on the server only."));
            lastSeq = acked;
        }

        var firstSeq = lastSeq + 1;
        // The server upload first, then each custom backend: each follows records.jsonl on a loop of its own, from its own cursor.
        var followers = new List<BackendWorker>();
        if (server is not null)
        {
            // Its own sink: outage reports must not rate-limit the run's warnings, nor the reverse.
            _server = new ServerBackend(server, started, directory!, new DiagnosticsSink(options.Diagnostics, options.Output), _time, () => _upload?.Written ?? lastSeq,
                heartbeatInterval: options.HeartbeatInterval, sendInterval: options.SendInterval, numberAfter: acked => _worker?.NumberAfter(acked));
            _upload = new BackendWorker(_server, started, directory!, firstSeq - 1, new DiagnosticsSink(options.Diagnostics, options.Output), _time);
            followers.Add(_upload);
        }

        followers.AddRange(options.Backends.Select(b => new BackendWorker(b, started, directory!, firstSeq - 1, new DiagnosticsSink(options.Diagnostics, options.Output), _time)));
        _followers = [.. followers];
        if (_followers.Length > 0)
        {
            var notified = _followers;
            backend = new NotifyingBackend(backend, lastSeq =>
            {
                foreach (var follower in notified)
                {
                    follower.OnWritten(lastSeq);
                }
            });
        }

        var capacity = Math.Max(2, options.MaxQueuedRecords / ChunkSize);
        _queue = new RecordQueue(ChunkSize, capacity);
        _current = _queue.Rent();
        _worker = new RunWorker(_queue, backend, _keys, options, _diagnostics, firstSeq);
        _worker.Start();
        foreach (var follower in _followers)
        {
            follower.Start();
        }
        _flushTimer = _time.CreateTimer(static s => ((Run)s!).OnFlushTick(), this, options.FlushInterval, options.FlushInterval);
        if (options.CaptureConsole)
        {
            _console = new ConsoleCapture(directory!, WriteOutputLine);
        }

        if (options.SystemMetricsInterval is { } interval && interval > TimeSpan.Zero)
        {
            _sampler = new SystemSampler(options.SystemProbes ?? SystemSampler.DefaultProbes(directory!, options.SystemMetricsProcessTree), interval, _time, WriteSystemSample,
                ex => _diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning, $"A system metrics probe failed and is no longer sampled: {ex.Message}", ex)));
        }

        if (options.FinishOnProcessExit)
        {
            ProcessHooks.Register(this);
        }

        if (Url is not null && options.PrintSummary)
        {
            var output = options.Output ?? Console.Error;
            output.WriteLine($"tracker: View run {started.Name} ({started.Id}) at {Url}");
            output.Flush();
        }
    }

    /// <summary>Init's part under the run directory's lock: read what a resumed run left, then open the backend.</summary>
    private static Run Open(
        RunOptions o, RunMode mode, string project, string id, string root, string directory, bool exists,
        Dictionary<string, object?> config, string[] tags, TrackerHttpClient? server, Func<string, byte[], IRunBackend> openBackend)
    {
        RunInfo? previous = null;
        RunFold? resumed = null;
        if (exists)
        {
            var reader = RunReader.Open(directory);
            previous = reader.Info;
            resumed = reader.ReadState();

            // The records' config (the log is the truth) over run.json's, then the config given on resume.
            var merged = new Dictionary<string, object?>(previous.Config, StringComparer.Ordinal);
            foreach (var (key, value) in resumed.Config)
            {
                merged[key] = value;
            }

            foreach (var (key, value) in config)
            {
                merged[key] = value;
            }

            config = merged;
        }

        var time = o.TimeProvider;
        var capture = o.Capture;
        var info = new RunInfo
        {
            Id = id,
            Project = project,
            Name = o.Name ?? previous?.Name ?? RunNames.NewName(Path.Combine(root, project)),
            Tags = tags.Length > 0 || previous is null ? tags : previous.Tags,
            Notes = o.Notes ?? previous?.Notes,
            Group = o.Group ?? previous?.Group,
            JobType = o.JobType ?? previous?.JobType,
            Mode = mode,
            Config = config,
            Metrics = previous?.Metrics ?? [],
            Host = capture.HasFlag(EnvironmentCapture.Host) ? Environment.MachineName : null,
            Os = capture.HasFlag(EnvironmentCapture.Host) ? RuntimeInformation.OSDescription : null,
            DotnetVersion = capture.HasFlag(EnvironmentCapture.Libraries) ? RuntimeInformation.FrameworkDescription : null,
            CommandLine = capture.HasFlag(EnvironmentCapture.CommandLine) ? (o.CommandLine is { } given ? CommandLineRedaction.Redact(given, o.RedactArguments) : CommandLineRedaction.Current(o.RedactArguments)) : null,
            EntryAssembly = capture.HasFlag(EnvironmentCapture.CommandLine) ? EnvironmentInfo.EntryAssembly() : null,
            CpuCount = capture.HasFlag(EnvironmentCapture.Hardware) ? Environment.ProcessorCount : null,
            SdkVersion = SdkVersion,
            // Whole milliseconds, as the records' times: a row written in the same millisecond must not read as before the start.
            StartTime = previous?.StartTime ?? DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds()),
            State = RunStates.Running,
            Resumed = previous is null ? 0 : previous.Resumed + 1,
        };

        // Git, GPUs, the CPU model and library versions are read in the background (see CaptureEnvironment);
        // what they depend on is taken now: the working directory and the assemblies loaded at Init.
        var workingDirectory = Environment.CurrentDirectory;
        var loaded = capture.HasFlag(EnvironmentCapture.Libraries) ? AppDomain.CurrentDomain.GetAssemblies() : [];
        var readEnvironment = o.ReadEnvironment ?? EnvironmentInfo.Capture;

        var backend = openBackend(directory, Json.Serialize(info, indented: true));
        var run = new Run(o, info, directory, backend, resumed, server);
        if (EnvironmentInfo.HasSlowParts(capture))
        {
            run.CaptureEnvironment(ct => readEnvironment(capture, workingDirectory, loaded, ct));
        }

        return run;
    }

    /// <summary>
    /// The run directory's lock. Inside a program <c>tracker run</c> started for this run
    /// (TRACKER_RUN_HANDOFF=1, TRACKER_RUN_ID the id), the launcher holds it: ask it to hand the run
    /// over (<see cref="RunFiles.HandoffFile"/>) and wait until it has.
    /// </summary>
    private static RunLock AcquireLock(string directory, string id)
    {
        try
        {
            return RunLock.Acquire(directory, id);
        }
        catch (InvalidOperationException) when (Env("TRACKER_RUN_HANDOFF") == "1" && Env("TRACKER_RUN_ID") == id)
        {
            var request = Path.Combine(directory, RunFiles.HandoffFile);
            File.WriteAllText(request, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var deadline = Environment.TickCount64 + 60_000;
            while (true)
            {
                Thread.Sleep(20);
                try
                {
                    return RunLock.Acquire(directory, id);
                }
                catch (InvalidOperationException ex) when (Environment.TickCount64 >= deadline)
                {
                    File.Delete(request);
                    throw new InvalidOperationException($"{ex.Message} It was started by tracker run (TRACKER_RUN_HANDOFF=1), which did not hand the run over within 60 s.", ex);
                }
                catch (InvalidOperationException)
                {
                    // Still held: tracker run is finishing its part.
                }
            }
        }
    }

    /// <summary>Removes a run directory Init made and then gave up on (it holds the lock file at most).</summary>
    private static void TryRemoveEmpty(string directory)
    {
        try
        {
            File.Delete(Path.Combine(directory, RunFiles.LockFile));
            System.IO.Directory.Delete(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not empty (another process started it meanwhile) or not ours to remove: leave it.
        }
    }

    private static string? SdkVersion { get; } = typeof(Run).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;

    /// <summary>The uncommitted changes the run's code had, next to the run, so it can be reproduced.</summary>
    private static void SaveDiff(string directory, string diff, DiagnosticsSink diagnostics)
    {
        try
        {
            var files = Path.Combine(directory, "files");
            System.IO.Directory.CreateDirectory(files);
            File.WriteAllText(Path.Combine(files, "diff.patch"), diff + "\n");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            diagnostics.Report(new RunDiagnostic(DiagnosticLevel.Warning, $"Could not save the uncommitted changes as files/diff.patch: {ex.Message}", ex));
        }
    }

    internal Dictionary<string, object?> ConfigSnapshot()
    {
        lock (_sync)
        {
            return new Dictionary<string, object?>(_config, StringComparer.Ordinal);
        }
    }

    internal void UpdateConfig(Dictionary<string, object?> values)
    {
        var fields = Json.Serialize(new { values });
        lock (_sync)
        {
            // The record and the whole config (run.json's) must each fit the server's limit for a document.
            var merged = new Dictionary<string, object?>(_config, StringComparer.Ordinal);
            foreach (var (key, value) in values)
            {
                merged[key] = value;
            }

            if ((RecordRules.DocumentSizeProblem(fields.Length, "This config update") ?? RecordRules.DocumentSizeProblem(Json.Serialize(merged).Length, "The config with this update")) is { } problem)
            {
                throw new ArgumentException(problem, nameof(values));
            }
        }

        UpdateMetadata("config", () =>
        {
            foreach (var (key, value) in values)
            {
                _config[key] = value;
            }
        }, fields);
    }

    internal Dictionary<string, object?> SummaryValues()
    {
        lock (_sync)
        {
            return SummarySnapshot();
        }
    }

    internal void OverrideSummary(Dictionary<string, object?> values)
    {
        var fields = Json.Serialize(new { values });
        if (RecordRules.DocumentSizeProblem(fields.Length, "This summary value") is { } problem)
        {
            throw new ArgumentException(problem, nameof(values));
        }

        var added = values.Keys.Count(key => !_summary.Contains(key));
        if (added > 0 && RecordRules.RunKeyCountProblem(_summary.KeyCount + added) is { } tooMany)
        {
            throw new ArgumentException(tooMany, nameof(values));
        }

        UpdateMetadata("summary", () =>
        {
            foreach (var (key, value) in values)
            {
                _summary.Override(key, value);
            }
        }, fields);
    }

    private static void ValidateLimits(RunOptions o)
    {
        if (o.FinishTimeout < TimeSpan.Zero)
        {
            throw new ArgumentException($"FinishTimeout must not be negative (was {o.FinishTimeout}).", nameof(o));
        }

        if (o.FlushInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"FlushInterval must be positive (was {o.FlushInterval}).", nameof(o));
        }

        if (o.MaxQueuedRecords < 1 || o.MaxBatchRecords < 1 || o.MaxBatchBytes < 1 || o.MaxWriteAttempts < 1)
        {
            throw new ArgumentException("MaxQueuedRecords, MaxBatchRecords, MaxBatchBytes and MaxWriteAttempts must be at least 1.", nameof(o));
        }

        ArgumentNullException.ThrowIfNull(o.TimeProvider);
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase); // cursor files: one per name on any file system
        foreach (var backend in o.Backends)
        {
            if (backend is null)
            {
                throw new ArgumentException("RunOptions.Backends holds a null; add only backend instances.", nameof(o));
            }

            if (BackendCursor.NameProblem(backend.Name) is { } problem)
            {
                throw new ArgumentException($"{problem} ({backend.GetType().FullName}).", nameof(o));
            }

            if (!names.Add(backend.Name))
            {
                throw new ArgumentException($"Two backends in RunOptions.Backends are named '{backend.Name}' (names are compared ignoring case); each needs a name of its own for its cursor.", nameof(o));
            }
        }
    }

    private static void ValidateServer(Uri? baseUrl)
    {
        if (baseUrl is null)
        {
            throw new ArgumentException(
                "Online mode needs a Tracker server: set RunOptions.BaseUrl or TRACKER_BASE_URL (such as http://127.0.0.1:5080), or use RunMode.Offline to record the run locally only.");
        }

        if (!baseUrl.IsAbsoluteUri || baseUrl.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"The Tracker server URL '{baseUrl}' is not an absolute http or https URL such as http://127.0.0.1:5080.");
        }
    }

    /// <summary>The server's limits for a run's text fields (RecordRules), checked here so that it never refuses them.</summary>
    internal static void ThrowIfRunTextInvalid(IReadOnlyCollection<string>? tags, string? name = null, string? notes = null, string? group = null, string? jobType = null)
    {
        var problem = (tags is null ? null : RecordRules.TagsProblem(tags))
            ?? RecordRules.RunTextProblem(name, "name") ?? RecordRules.RunTextProblem(notes, "notes")
            ?? RecordRules.RunTextProblem(group, "group") ?? RecordRules.RunTextProblem(jobType, "job_type");
        if (problem is not null)
        {
            throw new ArgumentException(problem);
        }
    }

    private static void ValidateName(string value, string what)
    {
        if (RecordRules.IdProblem(value, what) is { } problem)
        {
            throw new ArgumentException(problem);
        }
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    private static T? ParseEnum<T>(string variable)
        where T : struct, Enum
    {
        var text = Env(variable);
        if (text is null)
        {
            return null;
        }

        return Enum.TryParse<T>(text, ignoreCase: true, out var value) && Enum.IsDefined(value)
            ? value
            : throw new ArgumentException($"{variable}='{text}' is not valid; use one of: {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}.");
    }
}
