using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Server.Api;
using Tracker.Server.Ingest;
using Tracker.Format;
using Tracker.Server.Storage;

namespace Tracker.IntegrationTests;

/// <summary>
/// What the ingest service keeps between appends (series tails, summaries, keys) and the public
/// face <c>tracker ui</c> uses, against a real SQLite file and a real PostgreSQL database.
/// </summary>
[TestFixture("sqlite")]
[TestFixture("postgres")]
public sealed class IngestServiceTests(string kind)
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
        _ingest = new IngestService(_store, TimeProvider.System);
    }

    [TearDown]
    public void DeleteStore() => _database.Dispose();

    [Test]
    public async Task Append_ThousandsOfTinyBatchesOfManyKeys_ReadBackExactlyInFewRows()
    {
        var run = await CreateRunAsync();

        // What the store must hold: each key's points in the order stored. A batch's points of a
        // key are sorted by step, one per step (the later value); a batch that starts at the
        // series' last step replaces that point; an older step is stored as another point.
        var expected = new Dictionary<string, List<(long Step, double Value)>>();
        var older = new Dictionary<string, int>();
        var random = new Random(7);
        long seq = 0, step = 0;
        for (var batch = 0; batch < 1500; batch++)
        {
            var lines = new List<string>();
            var inBatch = new Dictionary<string, SortedDictionary<long, double>>();
            for (var row = random.Next(1, 4); row > 0; row--)
            {
                var at = random.Next(50) switch { 0 when step > 0 => step - 1, 1 when step > 600 => step - 500, _ => step++ };
                var values = new JsonObject();
                for (var k = 0; k < 5; k++)
                {
                    if (at % (k + 1) == 0)
                    {
                        var value = (batch * 10) + k + (row / 10.0);
                        values[$"k{k}"] = value;
                        (inBatch.TryGetValue($"k{k}", out var points) ? points : inBatch[$"k{k}"] = [])[at] = value;
                    }
                }

                lines.Add(new JsonObject { ["seq"] = ++seq, ["type"] = "history", ["step"] = at, ["ts"] = 1_795_736_598_000 + at, ["values"] = values }.ToJsonString());
            }

            await _ingest.AppendAsync("p", "r", Parse([.. lines]), Now, CancellationToken.None);
            foreach (var (key, points) in inBatch)
            {
                var stored = expected.TryGetValue(key, out var list) ? list : expected[key] = [];
                var first = points.First();
                if (stored.Count > 0 && first.Key < stored[^1].Step)
                {
                    older[key] = older.GetValueOrDefault(key) + 1;
                }

                if (stored.Count > 0 && stored[^1].Step == first.Key)
                {
                    stored[^1] = (first.Key, first.Value);
                    points.Remove(first.Key);
                }

                stored.AddRange(points.Select(p => (p.Key, p.Value)));
            }
        }

        foreach (var (key, points) in expected)
        {
            var chunks = await _store.Metrics.GetChunkSummariesAsync(run.Pk, key, CancellationToken.None);
            var blocks = await _store.Metrics.ReadChunksAsync(run.Pk, key, chunks.Select(c => c.ChunkNo).ToList(), CancellationToken.None);
            Assert.That(blocks.SelectMany(b => b.Steps.Zip(b.Values)).Select(p => (p.First, p.Second)), Is.EqualTo(points), key);
            // Full chunks, one tail, and a row left by each batch that went back in steps.
            Assert.That(chunks, Has.Count.LessThanOrEqualTo((points.Count / ChunkCodec.ChunkSize) + SeriesTails.MaxTailRows + (2 * older.GetValueOrDefault(key)) + 1), key);
        }
    }

    [Test]
    public async Task Append_SmallBatches_AreReadWhilePendingAndMovedToChunksByTheLastBatch()
    {
        var run = await CreateRunAsync();
        for (var batch = 0; batch < 45; batch++)
        {
            await _ingest.AppendAsync("p", "r", History((batch * 10) + 1, Enumerable.Range(batch * 10, 10).Select(i => (long)i), i => i == 77 ? -5 : i), Now, CancellationToken.None);
        }

        // Some batches are in chunk rows, the latest still pending: every read sees all of them.
        Assert.That(await PendingRowsAsync(run), Is.InRange(1, PendingPoints.MaxBatches));
        var metric = (await _store.Metrics.ListMetricsAsync(run.Pk, CancellationToken.None)).Single();
        Assert.That((metric.Count, metric.FirstStep, metric.LastStep, metric.Min, metric.Max, metric.Last), Is.EqualTo((450L, 0L, 449L, -5.0, 449.0, 449.0)));
        Assert.That((await _store.Metrics.GetMetricRangesAsync("p", CancellationToken.None)).Single(), Is.EqualTo(("r", "loss", -5.0, 449.0)));
        var buckets = await SeriesQuery.RunAsync(_store, run.Pk, "loss", byTime: false, 7, null, null, CancellationToken.None);
        Assert.That(buckets.Sum(b => b.Count), Is.EqualTo(450));
        Assert.That(buckets.Max(b => b.Max), Is.EqualTo(449));
        Assert.That((await ReadAllAsync(run, "loss")).Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, 450).Select(i => (long)i)));

        await _ingest.AppendAsync("p", "r", Parse("{\"seq\":451,\"type\":\"finish\",\"ts\":1795736598404,\"state\":\"finished\",\"exit_code\":0}"), Now, CancellationToken.None);
        Assert.That(await PendingRowsAsync(run), Is.Zero);
        Assert.That((await ReadAllAsync(run, "loss")).Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, 450).Select(i => (long)i)));
        Assert.That((await _store.Metrics.GetChunkSummariesAsync(run.Pk, "loss", CancellationToken.None)).All(c => c.ChunkNo < PendingPoints.VirtualChunkBase));
    }

    [Test]
    public async Task Append_AlternatingBetweenTwoServers_EachSeesTheOthersRows()
    {
        // Two server instances on one database: each keeps its own state of the run, which the
        // other's appends make stale.
        var twin = new IngestService(_store, TimeProvider.System);
        var run = await CreateRunAsync();
        for (var batch = 0; batch < 300; batch++)
        {
            var service = batch % 3 == 0 ? twin : _ingest;
            await service.AppendAsync("p", "r", History((batch * 7) + 1, Enumerable.Range(batch * 7, 7).Select(i => (long)i), i => i * 2.0), Now, CancellationToken.None);
        }

        var points = await ReadAllAsync(run, "loss");
        Assert.That(points.Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, 2100).Select(i => (long)i)));
        Assert.That(points.Select(p => p.Value), Is.EqualTo(Enumerable.Range(0, 2100).Select(i => i * 2.0)));
        Assert.That((await _store.Runs.GetRunAsync("p", "r", CancellationToken.None))!.Summary["loss"]!.GetValue<double>(), Is.EqualTo(2099 * 2.0));
    }

    [Test]
    public async Task Append_PointsOnlyBatches_KeepMetadataAndConfigFromOtherBatches()
    {
        await CreateRunAsync();
        await _ingest.AppendAsync("p", "r", History(1, [0, 1], i => i), Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "r", Parse("{\"seq\":3,\"type\":\"config\",\"ts\":6,\"values\":{\"extra\":5}}"), Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "r", History(4, [2, 3], i => i * 10), Now, CancellationToken.None);
        await _ingest.FinishRunAsync("p", "r", "finished", 0, Now, CancellationToken.None);
        await _ingest.AppendAsync("p", "r", History(6, [4], i => i * 10), Now, CancellationToken.None);

        var run = (await _store.Runs.GetRunAsync("p", "r", CancellationToken.None))!;
        Assert.That(run.Name, Is.EqualTo("run"));
        Assert.That(run.State, Is.EqualTo("finished"));
        Assert.That(run.Config.Select(p => p.Key), Is.EquivalentTo(new[] { "lr", "extra" }));
        Assert.That((string?)run.Metadata["name"], Is.EqualTo("run"));
        Assert.That(run.Summary["loss"]!.GetValue<double>(), Is.EqualTo(40));
        Assert.That(run.AckedSeq, Is.EqualTo(6));
    }

    [Test]
    public async Task PublicAppend_ByteLines_StoresAndRefusesAsTheProtocolSays()
    {
        Assert.That(await _ingest.UpsertRunAsync("p", "r", Encoding.UTF8.GetBytes("{\"name\":\"run\",\"config\":{}}"), CancellationToken.None), Is.Zero);
        var result = await _ingest.AppendAsync("p", "r", Encoding.UTF8.GetBytes("{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":5,\"values\":{\"a\":1}}\n"), CancellationToken.None);
        Assert.That(result, Is.EqualTo(new AppendResult(1, 1, 0)));

        var gap = Assert.ThrowsAsync<IngestException>(() => _ingest.AppendAsync("p", "r", Encoding.UTF8.GetBytes("{\"seq\":3,\"type\":\"history\",\"step\":1,\"ts\":5,\"values\":{\"a\":1}}\n"), CancellationToken.None));
        Assert.That((gap!.Error, gap.ExpectedSeq), Is.EqualTo((IngestError.SequenceGap, (long?)2)));
        var missing = Assert.ThrowsAsync<IngestException>(() => _ingest.AppendAsync("p", "nope", Encoding.UTF8.GetBytes("{\"seq\":1,\"type\":\"history\",\"step\":1,\"ts\":5,\"values\":{\"a\":1}}\n"), CancellationToken.None));
        Assert.That(missing!.Error, Is.EqualTo(IngestError.RunNotFound));
        var invalid = Assert.ThrowsAsync<IngestException>(() => _ingest.AppendAsync("p", "r", Encoding.UTF8.GetBytes("{\"seq\":2}\n"), CancellationToken.None));
        Assert.That(invalid!.Error, Is.EqualTo(IngestError.Invalid));
        Assert.ThrowsAsync<IngestException>(() => _ingest.UpsertRunAsync("p", "../x", Encoding.UTF8.GetBytes("{}"), CancellationToken.None));
    }

    [Test]
    public async Task KeyCache_KeyRevokedWhileKept_IsRefusedByTheNextAppendAndLookup()
    {
        var time = new FakeTimeProvider(Now);
        var cache = new ApiKeyCache(_store.Keys, time, TimeSpan.FromMinutes(1));
        await _store.Keys.CreateKeyAsync(new ApiKey("ci", null, "hash1", Now, null), CancellationToken.None);
        await CreateRunAsync();
        Assert.That((await cache.FindAsync("hash1", mayBeKept: true, CancellationToken.None))!.RevokedAt, Is.Null);
        await _ingest.AppendAsync("p", "r", Encoding.UTF8.GetBytes("{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":5,\"values\":{\"a\":1}}\n"), "hash1", CancellationToken.None);

        // Revoked by another process (keys revoke): the kept entry still says active, the append's own check does not.
        await new SqlRunStore(_store.Dialect).Keys.RevokeKeyAsync("ci", Now, CancellationToken.None);
        Assert.That((await cache.FindAsync("hash1", mayBeKept: true, CancellationToken.None))!.RevokedAt, Is.Null, "kept");
        var refused = Assert.ThrowsAsync<IngestException>(() => _ingest.AppendAsync(
            "p", "r", Encoding.UTF8.GetBytes("{\"seq\":2,\"type\":\"history\",\"step\":1,\"ts\":5,\"values\":{\"a\":1}}\n"), "hash1", CancellationToken.None));
        Assert.That(refused!.Error, Is.EqualTo(IngestError.KeyRevoked));
        Assert.That((await _store.Runs.GetRunAsync("p", "r", CancellationToken.None))!.AckedSeq, Is.EqualTo(1), "nothing of the refused batch is stored");
        Assert.That((await cache.FindAsync("hash1", mayBeKept: false, CancellationToken.None))!.RevokedAt, Is.EqualTo(Now), "other requests look the key up");
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.That((await cache.FindAsync("hash1", mayBeKept: true, CancellationToken.None))!.RevokedAt, Is.EqualTo(Now), "an entry expires");
    }

    [Test]
    public async Task KeyCache_UnknownKeys_AreNotKept()
    {
        var cache = new ApiKeyCache(_store.Keys, new FakeTimeProvider(Now), TimeSpan.FromMinutes(1));
        Assert.That(await cache.FindAsync("hash2", mayBeKept: true, CancellationToken.None), Is.Null);
        await _store.Keys.CreateKeyAsync(new ApiKey("new", null, "hash2", Now, null), CancellationToken.None);
        Assert.That(await cache.FindAsync("hash2", mayBeKept: true, CancellationToken.None), Is.Not.Null);
    }

    private async Task<long> PendingRowsAsync(StoredRun run)
    {
        await using var connection = await _store.Dialect.OpenAsync(CancellationToken.None);
        await using var command = Sql.Command(connection, null, "SELECT COUNT(*) FROM metric_pending WHERE run_pk = @run", ("run", run.Pk));
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private async Task<StoredRun> CreateRunAsync()
    {
        await _store.Runs.UpsertRunAsync("p", "r", new JsonObject { ["name"] = "run", ["state"] = "running", ["config"] = new JsonObject { ["lr"] = 0.5 } }, Now, CancellationToken.None);
        return (await _store.Runs.GetRunAsync("p", "r", CancellationToken.None))!;
    }

    private async Task<List<(long Step, double Value)>> ReadAllAsync(StoredRun run, string key)
    {
        var chunks = await _store.Metrics.GetChunkSummariesAsync(run.Pk, key, CancellationToken.None);
        var blocks = await _store.Metrics.ReadChunksAsync(run.Pk, key, chunks.Select(c => c.ChunkNo).ToList(), CancellationToken.None);
        return blocks.SelectMany(b => b.Steps.Zip(b.Values)).Select(p => (p.First, p.Second)).OrderBy(p => p.First).ToList();
    }

    private static List<RecordLine> History(long firstSeq, IEnumerable<long> steps, Func<long, double> value) =>
        Parse(steps.Select((step, i) => string.Create(CultureInfo.InvariantCulture,
            $"{{\"seq\":{firstSeq + i},\"type\":\"history\",\"step\":{step},\"ts\":{1_795_736_598_000 + step},\"values\":{{\"loss\":{value(step):R}}}}}")).ToArray());

    private static List<RecordLine> Parse(params string[] lines) => RecordReader.ParseLines(Encoding.UTF8.GetBytes(string.Join('\n', lines)));
}
