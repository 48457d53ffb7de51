using System.Globalization;
using Microsoft.Extensions.FileProviders;
using Tracker.Server.Api;
using Tracker.Server.Ingest;
using Tracker.Server.Storage;

namespace Tracker.Server;

/// <summary>
/// The server as an application: built from ASP.NET Core arguments and configuration, its store
/// migrated. Program runs it; <c>tracker serve</c> and <c>tracker ui</c> host the same in their process.
/// </summary>
internal static class ServerApp
{
    /// <summary>Builds the server (not started) and migrates its store.</summary>
    public static async Task<WebApplication> BuildAsync(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
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
}
