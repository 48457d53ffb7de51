using System.Diagnostics;
using System.Globalization;

namespace Tracker.Tests;

/// <summary>Starts <c>Tracker.TestApp</c>, a training program in a process of its own (see its Program.cs for the scenarios).</summary>
internal static class TestApp
{
    public static ProcessStartInfo Start(string root, string scenario, int steps, string? id = null)
    {
        var app = Path.Combine(TestContext.CurrentContext.TestDirectory, "..", "..", "..", "..", "Tracker.TestApp", "bin",
            Path.GetFileName(Path.GetDirectoryName(TestContext.CurrentContext.TestDirectory.TrimEnd('/'))!), "net10.0", "Tracker.TestApp.dll");
        Assert.That(File.Exists(app), Is.True, $"test app not built at {app}");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in new[] { app, scenario, root, steps.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }

        if (id is not null)
        {
            start.ArgumentList.Add(id);
        }

        // The tests' own settings must not leak into the program (an online run, another directory).
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("TRACKER_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        return start;
    }

    /// <summary>Sends a signal with the system's <c>kill</c> command, as a user or a scheduler would.</summary>
    public static void Signal(Process process, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.That(kill.ExitCode, Is.Zero, $"kill -{signal} {process.Id} failed");
    }

    /// <summary>Reads lines until <paramref name="expected"/>, failing after a minute.</summary>
    public static async Task WaitForLineAsync(Process process, string expected)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line == expected)
            {
                return;
            }
        }

        Assert.Fail($"the program ended before printing '{expected}': {await process.StandardError.ReadToEndAsync()}");
    }
}
