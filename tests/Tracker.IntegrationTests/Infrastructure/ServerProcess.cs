using System.Diagnostics;
using System.Net.Http.Json;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// A real Tracker.Server process on 127.0.0.1 and a free port, over SQLite (a temporary file) or
/// PostgreSQL (a fresh database). Can be killed (SIGKILL) and started again on the same store.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly string _storageArgument;
    private readonly string _directory;
    private string[] _settings = [];
    private Process? _process;

    private ServerProcess(string storageArgument, string directory, int port)
    {
        _storageArgument = storageArgument;
        _directory = directory;
        Port = port;
        BaseUrl = new Uri($"http://127.0.0.1:{port}");
    }

    public int Port { get; }

    public Uri BaseUrl { get; }

    public string ApiKey { get; private set; } = string.Empty;

    /// <summary>The server process's resident memory (VmRSS in /proc), in bytes.</summary>
    public long WorkingSetBytes => ProcStatus("VmRSS:");

    /// <summary>The server process's peak resident memory (VmHWM in /proc), in bytes.</summary>
    public long PeakWorkingSetBytes => ProcStatus("VmHWM:");

    /// <summary>What the process printed on standard output, a line an item.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Output { get; } = new();

    public static string ServerDll => Path.Combine(AppContext.BaseDirectory, "Tracker.Server.dll");

    /// <summary>A server on a fresh database; <paramref name="settings"/> are more arguments, such as <c>--Tracker:MaxBodyBytes=1048576</c>.</summary>
    public static async Task<ServerProcess> StartAsync(string storage, params string[] settings)
    {
        var directory = Path.Combine(Path.GetTempPath(), "tracker-it", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var argument = storage == "postgres"
            ? $"--Tracker:Postgres={Postgres.NewDatabase()}"
            : $"--Tracker:Sqlite={Path.Combine(directory, "tracker.db")}";
        var server = new ServerProcess(argument, directory, Postgres.FreePort()) { _settings = settings };
        server.ApiKey = await server.CreateKeyAsync("tests");
        await server.StartAsync();
        return server;
    }

    /// <summary>A second server process on the same database (stateless servers behind one balancer).</summary>
    public async Task<ServerProcess> StartTwinAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), "tracker-it", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var twin = new ServerProcess(_storageArgument, directory, Postgres.FreePort()) { ApiKey = ApiKey };
        await twin.StartAsync();
        return twin;
    }

    /// <summary>Runs <c>keys create</c> against the same store and returns the secret it printed.</summary>
    public async Task<string> CreateKeyAsync(string name, string? project = null, bool readOnly = false)
    {
        var args = new List<string> { "keys", "create", "--name", name, _storageArgument };
        if (project is not null)
        {
            args.AddRange(["--project", project]);
        }

        if (readOnly)
        {
            args.Add("--read-only");
        }

        var (exit, output, error) = await RunServerCommandAsync(args);
        Assert.That(exit, Is.Zero, error);
        return output.Trim();
    }

    /// <summary>A number the store's database answers directly, such as a count of rows (what no API shows any more).</summary>
    public async Task<long> ScalarAsync(string sql)
    {
        var value = _storageArgument[(_storageArgument.IndexOf('=', StringComparison.Ordinal) + 1)..];
        await using System.Data.Common.DbConnection connection = _storageArgument.StartsWith("--Tracker:Postgres=", StringComparison.Ordinal)
            ? new Npgsql.NpgsqlConnection(value)
            : new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={value}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task RevokeKeyAsync(string name)
    {
        var (exit, _, error) = await RunServerCommandAsync(["keys", "revoke", "--name", name, _storageArgument]);
        Assert.That(exit, Is.Zero, error);
    }

    public async Task StartAsync()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (string[])[ServerDll, "--urls", BaseUrl.ToString().TrimEnd('/'), _storageArgument, .. _settings])
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                Output.Enqueue(line);
            }
        };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            Assert.That(_process.HasExited, Is.False, "the server process exited at start-up");
            try
            {
                var health = await http.GetFromJsonAsync<Dictionary<string, string>>("/health");
                if (health?["status"] == "ok")
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        Assert.Fail("the server did not answer /health within 60 s");
    }

    /// <summary>SIGKILL: no shutdown code runs, as in a crash.</summary>
    public void Kill()
    {
        _process?.Kill();
        _process?.WaitForExit();
        _process?.Dispose();
        _process = null;
    }

    public HttpClient Client(string? key = null)
    {
        var client = new HttpClient { BaseAddress = BaseUrl };
        if ((key ?? ApiKey) is { Length: > 0 } bearer)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await Task.Yield();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Runs the server with <paramref name="settings"/> on a fresh SQLite file, for settings that must stop it at start.</summary>
    public static async Task<(int Exit, string Output, string Error)> RunWithSettingsAsync(params string[] settings)
    {
        var directory = Path.Combine(Path.GetTempPath(), "tracker-it", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var server = new ServerProcess($"--Tracker:Sqlite={Path.Combine(directory, "tracker.db")}", directory, Postgres.FreePort());
        await using (server)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            return await server.RunServerCommandAsync(["--urls", server.BaseUrl.ToString().TrimEnd('/'), server._storageArgument, .. settings], timeout.Token);
        }
    }

    private long ProcStatus(string field)
    {
        var line = File.ReadLines($"/proc/{_process!.Id}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024; // kB
    }

    private async Task<(int Exit, string Output, string Error)> RunServerCommandAsync(IEnumerable<string> args, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(ServerDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw;
        }

        return (process.ExitCode, await output, await error);
    }
}
