using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Tracker.Server;

namespace Tracker.Cli.Commands;

/// <summary><c>tracker serve</c> and <c>tracker keys</c>: the server, hosted in this process.</summary>
internal static class ServeCommand
{
    private static readonly Option<string?> Db = new("--db") { Description = "SQLite database file (default: tracker.db in the current folder)." };
    private static readonly Option<string?> Postgres = new("--postgres") { Description = "PostgreSQL connection string (Npgsql format) instead of SQLite." };

    public static Command Create()
    {
        var urls = new Option<string?>("--urls") { Description = "Where to listen (default http://127.0.0.1:5080)." };
        var command = new Command("serve", "Run the Tracker server: the ingest and read API and the web UI.") { Db, Postgres, urls };
        command.SetAction(async (result, cancellationToken) =>
        {
            var app = await ServerApp.BuildAsync(ServerArgs(result.GetValue(Db), result.GetValue(Postgres), result.GetValue(urls)));
            await StartAsync(app, result.GetValue(urls) ?? string.Join(", ", app.Urls), cancellationToken);
            Console.WriteLine($"Tracker server listening on {string.Join(", ", app.Urls)} ({ServerApp.StorageKind(app)}); Ctrl+C stops it.");
            foreach (var line in ReachableAt(app.Urls))
            {
                Console.WriteLine(line);
            }

            await app.WaitForShutdownAsync(cancellationToken);
            return CliExit.Success;
        });
        return command;
    }

    public static Command CreateKeys()
    {
        var name = new Option<string>("--name") { Description = "The key's name.", Required = true };
        var project = new Option<string?>("--project") { Description = "Limit the key to one project (default: all)." };
        var readOnly = new Option<bool>("--read-only") { Description = "A key that may read but never write: no ingest, edits or deletes (403)." };
        var create = new Command("create", "Create an API key and print it (once).") { name, project, readOnly, Db, Postgres };
        create.SetAction((r, _) => KeysAsync(r, [
            "create", "--name", r.GetValue(name)!,
            .. r.GetValue(project) is { } scope ? (string[])["--project", scope] : [],
            .. r.GetValue(readOnly) ? (string[])["--read-only"] : []]));
        var list = new Command("list", "List the keys (names and scopes; secrets are never stored).") { Db, Postgres };
        list.SetAction((r, _) => KeysAsync(r, ["list"]));
        var revokeName = new Option<string>("--name") { Description = "The key's name.", Required = true };
        var revoke = new Command("revoke", "Revoke a key: requests with it get 401 from then on.") { revokeName, Db, Postgres };
        revoke.SetAction((r, _) => KeysAsync(r, ["revoke", "--name", r.GetValue(revokeName)!]));
        return new Command("keys", "Create, list and revoke the server's API keys.") { create, list, revoke };
    }

    /// <summary>The server's own arguments for a SQLite file or a PostgreSQL database, and where to listen.</summary>
    public static string[] ServerArgs(string? db, string? postgres, string? urls)
    {
        if (db is not null && postgres is not null)
        {
            throw new UsageException("Give --db or --postgres, not both.");
        }

        var args = new List<string>();
        if (postgres is not null)
        {
            args.Add($"--Tracker:Postgres={postgres}");
        }
        else if (db is not null)
        {
            args.Add($"--Tracker:Sqlite={Path.GetFullPath(db)}");
        }

        if (urls is not null)
        {
            args.Add($"--urls={urls}");
        }

        args.Add("--Logging:LogLevel:Default=Warning");
        if (Environment.GetEnvironmentVariable("TRACKER_DEBUG") != "1")
        {
            // A failed start (a port in use) is thrown and told in one line; the host would also log it with a stack trace.
            args.Add("--Logging:LogLevel:Microsoft.Extensions.Hosting=None");
        }

        return [.. args];
    }

    /// <summary>Starts the server; an address it cannot listen on (in use, not this machine's) is one line, exit code 1.</summary>
    public static async Task StartAsync(WebApplication app, string urls, CancellationToken cancellationToken)
    {
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (IOException ex)
        {
            throw new CliException($"Cannot listen on {urls}: {ex.Message} Is another tracker ui or server running? Choose another address with --urls.", ex);
        }
    }

    /// <summary>
    /// The URLs to open in a browser for the addresses the server listens on: a wildcard address
    /// (<c>0.0.0.0</c>, <c>[::]</c>, <c>*</c>, <c>+</c>) is no address to browse to, so it becomes
    /// 127.0.0.1 here and this machine's name elsewhere.
    /// </summary>
    public static IReadOnlyList<string> BrowseUrls(IEnumerable<string> listening) =>
        [.. listening.Select(BindingAddress.Parse).Select(a => IsWildcard(a.Host) ? $"{a.Scheme}://127.0.0.1:{a.Port}/" : $"{a.Scheme}://{a.Host}:{a.Port}/").Distinct()];

    /// <summary>For a server listening on every interface, a line naming the URL other machines use.</summary>
    public static IEnumerable<string> ReachableAt(IEnumerable<string> listening) =>
        listening.Select(BindingAddress.Parse).Where(a => IsWildcard(a.Host))
            .Select(a => $"Listening on every interface ({a.Scheme}://{a.Host}:{a.Port}): from another machine open {a.Scheme}://{Dns.GetHostName()}:{a.Port}/ (or this machine's address).")
            .Distinct();

    private static bool IsWildcard(string host) =>
        host is "*" or "+" or "0.0.0.0" or "[::]" or "::" || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)));

    private static async Task<int> KeysAsync(ParseResult result, string[] verb)
    {
        var app = await ServerApp.BuildAsync(ServerArgs(result.GetValue(Db), result.GetValue(Postgres), urls: null));
        return await ServerApp.KeysAsync(app, ["keys", .. verb], Console.Out, Console.Error);
    }
}
