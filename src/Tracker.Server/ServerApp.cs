using System.Globalization;
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

        var options = builder.Configuration.GetSection("Tracker").Get<ServerOptions>() ?? new ServerOptions();
        builder.Services.Configure<ServerOptions>(builder.Configuration.GetSection("Tracker"));
        builder.Services.AddSingleton(TimeProvider.System);
        var store = new SqlRunStore(options.Postgres is { Length: > 0 } postgres
            ? new PostgresDialect(postgres)
            : new SqliteDialect(Path.GetFullPath(options.Sqlite)));
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(services => new IngestService(store, services.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(services => new ApiKeyCache(store.Keys, services.GetRequiredService<TimeProvider>(), options.KeyCacheDuration));
        builder.Services.AddProblemDetails();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = options.MaxBodyBytes);
        configure?.Invoke(builder);

        var app = builder.Build();
        await store.MigrateAsync(CancellationToken.None);

        app.UseExceptionHandler();
        app.UseStatusCodePages();

        // The web UI: its files are compiled into the server, so it works from any folder and with no network.
        var ui = new EmbeddedFileProvider(typeof(ServerApp).Assembly, "Tracker.Server.wwwroot");
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = ui });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = ui });
        IngestEndpoints.Map(app);
        ReadEndpoints.Map(app);
        app.MapGet("/health", () => Results.Ok(new { status = "ok", storage = store.Kind }));
        return app;
    }

    /// <summary>What <c>Tracker.Server</c> does with its arguments: the keys command, or serve until stopped.</summary>
    /// <param name="args">The server's command line.</param>
    /// <returns>The process exit code.</returns>
    public static async Task<int> RunAsync(string[] args)
    {
        var app = await BuildAsync(args);
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
    /// Manages the API keys of a built server's store: <c>keys create --name N [--project P]</c>
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
