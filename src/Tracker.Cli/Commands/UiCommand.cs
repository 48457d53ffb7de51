using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Tracker.Internal;
using Tracker.Online;
using Tracker.Reading;
using Tracker.Server;
using Tracker.Server.Api;
using Tracker.Server.Storage;

namespace Tracker.Cli.Commands;

/// <summary>
/// <c>tracker ui [DIR]</c>: the shortest path from "I logged a run" to "I see charts". Starts the
/// server on a SQLite database in DIR, imports the runs found there (the server stores each record
/// at most once, so starting again imports only what is new), keeps importing what running runs
/// write, and prints the URL.
/// </summary>
internal static class UiCommand
{
    private static readonly TimeSpan ScanInterval = TimeSpan.FromSeconds(1);

    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "Runs root (default ./tracker-runs).", DefaultValueFactory = _ => LocalRuns.DefaultDir };
        var urls = new Option<string>("--urls") { Description = "Where to listen.", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var command = new Command("ui", "Open the web UI on the runs in a local folder, and keep importing what they log.") { dir, urls };
        command.SetAction((r, ct) => RunAsync(r.GetValue(dir)!, r.GetValue(urls)!, ct));
        return command;
    }

    private static async Task<int> RunAsync(string dir, string urls, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(dir))
        {
            throw new CliException($"{Path.GetFullPath(dir)} does not exist: log a run first (it goes to ./tracker-runs by default), or name the folder that holds your runs.");
        }

        var app = await ServerApp.BuildAsync(ServerCommandArgs(dir, urls));
        var store = app.Services.GetRequiredService<SqlRunStore>();

        // A key of its own for importing, revoked when the UI stops.
        var keyName = $"tracker-ui-{Guid.NewGuid():N}";
        var secret = ApiKeys.NewSecret();
        await store.CreateKeyAsync(new ApiKey(keyName, null, ApiKeys.Hash(secret), DateTimeOffset.UtcNow, null), cancellationToken);
        try
        {
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (IOException ex)
            {
                throw new CliException($"Cannot listen on {urls}: {ex.Message} Is another tracker ui or server running? Choose another address with --urls.");
            }

            var url = new Uri(app.Urls.First());
            var imported = new Dictionary<string, (long Seq, DateTime RunFileWritten)>(StringComparer.Ordinal);
            var runs = await ImportAsync(dir, url, secret, imported, cancellationToken);
            Console.WriteLine($"Tracker UI: {url} ({runs} runs from {Path.GetFullPath(dir)}; new records are imported as they are written). Ctrl+C stops it.");
            using var timer = new PeriodicTimer(ScanInterval);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await ImportAsync(dir, url, secret, imported, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            await store.RevokeKeyAsync(keyName, DateTimeOffset.UtcNow, CancellationToken.None);
            await app.StopAsync(CancellationToken.None);
        }

        return CliExit.Success;
    }

    private static string[] ServerCommandArgs(string dir, string urls) =>
        ServeCommand.ServerArgs(Path.Combine(dir, "tracker-ui.db"), postgres: null, urls);

    /// <summary>Sends each run's records that are new since the last scan; returns the runs found.</summary>
    private static async Task<int> ImportAsync(string dir, Uri url, string key, Dictionary<string, (long Seq, DateTime RunFileWritten)> imported, CancellationToken cancellationToken)
    {
        var directories = RunReader.FindRuns(dir);
        foreach (var directory in directories)
        {
            var seq = LocalRuns.LastSeq(directory);
            var written = File.GetLastWriteTimeUtc(Path.Combine(directory, RunFiles.RunFile));
            if (imported.TryGetValue(directory, out var last) && last.Seq == seq && last.RunFileWritten == written)
            {
                continue;
            }

            try
            {
                var reader = RunReader.Open(directory);
                using var client = TrackerHttpClient.Create(new RunOptions { BaseUrl = url, ApiKey = key });
                var sender = new RunSender(client, reader.Info, directory, seq, new DiagnosticsSink(hook: _ => { }, output: null), TimeProvider.System, keepCursor: false);
                await sender.UploadAsync(finished: false, progress: null, cancellationToken);
                imported[directory] = (seq, written);
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or TrackerServerException)
            {
                if (!imported.ContainsKey(directory))
                {
                    await Console.Error.WriteLineAsync($"tracker: skipped {directory}: {ex.Message}");
                }

                imported[directory] = (seq, written); // reported once; tried again when it changes
            }
        }

        return directories.Count;
    }
}
