using System.Globalization;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.FileProviders;
using Tracker.Server.Api;
using Tracker.Server.Ingest;
using Tracker.Server.Storage;

namespace Tracker.Server;

/// <summary>
/// The server as an application: built from ASP.NET Core arguments and configuration, its store
/// migrated. Program runs it; <c>tracker serve</c> and <c>tracker ui</c> host the same in their process.
/// </summary>
public static class ServerApp
{
    /// <summary>Builds the server (not started) and migrates its store.</summary>
    /// <param name="args">ASP.NET Core arguments: <c>--urls</c>, <c>--Tracker:Sqlite=FILE</c>, <c>--Tracker:Postgres=CONNECTION</c> and the rest of the <c>Tracker</c> section.</param>
    /// <param name="configure">Changes to the builder before the application is built (tests, hosting).</param>
    /// <returns>The application, its store ready; its services include the <see cref="IngestService"/>.</returns>
    /// <exception cref="SettingsException">A <c>Tracker</c> setting is not valid (an unknown <c>ReadAccess</c>, say).</exception>
    public static async Task<WebApplication> BuildAsync(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);

        // As ASP.NET Core's project templates do, unless configured otherwise: no six lines of
        // Information log for every request (a server taking 100 live runs would print 600 a second).
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning" },
        });
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls("http://127.0.0.1:5080"); // loopback unless told otherwise
        }

        var options = ReadOptions(builder.Configuration.GetSection("Tracker"));

        builder.Services.Configure<ServerOptions>(builder.Configuration.GetSection("Tracker"));
        builder.Services.PostConfigure<ServerOptions>(o => o.Validate());
        builder.Services.Configure<ForwardedHeadersOptions>(forwarded =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear(); // only the listed proxies, not the default loopback
            foreach (var proxy in options.TrustedProxies)
            {
                forwarded.KnownProxies.Add(System.Net.IPAddress.Parse(proxy));
            }
        });
        builder.Services.AddSingleton(TimeProvider.System);
        var store = new SqlRunStore(options.Postgres is { Length: > 0 } postgres
            ? new PostgresDialect(postgres)
            : new SqliteDialect(Path.GetFullPath(options.Sqlite)));
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(services => new IngestService(store, services.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(new Mlflow.MlflowStore(store));
        builder.Services.AddSingleton(services => new Mlflow.MlflowWriter(services.GetRequiredService<IngestService>(), services.GetRequiredService<Mlflow.MlflowStore>(), services.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(services => new ApiKeyCache(store.Keys, services.GetRequiredService<TimeProvider>(), options.KeyCacheDuration));
        builder.Services.AddProblemDetails();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = options.MaxBodyBytes);
        configure?.Invoke(builder);

        var app = builder.Build();
        await store.MigrateAsync(CancellationToken.None);

        if (options.TrustedProxies.Length > 0)
        {
            app.UseForwardedHeaders();
        }

        app.UseExceptionHandler();
        app.UseStatusCodePages();

        // The web UI: its files are compiled into the server, so it works from any folder and with no network.
        var ui = new EmbeddedFileProvider(typeof(ServerApp).Assembly, "Tracker.Server.wwwroot");
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = ui });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = ui });
        IngestEndpoints.Map(app);
        ReadEndpoints.Map(app);
        ViewEndpoints.MapWrites(app);
        RunEditEndpoints.Map(app);
        ApiKeys.MapViewer(app);
        Mlflow.MlflowEndpoints.Map(app);
        app.MapGet("/health", () => Results.Ok(new { status = "ok", storage = store.Kind }));
        return app;
    }

    /// <summary>Binds and checks the <c>Tracker</c> section, failing closed on anything it does not understand.</summary>
    /// <param name="section">The <c>Tracker</c> configuration section.</param>
    /// <returns>The valid settings, in canonical form.</returns>
    /// <exception cref="SettingsException">A setting is unknown, cannot be converted, or is not valid.</exception>
    private static ServerOptions ReadOptions(IConfigurationSection section)
    {
        // A misspelt or retired setting name (Tracker:ReadAcess=key) would otherwise be ignored and
        // leave the reads open; a value that does not convert would end the process with a stack trace.
        var known = typeof(ServerOptions).GetProperties().Select(p => p.Name).ToArray();
        var problems = section.GetChildren()
            .Where(setting => !known.Contains(setting.Key, StringComparer.OrdinalIgnoreCase))
            .Select(setting => $"Tracker:{setting.Key} is not a setting of this server; the settings are: {string.Join(", ", known)}.")
            .ToList();
        ServerOptions options;
        try
        {
            options = section.Get<ServerOptions>() ?? new ServerOptions();
        }
        catch (InvalidOperationException ex)
        {
            problems.Add(ex.InnerException is { } inner ? $"{ex.Message} {inner.Message}" : ex.Message);
            options = new ServerOptions();
        }

        problems.AddRange(options.Validate());
        return problems.Count > 0
            ? throw new SettingsException("The server's settings are not valid:" + Environment.NewLine + string.Join(Environment.NewLine, problems))
            : options;
    }

    /// <summary>What <c>Tracker.Server</c> does with its arguments: the keys command, or serve until stopped.</summary>
    /// <param name="args">The server's command line.</param>
    /// <returns>The process exit code: 2 when the settings are not valid.</returns>
    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication app;
        try
        {
            app = await BuildAsync(args);
        }
        catch (SettingsException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 2;
        }

        var store = app.Services.GetRequiredService<SqlRunStore>();
        var command = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        if (command.Length > 0 && command[0] == "keys")
        {
            return await KeysCommand.RunAsync(store, args, Console.Out, Console.Error);
        }

        app.Lifetime.ApplicationStarted.Register(() =>
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Tracker server listening on {string.Join(", ", app.Urls)} ({store.Kind})")));
        await app.RunAsync();
        return 0;
    }

    /// <summary>The kind of store a built server uses: <c>sqlite</c> or <c>postgres</c>.</summary>
    /// <param name="app">A server from <see cref="BuildAsync"/>.</param>
    /// <returns>The store's name.</returns>
    public static string StorageKind(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<SqlRunStore>().Kind;
    }

    /// <summary>
    /// Manages the API keys of a built server's store: <c>keys create --name N [--project P] [--read-only]</c>
    /// (prints the secret once), <c>keys list</c>, <c>keys revoke --name N</c>.
    /// </summary>
    /// <param name="app">A server from <see cref="BuildAsync"/>; it need not be started.</param>
    /// <param name="args">The keys command line, starting with <c>keys</c>.</param>
    /// <param name="output">Where the secret and listings go.</param>
    /// <param name="error">Where messages and usage go.</param>
    /// <returns>0 on success, 1 when the key exists or is not found, 2 for a usage error.</returns>
    public static Task<int> KeysAsync(WebApplication app, string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(app);
        return KeysCommand.RunAsync(app.Services.GetRequiredService<SqlRunStore>(), args, output, error);
    }
}

/// <summary>The server's settings are not valid; the message lists each problem and the valid values.</summary>
/// <param name="message">The problems.</param>
public sealed class SettingsException(string message) : InvalidOperationException(message);
