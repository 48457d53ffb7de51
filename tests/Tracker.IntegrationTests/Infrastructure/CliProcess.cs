using System.Collections.Concurrent;
using System.Diagnostics;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>What one <c>tracker</c> command did.</summary>
internal sealed record CliResult(int ExitCode, string Output, string Error)
{
    /// <summary>The first line of standard error: where a usage or failure message belongs.</summary>
    public string FirstErrorLine => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? string.Empty;

    public override string ToString() => $"exit code {ExitCode}\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}";
}

/// <summary>
/// The <c>tracker</c> command (Tracker.Cli.dll in the test output) as a child process. The child
/// gets no TRACKER_* variable from the test environment unless a test passes one, so what it does
/// depends only on its arguments.
/// </summary>
internal sealed class CliProcess : IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentQueue<string> _error = new();

    private CliProcess(Process process)
    {
        _process = process;
    }

    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "Tracker.Cli.dll");

    public string Output => string.Join('\n', _output);

    /// <summary>The process id, to send it a signal.</summary>
    public int Pid => _process.Id;

    public string Error => string.Join('\n', _error);

    /// <summary>Runs a command to its end, or kills it after <paramref name="timeout"/> and fails the test.</summary>
    /// <param name="args">The command's arguments.</param>
    /// <param name="environment">Variables set in the child's environment.</param>
    /// <param name="timeout">How long it may take.</param>
    /// <param name="workingDirectory">Where it runs (default: the temp folder).</param>
    /// <param name="input">What it reads on standard input, then end of file (default: the test's own, not redirected).</param>
    public static async Task<CliResult> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null,
        string? workingDirectory = null, string? input = null)
    {
        var start = StartInfo(args, environment);
        start.WorkingDirectory = workingDirectory ?? start.WorkingDirectory;
        start.RedirectStandardInput = input is not null;
        using var process = Process.Start(start)!;
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }

        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"tracker {string.Join(' ', args)} did not end within {(timeout ?? DefaultTimeout).TotalSeconds:N0} s\n--- stdout ---\n{await output}\n--- stderr ---\n{await error}");
        }

        return new CliResult(process.ExitCode, await output, await error);
    }

    /// <summary>Starts a long-running command (<c>tracker ui</c>), collecting its output line by line.</summary>
    public static CliProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var process = Process.Start(StartInfo(args, environment))!;
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                cli._output.Enqueue(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                cli._error.Enqueue(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    /// <summary>Waits until standard output has a line that matches, and returns it; fails the test if the process exits first or time runs out.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_output.FirstOrDefault(match) is { } line)
            {
                return line;
            }

            if (_process.HasExited)
            {
                Assert.Fail($"tracker exited with code {_process.ExitCode} before printing the line awaited\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}");
            }

            await Task.Delay(50);
        }

        Assert.Fail($"tracker did not print the line awaited within {timeout.TotalSeconds:N0} s\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}");
        return string.Empty;
    }

    /// <summary>Waits for the process to exit and returns its exit code; fails the test if time runs out.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"tracker did not exit within {timeout.TotalSeconds:N0} s\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}");
        }

        await _process.WaitForExitAsync(); // the output read to its end
        return _process.ExitCode;
    }

    /// <summary>SIGKILL, as a closed terminal or a crash would.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
            StandardErrorEncoding = System.Text.Encoding.UTF8,

            // Not the test's folder: a command that falls back to ./tracker-runs finds nothing there.
            WorkingDirectory = Path.GetTempPath(),
        };
        start.ArgumentList.Add(CliDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("TRACKER_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        // No COLUMNS=200: Spectre.Console ignores it when output is redirected and draws tables 80
        // columns wide, so CliTable reads them and joins the cells that wrap.
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return start;
    }
}
