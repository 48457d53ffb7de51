using Tracker.Internal;

namespace Tracker.Online;

/// <summary>
/// Uploads the files that a batch's image and table records name and the server lacks, before the
/// records go: the server then never holds a record whose file is still on its way. A file it
/// refuses, or one gone from the run directory, is reported and left out; its record still goes.
/// Remembers what the server has, so each file is asked about once per sender.
/// </summary>
/// <param name="client">The server.</param>
/// <param name="project">The run's project, which owns the files on the server.</param>
/// <param name="runId">The run, for messages.</param>
/// <param name="directory">The run directory the records' file names are relative to.</param>
/// <param name="diagnostics">Where a file left out is reported.</param>
internal sealed class BlobUploader(TrackerHttpClient client, string project, string runId, string directory, DiagnosticsSink diagnostics)
{
    private static readonly byte[] MediaType = ",\"type\":\"media\","u8.ToArray();

    private readonly HashSet<string> _onServer = new(StringComparer.Ordinal);

    /// <summary>Uploads the files the lines name that the server does not have; transient failures are thrown.</summary>
    /// <param name="lines">Complete records.jsonl lines, each ending with a newline.</param>
    /// <param name="cancellationToken">Stops the uploads.</param>
    public async Task UploadAsync(ReadOnlyMemory<byte> lines, CancellationToken cancellationToken)
    {
        while (!lines.IsEmpty)
        {
            var end = lines.Span.IndexOf((byte)'\n');
            var line = lines[..end];
            lines = lines[(end + 1)..];
            if (line.Span.IndexOf(MediaType) is < 0 or > 32 || ReadMediaFile(line) is not { } file || _onServer.Contains(file.Sha256))
            {
                continue;
            }

            var path = file.Path;
            try
            {
                if (!await client.HasBlobAsync(project, file.Sha256, cancellationToken).ConfigureAwait(false))
                {
                    var content = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
                    await client.PutBlobAsync(project, file.Sha256, content, RunFiles.ContentType(path), cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or TrackerServerException { IsTransient: false } and not TrackerAuthException)
            {
                diagnostics.ReportRateLimited(new RunDiagnostic(DiagnosticLevel.Warning,
                    $"The media file {path} of run {runId} was not uploaded to {client.BaseUrl}: {ex.Message} Its record is sent without it.", ex));
            }

            _onServer.Add(file.Sha256);
        }
    }

    /// <summary>The file an image or table record names, with its full path, or null for other records.</summary>
    private (string Sha256, string Path)? ReadMediaFile(ReadOnlyMemory<byte> line) =>
        RecordReader.TryParse(line.Span, out var record, out _) && record is MediaLine { Media: { Sha256: { } sha256, Path: { } relative } }
            && RunFiles.PathIn(directory, relative) is { } path
            ? (sha256, path)
            : null;
}
