using System.Diagnostics;
using System.Text;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>A program the integration tests need from the machine, and the Debian package that provides it.</summary>
internal sealed record Prerequisite(string Package, string What, Func<bool> IsInstalled);

/// <summary>What to do about the missing prerequisites: nothing, install packages, or say what to install.</summary>
internal sealed record ProvisionPlan(IReadOnlyList<string> Install, string? CannotInstall)
{
    public static ProvisionPlan Nothing { get; } = new([], null);
}

/// <summary>
/// Makes <c>dotnet test</c> set up a fresh Debian machine by itself: the first test that needs
/// Chromium or the PostgreSQL server binaries installs every missing one with apt-get, once per test
/// run, when the tests run as root. Where they cannot be installed (not root, no apt-get) one line
/// says what to install, and the tests that need them are ignored with that reason.
/// </summary>
internal static class Prerequisites
{
    /// <summary>How long apt-get may take in all, downloads included.</summary>
    public static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(10);

    public static readonly Prerequisite Chromium = new("chromium", Browser.ChromiumPath, () => FileExists(Browser.ChromiumPath));

    public static readonly Prerequisite PostgresServer = new("postgresql", "the PostgreSQL server binaries", Postgres.HasServerBinaries);

    private const string Prefix = "Tracker.IntegrationTests: ";

    private static readonly Lazy<Outcome> Provisioned = new(Provision, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Returns once <paramref name="prerequisite"/> is installed (installing what is missing on first
    /// use); ignores the test when it cannot be installed here; fails it when installing failed.
    /// </summary>
    public static void Require(Prerequisite prerequisite)
    {
        if (prerequisite.IsInstalled())
        {
            return;
        }

        var outcome = Provisioned.Value;
        if (prerequisite.IsInstalled())
        {
            return;
        }

        if (outcome.CannotInstall is not null)
        {
            Assert.Ignore(outcome.CannotInstall);
        }

        Assert.Fail(outcome.Failure ?? $"{prerequisite.What} is still missing after apt-get install {prerequisite.Package}.");
    }

    /// <summary>The prerequisites of the whole suite: PostgreSQL's only when TRACKER_TEST_POSTGRES names no cluster.</summary>
    public static IReadOnlyList<Prerequisite> Required(string? providedPostgres) =>
        string.IsNullOrEmpty(providedPostgres) ? [Chromium, PostgresServer] : [Chromium];

    /// <summary>The decision, apart from the machine: install when root with apt-get, otherwise one line on what to install.</summary>
    public static ProvisionPlan Plan(IReadOnlyList<Prerequisite> missing, bool isRoot, bool hasAptGet)
    {
        if (missing.Count == 0)
        {
            return ProvisionPlan.Nothing;
        }

        var packages = missing.Select(p => p.Package).ToList();
        if (isRoot && hasAptGet)
        {
            return new ProvisionPlan(packages, null);
        }

        var what = string.Join(" and ", missing.Select(p => p.What));
        var names = string.Join(' ', packages);
        var (why, how) = hasAptGet
            ? ("not root", $"sudo apt-get install {names}")
            : ("no apt-get", $"install Debian's {names} or your system's equivalent");
        return new ProvisionPlan([], $"{Prefix}skipping the tests that need {what}: missing, and not installable here ({why}); to run them: {how}");
    }

    // Lines go to TestContext.Error: dotnet test shows it at its default verbosity, TestContext.Progress only with a console logger at normal.
    private static Outcome Provision()
    {
        var missing = Required(Environment.GetEnvironmentVariable("TRACKER_TEST_POSTGRES")).Where(p => !p.IsInstalled()).ToList();
        var plan = Plan(missing, Environment.IsPrivilegedProcess, IsOnPath("apt-get"));
        if (plan.CannotInstall is not null)
        {
            TestContext.Error.WriteLine(plan.CannotInstall);
            return new Outcome(plan.CannotInstall, null);
        }

        if (plan.Install.Count == 0)
        {
            return new Outcome(null, null);
        }

        var names = string.Join(' ', plan.Install);
        TestContext.Error.WriteLine($"{Prefix}installing {names} with apt-get (missing: {string.Join(", ", missing.Select(p => p.What))}); once per test run, at most {InstallTimeout.TotalMinutes:0} minutes");
        var clock = Stopwatch.StartNew();
        var failure = Install(plan.Install, clock);
        TestContext.Error.WriteLine(failure is null
            ? $"{Prefix}installed {names} in {clock.Elapsed.TotalSeconds:0} s"
            : failure);
        return new Outcome(null, failure);
    }

    /// <summary>Runs apt-get update, then apt-get install; returns null on success, else why it failed.</summary>
    private static string? Install(IReadOnlyList<string> packages, Stopwatch clock)
    {
        // Waits for another apt-get or dpkg (an administrator's, or another test run's) instead of failing on its lock.
        string[] options = ["-o", "DPkg::Lock::Timeout=300", "-o", "Acquire::Retries=3"];

        // apt-get update does not wait for the lists lock: try again a little later.
        Result update = default;
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            update = Run("apt-get", [.. options, "-qq", "update"], InstallTimeout - clock.Elapsed);
            if (update.ExitCode == 0 || update.TimedOut)
            {
                break;
            }

            Thread.Sleep(TimeSpan.FromSeconds(10));
        }

        if (update.TimedOut)
        {
            return $"{Prefix}apt-get update timed out after {InstallTimeout.TotalMinutes:0} minutes: {update.Tail}";
        }

        // A failed update may still leave usable lists (a mirror down, a lock held by an update that succeeded): try the install.
        var install = Run("apt-get", [.. options, "install", "-y", "-qq", .. packages], InstallTimeout - clock.Elapsed);
        if (install.TimedOut)
        {
            return $"{Prefix}apt-get install {string.Join(' ', packages)} timed out after {InstallTimeout.TotalMinutes:0} minutes: {install.Tail}";
        }

        return install.ExitCode == 0
            ? null
            : $"{Prefix}apt-get install {string.Join(' ', packages)} failed (exit {install.ExitCode}): {install.Tail} {(update.ExitCode == 0 ? string.Empty : "apt-get update: " + update.Tail)}";
    }

    private static Result Run(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (timeout <= TimeSpan.Zero || !process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new Result(-1, true, Tail(output));
        }

        process.WaitForExit(); // drains the asynchronous readers
        return new Result(process.ExitCode, false, Tail(output));
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.Append(line).Append(' ');
        }
    }

    private static string Tail(StringBuilder output)
    {
        lock (output)
        {
            var text = output.ToString().Trim();
            return text.Length <= 600 ? text : "..." + text[^600..];
        }
    }

    public static bool IsOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => FileExists(Path.Combine(directory, program)));

    /// <summary>
    /// Whether the file exists, following symbolic links: File.Exists is true for a link whose
    /// target is gone, such as /usr/local/bin/initdb after the package was removed.
    /// </summary>
    public static bool FileExists(string path)
    {
        var file = new FileInfo(path);
        return file.Exists && (file.LinkTarget is null || file.ResolveLinkTarget(returnFinalTarget: true) is { Exists: true });
    }

    private readonly record struct Result(int ExitCode, bool TimedOut, string Tail);

    private sealed record Outcome(string? CannotInstall, string? Failure);
}
