using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Tracker.Cli.Commands;

/// <summary>
/// <c>tracker run -- COMMAND ARGS...</c>: runs any program as a run. Its output goes to the terminal
/// and into the run; the system metrics add up tracker and the program's process tree; its exit code
/// makes the run's state. A Tracker SDK inside the program joins the same run: tracker run holds the
/// run until that SDK asks for it (<see cref="RunFiles.HandoffFile"/>), then finishes its part and
/// steps aside, and when the program has ended it opens the run again for the output it kept
/// meanwhile and the final state.
/// </summary>
internal static partial class RunCommand
{
    public const string Name = "run";

    private const int SigInt = 2;
    private const int SigTerm = 15;

    public static Command Create()
    {
        var project = new Option<string?>("--project") { Description = "Project of the run (default: TRACKER_PROJECT, then uncategorized)." };
        var name = new Option<string?>("--name") { Description = "Display name (default: a generated one)." };
        var tags = new Option<string[]>("--tag") { Description = "A tag; repeat for more.", AllowMultipleArgumentsPerToken = false };
        var dir = new Option<string?>("--dir") { Description = "Runs root (default: TRACKER_DIR, then ./tracker-runs)." };
        var server = new Option<string?>("--server") { Description = "Tracker server URL for an online run (default: TRACKER_BASE_URL; none: offline)." };
        var program = new Argument<string[]>("COMMAND") { Description = "The program and its arguments, after --.", Arity = ArgumentArity.OneOrMore };
        var command = new Command(Name, "Run a program as a Tracker run: its output, system metrics and exit code recorded.") { project, name, tags, dir, server, program };
        command.SetAction((r, ct) => RunAsync(
            r.GetValue(program)!, new RunOptions
            {
                Project = r.GetValue(project),
                Name = r.GetValue(name),
                Tags = r.GetValue(tags),
                Dir = r.GetValue(dir),
                BaseUrl = r.GetValue(server) is { } url ? SyncCommand.ServerUrl(url) : null,
            }));
        return command;
    }

