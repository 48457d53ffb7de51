using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.Format;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Server.Ingest;
using Tracker.Server.Storage;

namespace Tracker.IntegrationTests;

/// <summary>
/// On SQLite, a condition many runs meet is probed per run (EXISTS) instead of listed
/// (IN (SELECT …)); both forms must answer the same pages, totals and next pages. And the plans
/// SQLite makes for a page: an index walked in sort order where one holds the order.
/// </summary>
public sealed class RunQueryPathTests
{
    private const string Project = "paths";
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);
    private TestStore _database = null!;
    private SqlRunStore _store = null!;

    [OneTimeSetUp]
    public async Task Seed()
    {
        _database = await TestStore.CreateAsync("sqlite");
        _store = _database.Store;
        var ingest = new IngestService(_store, TimeProvider.System);

        // 90 runs: optimizer sgd/adam/"10", lr i/1000, tag base or best, summary acc (missing in a tenth), and "both":
        // in the summary of some, the config of others, both of a few (the bare key reads the summary first). Equal start times make ties.
        for (var i = 0; i < 90; i++)
        {
            var config = new JsonObject
            {
                ["optimizer"] = (i % 3) switch { 0 => "sgd", 1 => "adam", _ => "10" },
                ["lr"] = i / 1000.0,
                ["both"] = i % 4 == 0 ? null : i % 7,
            };
            var metadata = new JsonObject
            {
                ["name"] = $"run-{i % 40:D2}",
                ["state"] = i % 5 == 0 ? "finished" : "running",
                ["start_time"] = Now.AddMinutes(-(i % 30)).ToString("O", CultureInfo.InvariantCulture),
                ["config"] = config,
                ["tags"] = new JsonArray(i % 4 == 1 ? "best" : "base"),
            };
            await _store.Runs.UpsertRunAsync(Project, $"r{i:D3}", metadata, Now, CancellationToken.None);
            var values = new List<string>();
            if (i % 10 != 9)
            {
                values.Add(string.Create(CultureInfo.InvariantCulture, $"\"acc\":{(i * 37 % 100) / 100.0:R}"));
            }

            if (i % 3 != 2)
            {
                values.Add(string.Create(CultureInfo.InvariantCulture, $"\"both\":{i % 5}"));
            }

            var line = $"{{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1795736598000,\"values\":{{{string.Join(',', values)}}}}}";
            await ingest.AppendAsync(Project, $"r{i:D3}", Encoding.UTF8.GetBytes(line), CancellationToken.None);
        }
    }

    [OneTimeTearDown]
    public void Delete() => _database.Dispose();

    [TestCase("acc > 0.3 and optimizer = sgd", "-summary.acc")]
    [TestCase("config.lr < 0.05 and tag = base", "summary.acc")]
    [TestCase("config.lr < 0.05 and tag = base", "")]
    [TestCase("both >= 2", "name")]
    [TestCase("both < 3 and summary.acc > 0.5", "-config.both")]
    [TestCase("config.optimizer < '9' and tag != best", "-start_time")]
    [TestCase("optimizer = adam and state = finished", "id")]
    [TestCase("metrics.acc >= 0 and params.optimizer != sgd", "-config.optimizer")]
    [TestCase("tag = best and tag = base", "")]
    [TestCase("acc > 0.3 and optimizer = sgd", "state")]
    public async Task ProbedAndListed_AnswerTheSamePages(string filter, string sort)
    {
        var (conditions, problem) = RunFilter.Parse(filter);
        Assert.That(problem, Is.Null);
        RunSort? order = null;
        if (sort.Length > 0)
        {
            (order, problem) = RunFilter.ParseSort(sort);
            Assert.That(problem, Is.Null);
        }

        foreach (var (offset, limit) in new[] { (0, 50), (0, 7), (7, 7), (20, 9), (60, 5) })
        {
            var query = new RunQuery(Project, conditions, order, offset, limit, Now.AddMinutes(-5), WithTotal: true);
            var listed = await PageAsync(query, long.MaxValue);
            var probed = await PageAsync(query, 0);

            Assert.That(probed.Page.Select(r => r.RunId), Is.EqualTo(listed.Page.Select(r => r.RunId)), $"offset {offset}, limit {limit}");
            Assert.That((probed.Total, probed.More), Is.EqualTo((listed.Total, listed.More)), $"offset {offset}, limit {limit}");
        }
    }

    [Test]
    public async Task Probing_ChoosesByHowManyRunsMeetACondition()
    {
        var (conditions, _) = RunFilter.Parse("config.lr < 0.05 and tag = base and config.lr > 0.08 and tag != best and state = running");
        var query = new RunQuery(Project, conditions, null, 0, 10, Now);
        var (_, parameters) = query.WhereClause();

        // lr < 0.05 and tag = base: 50 and 67 runs; lr > 0.08: 9; tag != and state are not probed.
        _store.Runs.ProbeFrom = _ => 20;
        var chosen = await ProbedAsync(query, parameters);
        _store.Runs.ProbeFrom = RunTable.DefaultProbeFrom;

        Assert.That(chosen, Is.EquivalentTo(new[] { 0, 1 }));
        Assert.That(query.WhereClause(new HashSet<int> { 0, 1 }).Where, Does.Contain("EXISTS (SELECT 1 FROM run_values v WHERE v.run_pk = r.pk"));
    }

    [Test]
    public async Task Probing_SortByState_ListsEveryCondition()
    {
        var (conditions, _) = RunFilter.Parse("config.lr < 0.05");
        var (sort, _) = RunFilter.ParseSort("state");
        var query = new RunQuery(Project, conditions, sort, 0, 10, Now);
        _store.Runs.ProbeFrom = _ => 0;
        var chosen = await ProbedAsync(query, query.WhereClause().Parameters);
        _store.Runs.ProbeFrom = RunTable.DefaultProbeFrom;

        Assert.That(chosen, Is.Empty, "state is computed, so a sort by it reads every match: lists serve it better");
    }

    // Before, SQLite 3.53 read every run through another index and sorted them all for a page sorted by name: an index
    // held only the name, not the ties' order, and a state condition compared the computed state, which no index holds.
    [TestCase("state = finished", "name")]
    [TestCase("state = failed", "-name")]
    [TestCase("state = running", "")]
    [TestCase("", "name")]
    [TestCase("", "-name")]
    [TestCase("state != finished", "-name")]
    public async Task StateConditionOrNameSort_WalksAnIndexInSortOrder(string filter, string sort)
    {
        var query = new RunQuery(Project, filter.Length == 0 ? [] : RunFilter.Parse(filter).Conditions, sort.Length == 0 ? null : RunFilter.ParseSort(sort).Sort, 0, 50, Now, WithTotal: false);
        var (where, parameters) = query.WhereClause();
        var (from, and, orderBy) = query.SortParts(parameters).Single();
        await using var connection = await _store.Dialect.OpenAsync(CancellationToken.None);
        await using var explain = Sql.Command(connection, null, $"EXPLAIN QUERY PLAN SELECT r.pk FROM {from} {where}{and} {orderBy} LIMIT 51", [.. parameters]);
        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(3));
            }
        }

        Assert.That(plan, Has.None.Contains("TEMP B-TREE"), "a page stops after its runs only when no sort of every match is needed: " + string.Join("; ", plan));
        Assert.That(plan, Has.Some.Contains("USING INDEX runs_"), string.Join("; ", plan));
    }

    private async Task<IReadOnlySet<int>> ProbedAsync(RunQuery query, List<(string, object?)> parameters)
    {
        await using var connection = await _store.Dialect.OpenAsync(CancellationToken.None);
        return await _store.Runs.ProbedConditionsAsync(connection, query, parameters, CancellationToken.None);
    }

    private async Task<RunPage> PageAsync(RunQuery query, long probeFrom)
    {
        _store.Runs.ProbeFrom = _ => probeFrom;
        try
        {
            return await _store.Runs.QueryRunsAsync(query, CancellationToken.None);
        }
        finally
        {
            _store.Runs.ProbeFrom = RunTable.DefaultProbeFrom;
        }
    }
}
