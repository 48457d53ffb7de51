using BenchmarkDotNet.Running;
using Tracker.Benchmarks;

// `throughput [points] [short|realistic]` runs the end-to-end program; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "throughput")
{
    var points = args.Length > 1 ? long.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20_000_000;
    var kinds = args.Length > 2 ? [args[2]] : new[] { "realistic", "short" };
    foreach (var kind in kinds)
    {
        Throughput.Run(points, kind == "short");
    }

    return;
}

if (args.Length > 1 && args[0] == "online")
{
    await OnlineThroughput.RunAsync(long.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture), args.Length > 2 ? args[2] : "sqlite", args.Length > 3 ? args[3] : null);
    return;
}

if (args.Length > 1 && args[0] == "live")
{
    // live SECONDS sqlite|postgres [CONN] [RUNS] [KEYS] [STEPS_PER_SECOND]
    var postgres = args.Length > 2 && args[2] == "postgres";
    var rest = args.Skip(postgres ? 4 : 3).Select(a => int.Parse(a, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    await LiveRuns.RunAsync(double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture), args.Length > 2 ? args[2] : "sqlite", postgres ? args[3] : null,
        rest.Length > 0 ? rest[0] : 100, rest.Length > 1 ? rest[1] : 50, rest.Length > 2 ? rest[2] : 10);
    return;
}

// `init [runs] [parts]`: wall time of Run.Init, cold and warm; `parts` times its pieces.
if (args.Length > 0 && args[0] == "init")
{
    InitTiming.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200, args.Length > 2 && args[2] == "parts");
    return;
}

// `warmup [local|discard] [scalar]`: the first 10,000 dictionary Log calls (or rows of 10 scalar calls) of a fresh process against the steady state.
if (args.Length > 0 && args[0] == "warmup")
{
    LogWarmup.Run(args.Length > 1 && args[1] == "discard", args.Length > 2 && args[2] == "scalar");
    return;
}

// `runs-query sqlite [RUNS]` or `runs-query postgres CONN [RUNS]`: a filtered, sorted page of 50 runs out of RUNS (default 100,000).
if (args.Length > 1 && args[0] == "runs-query")
{
    var postgres = args[1] == "postgres";
    var count = args.Length > (postgres ? 3 : 2) ? int.Parse(args[postgres ? 3 : 2], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
    await RunsQueryTiming.RunAsync(args[1], postgres ? args[2] : null, count);
    return;
}

// `mlflow-batch [REQUESTS] [CLIENTS]`: MLflow log-batch requests of 1,000 metrics against a real server on SQLite.
if (args.Length > 0 && args[0] == "mlflow-batch")
{
    await MlflowBatchThroughput.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200,
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 4);
    return;
}

// `tensorboard-file DIR [SCALARS]`: an event file of SCALARS scalars (default 1,000,000) to time `tracker import tensorboard DIR` on.
if (args.Length > 1 && args[0] == "tensorboard-file")
{
    TensorBoardImportFile.Write(args[1], args.Length > 2 ? long.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000);
    return;
}

// `tensorboard-out [SCALARS]`: the TensorBoard backend end to end and alone (default 1,000,000 scalars).
if (args.Length > 0 && args[0] == "tensorboard-out")
{
    await TensorBoardOut.RunAsync(args.Length > 1 ? long.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000);
    return;
}

if (args.Length > 0 && args[0] == "sampler")
{
    SamplerCost.Run();
    return;
}

if (args.Length > 0 && args[0] == "media")
{
    MediaLogging.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 0);
    return;
}

if (args.Length > 1 && args[0] == "runs")
{
    SampleRuns.Write(args[1]);
    return;
}

if (args.Length > 0 && args[0] == "ui")
{
    await UiTiming.RunAsync(compareOnly: args.Length > 1 && args[1] == "compare");
    return;
}

if (args.Length > 1 && args[0] == "ingest" && args[1] == "small")
{
    // ingest small [ROUNDS] [sqlite|postgres CONN]
    await IngestPhases.RunSmallBatchesAsync(args.Length > 3 ? args[3] : "sqlite", args.Length > 4 ? args[4] : null, args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 60);
    return;
}

if (args.Length > 0 && args[0] == "ingest")
{
    await IngestPhases.RunAsync();
    return;
}

if (args.Length > 0 && args[0] == "series")
{
    await SeriesTiming.RunAsync(args.Length > 1 ? args[1] : "sqlite", args.Length > 2 ? args[2] : null);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(LogBenchmarks).Assembly).Run(args);
