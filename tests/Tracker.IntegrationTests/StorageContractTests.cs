using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Format;
using Tracker.Server.Ingest;
using Tracker.Server.Storage;

namespace Tracker.IntegrationTests;

/// <summary>The same contract, run against a real SQLite file and a real PostgreSQL database.</summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class StorageContractTests(string kind)
{
    private static readonly DateTimeOffset Now = new(2026, 11, 27, 0, 0, 0, TimeSpan.Zero);
    private SqlRunStore _store = null!;
    private IngestService _ingest = null!;
    private TestStore _database = null!;

    [SetUp]
    public async Task CreateStore()
    {
        _database = await TestStore.CreateAsync(kind);
        _store = _database.Store;
        await _store.MigrateAsync(CancellationToken.None); // migrations are idempotent
        _ingest = new IngestService(_store, TimeProvider.System);
    }

    [TearDown]
    public void DeleteStore() => _database.Dispose();

    [Test]
    public async Task Append_StoresEveryPointOnceInStepOrder()
    {
        var run = await CreateRunAsync();
        var lines = History(1, Enumerable.Range(0, 5000).Select(i => (long)i), i => 1.0 / (i + 3));
        var result = await _ingest.AppendAsync("p", "r", lines, Now, CancellationToken.None);

        Assert.That(result, Is.EqualTo(new AppendResult(5000, 5000, 0)));
        var points = await ReadAllAsync(run, "loss");
        Assert.That(points.Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, 5000).Select(i => (long)i)));
        Assert.That(points.Select(p => p.Value), Is.EqualTo(Enumerable.Range(0, 5000).Select(i => 1.0 / (i + 3))));
    }

    [Test]
    public async Task Append_ReplayedBatch_IsSkippedAndChangesNothing()
    {
        var run = await CreateRunAsync();
        var lines = History(1, Enumerable.Range(0, 100).Select(i => (long)i), i => i);
        await _ingest.AppendAsync("p", "r", lines, Now, CancellationToken.None);
        var replay = await _ingest.AppendAsync("p", "r", lines, Now, CancellationToken.None);

        Assert.That(replay, Is.EqualTo(new AppendResult(100, 0, 100)));
        Assert.That(await ReadAllAsync(run, "loss"), Has.Count.EqualTo(100));
    }

    [Test]
    public async Task Append_PartlyReplayedBatch_StoresOnlyTheNewTail()
    {
        var run = await CreateRunAsync();
        await _ingest.AppendAsync("p", "r", History(1, Enumerable.Range(0, 60).Select(i => (long)i), i => i), Now, CancellationToken.None);
        var result = await _ingest.AppendAsync("p", "r", History(41, Enumerable.Range(40, 60).Select(i => (long)i), i => i), Now, CancellationToken.None);

        Assert.That(result, Is.EqualTo(new AppendResult(100, 40, 20)));
        Assert.That((await ReadAllAsync(run, "loss")).Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, 100).Select(i => (long)i)));
    }

    [Test]
    public async Task Append_WithAGap_IsRefusedWhole()
    {
        var run = await CreateRunAsync();
        await _ingest.AppendAsync("p", "r", History(1, [0, 1], i => i), Now, CancellationToken.None);

        var gap = Assert.ThrowsAsync<SequenceGapException>(() => _ingest.AppendAsync("p", "r", History(5, [2, 3], i => i), Now, CancellationToken.None));
        Assert.That(gap!.Expected, Is.EqualTo(3));
        Assert.That(await ReadAllAsync(run, "loss"), Has.Count.EqualTo(2));
        Assert.That((await _store.Runs.GetRunAsync("p", "r", CancellationToken.None))!.AckedSeq, Is.EqualTo(2));
    }

    [Test]
    public async Task Append_UnknownRun_Throws() =>
        Assert.ThrowsAsync<RunNotFoundException>(() => _ingest.AppendAsync("p", "missing", History(1, [0], i => i), Now, CancellationToken.None));

    [Test]
    public async Task Append_OutOfOrderAndRepeatedSteps_ReadBackOncePerStepInOrder()
    {
        var run = await CreateRunAsync();
        await _ingest.AppendAsync("p", "r", History(1, Enumerable.Range(0, 1500).Select(i => (long)i), i => i), Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "r", Parse(
            "{\"seq\":1501,\"type\":\"history\",\"step\":1499,\"ts\":1,\"values\":{\"loss\":-1}}",
            "{\"seq\":1502,\"type\":\"history\",\"step\":3000,\"ts\":1,\"values\":{\"loss\":30}}",
            "{\"seq\":1503,\"type\":\"history\",\"step\":2000,\"ts\":1,\"values\":{\"loss\":20}}"), Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "r", Parse("{\"seq\":1504,\"type\":\"history\",\"step\":10,\"ts\":1,\"values\":{\"loss\":99}}"), Now, CancellationToken.None);

        var points = await ReadAllAsync(run, "loss");
        Assert.That(points.Select(p => p.Step), Is.Ordered);
        Assert.That(points.Count(p => p.Step == 1499), Is.EqualTo(1));
        Assert.That(points.Single(p => p.Step == 1499).Value, Is.EqualTo(-1), "the step logged again keeps its later value");
        Assert.That(points.Select(p => p.Step).TakeLast(2), Is.EqualTo(new long[] { 2000, 3000 }));
    }

    [Test]
    public async Task Append_ManySmallBatches_MakeFullChunksAndOneShortTail()
    {
        var run = await CreateRunAsync();
        for (var batch = 0; batch < 30; batch++)
        {
            var first = (batch * 100) + 1;
            await _ingest.AppendAsync("p", "r", History(first, Enumerable.Range(batch * 100, 100).Select(i => (long)i), i => i), Now, CancellationToken.None);
        }

        // Each batch adds a small row; a chunk's worth of them is rewritten as one full chunk.
        var chunks = await _store.Metrics.GetChunkSummariesAsync(run.Pk, "loss", CancellationToken.None);
        Assert.That(chunks.Take(2).Select(c => c.Count), Is.EqualTo(new[] { 1024, 1024 }));
        Assert.That(chunks.Skip(2).Sum(c => c.Count), Is.EqualTo(952));
        Assert.That(chunks, Has.Count.LessThanOrEqualTo(2 + 10));
        Assert.That((await ReadAllAsync(run, "loss")).Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, 3000).Select(i => (long)i)));
    }

    [Test]
    public async Task Append_NaNInfinitiesBoolsAndText_AreKeptAsLogged()
    {
        var run = await CreateRunAsync();
        await _ingest.AppendAsync("p", "r", Parse(
            "{\"seq\":1,\"type\":\"history\",\"steps\":[0,1,1,1],\"ts\":[5,0,0,1],\"values\":{\"x\":[\"NaN\",\"Infinity\",\"-Infinity\",1.5],\"ok\":[true,false,true,null],\"phase\":[\"a\",\"b\",\"c\",\"d\"]}}"),
            Now, CancellationToken.None);

        var x = await ReadAllAsync(run, "x");
        Assert.That(x.Select(p => p.Value), Is.EqualTo(new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1.5 }));
        Assert.That((await ReadAllAsync(run, "ok")).Select(p => p.Value), Is.EqualTo(new[] { 1.0, 0.0, 1.0 }));
        var stored = await _store.Runs.GetRunAsync("p", "r", CancellationToken.None);
        Assert.That((string?)stored!.Summary["phase"], Is.EqualTo("d"));
        Assert.That(stored.Summary["x"]!.GetValue<double>(), Is.EqualTo(1.5));
    }

    [Test]
    public async Task Append_MetadataRecords_UpdateConfigSummaryTagsAndState()
    {
        await CreateRunAsync();
        await _ingest.AppendAsync("p", "r", Parse(
            "{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":5,\"values\":{\"acc\":0.5}}",
            "{\"seq\":2,\"type\":\"config\",\"ts\":6,\"values\":{\"lr\":0.1}}",
            "{\"seq\":3,\"type\":\"summary\",\"ts\":7,\"values\":{\"best\":0.9}}",
            "{\"seq\":4,\"type\":\"run\",\"ts\":8,\"tags\":[\"a\",\"b\"],\"notes\":\"n\"}",
            "{\"seq\":5,\"type\":\"metric\",\"ts\":8,\"name\":\"acc\",\"summary\":\"max\",\"goal\":\"maximize\"}",
            "{\"seq\":6,\"type\":\"custom\",\"ts\":8,\"values\":{\"cpu\":3}}",
            "{\"seq\":7,\"type\":\"finish\",\"ts\":1795736598404,\"state\":\"failed\",\"exit_code\":2}"), Now, CancellationToken.None);

        var run = (await _store.Runs.GetRunAsync("p", "r", CancellationToken.None))!;
        Assert.That(run.State, Is.EqualTo("failed"));
        Assert.That(run.AckedSeq, Is.EqualTo(7));
        Assert.That(run.Config["lr"]!.GetValue<double>(), Is.EqualTo(0.1));
        Assert.That(run.Summary["best"]!.GetValue<double>(), Is.EqualTo(0.9));
        Assert.That(run.Summary["acc"]!.GetValue<double>(), Is.EqualTo(0.5));
        Assert.That(run.Metadata["tags"]!.AsArray().Select(t => (string?)t), Is.EqualTo(new[] { "a", "b" }));
        Assert.That((int?)run.Metadata["exit_code"], Is.EqualTo(2));
        Assert.That((string?)run.Metadata["metrics"]![0]!["name"], Is.EqualTo("acc"));
        Assert.That((string?)run.Metadata["end_time"], Does.StartWith("2026-11-"));
    }

    [Test]
    public async Task Series_BucketsKeepCountsAndSpikes()
    {
        var run = await CreateRunAsync();
        await _ingest.AppendAsync("p", "r", History(1, Enumerable.Range(0, 100_000).Select(i => (long)i), i => i == 54_321 ? 1e9 : i % 7), Now, CancellationToken.None);

        var buckets = await SeriesQuery.RunAsync(_store, run.Pk, "loss", byTime: false, 100, null, null, CancellationToken.None);
        Assert.That(buckets, Has.Count.EqualTo(100));
        Assert.That(buckets.Select(b => b.Count), Has.All.EqualTo(1000));
        Assert.That(buckets.Sum(b => b.Count), Is.EqualTo(100_000));
        Assert.That(buckets[54].Max, Is.EqualTo(1e9), "the spike survives bucketing");
        Assert.That(buckets[0].Min, Is.Zero);
        Assert.That(buckets[^1].LastX, Is.EqualTo(99_999));
        Assert.That(buckets[^1].Last, Is.EqualTo(99_999 % 7));

        var zoomed = await SeriesQuery.RunAsync(_store, run.Pk, "loss", byTime: false, 1000, 54_000, 54_499, CancellationToken.None);
        Assert.That(zoomed, Has.Count.EqualTo(500), "a zoomed range returns at full resolution");
        Assert.That(zoomed.Single(b => b.X0 == 54_321).Max, Is.EqualTo(1e9));
    }

    [Test]
    public async Task Series_StepsWithAndWithoutGaps_ReadBackExactlyWholeAndZoomed()
    {
        // Consecutive steps are stored implicitly; a later batch that breaks the run in the same chunk must not be misread.
        var run = await CreateRunAsync();
        long[] steps = [.. Enumerable.Range(0, 500).Select(i => (long)i), .. Enumerable.Range(0, 300).Select(i => 700L + (3 * i))];
        await _ingest.AppendAsync("p", "r", History(1, steps.Take(500), s => s * 0.5), Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "r", History(501, steps.Skip(500), s => s * 0.5), Now, CancellationToken.None);

        Assert.That(await ReadAllAsync(run, "loss"), Is.EqualTo(steps.Select(s => (s, s * 0.5)).ToList()));
        var zoomed = await SeriesQuery.RunAsync(_store, run.Pk, "loss", byTime: false, 1000, 400, 1000, CancellationToken.None);
        Assert.That(zoomed.Select(b => (b.X0, b.Last)), Is.EqualTo(steps.Where(s => s is >= 400 and <= 1000).Select(s => (s, s * 0.5)).ToList()));
    }

    [TestCase(1000)]
    [TestCase(7)]
    public async Task Series_AgainstMetric_PairsEachBucketWithTheOtherMetricsValueCarriedForward(int buckets)
    {
        // loss = step at every step 0..2999; epoch = step / 10 at every 10th step from 100 on, so
        // most of loss's steps have no epoch of their own and take the last one before them.
        var run = await CreateRunAsync();
        var lines = Enumerable.Range(0, 3000).Select(step => string.Create(CultureInfo.InvariantCulture,
            $"{{\"seq\":{step + 1},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000 + step},\"values\":{{\"loss\":{step}{(step % 10 == 0 && step >= 100 ? $",\"epoch\":{step / 10}" : "")}}}}}"));
        await _ingest.AppendAsync("p", "r", Parse([.. lines]), Now, CancellationToken.None);

        var paired = await SeriesQuery.AgainstMetricAsync(_store, run.Pk, "loss", "epoch", buckets, null, null, CancellationToken.None);

        Assert.That(paired, Is.Not.Empty);
        Assert.That(paired.Sum(p => p.Bucket.Count), Is.EqualTo(2900), "steps before epoch's first point are left out");
        Assert.That(paired[0].Bucket.Points.FirstX, Is.EqualTo(100));
        Assert.That(paired.Select(p => p.X), Is.EqualTo(paired.Select(p => (double)(p.Bucket.LastX / 10))), "x is epoch at the bucket's last step, carried forward");
        Assert.That(paired.Select(p => p.Bucket.Last), Is.EqualTo(paired.Select(p => (double)p.Bucket.LastX)));
        Assert.That(await SeriesQuery.AgainstMetricAsync(_store, run.Pk, "loss", "missing", buckets, null, null, CancellationToken.None), Is.Empty);
        var itself = await SeriesQuery.AgainstMetricAsync(_store, run.Pk, "loss", "loss", buckets, null, null, CancellationToken.None);
        Assert.That(itself.Select(p => p.X), Is.EqualTo(itself.Select(p => p.Bucket.Last)), "against itself, x is its own last value");
    }

    [Test]
    public async Task Append_SystemRecords_AreChartedButNotSummarised()
    {
        var run = await CreateRunAsync();
        await _ingest.AppendAsync("p", "r", Parse(
            "{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1795736598000,\"values\":{\"loss\":0.5}}",
            "{\"seq\":2,\"type\":\"system\",\"ts\":1795736608000,\"step\":0,\"values\":{\"system/cpu\":12.5,\"system/memory_rss_mb\":300}}",
            "{\"seq\":3,\"type\":\"system\",\"ts\":1795736618000,\"step\":1,\"values\":{\"system/cpu\":20,\"system/memory_rss_mb\":310}}"), Now, CancellationToken.None);

        Assert.That(await ReadAllAsync(run, "system/cpu"), Is.EqualTo(new List<(long, double)> { (0, 12.5), (1, 20) }));
        var stored = (await _store.Runs.GetRunAsync("p", "r", CancellationToken.None))!;
        Assert.That(stored.Summary.Select(kv => kv.Key), Is.EqualTo(new[] { "loss" }), "system metrics are not in the summary");
    }

    [Test]
    public async Task Append_OutputRecords_AreKeptInOrderAndReadInPages()
    {
        var run = await CreateRunAsync();
        await _ingest.AppendAsync("p", "r", Parse(
            "{\"seq\":1,\"type\":\"output\",\"ts\":1795736598000,\"stream\":\"stdout\",\"line\":\"epoch 1\"}",
            "{\"seq\":2,\"type\":\"history\",\"step\":0,\"ts\":1795736598001,\"values\":{\"loss\":0.5}}",
            "{\"seq\":3,\"type\":\"output\",\"ts\":1795736598002,\"stream\":\"stderr\",\"line\":\"it's ';-- not SQL\"}"), Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "r", Parse(
            "{\"seq\":3,\"type\":\"output\",\"ts\":1795736598002,\"stream\":\"stderr\",\"line\":\"it's ';-- not SQL\"}",
            "{\"seq\":4,\"type\":\"output\",\"ts\":1795736598003,\"stream\":\"stdout\",\"line\":\"epoch 2\"}"), Now, CancellationToken.None);

        var all = await _store.Output.ReadAsync(run.Pk, afterSeq: 0, limit: 100, CancellationToken.None);
        Assert.That(all.Select(l => (l.Seq, l.Stream, l.Line)), Is.EqualTo(new[] { (1L, "stdout", "epoch 1"), (3L, "stderr", "it's ';-- not SQL"), (4L, "stdout", "epoch 2") }), "the replayed line is kept once");
        Assert.That((await _store.Output.ReadAsync(run.Pk, afterSeq: 1, limit: 1, CancellationToken.None)).Single().Seq, Is.EqualTo(3));
        var stored = (await _store.Runs.GetRunAsync("p", "r", CancellationToken.None))!;
        Assert.That(stored.Summary.Select(kv => kv.Key), Is.EqualTo(new[] { "loss" }));
    }

    [Test]
    public async Task Keys_CreateFindRevoke()
    {
        await _store.Keys.CreateKeyAsync(new ApiKey("ci", "p", "hash1", Now, null), CancellationToken.None);

        Assert.That((await _store.Keys.FindKeyAsync("hash1", CancellationToken.None))!.Project, Is.EqualTo("p"));
        Assert.That(await _store.Keys.RevokeKeyAsync("ci", Now, CancellationToken.None), Is.True);
        Assert.That((await _store.Keys.FindKeyAsync("hash1", CancellationToken.None))!.RevokedAt, Is.EqualTo(Now));
        Assert.That(await _store.Keys.RevokeKeyAsync("ci", Now, CancellationToken.None), Is.False);
        Assert.That(await _store.Keys.FindKeyAsync("other", CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task NamesWithSqlMetacharacters_AreStoredAsText()
    {
        var name = "x'); DROP TABLE runs; --";
        await _store.Runs.UpsertRunAsync("p", "r", new JsonObject { ["name"] = name }, Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "r", Parse($"{{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{{\"{name.Replace("\"", "\\\"", StringComparison.Ordinal)}\":1}}}}"), Now, CancellationToken.None);

        var run = (await _store.Runs.GetRunAsync("p", "r", CancellationToken.None))!;
        Assert.That(run.Name, Is.EqualTo(name));
        Assert.That((await _store.Metrics.ListMetricsAsync(run.Pk, CancellationToken.None)).Single().Key, Is.EqualTo(name));
    }

    [Test]
    public async Task ListMetrics_ManyRuns_ReadsPendingPointsInOneQueryWithTheSameAnswersAsOneRunAtATime()
    {
        // Stored chunks only (a batch this large goes to chunks at once), pending points only, both, and no metrics.
        var chunked = await CreateRunAsync(runId: "chunked");
        await _ingest.AppendAsync("p", "chunked", History(1, Enumerable.Range(0, PendingPoints.MaxPoints).Select(i => (long)i), i => i), Now, CancellationToken.None);
        var pending = await CreateRunAsync(runId: "pending");
        await _ingest.AppendAsync("p", "pending", History(1, [0, 1, 2], i => 10 - i), Now, CancellationToken.None);
        var both = await CreateRunAsync(runId: "both");
        await _ingest.AppendAsync("p", "both", History(1, Enumerable.Range(0, PendingPoints.MaxPoints).Select(i => (long)i), i => i), Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "both", History(PendingPoints.MaxPoints + 1, [PendingPoints.MaxPoints, PendingPoints.MaxPoints + 1], i => -i), Now, CancellationToken.None);
        var empty = await CreateRunAsync(runId: "empty");
        await using (var connection = await _store.Dialect.OpenAsync(CancellationToken.None))
        {
            async Task<int> PendingRows(StoredRun run) => (await PendingPoints.ReadAsync(connection, null, run.Pk, CancellationToken.None)).Rows;
            Assert.That(new[] { await PendingRows(chunked), await PendingRows(pending), await PendingRows(both), await PendingRows(empty) }, Is.EqualTo(new[] { 0, 1, 1, 0 }));
        }

        var dialect = new CountingDialect(_store.Dialect);
        var metrics = new MetricTable(dialect);
        var all = await metrics.ListMetricsAsync([chunked.Pk, pending.Pk, both.Pk, empty.Pk], CancellationToken.None);

        Assert.That(dialect.Commands, Is.EqualTo(2), "one query for the chunk summaries, one for the pending points");
        foreach (var run in new[] { chunked, pending, both, empty })
        {
            Assert.That(all[run.Pk], Is.EqualTo(await metrics.ListMetricsAsync(run.Pk, CancellationToken.None)), run.RunId);
        }

        Assert.That(all[chunked.Pk].Select(m => (m.Key, m.Count, m.FirstStep, m.LastStep, m.Min, m.Max, m.Last)),
            Is.EqualTo(new[] { ("loss", (long)PendingPoints.MaxPoints, 0L, PendingPoints.MaxPoints - 1L, 0.0, PendingPoints.MaxPoints - 1.0, PendingPoints.MaxPoints - 1.0) }));
        Assert.That(all[pending.Pk].Select(m => (m.Key, m.Count, m.FirstStep, m.LastStep, m.Min, m.Max, m.Last)), Is.EqualTo(new[] { ("loss", 3L, 0L, 2L, 8.0, 10.0, 8.0) }));
        Assert.That(all[both.Pk].Select(m => (m.Key, m.Count, m.FirstStep, m.LastStep, m.Min, m.Max, m.Last)),
            Is.EqualTo(new[] { ("loss", PendingPoints.MaxPoints + 2L, 0L, PendingPoints.MaxPoints + 1L, -PendingPoints.MaxPoints - 1.0, PendingPoints.MaxPoints - 1.0, -PendingPoints.MaxPoints - 1.0) }));
        Assert.That(all[empty.Pk], Is.Empty);
    }

    [Test]
    public async Task Upsert_WaitingOnADeleteOfTheRun_DoesNotBringItBack()
    {
        if (kind != "postgres")
        {
            Assert.Ignore("SQLite writers take turns (SqliteDialect.EnterWriteAsync): an upsert never waits inside a delete there.");
        }

        var run = await CreateRunAsync();

        // A delete as DeleteRunAsync makes it, held open: the row is locked and gone, the tombstone not committed yet.
        await using var connection = await _store.Dialect.OpenAsync(CancellationToken.None);
        await using var deleting = await connection.BeginTransactionAsync();
        await using (var delete = connection.CreateCommand())
        {
            delete.Transaction = deleting;
            delete.CommandText = $"SELECT pk FROM runs WHERE pk = {run.Pk} FOR UPDATE; DELETE FROM run_values WHERE run_pk = {run.Pk}; DELETE FROM runs WHERE pk = {run.Pk}; "
                + "INSERT INTO deleted_runs (project, run_id, deleted_at) VALUES ('p', 'r', '2026-11-27T00:00:00.0000000+00:00')";
            await delete.ExecuteNonQueryAsync();
        }

        // The client's upsert (a changed run.json) arrives meanwhile and waits for the row.
        var upsert = _store.Runs.UpsertRunAsync("p", "r", new JsonObject { ["name"] = "run", ["state"] = "running" }, Now, CancellationToken.None);
        await Task.Delay(300);
        Assert.That(upsert.IsCompleted, Is.False, "the upsert waits for the delete's lock");
        await deleting.CommitAsync();

        Assert.ThrowsAsync<RunDeletedException>(() => upsert.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.That(await _store.Runs.GetRunAsync("p", "r", CancellationToken.None), Is.Null, "the deleted run stays deleted");
        Assert.That(await _store.Runs.IsDeletedAsync("p", "r", CancellationToken.None), Is.True);
    }

    [Test]
    public async Task ListProjectsAndRuns()
    {
        await CreateRunAsync("p", "r1");
        await CreateRunAsync("p", "r2");
        await CreateRunAsync("q", "r1");

        Assert.That((await _store.Runs.ListProjectsAsync(CancellationToken.None)).Select(p => (p.Name, p.RunCount)), Is.EqualTo(new[] { ("p", 2L), ("q", 1L) }));
        Assert.That((await _store.Runs.QueryRunsAsync(new RunQuery("p", [], null, 0, 100, Now), CancellationToken.None)).Page.Select(r => r.RunId), Is.EquivalentTo(new[] { "r1", "r2" }));
    }

    [Test]
    public async Task RunValuesMigration_FillsTheTableForRunsWrittenBeforeIt()
    {
        await _store.Runs.UpsertRunAsync("p", "old1", new JsonObject { ["tags"] = new JsonArray("keep"), ["config"] = new JsonObject { ["opt"] = new JsonObject { ["name"] = "sgd" } } }, Now, CancellationToken.None);
        await _store.Runs.UpsertRunAsync("p", "old2", new JsonObject { ["config"] = new JsonObject { ["opt"] = new JsonObject { ["name"] = "adam" } } }, Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "old1", History(1, [0], _ => 0.25), Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "old2", History(1, [0], _ => 0.75), Now, CancellationToken.None);

        // The database as a server before migration 6 left it: no run_values, no later tables.
        await using (var connection = await _store.Dialect.OpenAsync(CancellationToken.None))
        await using (var downgrade = connection.CreateCommand())
        {
            downgrade.CommandText = "DROP TABLE run_values; DROP INDEX runs_by_start; DROP TABLE saved_views; DROP INDEX runs_newest; DROP INDEX runs_by_name; "
                + "DROP TABLE mlflow_experiments; DROP INDEX runs_run_id; DROP INDEX runs_by_name_desc; DROP INDEX runs_by_state_name; DROP INDEX runs_by_state_name_desc; DROP INDEX runs_by_state_newest; "
                + "DELETE FROM schema_version WHERE version >= 6";
            await downgrade.ExecuteNonQueryAsync();
        }

        await _store.MigrateAsync(CancellationToken.None);

        async Task<string[]> Ids(RunField field, string? key, string op, RunLiteral value) =>
            [.. (await _store.Runs.QueryRunsAsync(new RunQuery("p", [new RunCondition(field, key, op, value)], new RunSort(RunField.Summary, "loss", Descending: false), 0, 10, Now), CancellationToken.None)).Page.Select(r => r.RunId)];
        Assert.That(await Ids(RunField.Summary, "loss", ">", new RunLiteral(0.0, "0")), Is.EqualTo(new[] { "old1", "old2" }));
        Assert.That(await Ids(RunField.Summary, "loss", "<", new RunLiteral(0.5, "0.5")), Is.EqualTo(new[] { "old1" }));
        Assert.That(await Ids(RunField.Config, "opt.name", "=", new RunLiteral(null, "adam")), Is.EqualTo(new[] { "old2" }));
        Assert.That(await Ids(RunField.Tag, null, "=", new RunLiteral(null, "keep")), Is.EqualTo(new[] { "old1" }));
    }

    private async Task<StoredRun> CreateRunAsync(string project = "p", string runId = "r")
    {
        var acked = await _store.Runs.UpsertRunAsync(project, runId, new JsonObject { ["name"] = "run", ["state"] = "running", ["config"] = new JsonObject { ["lr"] = 0.5 } }, Now, CancellationToken.None);
        Assert.That(acked, Is.Zero);
        return (await _store.Runs.GetRunAsync(project, runId, CancellationToken.None))!;
    }

    private async Task<List<(long Step, double Value)>> ReadAllAsync(StoredRun run, string key)
    {
        var chunks = await _store.Metrics.GetChunkSummariesAsync(run.Pk, key, CancellationToken.None);
        var blocks = await _store.Metrics.ReadChunksAsync(run.Pk, key, chunks.Select(c => c.ChunkNo).ToList(), CancellationToken.None);
        return blocks.SelectMany(b => b.Steps.Zip(b.Values)).OrderBy(p => p.First).Select(p => (p.First, p.Second)).ToList();
    }

    /// <summary>One history line per step with key "loss", numbered from <paramref name="firstSeq"/>.</summary>
    private static List<RecordLine> History(long firstSeq, IEnumerable<long> steps, Func<long, double> value) =>
        Parse(steps.Select((step, i) => string.Create(CultureInfo.InvariantCulture,
            $"{{\"seq\":{firstSeq + i},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000 + step},\"values\":{{\"loss\":{value(step):R}}}}}")).ToArray());

    private static List<RecordLine> Parse(params string[] lines) => RecordReader.ParseLines(Encoding.UTF8.GetBytes(string.Join('\n', lines)));
}
