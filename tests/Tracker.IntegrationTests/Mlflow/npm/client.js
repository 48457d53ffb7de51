// Logs a run through Tracker's MLflow-compatible API with the `mlflow` npm package, configured as
// MLflow users configure their clients (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN), then reads it
// back through the same client and prints what it read as one line: RESULT {json}.
const MLflow = require('mlflow');

const endpoint = process.env.MLFLOW_TRACKING_URI.replace(/\/$/, '');
const token = process.env.MLFLOW_TRACKING_TOKEN;
const experimentName = process.argv[2];
const t0 = Number(process.argv[3]);

const client = new MLflow({ endpoint, headers: { Authorization: `Bearer ${token}` } });
const { Experiments, Runs, Metrics } = client;

(async () => {
  const { experiment_id } = await Experiments.create({ name: experimentName });
  const { run } = await Runs.create({
    experiment_id,
    start_time: t0,
    tags: [{ key: 'mlflow.runName', value: 'npm-run' }, { key: 'team', value: 'vision' }],
  });
  const run_id = run.info.run_id;
  await Runs.logBatch({
    run_id,
    metrics: [
      { key: 'loss', value: 0.9, timestamp: t0 + 100, step: 0 },
      { key: 'loss', value: 0.45, timestamp: t0 + 200, step: 1 },
      { key: 'loss', value: 0.1 + 0.2, timestamp: t0 + 300, step: 2 },
      { key: 'val/acc', value: 0.875, timestamp: t0 + 300, step: 2 },
    ],
    params: [{ key: 'lr', value: '0.001' }, { key: 'optimizer', value: 'adam' }],
    tags: [{ key: 'stage', value: 'dev' }],
  });
  await Runs.logMetric({ run_id, key: 'loss', value: 0.125, timestamp: t0 + 400, step: 3 });
  await Runs.logParameter({ run_id, key: 'epochs', value: '4' });
  await Runs.setTag({ run_id, key: 'mlflow.note.content', value: 'from the npm client' });
  await Runs.update({ run_id, status: 'FINISHED', end_time: t0 + 5000 });

  const got = await Runs.get({ run_id });
  const history = await Metrics.getHistory({ run_id, metric_key: 'loss' });
  const search = await Runs.search({ experiment_ids: [experiment_id], filter: "metrics.loss < 0.5 and params.optimizer = 'adam'" });
  const experiment = await Experiments.get({ experiment_id });
  let duplicate = null;
  try {
    await Experiments.create({ name: experimentName });
  } catch (e) {
    duplicate = e.message;
  }

  process.stdout.write('RESULT ' + JSON.stringify({ run_id, experiment_id, got, history, search, experiment, duplicate }) + '\n');
})().catch((e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
