// Draws the report's charts from the data inlined above it; no network, no other files.
'use strict';
(() => {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const num = v => (typeof v === 'number' ? v : v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : null);
  const fmt = v => (v === null || v === undefined ? '' : Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-4 && v !== 0) ? v.toExponential(4) : String(+v.toPrecision(6)));
  const alpha = (hex, a) => `${hex}${Math.round(a * 255).toString(16).padStart(2, '0')}`;
  const finite = v => (Number.isFinite(v) ? v : null);
  const container = document.getElementById('charts');
  for (const metric of data.metrics) {
    const el = document.createElement('div');
    el.className = 'chart';
    el.dataset.key = metric.key;
    el.innerHTML = `<h3></h3><div class="plot"></div><div class="readout"></div>`;
    el.querySelector('h3').textContent = metric.key;
    container.appendChild(el);
    const tables = [], series = [{ label: 'step' }], bands = [], main = [];
    for (const s of metric.series) {
      const run = data.runs[s.run];
      const first = series.length;
      tables.push([s.x, s.max.map(v => finite(num(v))), s.min.map(v => finite(num(v))), s.last.map(v => finite(num(v)))]);
      series.push({ label: `${run.name} max`, stroke: 'transparent', points: { show: false }, spanGaps: true },
        { label: `${run.name} min`, stroke: 'transparent', points: { show: false }, spanGaps: true },
        { label: run.name, stroke: run.colour, width: 1.5, points: { show: false }, spanGaps: true });
      bands.push({ series: [first, first + 1], fill: alpha(run.colour, 0.12) });
      main.push({ index: first + 2, name: run.name, colour: run.colour });
    }
    const aligned = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const readout = el.querySelector('.readout');
    const plot = new uPlot({
      width: el.querySelector('.plot').clientWidth || 520, height: 230, series, bands, legend: { show: false }, scales: { x: { time: false } },
      axes: [{ label: 'step', labelSize: 18, size: 34, font: '11px system-ui', labelFont: '11px system-ui' }, { size: 60, font: '11px system-ui' }],
      cursor: { points: { show: false }, drag: { x: true, y: false } },
      hooks: {
        setCursor: [u => {
          const i = u.cursor.idx;
          readout.innerHTML = i === null || i === undefined ? '' : `<span>step ${fmt(aligned[0][i])}</span>` + main.map(m => {
            const v = aligned[m.index][i];
            return v === null || v === undefined ? '' : `<span><i style="background:${m.colour}"></i>${m.name.replace(/[&<>]/g, '')}: ${fmt(v)}</span>`;
          }).join('');
        }],
      },
    }, aligned, el.querySelector('.plot'));
    el.dataset.points = metric.series[0]?.x.length ?? 0;
    el.dataset.series = metric.series.length;
    new ResizeObserver(() => plot.setSize({ width: el.querySelector('.plot').clientWidth, height: 230 })).observe(el.querySelector('.plot'));
  }
  document.body.dataset.charts = String(data.metrics.length);
})();
