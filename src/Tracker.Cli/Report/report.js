// Draws the report's charts from the data inlined above it; no network, no other files. Numbers,
// charts and heat maps are drawn by the web UI's shared modules (shared/*.js), inlined before this.
'use strict';
(() => {
  const { num, fmt, fmtDuration, lineChart, readout: readoutHtml, xRange, runColour, unitOf, HistogramHeatmap } = window.Tracker;
  const data = JSON.parse(document.getElementById('report-data').textContent);
  // Each run's colour by its place among the report's runs, from the web UI's palette: the same on every chart, table and card.
  data.runs.forEach((run, i) => { run.colour = runColour(i); });
  for (const swatch of document.querySelectorAll('.swatch[data-run]')) swatch.style.background = data.runs[Number(swatch.dataset.run)]?.colour ?? '';
  // Durations as the web UI writes them.
  for (const span of document.querySelectorAll('.duration[data-seconds]')) span.textContent = fmtDuration(Number(span.dataset.seconds));
  const container = document.getElementById('charts');
  for (const metric of data.metrics) {
    const el = document.createElement('div');
    el.className = 'chart';
    el.dataset.key = metric.key;
    el.innerHTML = `<div class="chart-head"><h3></h3></div><div class="plot"></div><div class="readout"></div>`;
    el.querySelector('h3').textContent = metric.key;
    container.appendChild(el);
    const plotEl = el.querySelector('.plot'), readout = el.querySelector('.readout');
    const unit = unitOf(metric.key), hidden = new Set();
    let chart = null;

    // x is the step, or by default the metric's step metric (DefineMetric): its value at each bucket's last step.
    const draw = axis => {
      chart?.destroy();
      const label = axis === 'step' ? 'step' : axis.slice(7);
      const lines = metric.series.map(s => {
        const run = data.runs[s.run];
        const xs = axis === 'step' ? s.x : (s.step_metric_x ?? []).map(num);
        const rows = s.x.map((_, i) => [xs[i], num(s.last[i]), num(s.min[i]), num(s.max[i])]).filter(r => Number.isFinite(r[0]));
        if (axis !== 'step') rows.sort((a, b) => a[0] - b[0]);
        return { label: run.name, colour: run.colour, xs: rows.map(r => r[0]), ys: rows.map(r => r[1]), lo: rows.map(r => r[2]), hi: rows.map(r => r[3]) };
      });
      chart = lineChart(plotEl, {
        lines, width: plotEl.clientWidth || 520, height: 230, xLabel: label, unit, hidden,
        cursor: { drag: { x: true, y: false } },
        hooks: { setCursor: [u => { readout.innerHTML = readoutHtml(chart, u.cursor.idx, label, fmt, unit); }] },
      });
      const [xMin, xMax] = xRange(chart);
      Object.assign(el.dataset, { xAxis: axis, xLabel: label, xMin, xMax });
    };

    if (metric.step_metric) {
      const select = document.createElement('select');
      select.className = 'x-axis';
      select.setAttribute('aria-label', 'x-axis');
      for (const [value, text] of [[`metric:${metric.step_metric}`, metric.step_metric], ['step', 'step']]) select.append(new Option(text, value));
      select.addEventListener('change', () => draw(select.value));
      el.querySelector('.chart-head').append(select);
    }
    draw(metric.step_metric ? `metric:${metric.step_metric}` : 'step');
    el.dataset.points = metric.series[0]?.x.length ?? 0;
    el.dataset.series = metric.series.length;
    new ResizeObserver(() => chart.plot.setSize({ width: plotEl.clientWidth, height: 230 })).observe(plotEl);
  }
  document.body.dataset.charts = String(data.metrics.length);

  // Media: a section per key, a card per run that logged it, a slider over the steps inlined.
  // Logged strings (keys, captions, cells, texts) only ever go in as text, never as HTML.
  const media = JSON.parse(document.getElementById('report-media').textContent);
  const make = (tag, className, text) => {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  };
  const cell = v => (v === null || v === undefined ? '' : typeof v === 'number' ? fmt(v) : String(v));

  // Each kind builds its card's content and returns what to do when the slider picks an item.
  const render = {
    image: card => {
      const figure = make('figure'), img = make('img'), caption = make('figcaption');
      figure.append(img, caption);
      card.append(figure);
      return item => {
        img.src = item.src;
        img.alt = item.caption ?? '';
        img.classList.toggle('pixelated', Math.max(item.width, item.height) < 220);
        caption.textContent = item.caption ?? '';
      };
    },
    histogram: (card, items, run) => {
      const heat = make('canvas', 'heatmap'), selectedBars = make('canvas', 'bars'), readout = make('div', 'readout');
      heat.dataset.steps = String(items.length);
      card.append(heat, selectedBars, readout);
      const map = new HistogramHeatmap(items, run.colour);
      let selected = items.length - 1;
      const draw = () => {
        map.drawHeat(heat, 190, selected);
        map.drawBars(selectedBars, 96, items[selected]);
      };
      new ResizeObserver(draw).observe(heat);
      return (item, i) => {
        selected = i;
        draw();
        const values = item.counts.reduce((sum, c) => sum + c, 0);
        readout.textContent = [`${values} values from ${fmt(item.bins[0])} to ${fmt(item.bins[item.bins.length - 1])}`,
          item.nan ? `${item.nan} NaN` : '', item.inf ? `${item.inf} infinite` : ''].filter(Boolean).join(' · ');
      };
    },
    table: card => {
      const wrap = make('div', 'media-table'), note = make('p', 'muted media-note');
      card.append(wrap, note);
      return item => {
        const table = make('table'), head = make('tr'), body = make('tbody'), thead = make('thead');
        head.append(...item.columns.map(c => make('th', null, c)));
        for (const row of item.rows) {
          const tr = make('tr');
          tr.append(...row.map(v => make('td', typeof v === 'number' ? 'num' : null, cell(v))));
          body.append(tr);
        }
        thead.append(head);
        table.append(thead, body);
        wrap.replaceChildren(table);
        note.textContent = item.total > item.rows.length ? `The first ${item.rows.length} of ${item.total} rows.` : `${item.total} row${item.total === 1 ? '' : 's'}.`;
      };
    },
    text: card => {
      const pre = make('pre', 'media-text');
      card.append(pre);
      return item => { pre.textContent = item.text; };
    },
  };

  // A range input over the steps inlined, starting at the last: under an image or histogram, above a table or text.
  const stepper = (card, items, show, above) => {
    const row = make('div', 'media-slider'), input = make('input'), step = make('span', 'media-step');
    Object.assign(input, { type: 'range', min: '0', max: String(items.length - 1), step: '1' });
    input.value = input.max;
    input.setAttribute('aria-label', 'step');
    const update = () => {
      const i = Number(input.value), item = items[i];
      step.textContent = `step ${item.step}`;
      card.dataset.step = String(item.step);
      show(item, i);
    };
    input.addEventListener('input', update);
    if (items.length > 1) row.append(input);
    row.append(step);
    if (above) above.after(row);
    else card.append(row);
    update();
  };

  const mediaRoot = document.getElementById('media');
  for (const group of media) {
    const section = make('section', `media-key ${group.kind}`), heading = make('h3', null, group.key), grid = make('div', 'media-grid');
    section.dataset.key = group.key;
    section.dataset.kind = group.kind;
    heading.append(make('span', 'muted', group.kind));
    section.append(heading, grid);
    for (const s of group.series) {
      const run = data.runs[s.run], card = make('div', 'media-card'), title = make('div', 'media-run'), swatch = make('i', 'swatch');
      swatch.style.background = run.colour;
      title.append(swatch, run.name);
      card.append(title);
      card.dataset.run = run.name;
      card.dataset.steps = String(s.items.length);
      card.dataset.total = String(s.total);
      if (s.items.length > 0) stepper(card, s.items, render[group.kind](card, s.items, run), group.kind === 'table' || group.kind === 'text' ? title : null);
      for (const note of s.notes) card.append(make('p', 'muted media-note', note));
      grid.append(card);
    }
    mediaRoot.append(section);
  }
  document.body.dataset.media = String(media.length);
})();
