using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Tracker.Reading;

namespace Tracker.Internal;

/// <summary>
/// Finishes runs the process leaves unfinished, so their tail is written: as failed on an unhandled
/// exception or an exit before <c>Finish</c>, as killed on SIGINT (Ctrl+C) or SIGTERM, which .NET
/// does not turn into <see cref="AppDomain.ProcessExit"/>.
/// </summary>
internal static class ProcessHooks
{
    private static readonly ConcurrentDictionary<Run, byte> Live = new();
    private static readonly List<PosixSignalRegistration> Signals = []; // held: a collected registration unregisters itself
    private static int _subscribed;
    private static int _signalled;

    public static void Register(Run run)
    {
        if (Interlocked.Exchange(ref _subscribed, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => FinishAll(
                Environment.ExitCode, RunStates.Failed, "the process exited before Run.Finish was called");
            AppDomain.CurrentDomain.UnhandledException += (_, e) => FinishAll(
                1, RunStates.Failed, $"unhandled exception: {(e.ExceptionObject as Exception)?.GetType().FullName}: {(e.ExceptionObject as Exception)?.Message}");
            if (!OperatingSystem.IsWindows() && !OperatingSystem.IsBrowser() && !OperatingSystem.IsIOS() && !OperatingSystem.IsTvOS() && !OperatingSystem.IsAndroid())
            {
                // On Windows, Ctrl+C and closing the console are not POSIX signals; ProcessExit covers what it can there.
                Signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal));
                Signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal));
            }
        }

        Live.TryAdd(run, 0);
    }

    public static void Unregister(Run run) => Live.TryRemove(run, out _);

    /// <summary>
    /// Runs on a thread of its own per signal. The context is not cancelled, so once the runs are
    /// finished the runtime's default handling ends the process with 128 + the signal's number, as
    /// without Tracker. A second signal while the first is finishing returns at once: exit now.
    /// </summary>
    private static void OnSignal(PosixSignalContext context)
    {
        if (context.Cancel || Interlocked.Exchange(ref _signalled, 1) == 1)
        {
            // Cancelled: another handler (Console.CancelKeyPress, a host) keeps the process going and ends it itself.
            return;
        }

        var (name, code) = context.Signal == PosixSignal.SIGINT ? ("SIGINT (Ctrl+C)", 130) : ("SIGTERM", 143);
        FinishAll(code, RunStates.Killed, $"stopped by {name} before Run.Finish was called");
    }

    private static void FinishAll(int exitCode, string state, string error)
    {
        foreach (var run in Live.Keys)
        {
            // FinishCoreAsync bounds itself by the run's FinishTimeout.
            run.FinishCoreAsync(exitCode, state, error).GetAwaiter().GetResult();
        }
    }
}
