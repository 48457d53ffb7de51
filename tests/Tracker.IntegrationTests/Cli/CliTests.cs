using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Parquet;
using Tracker.IntegrationTests.Infrastructure;
using Tracker.Reading;

namespace Tracker.IntegrationTests;

/// <summary>
/// The <c>tracker</c> command as users run it: a child process on run directories the SDK wrote
/// offline, against a real server process over SQLite.
/// </summary>
public sealed class CliTests
{
    private const string Project = "p";
    private const string Sparks = "▁▂▃▄▅▆▇█";
    private static readonly TimeSpan UiStartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan UiImportTimeout = TimeSpan.FromSeconds(15);

    private static readonly string[] AwkwardKeys = ["a", "b", "Z/upper", "note"];

    private static readonly double[] AwkwardNumbers =
    [
        double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0.1 + 0.2, 1.0 / 3, Math.PI, double.Epsilon,
        double.MaxValue, double.MinValue, 1e-300, 2.2250738585072014E-308, 123456789.12345678, -9.8765432109876543e21, 0,
    ];

    private ServerProcess _server = null!;
    private string _root = string.Empty;

    [OneTimeSetUp]
    public async Task StartServer() => _server = await ServerProcess.StartAsync("sqlite");

    [OneTimeTearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "tracker-cli", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void DeleteRoot()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Test]
    public async Task Sync_OfflineRuns_EveryPointOnTheServerOnceAndEachRunSynced()
    {
        var first = LoggedRun(points: 1500);
        var second = LoggedRun(points: 2500);

        var result = await SyncAsync(_server);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var table = CliTable.Find(result.Output, "Run");
        foreach (var (run, points) in new[] { (first, 1500), (second, 2500) })
        {
            var lastSeq = LastSeq(run);
            var row = table.Row("Run", $"{Project}/{run.Id}");
            Assert.That(table.Words(row, "State"), Does.StartWith("synced"), result.ToString());
            Assert.That(table.Number(row, "Lines acknowledged"), Is.EqualTo(lastSeq));
            Assert.That(table.Number(row, "Record lines"), Is.EqualTo(lastSeq));
            await AssertLossOnServerAsync(_server, run, points);
            Assert.That(await ExportAsync(_server, run.Id, "val/acc"), Has.Count.EqualTo(points / 100));
            var stored = await GetRunAsync(_server, run.Id);
            Assert.That((long)stored!["acked_seq"]!, Is.EqualTo(lastSeq));
            Assert.That((string?)stored["state"], Is.EqualTo(RunStates.Finished));
            Assert.That((double)stored["config"]!["lr"]!, Is.EqualTo(0.1));
            var sync = SyncJson(run);
            Assert.That((bool)sync["synced"]!, Is.True);
            Assert.That((long)sync["acked_seq"]!, Is.EqualTo(lastSeq));
        }
    }

