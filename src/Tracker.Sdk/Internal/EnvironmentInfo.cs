using System.ComponentModel;
using System.Diagnostics;
using System.Reflection;
using Tracker.Reading;

namespace Tracker.Internal;

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

    /// <summary>The repository's commit, branch, remote and dirty flag, and the uncommitted diff when asked; null outside a working tree.</summary>
    public static (GitInfo? Git, string? Diff) ReadGit(string directory, bool withDiff, string git = "git")
    {
        var commit = Run(git, directory, "rev-parse", "HEAD");
        if (commit is null || commit.Length < 7)
        {
            return (null, null);
        }

        var branch = Run(git, directory, "rev-parse", "--abbrev-ref", "HEAD");
        var remote = Run(git, directory, "config", "--get", "remote.origin.url");
        var status = Run(git, directory, "status", "--porcelain", "--untracked-files=no");
        var dirty = !string.IsNullOrEmpty(status);
        var diff = withDiff && dirty ? Run(git, directory, "diff", "HEAD") : null;
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
    public static IReadOnlyList<string> Gpus(string nvidiaSmi = "nvidia-smi") =>
        Run(nvidiaSmi, Environment.CurrentDirectory, "--query-gpu=name", "--format=csv,noheader") is { } names
            ? names.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [];

    public static string? EntryAssembly() =>
        Assembly.GetEntryAssembly()?.GetName() is { } name ? $"{name.Name} {name.Version}" : null;

    /// <summary>Versions of the ML libraries loaded now (an integration loads them before Init).</summary>
    public static Dictionary<string, string> Libraries() =>
        AppDomain.CurrentDomain.GetAssemblies()
            .Select(a => (Name: a.GetName().Name, Assembly: a))
            .Where(a => a.Name is not null && LibraryAssemblies.Contains(a.Name))
            .GroupBy(a => a.Name!)
            .ToDictionary(g => g.Key, g => g.First().Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                ?? g.First().Assembly.GetName().Version?.ToString() ?? "?", StringComparer.Ordinal);

    /// <summary>A command's trimmed output; null when it is missing, fails or takes too long.</summary>
    public static string? Run(string program, string directory, params string[] args)
    {
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

            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(CommandTimeout))
            {
                process.Kill(entireProcessTree: true);
                return null;
            }

            return process.ExitCode == 0 ? output.GetAwaiter().GetResult().Trim() : null;
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
        {
            return null; // not installed, or not runnable here
        }
    }
}
