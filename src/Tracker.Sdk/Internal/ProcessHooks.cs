using System.Collections.Concurrent;
using Tracker.Reading;

namespace Tracker.Internal;

/// <summary>
/// Finishes runs the process leaves unfinished, as failed, so their tail is written: on an
/// unhandled exception and on process exit (including Ctrl+C and SIGTERM).
/// </summary>
internal static class ProcessHooks
{
    private static readonly ConcurrentDictionary<Run, byte> Live = new();
    private static int _subscribed;

    public static void Register(Run run)
    {
        if (Interlocked.Exchange(ref _subscribed, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => FinishAll(
                Environment.ExitCode, "the process exited before Run.Finish was called");
            AppDomain.CurrentDomain.UnhandledException += (_, e) => FinishAll(
                1, $"unhandled exception: {(e.ExceptionObject as Exception)?.GetType().FullName}: {(e.ExceptionObject as Exception)?.Message}");
        }

        Live.TryAdd(run, 0);
    }

    public static void Unregister(Run run) => Live.TryRemove(run, out _);

    private static void FinishAll(int exitCode, string error)
    {
        foreach (var run in Live.Keys)
        {
            // FinishCoreAsync bounds itself by the run's FinishTimeout.
            run.FinishCoreAsync(exitCode, RunStates.Failed, error).GetAwaiter().GetResult();
        }
    }
}
