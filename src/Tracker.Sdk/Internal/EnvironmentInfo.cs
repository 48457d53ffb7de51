using System.ComponentModel;
using System.Diagnostics;
using System.Reflection;
using Tracker.Reading;

namespace Tracker.Internal;

/// <summary>What the run learns about its code and machine after Init has returned: the parts that start processes or read files.</summary>
/// <param name="Git">The working tree's commit, branch, remote and dirty flag; null outside one.</param>
/// <param name="Diff">The uncommitted changes, for <c>files/diff.patch</c>.</param>
/// <param name="CpuModel">The CPU model.</param>
/// <param name="Gpus">NVIDIA GPU names.</param>
/// <param name="Libraries">Versions of the ML libraries that were loaded at Init.</param>
internal sealed record CapturedEnvironment(GitInfo? Git, string? Diff, string? CpuModel, IReadOnlyList<string> Gpus, IReadOnlyDictionary<string, string> Libraries);

/// <summary>
/// Reads what a run records about its code and machine: git through the <c>git</c> command, GPUs
/// through <c>nvidia-smi</c>, the rest from the runtime. Anything missing (no git, not a working
/// tree, no GPU) is left out without an error.
/// </summary>
internal static class EnvironmentInfo
{
    /// <summary>A diff larger than this is not saved: it would be a vendored tree, not a change.</summary>
    public const int MaxDiffBytes = 10 * 1024 * 1024;

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(5);

    private static readonly string[] LibraryAssemblies = ["Microsoft.ML", "Microsoft.ML.FastTree", "Microsoft.ML.LightGbm", "TorchSharp"];

    /// <summary>
    /// Reads the slow parts of <paramref name="what"/>: git and GPUs start processes (tens of
    /// milliseconds each, seconds when a disk or driver is slow), so a run reads them in the
    /// background. <paramref name="cancellationToken"/> kills a command still running.
    /// </summary>
    /// <param name="what">The parts the run records.</param>
    /// <param name="directory">The working directory of the program when the run started.</param>
    /// <param name="loaded">The assemblies loaded when the run started.</param>
    /// <param name="cancellationToken">Stops the capture; what is read by then is returned.</param>
    public static CapturedEnvironment Capture(EnvironmentCapture what, string directory, IReadOnlyList<Assembly> loaded, CancellationToken cancellationToken)
    {
        var (git, diff) = what.HasFlag(EnvironmentCapture.Git)
            ? ReadGit(directory, what.HasFlag(EnvironmentCapture.GitDiff), cancellationToken: cancellationToken)
            : (null, null);
        var hardware = what.HasFlag(EnvironmentCapture.Hardware);
        return new CapturedEnvironment(
            git,
            diff,
            hardware ? CpuModel() : null,
            hardware ? Gpus(cancellationToken: cancellationToken) : [],
            what.HasFlag(EnvironmentCapture.Libraries) ? Libraries(loaded) : new Dictionary<string, string>());
    }

    /// <summary>Whether <paramref name="what"/> holds a part that <see cref="Capture"/> reads.</summary>
    public static bool HasSlowParts(EnvironmentCapture what) =>
        (what & (EnvironmentCapture.Git | EnvironmentCapture.Hardware | EnvironmentCapture.Libraries)) != 0;

    /// <summary>The repository's commit, branch, remote and dirty flag, and the uncommitted diff when asked; null outside a working tree.</summary>
    public static (GitInfo? Git, string? Diff) ReadGit(string directory, bool withDiff, string git = "git", CancellationToken cancellationToken = default)
    {
        var commit = Run(git, directory, cancellationToken, "rev-parse", "HEAD");
        if (commit is null || commit.Length < 7)
        {
            return (null, null);
        }

        var branch = Run(git, directory, cancellationToken, "rev-parse", "--abbrev-ref", "HEAD");
        var remote = Run(git, directory, cancellationToken, "config", "--get", "remote.origin.url");
        var status = Run(git, directory, cancellationToken, "status", "--porcelain", "--untracked-files=no");
        var dirty = !string.IsNullOrEmpty(status);
        var diff = withDiff && dirty ? Run(git, directory, cancellationToken, "diff", "HEAD") : null;
        return (new GitInfo(commit, branch is null or "HEAD" ? null : branch, StripCredentials(remote), dirty), diff is { Length: > MaxDiffBytes } ? null : diff);
    }

    /// <summary><c>https://user:token@host/repo</c> becomes <c>https://host/repo</c>; scp-style <c>git@host:repo</c> names no secret and stays.</summary>
    public static string? StripCredentials(string? remote)
    {
        if (remote is null || !Uri.TryCreate(remote, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.UserInfo))
        {
            return remote;
        }

        return new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty }.Uri.ToString();
    }

    public static string? CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
                return line?[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            }
        }
        catch (IOException)
        {
        }

        return Environment.GetEnvironmentVariable("PROCESSOR_IDENTIFIER");
    }

    /// <summary>GPU names from <c>nvidia-smi</c>; none when it is not installed.</summary>
    public static IReadOnlyList<string> Gpus(string nvidiaSmi = "nvidia-smi", CancellationToken cancellationToken = default) =>
        Run(nvidiaSmi, Environment.CurrentDirectory, cancellationToken, "--query-gpu=name", "--format=csv,noheader") is { } names
            ? names.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [];

    public static string? EntryAssembly() =>
        Assembly.GetEntryAssembly()?.GetName() is { } name ? $"{name.Name} {name.Version}" : null;

    /// <summary>Versions of the ML libraries among <paramref name="loaded"/> (an integration loads them before Init).</summary>
    public static Dictionary<string, string> Libraries(IReadOnlyList<Assembly> loaded) =>
        loaded
            .Select(a => (Name: a.GetName().Name, Assembly: a))
            .Where(a => a.Name is not null && LibraryAssemblies.Contains(a.Name))
            .GroupBy(a => a.Name!)
            .ToDictionary(g => g.Key, g => g.First().Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                ?? g.First().Assembly.GetName().Version?.ToString() ?? "?", StringComparer.Ordinal);

    /// <summary>A command's trimmed output; null when it is missing, fails, takes too long or is cancelled.</summary>
    public static string? Run(string program, string directory, params string[] args) => Run(program, directory, CancellationToken.None, args);

    /// <inheritdoc cref="Run(string, string, string[])"/>
    public static string? Run(string program, string directory, CancellationToken cancellationToken, params string[] args)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return null;
        }

        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(start);
            if (process is null)
            {
                return null;
            }

            var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            _ = process.StandardError.ReadToEndAsync(CancellationToken.None);
            using (cancellationToken.UnsafeRegister(static p => Kill((Process)p!), process))
            {
                if (!process.WaitForExit(CommandTimeout) || cancellationToken.IsCancellationRequested)
                {
                    Kill(process);
                    return null;
                }
            }

            return process.ExitCode == 0 ? output.GetAwaiter().GetResult().Trim() : null;
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
        {
            return null; // not installed, or not runnable here
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or NotSupportedException)
        {
            // exited meanwhile
        }
    }
}