    private static async Task<int> RunAsync(string[] program, RunOptions options)
    {
        options.CommandLine = program;
        options.CaptureConsole = true; // the program's output is written to this console
        options.SystemMetricsProcessTree = true;
        options.FinishOnProcessExit = false; // signals are passed to the program, below
        options.PrintSummary = false;
        options.Resume = ResumeMode.Never;
        var terminal = Console.Error; // before the run captures the console: tracker's own line is not the program's output
        Run run;
        try
        {
            run = Run.Init(options);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }

        var directory = run.Directory!;
        var root = Path.GetDirectoryName(Path.GetDirectoryName(directory))!;
        await terminal.WriteLineAsync($"tracker: run {run.Name} ({run.Id}) in {directory}");
        var launch = new Launch(run);
        var start = new ProcessStartInfo(program[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in program.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        // What a Tracker SDK inside reads to join this run instead of starting another.
        start.Environment["TRACKER_RUN_ID"] = run.Id;
        start.Environment["TRACKER_PROJECT"] = run.Project;
        start.Environment["TRACKER_DIR"] = root;
        start.Environment["TRACKER_RESUME"] = "allow";
        start.Environment["TRACKER_RUN_HANDOFF"] = "1";
        start.Environment["TRACKER_MODE"] = run.Mode.ToString().ToLowerInvariant();
        if (run.Mode == RunMode.Online)
        {
            start.Environment["TRACKER_BASE_URL"] = (options.BaseUrl ?? new Uri(Environment.GetEnvironmentVariable("TRACKER_BASE_URL")!)).ToString();
            if ((options.ApiKey ?? Environment.GetEnvironmentVariable("TRACKER_API_KEY")) is { Length: > 0 } key)
            {
                start.Environment["TRACKER_API_KEY"] = key;
            }
        }

        // Output goes through a pipe, not a terminal: ask Python not to buffer it.
        start.Environment.TryAdd("PYTHONUNBUFFERED", "1");

        Process child;
        try
        {
            child = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            await Console.Error.WriteLineAsync($"tracker: cannot start '{program[0]}': {ex.Message}. Check the program's name and PATH.");
            await run.FinishAsync(127);
            return 127; // the shells' code for a command not found
        }

        using (child)
        {
            using var signals = ForwardSignals(child, launch);
            var pumps = Task.WhenAll(
                Pump(child.StandardOutput.BaseStream, launch, error: false),
                Pump(child.StandardError.BaseStream, launch, error: true));
            using var stop = new CancellationTokenSource();
            var handoff = WatchHandoff(directory, launch, stop.Token);
            await child.WaitForExitAsync();

            // A process the program left behind may hold its pipes open: keep what came, not wait for it.
            await Task.WhenAny(pumps, Task.Delay(TimeSpan.FromSeconds(5)));
            await stop.CancelAsync();
            await handoff;
            var exitCode = child.ExitCode;
            var signal = launch.Signal;
            var result = signal != 0 ? 128 + signal : exitCode;
            var final = launch.Reopen(options, root);
            if (signal != 0)
            {
                await final.FinishKilledAsync(result, $"tracker run was stopped by {(signal == SigInt ? "SIGINT (Ctrl+C)" : "SIGTERM")} and stopped the program");
            }
            else if (exitCode is > 128 and <= 192)
            {
                // How .NET (and the shells) report a program ended by a signal: 128 + its number.
                await final.FinishKilledAsync(exitCode, $"the program was stopped by signal {exitCode - 128}");
            }
            else
            {
                await final.FinishAsync(exitCode);
            }

            return result;
        }
    }

    /// <summary>Copies one of the program's streams to this console as it comes, not a line at a time (progress bars).</summary>
    private static async Task Pump(Stream stream, Launch launch, bool error)
    {
        var bytes = new byte[8192];
        var chars = new char[Encoding.UTF8.GetMaxCharCount(bytes.Length)];
        var decoder = Encoding.UTF8.GetDecoder();
        int read;
        while ((read = await stream.ReadAsync(bytes)) > 0)
        {
            var count = decoder.GetChars(bytes, 0, read, chars, 0);
            launch.Write(new string(chars, 0, count), error);
        }
    }

    /// <summary>Hands the run to a Tracker SDK inside the program when it asks.</summary>
    private static async Task WatchHandoff(string directory, Launch launch, CancellationToken cancellationToken)
    {
        var request = Path.Combine(directory, RunFiles.HandoffFile);
        try
        {
            while (!File.Exists(request))
            {
                await Task.Delay(50, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await launch.HandOverAsync();
        File.Delete(request);
    }

    private static IDisposable ForwardSignals(Process child, Launch launch)
    {
        if (OperatingSystem.IsWindows())
        {
            return new CompositeDisposable([]); // Ctrl+C reaches the program through the console it shares
        }

        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // tracker ends when the program has, with the run's state recorded
            var number = context.Signal == PosixSignal.SIGINT ? SigInt : SigTerm;
            launch.Signal = number;

            // A terminal's Ctrl+C reaches every process of its foreground group: the program has it already.
            if (number == SigInt && InTerminalForeground())
            {
                return;
            }

            try
            {
                _ = Kill(child.Id, number);
            }
            catch (InvalidOperationException)
            {
                // Ended already.
            }
        }

        return new CompositeDisposable([PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)]);
    }

    private static bool InTerminalForeground()
    {
        var foreground = TcGetPgrp(0);
        return foreground > 0 && foreground == GetPgrp();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "tcgetpgrp")]
    private static partial int TcGetPgrp(int fd);

    [LibraryImport("libc", EntryPoint = "getpgrp")]
    private static partial int GetPgrp();

    private sealed class CompositeDisposable(IDisposable[] parts) : IDisposable
    {
        public void Dispose()
        {
            foreach (var part in parts)
            {
                part.Dispose();
            }
        }
    }

    /// <summary>
    /// Where the program's output goes: this console (which the open run captures) while tracker holds
    /// the run; once handed to the program's SDK, the terminal, and kept to be recorded at the end.
    /// </summary>
    private sealed class Launch(Run run)
    {
        private readonly object _gate = new();
        private readonly List<(bool Error, string Text)> _kept = [];
        private readonly string _id = run.Id;
        private readonly string _project = run.Project;
        private Run? _run = run;

        public volatile int Signal;

        public void Write(string text, bool error)
        {
            lock (_gate)
            {
                var writer = error ? Console.Error : Console.Out;
                writer.Write(text);
                writer.Flush();
                if (_run is null)
                {
                    _kept.Add((error, text));
                }
            }
        }

        /// <summary>Finishes tracker's part so that the program's SDK can open the run; output from now on is kept.</summary>
        public async Task HandOverAsync()
        {
            Run held;
            lock (_gate)
            {
                held = _run!;
                _run = null;
            }

            await held.FinishAsync();
        }

        /// <summary>The run to record the end in: still held, or opened again after the program's SDK, with the output kept meanwhile.</summary>
        public Run Reopen(RunOptions options, string root)
        {
            lock (_gate)
            {
                if (_run is not null)
                {
                    return _run;
                }
            }

            options.Id = _id;
            options.Project = _project;
            options.Dir = root;
            options.Name = null;
            options.Tags = null;
            options.Resume = ResumeMode.Must;
            options.SystemMetricsInterval = null; // the program has ended
            options.Capture = EnvironmentCapture.All & ~EnvironmentCapture.GitDiff;

            // Recorded, not shown again: the terminal has had it.
            var (output, error) = (Console.Out, Console.Error);
            Console.SetOut(TextWriter.Null);
            Console.SetError(TextWriter.Null);
            try
            {
                var reopened = Run.Init(options);
                foreach (var (isError, text) in _kept)
                {
                    (isError ? Console.Error : Console.Out).Write(text);
                }

                return reopened;
            }
            finally
            {
                Console.SetOut(output);
                Console.SetError(error);
            }
        }
    }
}