    [Test]
    public async Task Sync_OfflineRunWithMedia_FilesReachTheServerByteForByteBeforeTheirRecords()
    {
        var run = Run.Init(Options(Project));
        var pixels = Enumerable.Range(0, 8 * 8).Select(i => (byte)(i * 3)).ToArray();
        for (var step = 0; step < 3; step++)
        {
            pixels[0] = (byte)step;
            run.Log(new Dictionary<string, object?> { ["loss"] = Loss(step), ["digits"] = Image.FromPixels(pixels, 8, 8, 1) });
        }

        run.Log("predictions", new Table(["id", "label"], [[1, "seven"]]));
        run.Finish();

        var result = await SyncAsync(_server);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var http = _server.Client();
        foreach (var media in RunReader.Open(run.Directory!).ReadMedia())
        {
            var items = (await http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{Project}/runs/{run.Id}/media?key={media.Key}"))!["items"]!.AsArray();
            var item = items.Single(i => (long)i!["step"]! == media.Step)!["media"]!;
            Assert.That((bool)item["available"]!, Is.True, $"{media.Key} at step {media.Step}");
            Assert.That(await http.GetByteArrayAsync((string)item["url"]!), Is.EqualTo(await File.ReadAllBytesAsync(media.FilePath!)));
        }
    }

    [Test]
    public async Task Sync_Twice_SecondSendsNothingAndTheServerIsUnchanged()
    {
        var run = LoggedRun(points: 1000);
        var first = await SyncAsync(_server);
        Assert.That(first.ExitCode, Is.Zero, first.ToString());
        var acked = await AckedAsync(_server, run.Id);

        var second = await SyncAsync(_server);

        Assert.That(second.ExitCode, Is.Zero, second.ToString());
        var table = CliTable.Find(second.Output, "Run");
        var row = table.Row("Run", $"{Project}/{run.Id}");
        Assert.That(table.Words(row, "State"), Does.StartWith(CliTable.Compact("up to date")), second.ToString());
        Assert.That(table.Number(row, "Lines acknowledged"), Is.Zero);
        Assert.That(await AckedAsync(_server, run.Id), Is.EqualTo(acked).And.EqualTo(LastSeq(run)));
        await AssertLossOnServerAsync(_server, run, 1000);
    }

    [Test]
    public async Task Sync_AfterAServerOutage_UploadsExactlyTheMissingRecords()
    {
        var server = await ServerProcess.StartAsync("sqlite");
        await using var _ = server;
        var a = LoggedRun(points: 1000);
        var synced = await SyncAsync(server);
        Assert.That(synced.ExitCode, Is.Zero, synced.ToString());
        var ackedBefore = await AckedAsync(server, a.Id);
        Assert.That(ackedBefore, Is.EqualTo(LastSeq(a)));

        server.Kill();
        var resumed = LoggedRun(points: 700, id: a.Id);
        var lastSeqA = LastSeq(resumed);
        var down = await SyncAsync(server);

        Assert.That(down.ExitCode, Is.EqualTo(1), down.ToString());
        var downTable = CliTable.Find(down.Output, "Run");
        var downRow = downTable.Row("Run", $"{Project}/{a.Id}");
        Assert.That(downTable.Words(downRow, "State"), Does.StartWith("failed"), down.ToString());
        var sentWhileDown = downTable.Number(downRow, "Lines acknowledged");
        Assert.That(down.Error, Does.Contain("not fully on"));
        Assert.That(LastSeq(resumed), Is.EqualTo(lastSeqA), "the failed sync leaves the run as it was");
        Assert.That(RunReader.Open(resumed.Directory!).ReadHistory().Count(), Is.EqualTo(1700));
        Assert.That((long)SyncJson(a)["acked_seq"]!, Is.EqualTo(ackedBefore));
        Assert.That((bool)SyncJson(a)["synced"]!, Is.False);

        var b = LoggedRun(points: 800);
        await server.StartAsync();
        var after = await SyncAsync(server);

        Assert.That(after.ExitCode, Is.Zero, after.ToString());
        var table = CliTable.Find(after.Output, "Run");
        var rowA = table.Row("Run", $"{Project}/{a.Id}");
        Assert.That(table.Words(rowA, "State"), Does.StartWith("synced"), after.ToString());
        Assert.That(table.Number(rowA, "Lines acknowledged"), Is.EqualTo(lastSeqA - ackedBefore), "only the lines logged since the first sync");
        var rowB = table.Row("Run", $"{Project}/{b.Id}");
        Assert.That(table.Words(rowB, "State"), Does.StartWith("synced"), after.ToString());
        Assert.That(table.Number(rowB, "Lines acknowledged"), Is.EqualTo(LastSeq(b)));
        Assert.That(await AckedAsync(server, a.Id), Is.EqualTo(lastSeqA));
        Assert.That(await AckedAsync(server, b.Id), Is.EqualTo(LastSeq(b)));
        await AssertLossOnServerAsync(server, a, 1700);
        await AssertLossOnServerAsync(server, b, 800);
        Assert.That(sentWhileDown, Is.Zero, "nothing reached the server in the sync while it was down: " + down);
    }

    [Test]
    public async Task Sync_KeyForAnotherProject_ThatRunRejectedTheOthersSyncedExitOne()
    {
        var other = LoggedRun(points: 500, project: "other");
        var mine = LoggedRun(points: 500);
        var key = await _server.CreateKeyAsync($"other-{Guid.NewGuid():N}", project: "other");

        var result = await SyncAsync(_server, key);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        var table = CliTable.Find(result.Output, "Run");
        var otherRow = table.Row("Run", $"other/{other.Id}");
        Assert.That(table.Words(otherRow, "State"), Does.StartWith("synced"), result.ToString());
        var mineRow = table.Row("Run", $"{Project}/{mine.Id}");
        Assert.That(table.Words(mineRow, "State"), Does.StartWith("rejected"), result.ToString());
        Assert.That(table.Number(mineRow, "Lines acknowledged"), Is.Zero);
        Assert.That(result.Error, Does.Contain("1 of 2"));
        await AssertLossOnServerAsync(_server, other, 500, project: "other");
        using var http = _server.Client();
        Assert.That((await http.GetAsync($"/api/v1/projects/{Project}/runs/{mine.Id}")).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Sync_WrongApiKey_RejectedWithNothingCountedAsSent()
    {
        var run = LoggedRun(points: 500);
        var synced = await SyncAsync(_server);
        Assert.That(synced.ExitCode, Is.Zero, synced.ToString());
        var acked = await AckedAsync(_server, run.Id);
        LoggedRun(points: 200, id: run.Id);

        var result = await SyncAsync(_server, apiKey: "trk_wrong");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        var table = CliTable.Find(result.Output, "Run");
        var row = table.Row("Run", $"{Project}/{run.Id}");
        Assert.That(table.Words(row, "State"), Does.StartWith("rejected"), result.ToString());
        Assert.That(await AckedAsync(_server, run.Id), Is.EqualTo(acked));
        Assert.That(table.Number(row, "Lines acknowledged"), Is.Zero, "the server refused every request: " + result);
    }

    [Test]
    public async Task Sync_CorruptRunDirectories_ReportedAsSkippedAndTheOthersSynced()
    {
        var good = LoggedRun(points: 600);
        WriteRunJson("garbage1", "{ this is not a run ]");
        WriteRunJson("empty1", string.Empty);

        var result = await SyncAsync(_server);

        var table = CliTable.Find(result.Output, "Run");
        foreach (var corrupt in new[] { "garbage1", "empty1" })
        {
            var row = table.Row("Run", $"{Project}/{corrupt}");
            Assert.That(table.Words(row, "State"), Does.StartWith("skipped"), result.ToString());
        }

        var goodRow = table.Row("Run", $"{Project}/{good.Id}");
        Assert.That(table.Words(goodRow, "State"), Does.StartWith("synced"), result.ToString());
        Assert.That(result.ExitCode, Is.EqualTo(1), "two runs are not on the server: " + result);
        await AssertLossOnServerAsync(_server, good, 600);
    }

    [Test]
    public async Task Sync_OneRunDirectoryWithATrailingSlash_OnlyThatRunSyncedAndLabelledProjectSlashId()
    {
        var run = LoggedRun(points: 300);
        var other = LoggedRun(points: 300);

        var result = await SyncAsync(_server, dir: run.Directory! + Path.DirectorySeparatorChar);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var table = CliTable.Find(result.Output, "Run");
        Assert.That(table.Rows, Has.Count.EqualTo(1), result.ToString());
        await AssertLossOnServerAsync(_server, run, 300);
        Assert.That(await AckedAsync(_server, other.Id), Is.Zero, "only the run named is synced");
        Assert.That(table.Words(table.Rows[0], "Run"), Is.EqualTo($"{Project}/{run.Id}"), "the run is named as in every other row: " + result);
    }

    [Test]
    public async Task ExportCsv_EveryValueRoundTrips()
    {
        var (run, expected) = LoggedRunWithAwkwardValues();

        var result = await CliProcess.RunAsync(["export", run.Id, "--dir", _root, "--format", "csv"]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var records = ParseCsv(result.Output);
        Assert.That(string.Join(',', records[0]), Is.EqualTo("step,timestamp_ms,runtime_s," + string.Join(',', AwkwardKeys.Order(StringComparer.Ordinal))));
        var rows = records.Skip(1).ToList();
        Assert.That(rows, Has.Count.EqualTo(expected.Count));
        var columns = records[0];
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            Assert.That(row, Has.Count.EqualTo(columns.Count), $"row {i}");
            Assert.That(long.Parse(row[0], CultureInfo.InvariantCulture), Is.EqualTo(i));
            Assert.That(long.Parse(row[1], CultureInfo.InvariantCulture), Is.GreaterThan(0));
            Assert.That(double.Parse(row[2], CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(0));
            for (var c = 3; c < columns.Count; c++)
            {
                var key = columns[c];
                object? actual = row[c].Length == 0 ? null : key == "note" ? row[c] : double.Parse(row[c], CultureInfo.InvariantCulture);
                AssertSameValue(expected[i].GetValueOrDefault(key), actual, $"step {i}, {key}");
            }
        }
    }

    [Test]
    public async Task ExportJsonLines_EveryValueRoundTrips()
    {
        var (run, expected) = LoggedRunWithAwkwardValues();

        var result = await CliProcess.RunAsync(["export", run.Id, "--dir", _root, "--format", "jsonl"]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(expected.Count));
        for (var i = 0; i < lines.Length; i++)
        {
            using var line = JsonDocument.Parse(lines[i]);
            var row = line.RootElement;
            Assert.That(row.GetProperty("step").GetInt64(), Is.EqualTo(i));
            Assert.That(row.GetProperty("timestamp_ms").GetInt64(), Is.GreaterThan(0));
            Assert.That(row.GetProperty("runtime_s").GetDouble(), Is.GreaterThanOrEqualTo(0));
            var keys = row.EnumerateObject().Select(p => p.Name).Except(["step", "timestamp_ms", "runtime_s"]).ToList();
            Assert.That(keys, Is.EquivalentTo(expected[i].Keys), $"step {i}: a key only where it was logged");
            foreach (var key in keys)
            {
                var value = row.GetProperty(key);
                object? actual = key == "note" ? value.GetString()
                    : value.ValueKind == JsonValueKind.String ? double.Parse(value.GetString()!, CultureInfo.InvariantCulture)
                    : value.GetDouble();
                AssertSameValue(expected[i][key], actual, $"step {i}, {key}");
            }
        }
    }

    [Test]
    public async Task ExportParquet_ReadBackWithTheSameStepsAndValues()
    {
        var (run, expected) = LoggedRunWithAwkwardValues();
        var file = Path.Combine(_root, "export.parquet");

        var result = await CliProcess.RunAsync(["export", run.Id, "--dir", _root, "--format", "parquet", "-o", file]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        await using var stream = File.OpenRead(file);
        await using var reader = await ParquetReader.CreateAsync(stream);
        var fields = reader.Schema.GetDataFields();
        Assert.That(fields.Select(f => f.Name), Is.EqualTo(new[] { "step", "timestamp_ms", "runtime_s" }.Concat(AwkwardKeys.Order(StringComparer.Ordinal))));
        var steps = new List<long>();
        var columns = AwkwardKeys.ToDictionary(k => k, _ => new List<object?>());
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = checked((int)group.RowCount);
            var stepValues = new long[count];
            await group.ReadAsync<long>(fields[0], stepValues.AsMemory(), null);
            steps.AddRange(stepValues);
            foreach (var field in fields.Skip(3))
            {
                if (field.Name == "note")
                {
                    var text = new string?[count];
                    await group.ReadAsync(field, text.AsMemory(), null);
                    columns[field.Name].AddRange(text);
                }
                else
                {
                    var numbers = new double?[count];
                    await group.ReadAsync<double>(field, numbers.AsMemory(), null);
                    columns[field.Name].AddRange(numbers.Select(n => (object?)n));
                }
            }
        }

        Assert.That(steps, Is.EqualTo(Enumerable.Range(0, expected.Count).Select(i => (long)i)));
        foreach (var (key, values) in columns)
        {
            for (var i = 0; i < expected.Count; i++)
            {
                AssertSameValue(expected[i].GetValueOrDefault(key), values[i], $"step {i}, {key}");
            }
        }
    }

    [Test]
    public async Task LsLocal_ListsEveryRunWithItsRecordsAndSyncState()
    {
        var first = LoggedRun(points: 300);
        var second = LoggedRun(points: 400, project: "other");
        WriteRunJson("broken1", "not json");

        var result = await CliProcess.RunAsync(["ls", "--dir", _root]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var table = CliTable.Find(result.Output, "Project");
        foreach (var run in new[] { first, second })
        {
            var row = table.Row("Run", run.Id);
            Assert.That(CliTable.Compact(table.Cell(row, "Project")), Is.EqualTo(run.Project));
            Assert.That(table.Words(row, "State"), Is.EqualTo(RunStates.Finished));
            Assert.That(table.Number(row, "Record lines"), Is.EqualTo(LastSeq(run)));
            Assert.That(table.Words(row, "On server"), Is.EqualTo("-"));
            Assert.That(table.Words(row, "URL"), Is.EqualTo("-"), "never sent to a server");
        }

        Assert.That(table.Words(table.Row("Run", "broken1"), "State"), Is.EqualTo("unreadable"));
    }

    [Test]
    public async Task LsLocal_RunLoggedToAfterItsSync_IsNotShownAsSynced()
    {
        var run = LoggedRun(points: 300);
        var synced = await SyncAsync(_server);
        Assert.That(synced.ExitCode, Is.Zero, synced.ToString());
        var afterSync = await CliProcess.RunAsync(["ls", "--dir", _root]);
        var table = CliTable.Find(afterSync.Output, "Project");
        Assert.That(table.Words(table.Row("Run", run.Id), "On server"), Is.EqualTo("synced"), afterSync.ToString());
        Assert.That(table.Words(table.Row("Run", run.Id), "URL"), Is.EqualTo($"{_server.BaseUrl}#/projects/{run.Project}/runs/{run.Id}"), "the run's page on the server it was sent to");

        LoggedRun(points: 100, id: run.Id);
        var result = await CliProcess.RunAsync(["ls", "--dir", _root]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        table = CliTable.Find(result.Output, "Project");
        var row = table.Row("Run", run.Id);
        Assert.That(table.Number(row, "Record lines"), Is.EqualTo(LastSeq(run)));
        var acked = await AckedAsync(_server, run.Id);
        Assert.That(table.Words(row, "On server"), Is.EqualTo(CliTable.Compact($"{acked:N0} lines acknowledged")), $"the server has seq {acked} of {LastSeq(run)}: " + result);
    }

    [Test]
    public async Task LsServer_ListsTheServersRunsAfterASync()
    {
        var first = LoggedRun(points: 200);
        var second = LoggedRun(points: 200, project: "other");
        var synced = await SyncAsync(_server);
        Assert.That(synced.ExitCode, Is.Zero, synced.ToString());

        var result = await CliProcess.RunAsync(["ls", "--server", _server.BaseUrl.ToString()]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var table = CliTable.Find(result.Output, "Project");
        foreach (var run in new[] { first, second })
        {
            var row = table.Row("Run", run.Id);
            Assert.That(CliTable.Compact(table.Cell(row, "Project")), Is.EqualTo(run.Project));
            Assert.That(table.Words(row, "State"), Is.EqualTo(RunStates.Finished));
            Assert.That(table.Words(row, "URL"), Is.EqualTo($"{_server.BaseUrl}#/projects/{run.Project}/runs/{run.Id}"));
        }

        var onlyOther = await CliProcess.RunAsync(["ls", "--server", _server.BaseUrl.ToString(), "--project", "other"]);
        Assert.That(onlyOther.ExitCode, Is.Zero, onlyOther.ToString());
        var otherTable = CliTable.Find(onlyOther.Output, "Project");
        Assert.That(otherTable.RowsWhere("Run", second.Id), Has.Count.EqualTo(1));
        Assert.That(otherTable.RowsWhere("Run", first.Id), Is.Empty);
    }

    [Test]
    public async Task LsServer_Filter_ListsOnlyTheServersRunsThatMatch()
    {
        var project = $"ls-filter-{Guid.NewGuid():N}"[..18];
        var runs = new[] { 0.01, 0.5 }.Select(lr =>
        {
            var run = Run.Init(Options(project, config: new { lr }));
            LogLoss(run, 0, 10);
            run.Finish();
            return run;
        }).ToList();
        var synced = await SyncAsync(_server);
        Assert.That(synced.ExitCode, Is.Zero, synced.ToString());

        var result = await CliProcess.RunAsync(["ls", "--server", _server.BaseUrl.ToString(), "--project", project, "--filter", "config.lr > 0.1"]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var table = CliTable.Find(result.Output, "Project");
        Assert.That(table.RowsWhere("Run", runs[1].Id), Has.Count.EqualTo(1), result.Output);
        Assert.That(table.RowsWhere("Run", runs[0].Id), Is.Empty, "lr 0.01 does not match");

        var none = await CliProcess.RunAsync(["ls", "--server", _server.BaseUrl.ToString(), "--project", project, "--filter", "config.lr > 1"]);
        Assert.That(none.ExitCode, Is.Zero, none.ToString());
        Assert.That(none.Output, Does.Contain($"No run on {_server.BaseUrl}").And.Contain("matches 'config.lr > 1'"));

        var wrong = await CliProcess.RunAsync(["ls", "--server", _server.BaseUrl.ToString(), "--project", project, "--filter", "config.lr >"]);
        Assert.That(wrong.ExitCode, Is.EqualTo(1), wrong.ToString());
        Assert.That(wrong.Error, Does.StartWith("tracker: Could not list the runs on").And.Contain("filter"));
    }

    [Test]
    public async Task Show_PrintsConfigSummaryAndASparklinePerMetric()
    {
        var run = Run.Init(Options(Project, config: new { lr = 0.1, optimizer = "adam" }));
        run.Config["batch"] = 32;
        for (var i = 0; i < 500; i++)
        {
            if (i % 10 == 0)
            {
                run.Log("val/acc", i / 500.0, commit: false);
            }

            run.Log("train/loss", Loss(i));
        }

        run.Summary["test/acc"] = 0.875;
        run.Finish();

        var result = await CliProcess.RunAsync(["show", run.Id, "--dir", _root]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.Contain(run.Name).And.Contain(run.Id));
        var keyTables = CliTable.ParseAll(result.Output).Where(t => t.Headers is ["Key", "Value"]).ToList();
        Assert.That(keyTables, Has.Count.EqualTo(2), result.Output);
        Assert.That(keyTables[0].Rows.Select(r => CliTable.Compact(r[0])), Is.EquivalentTo(new[] { "lr", "optimizer", "batch" }), "config");
        Assert.That(keyTables[0].Cell(keyTables[0].Row("Key", "optimizer"), "Value"), Is.EqualTo("adam"));
        Assert.That(keyTables[1].Rows.Select(r => CliTable.Compact(r[0])), Is.SupersetOf(new[] { "train/loss", "val/acc", "test/acc" }), "summary");
        Assert.That(keyTables[1].Cell(keyTables[1].Row("Key", "test/acc"), "Value"), Is.EqualTo("0.875"));
        var metrics = CliTable.Find(result.Output, "Metric");
        Assert.That(metrics.Rows.Select(r => CliTable.Compact(r[0])), Is.EquivalentTo(new[] { "train/loss", "val/acc" }), "one row per metric");
        foreach (var (key, points) in new[] { ("train/loss", 500), ("val/acc", 50) })
        {
            var row = metrics.Row("Metric", key);
            Assert.That(metrics.Number(row, "Points"), Is.EqualTo(points));
            Assert.That(metrics.Cell(row, "History").Any(c => Sparks.Contains(c, StringComparison.Ordinal)), Is.True, $"{key} has a sparkline: {result.Output}");
        }
    }

    [Test]
    public async Task Show_ListsEachMediaKeyWithItsKindStepsAndLatestFile()
    {
        var run = Run.Init(Options(Project));
        for (var step = 0; step < 3; step++)
        {
            run.Log(new Dictionary<string, object?> { ["loss"] = Loss(step), ["digits"] = Image.FromPixels([(byte)step, 9, 9, 9], 2, 2, 1) });
        }

        run.Log("weights", Histogram.FromValues([1.0, 2, 3]));
        run.Finish();

        var result = await CliProcess.RunAsync(["show", run.Id, "--dir", _root]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var media = CliTable.Find(result.Output, "Media");
        var digits = media.Row("Media", "digits");
        Assert.That(CliTable.Compact(media.Cell(digits, "Kind")), Is.EqualTo("image"));
        Assert.That(media.Number(digits, "Steps"), Is.EqualTo(3));
        Assert.That(media.Number(digits, "Last"), Is.EqualTo(2));
        var latest = RunReader.Open(run.Directory!).ReadMedia("digits")[^1].FilePath!;
        Assert.That(CliTable.Compact(media.Cell(digits, "Latest")), Is.EqualTo(CliTable.Compact(Path.GetRelativePath(run.Directory!, latest))));
        Assert.That(media.Number(media.Row("Media", "weights"), "Last"), Is.EqualTo(3));
    }

    [Test]
    public async Task UnknownCommand_ExitsTwoWithAOneLineMessageNamingIt()
    {
        var result = await CliProcess.RunAsync(["frobnicate"]);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        AssertUsefulFirstLine(result, "frobnicate");
    }

    [Test]
    public async Task ExportUnknownFormat_ExitsTwoWithAOneLineMessageNamingTheFormats()
    {
        var run = LoggedRun(points: 10);

        var result = await CliProcess.RunAsync(["export", run.Id, "--dir", _root, "--format", "xml"]);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        AssertUsefulFirstLine(result, "xml", "csv", "jsonl", "parquet");
    }

    [Test]
    public async Task SyncWithoutAServer_ExitsTwoSayingHowToNameOne()
    {
        LoggedRun(points: 10);

        var result = await CliProcess.RunAsync(["sync", _root]);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        AssertUsefulFirstLine(result, "--server", "TRACKER_BASE_URL");
    }

    [Test]
    public async Task ShowUnknownRun_ExitsOneNamingTheId()
    {
        LoggedRun(points: 10);

        var result = await CliProcess.RunAsync(["show", "nosuchid", "--dir", _root]);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        AssertUsefulFirstLine(result, "nosuchid");
    }

    [Test]
    public async Task Ui_ImportsTheRunsAndKeepsImportingWhatARunningRunLogs()
    {
        var finished = LoggedRun(points: 400);
        var live = Run.Init(Options(Project));
        try
        {
            LogLoss(live, 0, 300);
            Assert.That(live.Flush(TimeSpan.FromSeconds(10)), Is.True);
            var writtenBeforeStart = LastSeq(live);

            await using var ui = await StartUiAsync();
            using var http = new HttpClient { BaseAddress = ui.Url };
            var listed = await http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/runs");
            Assert.That(listed!.Select(r => (string?)r!["id"]), Is.SupersetOf(new[] { finished.Id, live.Id }));
            Assert.That(await AckedAsync(http, finished.Id), Is.EqualTo(LastSeq(finished)));
            var before = await AckedAsync(http, live.Id);
            Assert.That(before, Is.GreaterThanOrEqualTo(writtenBeforeStart), "imported before the URL line");

            LogLoss(live, 300, 500);
            Assert.That(live.Flush(TimeSpan.FromSeconds(10)), Is.True);
            var written = LastSeq(live);
            Assert.That(written, Is.GreaterThan(before));

            await WaitForAsync(async () => await AckedAsync(http, live.Id) >= written, UiImportTimeout, $"tracker ui imported run {live.Id} up to seq {written}", ui.Process);
            var points = await ExportAsync(http, live.Id, "train/loss");
            Assert.That(points.Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, 800).Select(i => (long)i)));
        }
        finally
        {
            live.Finish();
        }
    }

    [Test]
    public async Task Ui_StartedTwiceOnTheSameFolder_ImportsNothingTwice()
    {
        var finished = LoggedRun(points: 600);
        var live = Run.Init(Options(Project));
        try
        {
            LogLoss(live, 0, 400);
            Assert.That(live.Flush(TimeSpan.FromSeconds(10)), Is.True);
            var writtenBeforeStart = LastSeq(live);
            await using (var ui = await StartUiAsync())
            {
                using var http = new HttpClient { BaseAddress = ui.Url };
                Assert.That(await AckedAsync(http, live.Id), Is.GreaterThanOrEqualTo(writtenBeforeStart), "imported before the URL line");
            }

            LogLoss(live, 400, 300);
            Assert.That(live.Flush(TimeSpan.FromSeconds(10)), Is.True);
            await using var again = await StartUiAsync();
            using var client = new HttpClient { BaseAddress = again.Url };

            await WaitForAsync(async () => await AckedAsync(client, live.Id) == LastSeq(live), UiImportTimeout, $"the second tracker ui imported run {live.Id}", again.Process);
            Assert.That(await AckedAsync(client, finished.Id), Is.EqualTo(LastSeq(finished)));
            foreach (var (run, points) in new[] { (finished, 600), (live, 700) })
            {
                var exported = await ExportAsync(client, run.Id, "train/loss");
                Assert.That(exported.Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, points).Select(i => (long)i)), $"run {run.Id}: each step once");
                Assert.That(exported.Select(p => p.Value), Is.EqualTo(Enumerable.Range(0, points).Select(Loss)));
            }
        }
        finally
        {
            live.Finish();
        }
    }

    [TestCase("0.0.0.0")]
    [TestCase("*")]
    public async Task Ui_ListeningOnEveryInterface_ServesOnLoopbackImportsAndPrintsTheAddresses(string host)
    {
        var run = LoggedRun(points: 50);
        var port = Postgres.FreePort();

        await using var ui = CliProcess.Start(["ui", "--dir", _root, "--urls", $"http://{host}:{port}"]);

        var line = await ui.WaitForLineAsync(l => l.StartsWith("Tracker UI:", StringComparison.Ordinal), UiStartTimeout);
        Assert.That(line, Does.Contain($"http://127.0.0.1:{port}/"), "a URL a browser here can open");
        Assert.That(line, Does.Not.Contain("0.0.0.0").And.Not.Contain("[::]").And.Not.Contain("*:"), "no wildcard as a URL to open");
        var everywhere = await ui.WaitForLineAsync(l => l.StartsWith("Listening on every interface", StringComparison.Ordinal), TimeSpan.FromSeconds(5));
        Assert.That(everywhere, Does.Contain($"http://{Dns.GetHostName()}:{port}/"), "the URL for other machines");

        // It used to die a few seconds after starting; it still serves and imports after that.
        await Task.Delay(TimeSpan.FromSeconds(6));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        Assert.That(await AckedAsync(http, run.Id), Is.EqualTo(LastSeq(run)), "the run imported");
        var later = LoggedRun(points: 20);
        await WaitForAsync(async () => (await http.GetFromJsonAsync<JsonArray>($"/api/v1/projects/{Project}/runs"))!.Any(r => (string?)r!["id"] == later.Id),
            UiImportTimeout, $"tracker ui imported the new run {later.Id}", ui);
    }

    [TestCase("ui")]
    [TestCase("serve")]
    public async Task PortInUse_ExitsOneWithOneLineNamingTheAddress_TheDetailsOnlyWithTrackerDebug(string command)
    {
        LoggedRun(points: 10);
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var url = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";
        string[] args = command == "ui" ? ["ui", _root, "--urls", url] : ["serve", "--db", Path.Combine(_root, "t.db"), "--urls", url];

        var result = await CliProcess.RunAsync(args);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        AssertUsefulFirstLine(result, url, "--urls");
        Assert.That(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1), "one line: " + result);

        var debug = await CliProcess.RunAsync(args, new Dictionary<string, string> { ["TRACKER_DEBUG"] = "1" });
        Assert.That(debug.ExitCode, Is.EqualTo(1), debug.ToString());
        Assert.That(debug.Error, Does.Contain("   at "), "TRACKER_DEBUG=1 shows where it failed");
    }

    [Test]
    public async Task Show_PathThatIsNoRun_SaysWhatIsWrongWithThatPath()
    {
        LoggedRun(points: 10);
        var missing = Path.Combine(_root, "no", "such", "dir");

        var result = await CliProcess.RunAsync(["show", missing]);
        var notARun = await CliProcess.RunAsync(["show", _root]);

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        AssertUsefulFirstLine(result, missing, "does not exist");
        Assert.That(result.Error, Does.Not.Contain("tracker-runs"), "not about the default runs root");
        Assert.That(notARun.ExitCode, Is.EqualTo(1), notARun.ToString());
        AssertUsefulFirstLine(notARun, _root, "no run.json");
    }

    [Test]
    public async Task Sync_TakesDirAsLsAndShowDo_AndRefusesTwoDifferentFolders()
    {
        var run = LoggedRun(points: 30);

        var result = await CliProcess.RunAsync(["sync", "--dir", _root, "--server", _server.BaseUrl.ToString(), "--api-key", _server.ApiKey], timeout: TimeSpan.FromSeconds(90));
        var both = await CliProcess.RunAsync(["sync", Path.Combine(_root, "other"), "--dir", _root, "--server", _server.BaseUrl.ToString()]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var table = CliTable.Find(result.Output, "Run");
        Assert.That(table.Number(table.Row("Run", $"{Project}/{run.Id}"), "Record lines"), Is.EqualTo(LastSeq(run)));
        Assert.That(await AckedAsync(_server, run.Id), Is.EqualTo(LastSeq(run)));
        Assert.That(both.ExitCode, Is.EqualTo(2), both.ToString());
        AssertUsefulFirstLine(both, "--dir", "other");
    }

    private static double Loss(int step) => 1.0 / (step + 3);

    /// <summary>
    /// A run with NaN, infinities and 17-digit doubles (key <c>a</c>), a key on even steps only
    /// (<c>b</c>), an upper-case key that sorts first in ordinal order, and a string with a comma
    /// and quotes on every tenth step; returns what each step holds.
    /// </summary>
    private (Run Run, List<Dictionary<string, object?>> Expected) LoggedRunWithAwkwardValues()
    {
        var run = Run.Init(Options(Project));
        var expected = new List<Dictionary<string, object?>>();
        for (var i = 0; i < 1000; i++)
        {
            var values = new Dictionary<string, object?>
            {
                ["a"] = i < AwkwardNumbers.Length ? AwkwardNumbers[i] : Math.Sin(i) * 1e6 / 7,
                ["Z/upper"] = i * 0.1,
            };
            if (i % 2 == 0)
            {
                values["b"] = Math.PI / (i + 1);
            }

            if (i % 10 == 0)
            {
                values["note"] = $"x, \"{i}\"";
            }

            run.Log(values);
            expected.Add(values);
        }

        run.Finish();
        return (run, expected);
    }

    private static void AssertSameValue(object? expected, object? actual, string where)
    {
        if (expected is double e && actual is double a)
        {
            var same = double.IsNaN(e) ? double.IsNaN(a) : BitConverter.DoubleToInt64Bits(a) == BitConverter.DoubleToInt64Bits(e);
            Assert.That(same, Is.True, $"{where}: {a:R} read back for {e:R}");
        }
        else
        {
            Assert.That(actual, Is.EqualTo(expected), where);
        }
    }

    private static void AssertUsefulFirstLine(CliResult result, params string[] mentions)
    {
        Assert.That(result.Error, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(result.FirstErrorLine, Does.StartWith("tracker: "), result.ToString());
        foreach (var mention in mentions)
        {
            Assert.That(result.FirstErrorLine, Does.Contain(mention), $"the first line of stderr names '{mention}': {result}");
        }
    }

    private RunOptions Options(string project, string? id = null, object? config = null) => new()
    {
        Project = project,
        Id = id,
        Resume = id is null ? null : ResumeMode.Allow,
        Config = config,
        Dir = _root,
        Mode = RunMode.Offline,
        PrintSummary = false,
        FinishOnProcessExit = false,
        Output = TextWriter.Null,
    };

    /// <summary>
    /// Logs <c>train/loss</c> for <paramref name="points"/> steps (and <c>val/acc</c> every 100th)
    /// into a new run, or on into run <paramref name="id"/> resumed, and finishes it.
    /// </summary>
    private Run LoggedRun(int points, string project = Project, string? id = null)
    {
        var run = Run.Init(Options(project, id));
        if (id is null)
        {
            run.Config["lr"] = 0.1;
        }

        var from = id is null ? 0 : RunReader.Open(run.Directory!).ReadHistory().Count();
        LogLoss(run, from, points);
        run.Finish();
        return run;
    }

    private static void LogLoss(Run run, int from, int points)
    {
        for (var step = from; step < from + points; step++)
        {
            if (step % 100 == 0)
            {
                run.Log("val/acc", step / 1000.0, commit: false);
            }

            run.Log("train/loss", Loss(step));
        }
    }

    private void WriteRunJson(string id, string content)
    {
        var directory = Path.Combine(_root, Project, id);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "run.json"), content);
        File.WriteAllText(Path.Combine(directory, "records.jsonl"), "{\"seq\":1,\"type\":\"history\"\n");
    }

    private Task<CliResult> SyncAsync(ServerProcess server, string? apiKey = null, string? dir = null) =>
        CliProcess.RunAsync(["sync", dir ?? _root, "--server", server.BaseUrl.ToString(), "--api-key", apiKey ?? server.ApiKey], timeout: TimeSpan.FromSeconds(90));

    /// <summary>Starts <c>tracker ui</c> on the root and waits for the line with its URL, printed once the runs there are imported.</summary>
    private async Task<UiProcess> StartUiAsync()
    {
        var url = $"http://127.0.0.1:{Postgres.FreePort()}";
        var ui = new UiProcess(CliProcess.Start(["ui", _root, "--urls", url]), new Uri(url));
        try
        {
            var line = await ui.Process.WaitForLineAsync(l => l.StartsWith("Tracker UI:", StringComparison.Ordinal), UiStartTimeout);
            Assert.That(line, Does.Contain(url), "the URL line names where it listens");
            return ui;
        }
        catch
        {
            await ui.DisposeAsync();
            throw;
        }
    }

    private static long LastSeq(Run run) => RunReader.Open(run.Directory!).ReadRecords().Last().Seq;

    private static JsonObject SyncJson(Run run) => JsonNode.Parse(File.ReadAllText(Path.Combine(run.Directory!, "sync.json")))!.AsObject();

    private static async Task<JsonObject?> GetRunAsync(ServerProcess server, string id, string project = Project)
    {
        using var http = server.Client();
        return await http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{project}/runs/{id}");
    }

    private static async Task<long> AckedAsync(ServerProcess server, string id)
    {
        using var http = server.Client();
        return await AckedAsync(http, id);
    }

    private static async Task<long> AckedAsync(HttpClient http, string id)
    {
        var response = await http.GetAsync($"/api/v1/projects/{Project}/runs/{id}");
        return response.IsSuccessStatusCode ? (long)(await response.Content.ReadFromJsonAsync<JsonObject>())!["acked_seq"]! : 0;
    }

    private static async Task AssertLossOnServerAsync(ServerProcess server, Run run, int points, string project = Project)
    {
        var loss = await ExportAsync(server, run.Id, "train/loss", project);
        Assert.That(loss.Select(p => p.Step), Is.EqualTo(Enumerable.Range(0, points).Select(i => (long)i)), $"run {run.Id}: every step once");
        Assert.That(loss.Select(p => p.Value), Is.EqualTo(Enumerable.Range(0, points).Select(Loss)), $"run {run.Id}: every value");
    }

    private static async Task<List<(long Step, double Value)>> ExportAsync(ServerProcess server, string id, string key, string project = Project)
    {
        using var http = server.Client();
        return await ExportAsync(http, id, key, project);
    }

    private static async Task<List<(long Step, double Value)>> ExportAsync(HttpClient http, string id, string key, string project = Project)
    {
        var points = new List<(long, double)>();
        var after = string.Empty;
        while (true)
        {
            var page = (await http.GetFromJsonAsync<JsonObject>($"/api/v1/projects/{project}/runs/{id}/export?key={Uri.EscapeDataString(key)}&limit=100000{after}"))!;
            points.AddRange(page["points"]!.AsArray().Select(p => ((long)p![0]!, (double)p[2]!)));
            if (page["next_after_step"] is not { } next)
            {
                return points;
            }

            after = $"&after_step={(long)next}";
        }
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, CliProcess process)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"timed out after {timeout.TotalSeconds:N0} s waiting until {what}\n--- stdout ---\n{process.Output}\n--- stderr ---\n{process.Error}");
    }

    /// <summary>RFC 4180: fields separated by commas, quoted when they hold a comma, a quote or a line break.</summary>
    private static List<List<string>> ParseCsv(string text)
    {
        var records = new List<List<string>>();
        var record = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                record.Add(field.ToString());
                field.Clear();
            }
            else if (c == '\n')
            {
                record.Add(field.ToString().TrimEnd('\r'));
                field.Clear();
                records.Add(record);
                record = [];
            }
            else
            {
                field.Append(c);
            }
        }

        Assert.That(field.Length == 0 && record.Count == 0 && !quoted, Is.True, "the CSV ends with a complete line");
        return records;
    }

    /// <summary>A running <c>tracker ui</c> and the URL it printed.</summary>
    private sealed class UiProcess(CliProcess process, Uri url) : IAsyncDisposable
    {
        public CliProcess Process { get; } = process;

        public Uri Url { get; } = url;

        public ValueTask DisposeAsync() => Process.DisposeAsync();
    }
}
