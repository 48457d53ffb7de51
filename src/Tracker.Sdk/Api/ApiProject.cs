namespace Tracker.Api;

/// <summary>A project on a Tracker server, as <see cref="TrackerApi.GetProjectsAsync"/> lists it.</summary>
public sealed class ApiProject
{
    internal ApiProject(string name, long runCount, DateTimeOffset? lastUpdate) =>
        (Name, RunCount, LastUpdate) = (name, runCount, lastUpdate);

    /// <summary>The project's name.</summary>
    public string Name { get; }

    /// <summary>How many runs the server holds for the project, archived ones included.</summary>
    public long RunCount { get; }

    /// <summary>When any of its runs last sent something; null when unknown.</summary>
    public DateTimeOffset? LastUpdate { get; }
}
