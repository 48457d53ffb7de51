using Tracker.Extensions.TensorBoard;
using Tracker.Extensions.TensorBoard.Protos;
using Tracker.Extensions.TensorBoard.Protos.HParams;

namespace Tracker.Extensions.Tests.TensorBoard;

/// <summary>
/// A folder of event files read back with <see cref="EventFileReader"/>: every file to its last
/// byte with no corrupt record (asserted), its events in file name order.
/// </summary>
internal sealed class EventFolder
{
    private EventFolder(string[] files, List<Event> events)
    {
        Files = files;
        Events = events;
    }

    /// <summary>The event files, in name order.</summary>
    public string[] Files { get; }

    public List<Event> Events { get; }

    /// <summary>The scalar values of every event.</summary>
    public List<(string Tag, long Step, double WallTime, float Value)> Scalars =>
        [.. Events.Where(e => e.Summary is not null).SelectMany(e => e.Summary.Value
            .Where(v => v.ValueCase == Summary.Types.Value.ValueOneofCase.SimpleValue)
            .Select(v => (v.Tag, e.Step, e.WallTime, v.SimpleValue)))];

    /// <summary>The hparams plugin's session starts (the run's config each time it changed).</summary>
    public List<SessionStartInfo> SessionStarts =>
        [.. Events.Where(e => e.Summary is not null).SelectMany(e => e.Summary.Value)
            .Where(v => v.Tag == EventSummaries.SessionStartInfoTag)
            .Select(v => HParamsPluginData.Parser.ParseFrom(v.Metadata.PluginData.Content).SessionStartInfo)];

    /// <summary>The folder a run's backend writes into when given no log directory.</summary>
    public static string PathOf(Run run) => Path.Combine(run.Directory!, "tensorboard");

    public static EventFolder Of(Run run) => Read(PathOf(run));

    public static EventFolder Read(string folder)
    {
        string[] files = [.. Directory.GetFiles(folder, "events.out.tfevents.*").Order(StringComparer.Ordinal)];
        return new EventFolder(files, [.. files.SelectMany(ReadFile)]);
    }

    public static List<Event> ReadFile(string file)
    {
        using var reader = new EventFileReader(file);
        var events = reader.ReadAll().ToList();
        Assert.That(reader.CorruptRecords, Is.Zero, file);
        Assert.That(reader.Offset, Is.EqualTo(new FileInfo(file).Length), file);
        return events;
    }

    /// <summary>The steps of one tag's scalars, in file order.</summary>
    public IEnumerable<long> Steps(string tag) => Scalars.Where(s => s.Tag == tag).Select(s => s.Step);
}
