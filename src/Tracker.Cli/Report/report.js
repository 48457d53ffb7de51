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
    el.innerHTML = `<div class="chart-head"><h3></h3></div><div class="plot"></div><div class="readout"></div>`;
    el.querySelector('h3').textContent = metric.key;
    container.appendChild(el);
    const plotEl = el.querySelector('.plot'), readout = el.querySelector('.readout');
    let plot = null;

    // x is the step, or by default the metric's step metric (DefineMetric): its value at each bucket's last step.
    const draw = axis => {
      plot?.destroy();
      const label = axis === 'step' ? 'step' : axis.slice(7);
      const tables = [], series = [{ label }], bands = [], main = [];
      for (const s of metric.series) {
        const run = data.runs[s.run];
        const first = series.length;
        const xs = axis === 'step' ? s.x : (s.step_metric_x ?? []).map(num);
        const rows = s.x.map((_, i) => [xs[i], finite(num(s.max[i])), finite(num(s.min[i])), finite(num(s.last[i]))]).filter(r => Number.isFinite(r[0]));
        if (axis !== 'step') rows.sort((a, b) => a[0] - b[0]);
        tables.push([0, 1, 2, 3].map(c => rows.map(r => r[c])));
        series.push({ label: `${run.name} max`, stroke: 'transparent', points: { show: false }, spanGaps: true },
          { label: `${run.name} min`, stroke: 'transparent', points: { show: false }, spanGaps: true },
          { label: run.name, stroke: run.colour, width: 1.5, points: { show: false }, spanGaps: true });
        bands.push({ series: [first, first + 1], fill: alpha(run.colour, 0.12) });
        main.push({ index: first + 2, name: run.name, colour: run.colour });
      }
      const aligned = tables.length === 1 ? tables[0] : uPlot.join(tables);
      plot = new uPlot({
        width: plotEl.clientWidth || 520, height: 230, series, bands, legend: { show: false }, scales: { x: { time: false } },
        axes: [{ label, labelSize: 18, size: 34, font: '11px system-ui', labelFont: '11px system-ui' }, { size: 60, font: '11px system-ui' }],
        cursor: { points: { show: false }, drag: { x: true, y: false } },
        hooks: {
          setCursor: [u => {
            const i = u.cursor.idx;
            readout.innerHTML = i === null || i === undefined ? '' : `<span>${label.replace(/[&<>]/g, '')} ${fmt(aligned[0][i])}</span>` + main.map(m => {
              const v = aligned[m.index][i];
              return v === null || v === undefined ? '' : `<span><i style="background:${m.colour}"></i>${m.name.replace(/[&<>]/g, '')}: ${fmt(v)}</span>`;
            }).join('');
          }],
        },
      }, aligned, plotEl);
      const xs = aligned[0].filter(Number.isFinite);
      Object.assign(el.dataset, { xAxis: axis, xLabel: label, xMin: xs.length ? Math.min(...xs) : '', xMax: xs.length ? Math.max(...xs) : '' });
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
    new ResizeObserver(() => plot.setSize({ width: plotEl.clientWidth, height: 230 })).observe(plotEl);
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

  // A canvas drawn at the device's pixel ratio, its width taken from the page.
  const surface = (canvas, height) => {
    const ratio = window.devicePixelRatio || 1, width = canvas.clientWidth || 420;
    canvas.style.height = `${height}px`;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    return { ctx, width, height };
  };
  const label = (ctx, text, x, y, align) => {
    ctx.fillStyle = '#6b7385';
    ctx.textAlign = align;
    ctx.fillText(text, x, y);
  };
  const pad = { left: 58, right: 10, top: 8, bottom: 20 };

  // Histogram over steps: a column per step, a band per bin, its intensity the bin's share of that step's fullest bin.
  const heatmap = (canvas, items, lo, hi, selected, colour) => {
    const { ctx, width, height } = surface(canvas, 190);
    const w = width - pad.left - pad.right, h = height - pad.top - pad.bottom, n = items.length;
    const gap = n > 1 ? (items[n - 1].step - items[0].step) / (n - 1) || 1 : 1;
    const x0 = items[0].step - gap / 2, x1 = items[n - 1].step + gap / 2;
    const x = s => Math.round(pad.left + ((s - x0) / (x1 - x0)) * w);
    const y = v => pad.top + ((hi - v) / (hi - lo)) * h;
    // Each column reaches halfway to its neighbours, so unevenly spaced steps keep their place.
    const column = i => [x(i === 0 ? x0 : (items[i - 1].step + items[i].step) / 2), x(i === n - 1 ? x1 : (items[i].step + items[i + 1].step) / 2)];
    ctx.fillStyle = '#fafbfc';
    ctx.fillRect(pad.left, pad.top, w, h);
    items.forEach((item, i) => {
      const [a, b] = column(i), most = Math.max(...item.counts);
      item.counts.forEach((count, j) => {
        if (count <= 0) return;
        const top = y(item.bins[j + 1]), bottom = y(item.bins[j]);
        ctx.fillStyle = alpha(colour, 0.08 + (0.92 * count) / most);
        ctx.fillRect(a, top, Math.max(1, b - a), Math.max(1, bottom - top));
      });
    });
    const [a, b] = column(selected);
    ctx.strokeStyle = '#1d2330';
    ctx.lineWidth = 1.5;
    ctx.strokeRect(a + 0.75, pad.top + 0.75, Math.max(1, b - a - 1.5), h - 1.5);
    label(ctx, fmt(hi), pad.left - 6, pad.top + 4, 'right');
    label(ctx, fmt((lo + hi) / 2), pad.left - 6, pad.top + h / 2, 'right');
    label(ctx, fmt(lo), pad.left - 6, pad.top + h - 4, 'right');
    label(ctx, `step ${fmt(items[0].step)}`, pad.left, height - 8, 'left');
    if (n > 1) label(ctx, fmt(items[n - 1].step), pad.left + w, height - 8, 'right');
  };

  // The selected step's histogram on its own value range; the heatmap above compares the steps.
  const bars = (canvas, item, colour) => {
    const { ctx, width, height } = surface(canvas, 96);
    const lo = item.bins[0], hi = item.bins[item.bins.length - 1];
    const w = width - pad.left - pad.right, h = height - pad.top - pad.bottom;
    const x = v => pad.left + ((v - lo) / (hi - lo)) * w, most = Math.max(...item.counts);
    ctx.fillStyle = colour;
    item.counts.forEach((count, j) => {
      if (count <= 0) return;
      const a = x(item.bins[j]), b = x(item.bins[j + 1]), bar = (count / most) * h;
      ctx.fillRect(a, pad.top + h - bar, Math.max(1, b - a - (b - a > 3 ? 1 : 0)), bar);
    });
    ctx.fillStyle = '#c9ced8';
    ctx.fillRect(pad.left, pad.top + h, w, 1);
    label(ctx, fmt(most), pad.left - 6, pad.top + 4, 'right');
    label(ctx, '0', pad.left - 6, pad.top + h - 2, 'right');
    label(ctx, fmt(lo), pad.left, height - 8, 'left');
    label(ctx, fmt(hi), pad.left + w, height - 8, 'right');
  };

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
      const lo = Math.min(...items.map(item => item.bins[0])), hi = Math.max(...items.map(item => item.bins[item.bins.length - 1]));
      let selected = items.length - 1;
      const draw = () => {
        heatmap(heat, items, lo, hi, selected, run.colour);
        bars(selectedBars, items[selected], run.colour);
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
