using System.CommandLine;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Tracker.Online;
using Tracker.Reading;
using Tracker.Server;
using Tracker.Server.Ingest;

namespace Tracker.Cli.Commands;

/// <summary>
/// <c>tracker ui [DIR]</c>: the shortest path from "I logged a run" to "I see charts". Starts the
/// server on a SQLite database in DIR, imports the runs found there through the server's
/// <see cref="IngestService"/>, in process (it stores each record at most once, so starting again
/// imports only what is new), keeps importing what running runs write, and prints the URL.
/// </summary>
internal static class UiCommand
{
    private static readonly TimeSpan ScanInterval = TimeSpan.FromSeconds(1);

    public static Command Create()
    {
        var (dir, dirOption) = LocalRuns.DirArgumentAndOption("Runs root");
        var urls = new Option<string>("--urls") { Description = "Where to listen.", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var command = new Command("ui", "Open the web UI on the runs in a local folder, and keep importing what they log.") { dir, dirOption, urls };
        command.SetAction((r, ct) => RunAsync(LocalRuns.Dir(r.GetValue(dir), r.GetValue(dirOption)), r.GetValue(urls)!, ct));
        return command;
    }

    private static async Task<int> RunAsync(string dir, string urls, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(dir))
        {
            throw new CliException($"{Path.GetFullPath(dir)} does not exist: log a run first (it goes to ./tracker-runs by default), or name the folder that holds your runs.");
        }

        var app = await ServerApp.BuildAsync(ServerCommandArgs(dir, urls));
        var ingest = app.Services.GetRequiredService<IngestService>();
        try
        {
            await ServeCommand.StartAsync(app, urls, cancellationToken);

            // Imported in process, not over HTTP: the listen address (0.0.0.0, say) need not be one a client can use.
            var imported = new Dictionary<string, (long Seq, DateTime RunFileWritten)>(StringComparer.Ordinal);
            var runs = await ImportAsync(dir, ingest, imported, cancellationToken);
            Console.WriteLine($"Tracker UI: {string.Join(" ", ServeCommand.BrowseUrls(app.Urls))} ({runs} runs from {Path.GetFullPath(dir)}; new record lines are imported as they are written). Ctrl+C stops it.");
            foreach (var line in ServeCommand.ReachableAt(app.Urls))
            {
                Console.WriteLine(line);
            }

            using var timer = new PeriodicTimer(ScanInterval);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await ImportAsync(dir, ingest, imported, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
        }

        return CliExit.Success;
    }

    private static string[] ServerCommandArgs(string dir, string urls) =>
        ServeCommand.ServerArgs(Path.Combine(dir, "tracker-ui.db"), postgres: null, urls);

    /// <summary>Stores each run's records that are new since the last scan, in process; returns the runs found.</summary>
    private static async Task<int> ImportAsync(string dir, IngestService ingest, Dictionary<string, (long Seq, DateTime RunFileWritten)> imported, CancellationToken cancellationToken)
    {
        var directories = RunReader.FindRuns(dir);
        foreach (var directory in directories)
        {
            long seq = 0;
            var written = DateTime.MinValue;
            try
            {
                seq = LocalRuns.LastSeq(directory);
                written = File.GetLastWriteTimeUtc(Path.Combine(directory, RunFiles.RunFile));
                if (imported.TryGetValue(directory, out var last) && last.Seq == seq && last.RunFileWritten == written)
                {
                    continue;
                }

                await ImportRunAsync(ingest, RunReader.Open(directory), cancellationToken);
                imported[directory] = (seq, written);
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or JsonException or IngestException)
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

    /// <summary>
    /// What a run's sender does over HTTP, done in process: upsert run.json, then the complete
    /// lines after the server's acked sequence number in bounded batches, each batch's image and
    /// table files stored before it (a file that is missing is left out; its record still goes).
    /// </summary>
    private static async Task ImportRunAsync(IngestService ingest, RunReader reader, CancellationToken cancellationToken)
    {
        var (project, runId) = (reader.Info.Project, reader.Info.Id);
        var acked = await ingest.UpsertRunAsync(project, runId, reader.ReadRunJson(), cancellationToken);
        var batch = new MemoryStream();
        var lines = 0;
        foreach (var record in reader.ReadRecords(afterSeq: acked))
        {
            if (record.Type == "media")
            {
                await StoreMediaFileAsync(ingest, project, reader.Directory, record.Json, cancellationToken);
            }

            var bytes = Encoding.UTF8.GetBytes(record.Json);
            batch.Write(bytes);
            batch.WriteByte((byte)'\n');
            if (++lines >= RunSync.MaxBatchLines || batch.Length >= RunSync.MaxBatchBytes)
            {
                await ingest.AppendAsync(project, runId, batch.GetBuffer().AsMemory(0, (int)batch.Length), cancellationToken);
                batch.SetLength(0);
                lines = 0;
            }
        }

        if (lines > 0)
        {
            await ingest.AppendAsync(project, runId, batch.GetBuffer().AsMemory(0, (int)batch.Length), cancellationToken);
        }
    }

    private static async Task StoreMediaFileAsync(IngestService ingest, string project, string directory, string line, CancellationToken cancellationToken)
    {
        using var json = JsonDocument.Parse(line);
        if (json.RootElement.TryGetProperty("media", out var media) && media.ValueKind == JsonValueKind.Object
            && media.TryGetProperty("sha256", out var sha) && sha.ValueKind == JsonValueKind.String && sha.GetString() is { Length: 64 } sha256
            && media.TryGetProperty("path", out var relative) && relative.ValueKind == JsonValueKind.String && RunFiles.PathIn(directory, relative.GetString()) is { } path
            && File.Exists(path) && !await ingest.HasBlobAsync(project, sha256, cancellationToken))
        {
            await ingest.PutBlobAsync(project, sha256, RunFiles.ContentType(path), await File.ReadAllBytesAsync(path, cancellationToken), cancellationToken);
        }
    }
}
