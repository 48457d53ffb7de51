// Reads one run back with the `mlflow` npm package, configured as MLflow users configure their
// clients (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN), and prints it as one line: RESULT {json}.
const MLflow = require('mlflow');

const endpoint = process.env.MLFLOW_TRACKING_URI.replace(/\/$/, '');
const token = process.env.MLFLOW_TRACKING_TOKEN;
const runId = process.argv[2];
const metricKey = process.argv[3];

const client = new MLflow({ endpoint, headers: { Authorization: `Bearer ${token}` } });
const { Runs, Metrics } = client;

(async () => {
  const got = await Runs.get({ run_id: runId });
  const history = await Metrics.getHistory({ run_id: runId, metric_key: metricKey });
  const search = await Runs.search({ experiment_ids: [got.run.info.experiment_id], filter: "attributes.status = 'FINISHED'" });
  process.stdout.write('RESULT ' + JSON.stringify({ got, history, search }) + '\n');
})().catch((e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
