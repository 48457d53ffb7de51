using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// The PostgreSQL cluster the tests use: TRACKER_TEST_POSTGRES when it names one, otherwise a
/// throw-away cluster this class starts (postgres.sh) and stops when the test run ends, after
/// <see cref="Prerequisites"/> installed the server binaries if they were missing.
/// </summary>
internal static class Postgres
{
    private static readonly Lazy<string> Cluster = new(Start);
    private static string? _ownDirectory;
    private static int _database;

    /// <summary>A fresh, empty database on the cluster, so tests never see each other's rows.</summary>
    public static string NewDatabase()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("TRACKER_TEST_POSTGRES")))
        {
            Prerequisites.Require(Prerequisites.PostgresServer);
        }

        var server = Cluster.Value;
        var name = $"t{Environment.ProcessId}_{Interlocked.Increment(ref _database)}";
        using (var connection = new Npgsql.NpgsqlConnection(server))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"CREATE DATABASE {name}";
            command.ExecuteNonQuery();
        }

        return new Npgsql.NpgsqlConnectionStringBuilder(server) { Database = name }.ToString();
    }

    /// <summary>initdb where postgres.sh looks for it: Debian's /usr/lib/postgresql/VERSION/bin, or the PATH.</summary>
    public static bool HasServerBinaries() =>
        (Directory.Exists("/usr/lib/postgresql")
            && Directory.EnumerateDirectories("/usr/lib/postgresql").Any(version => Prerequisites.FileExists(Path.Combine(version, "bin", "initdb"))))
        || Prerequisites.IsOnPath("initdb");

    public static void StopOwnCluster()
    {
        if (_ownDirectory is not null)
        {
            Script("stop", _ownDirectory);
        }
    }

    private static string Start()
    {
        if (Environment.GetEnvironmentVariable("TRACKER_TEST_POSTGRES") is { Length: > 0 } provided)
        {
            return provided;
        }

        _ownDirectory = Path.Combine(Path.GetTempPath(), $"tracker-pg-{Guid.NewGuid():N}");
        return Script("start", _ownDirectory, FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture)).Trim();
    }

    private static string Script(params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "postgres.sh"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"Could not {args[0]} a PostgreSQL cluster (postgres.sh exit {process.ExitCode}): {error} "
                + "Install the PostgreSQL server binaries (apt-get install postgresql) or set TRACKER_TEST_POSTGRES to a connection string.");
        }

        return output;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

