using System.Runtime.CompilerServices;
using System.Text.Json;
using Tracker.Reading;

namespace Tracker.Api;

/// <summary>
/// A run on a Tracker server as it was when read (W&amp;B's <c>Run</c> of <c>wandb.Api()</c>): its
/// metadata, config and summary, with its history and media read from the server on demand.
/// Values keep their type: integers are <see cref="long"/> (or <see cref="ulong"/> above
/// <see cref="long.MaxValue"/>), doubles <see cref="double"/> with NaN and infinities, text, booleans
/// and lists, as the run format reads them (docs/format.md, "Values").
/// </summary>
public sealed class ApiRun
{
    private const int MaxExportPage = 100_000;
    private readonly TrackerApi _api;

    private ApiRun(TrackerApi api, RunInfo info, IReadOnlyDictionary<string, object?> summary, bool archived)
    {
        _api = api;
        Info = info;
        Summary = summary;
        Archived = archived;
    }

    /// <summary>The run's metadata as its run.json holds it, with the name, tags, state and config the server shows (users' edits included).</summary>
    public RunInfo Info { get; }

    /// <summary>The project.</summary>
    public string Project => Info.Project;

    /// <summary>The run's id.</summary>
    public string Id => Info.Id;

    /// <summary>The display name.</summary>
    public string Name => Info.Name;

    /// <summary>One of <see cref="RunStates"/>, <see cref="RunStates.Crashed"/> when the server stopped hearing from a running run.</summary>
    public string State => Info.State;

    /// <summary>The config, flattened into <c>a/b</c> keys.</summary>
    public IReadOnlyDictionary<string, object?> Config => Info.Config;

    /// <summary>The summary: each metric's value by its definition (last by default) and the run's summary overrides.</summary>
    public IReadOnlyDictionary<string, object?> Summary { get; }

    /// <summary>Whether the run is archived (hidden from the runs list unless asked for).</summary>
    public bool Archived { get; }

    /// <summary>The keys of the run's history (metrics and system metrics), in the server's order.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The keys.</returns>
    /// <exception cref="TrackerApiException">The server could not be reached or refused the read; the run is gone.</exception>
    public async Task<IReadOnlyList<string>> GetHistoryKeysAsync(CancellationToken cancellationToken = default)
    {
        using var answer = await _api.GetJsonAsync(TrackerApi.RunPath(Project, Id) + "/metrics", Project, Id, cancellationToken).ConfigureAwait(false);
        return answer.Json.RootElement.EnumerateArray().Select(m => m.GetProperty("key").GetString()!).ToList();
    }

