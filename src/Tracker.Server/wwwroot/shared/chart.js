// Tracker's front-end modules, shared by the web UI and the `tracker report` file (which inlines
// them): a chart of bucketed series drawn with uPlot. Each line is the buckets' last values over a
// band from their min to their max, so a spike is never averaged away. Needs format.js and uPlot.
'use strict';
(() => {
  const { fmt, esc, alpha } = window.Tracker;

  /** Exponential moving average with TensorBoard's debiasing, skipping gaps. */
  function smooth(values, weight) {
    if (!weight) return values;
    let last = 0, n = 0;
    return values.map(v => {
      if (v === null || !Number.isFinite(v)) return v;
      last = last * weight + (1 - weight) * v;
      n++;
      return last / (1 - weight ** n);
    });
  }

  /**
   * Draws lines into `target` and returns { plot, data, main }: `data` is uPlot's aligned data
   * (x first), `main` each line's { index, raw, label, colour } (the series drawn bold, and the
   * unsmoothed one). A line is { label, colour, xs, ys, lo, hi }; lo and hi (the band) may be null.
   * Options: width, height, xLabel, xTime (x in seconds since 1970), logY, smoothing (0 to 1),
   * cursor and hooks (uPlot's).
   */
  function lineChart(target, { lines, width, height, xLabel, xTime = false, logY = false, smoothing = 0, cursor = {}, hooks = {} }) {
    const positive = v => (logY && !(v > 0) ? null : Number.isFinite(v) ? v : null);
    const tables = [], series = [{ label: xLabel }], bands = [], main = [];
    for (const line of lines) {
      const cols = [line.xs];
      const first = series.length;
      if (line.lo && line.hi) {
        cols.push(line.hi.map(positive), line.lo.map(positive));
        series.push({ label: `${line.label} max`, stroke: 'transparent', points: { show: false }, spanGaps: true }, { label: `${line.label} min`, stroke: 'transparent', points: { show: false }, spanGaps: true });
        bands.push({ series: [first, first + 1], fill: alpha(line.colour, 0.12) });
      }
      const raw = line.ys.map(positive);
      cols.push(raw);
      series.push({ label: line.label, stroke: smoothing ? alpha(line.colour, 0.25) : line.colour, width: 1.25, points: { show: false }, spanGaps: true });
      if (smoothing) {
        cols.push(smooth(raw, smoothing));
        series.push({ label: `${line.label} (smoothed)`, stroke: line.colour, width: 1.75, points: { show: false }, spanGaps: true });
      }
      main.push({ index: series.length - 1, raw: series.length - (smoothing ? 2 : 1), label: line.label, colour: line.colour });
      tables.push(cols);
    }
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const plot = new uPlot({
      width, height, series, bands,
      legend: { show: false },
      scales: { x: { time: xTime }, y: { distr: logY ? 3 : 1 } },
      axes: [{ label: xLabel, labelSize: 18, size: 34, font: '11px system-ui', labelFont: '11px system-ui' }, { size: 60, font: '11px system-ui' }],
      cursor: { points: { show: false }, ...cursor },
      hooks,
    }, data, target);
    return { plot, data, main };
  }

  /** The readout under a chart for the cursor at data index i: the x, then each line's value there. */
  function readout(chart, i, xLabel, xText = fmt) {
    if (i === null || i === undefined || !chart?.data) return '';
    return `<span>${esc(xLabel)} ${esc(xText(chart.data[0][i]))}</span>${chart.main.map(m => {
      const v = chart.data[m.index][i];
      return v === null || v === undefined ? '' : `<span><i class="swatch" style="background:${m.colour}"></i>${esc(m.label)}: ${esc(fmt(v))}</span>`;
    }).join('')}`;
  }

  /** The lowest and highest finite x drawn, for the chart's data-x-min and data-x-max. */
  function xRange(chart) {
    const xs = chart.data[0].filter(Number.isFinite);
    return xs.length ? [Math.min(...xs), Math.max(...xs)] : ['', ''];
  }

  window.Tracker = Object.assign(window.Tracker || {}, { smooth, lineChart, readout, xRange });
})();
