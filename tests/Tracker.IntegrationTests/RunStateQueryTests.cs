using System.Globalization;
using System.Text.Json.Nodes;
using Tracker.Format;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Server.Storage;

namespace Tracker.IntegrationTests;

/// <summary>
/// A condition on the state compares the stored state where that gives the same runs (an index
/// serves it), and the state readers see (a stale running run reads as crashed) where it does not:
/// every page must hold the runs, in the order, that the state readers see gives.
/// </summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class RunStateQueryTests(string kind)
{
    private const string Project = "states";
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Cutoff = Now.AddMinutes(-5);
    private static readonly string[] Sorts = ["name", "-name", "", "state", "-state", "id", "-start_time"];
    private TestStore _database = null!;
    private SqlRunStore _store = null!;

    [OneTimeSetUp]
    public async Task Seed()
    {
        _database = await TestStore.CreateAsync(kind);
        _store = _database.Store;

        // 70 runs: running and heard from, running and stale (read as crashed), stored as crashed, finished, failed, killed;
        // names and start times repeat (ties: newest first, then id), a few have no start time, some are renamed, one archived.
        string[] states = ["running", "running-stale", "crashed", "finished", "failed", "killed", "finished"];
        for (var i = 0; i < 70; i++)
        {
            var state = states[i % states.Length];
            var metadata = new JsonObject
            {
                ["name"] = $"n{i % 23:D2}",
                ["state"] = state == "running-stale" ? "running" : state,
                ["start_time"] = i % 11 == 0 ? null : Now.AddHours(-(i % 13)).ToString("O", CultureInfo.InvariantCulture),
            };
            await _store.Runs.UpsertRunAsync(Project, $"s{i:D2}", metadata, state == "running-stale" ? Now.AddHours(-1) : Now, CancellationToken.None);
        }

        foreach (var (id, name) in new[] { ("s03", "n99"), ("s15", "n01"), ("s22", "a00") })
        {
            await _store.Runs.EditRunAsync(Project, id, name, null, false, null, null, CancellationToken.None);
        }

        await _store.Runs.EditRunAsync(Project, "s10", null, null, false, null, archived: true, CancellationToken.None);
    }

    [OneTimeTearDown]
    public void Delete() => _database.Dispose();

    [TestCase("state = finished")]
    [TestCase("state = failed")]
    [TestCase("state = killed")]
    [TestCase("state = running")]
    [TestCase("state = crashed")]
    [TestCase("state = pending")]
    [TestCase("state != finished")]
    [TestCase("state != running")]
    [TestCase("state != crashed")]
    [TestCase("state = crashed and name != n05")]
    public async Task StateCondition_AnySort_PagesHoldTheRunsAsReadersSeeThem(string filter)
    {
        var (conditions, problem) = RunFilter.Parse(filter);
        Assert.That(problem, Is.Null);
        var runs = await AllRunsAsync();
        foreach (var sort in Sorts)
        {
            var order = sort.Length == 0 ? null : RunFilter.ParseSort(sort).Sort;
            var expected = Expected(runs, conditions, sort);
            foreach (var (offset, limit) in new[] { (0, 100), (0, 7), (7, 7), (20, 9) })
            {
                var page = await _store.Runs.QueryRunsAsync(new RunQuery(Project, conditions, order, offset, limit, Cutoff, WithTotal: true), CancellationToken.None);

                Assert.That(page.Page.Select(r => r.RunId), Is.EqualTo(expected.Skip(offset).Take(limit)), $"sort '{sort}', offset {offset}, limit {limit}");
                Assert.That((page.Total, page.More), Is.EqualTo(((long?)expected.Count, offset + limit < expected.Count)), $"sort '{sort}', offset {offset}, limit {limit}");
            }
        }
    }

    private async Task<List<StoredRun>> AllRunsAsync() =>
        [.. await _store.Runs.GetRunsAsync(Project, [.. Enumerable.Range(0, 70).Select(i => $"s{i:D2}")], CancellationToken.None)];

    /// <summary>The ids of the runs the listing should show, in order: the state as reads show it, ties newest start first, then id.</summary>
    private static List<string> Expected(List<StoredRun> runs, IReadOnlyList<RunCondition> conditions, string sort)
    {
        string Shown(StoredRun r) => r.State == "running" && r.UpdatedAt < Cutoff ? "crashed" : r.State;
        bool Meets(StoredRun r, RunCondition c) => c.Field switch
        {
            RunField.State => (Shown(r) == c.Value.Text) == (c.Op == "="),
            RunField.Name => (r.Name == c.Value.Text) == (c.Op == "="),
            _ => throw new NotSupportedException(c.Field.ToString()),
        };

        var matching = runs.Where(r => !r.Archived && conditions.All(c => Meets(r, c)));
        var descending = sort.StartsWith('-');
        Func<StoredRun, string?> key = sort.TrimStart('-') switch
        {
            "name" => r => r.Name,
            "state" => Shown,
            "id" => r => r.RunId,
            _ => _ => null,
        };
        var ordered = sort.TrimStart('-') == "start_time"
            ? matching.OrderBy(r => r.StartTime is null).ThenByDescending(r => r.StartTime)
            : descending
                ? matching.OrderByDescending(key, StringComparer.Ordinal).ThenBy(r => r.StartTime is null)
                : matching.OrderBy(key, StringComparer.Ordinal).ThenBy(r => r.StartTime is null);
        return [.. ordered.ThenByDescending(r => r.StartTime).ThenBy(r => r.RunId, StringComparer.Ordinal).Select(r => r.RunId)];
    }
}