    /// <summary>
    /// Every logged value of one metric in step order, read a page at a time as the caller iterates
    /// (W&amp;B's <c>scan_history(keys=[key])</c>).
    /// </summary>
    /// <param name="key">The metric key, such as <c>train/loss</c>.</param>
    /// <param name="pageSize">Points per request, 1 to 100,000.</param>
    /// <param name="cancellationToken">Cancels the iteration.</param>
    /// <returns>The points; none for a key the run never logged.</returns>
    /// <exception cref="TrackerApiException">The server could not be reached or refused the read; the run is gone.</exception>
    public async IAsyncEnumerable<MetricPoint> GetHistoryAsync(string key, int pageSize = 10_000, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, MaxExportPage);
        long? after = null;
        do
        {
            var path = $"{TrackerApi.RunPath(Project, Id)}/export?key={Uri.EscapeDataString(key)}&limit={pageSize}{(after is { } a ? $"&after_step={a}" : string.Empty)}";
            List<MetricPoint> page;
            using (var answer = await _api.GetJsonAsync(path, Project, Id, cancellationToken).ConfigureAwait(false))
            {
                var root = answer.Json.RootElement;
                page = root.GetProperty("points").EnumerateArray().Select(p => new MetricPoint(
                    p[0].GetInt64(),
                    DateTimeOffset.FromUnixTimeMilliseconds(p[1].GetInt64()),
                    Value(p[2]))).ToList();
                after = root.TryGetProperty("next_after_step", out var next) && next.ValueKind == JsonValueKind.Number ? next.GetInt64() : null;
            }

            foreach (var point in page)
            {
                yield return point;
            }
        }
        while (after is not null);
    }

    /// <summary>
    /// The run's history as rows, one per step in step order, each with the values of
    /// <paramref name="keys"/> logged at that step (W&amp;B's <c>scan_history()</c>): each key is
    /// read a page at a time and the rows are merged by step, so any length of history streams in bounded memory.
    /// </summary>
    /// <param name="keys">The keys to read; null for all of <see cref="GetHistoryKeysAsync"/>.</param>
    /// <param name="cancellationToken">Cancels the iteration.</param>
    /// <returns>Rows whose <see cref="HistoryRow.Values"/> hold <see cref="double"/>s; a row's time is its first value's.</returns>
    /// <exception cref="TrackerApiException">The server could not be reached or refused the read; the run is gone.</exception>
    public async IAsyncEnumerable<HistoryRow> GetHistoryRowsAsync(IEnumerable<string>? keys = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var names = keys?.ToList() ?? [.. await GetHistoryKeysAsync(cancellationToken).ConfigureAwait(false)];
        var cursors = new List<(string Key, IAsyncEnumerator<MetricPoint> Points)>();
        try
        {
            foreach (var key in names.Distinct(StringComparer.Ordinal))
            {
                var points = GetHistoryAsync(key, cancellationToken: cancellationToken).GetAsyncEnumerator(cancellationToken);
                if (await points.MoveNextAsync().ConfigureAwait(false))
                {
                    cursors.Add((key, points));
                }
                else
                {
                    await points.DisposeAsync().ConfigureAwait(false);
                }
            }

            while (cursors.Count > 0)
            {
                var step = cursors.Min(c => c.Points.Current.Step);
                var values = new Dictionary<string, object?>(StringComparer.Ordinal);
                DateTimeOffset? time = null;
                for (var i = cursors.Count - 1; i >= 0; i--)
                {
                    var (key, points) = cursors[i];
                    if (points.Current.Step != step)
                    {
                        continue;
                    }

                    values[key] = points.Current.Value;
                    time = time is { } t && t < points.Current.Timestamp ? t : points.Current.Timestamp;
                    if (!await points.MoveNextAsync().ConfigureAwait(false))
                    {
                        await points.DisposeAsync().ConfigureAwait(false);
                        cursors.RemoveAt(i);
                    }
                }

                yield return new HistoryRow(step, time!.Value, time.Value - Info.StartTime, values);
            }
        }
        finally
        {
            foreach (var (_, points) in cursors)
            {
                await points.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The run's media, every key or one, in step order per key.</summary>
    /// <param name="key">One media key; null for all.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <returns>The media items.</returns>
    /// <exception cref="TrackerApiException">The server could not be reached or refused the read; the run is gone.</exception>
    public async Task<IReadOnlyList<ApiMedia>> GetMediaAsync(string? key = null, CancellationToken cancellationToken = default)
    {
        var keys = new List<string>();
        if (key is not null)
        {
            keys.Add(key);
        }
        else
        {
            using var list = await _api.GetJsonAsync(TrackerApi.RunPath(Project, Id) + "/media", Project, Id, cancellationToken).ConfigureAwait(false);
            keys.AddRange(list.Json.RootElement.EnumerateArray().Select(k => k.GetProperty("key").GetString()!));
        }

        var media = new List<ApiMedia>();
        foreach (var name in keys)
        {
            long? after = 0;
            while (after is { } a)
            {
                using var page = await _api.GetJsonAsync($"{TrackerApi.RunPath(Project, Id)}/media?key={Uri.EscapeDataString(name)}&after_seq={a}&limit=1000", Project, Id, cancellationToken).ConfigureAwait(false);
                var root = page.Json.RootElement;
                foreach (var item in root.GetProperty("items").EnumerateArray())
                {
                    var body = item.GetProperty("media");
                    media.Add(new ApiMedia(
                        name,
                        item.GetProperty("step").GetInt64(),
                        DateTimeOffset.FromUnixTimeMilliseconds(item.GetProperty("ts").GetInt64()),
                        body.TryGetProperty("_type", out var type) ? type.GetString() ?? "unknown" : "unknown",
                        body.GetRawText(),
                        body.TryGetProperty("sha256", out var sha) ? sha.GetString() : null,
                        !body.TryGetProperty("available", out var available) || available.ValueKind != JsonValueKind.False));
                }

                after = root.TryGetProperty("next_after_seq", out var next) && next.ValueKind == JsonValueKind.Number ? next.GetInt64() : null;
            }
        }

        return media;
    }

    /// <summary>The bytes of an image's or table's file (PNG, JPEG, or a table's JSON), byte for byte as the run logged them.</summary>
    /// <param name="media">An image or table of this run.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The file's bytes.</returns>
    /// <exception cref="ArgumentException">The media has no file (a histogram or text).</exception>
    /// <exception cref="TrackerApiException">The server could not be reached, refused the read, or does not have the file (404: the run never uploaded it).</exception>
    public Task<byte[]> GetFileAsync(ApiMedia media, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(media);
        return media.Sha256 is { } sha256
            ? _api.GetBytesAsync($"{TrackerApi.ProjectPath(Project)}/blobs/{sha256}", Project, cancellationToken)
            : throw new ArgumentException($"The {media.Kind} at '{media.Key}' step {media.Step} is inline: it has no file.", nameof(media));
    }

    /// <summary>A history value: a number read as a double (so -0 keeps its sign), NaN and infinities from their strings.</summary>
    private static double Value(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number ? value.GetDouble() : RecordValue.AsDouble(RecordValue.FromJson(value)) ?? double.NaN;

    internal static ApiRun FromJson(TrackerApi api, JsonElement json)
    {
        var info = (json.Deserialize<RunInfo>(Internal.Json.Options) ?? throw new JsonException("A run is null.")).WithEmptyCollections();
        var summary = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (json.TryGetProperty("summary", out var values) && values.ValueKind == JsonValueKind.Object)
        {
            foreach (var value in values.EnumerateObject())
            {
                summary[value.Name] = RecordValue.FromJson(value.Value);
            }
        }

        return new ApiRun(api, info, summary, json.TryGetProperty("archived", out var archived) && archived.ValueKind == JsonValueKind.True);
    }
}
