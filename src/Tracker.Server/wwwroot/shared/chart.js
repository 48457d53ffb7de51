// Tracker's front-end modules, shared by the web UI and the `tracker report` file (which inlines
// them): a chart of bucketed series drawn with uPlot. Each line is the buckets' last values over a
// band from their min to their max, so a spike is never averaged away. Needs format.js and uPlot.
'use strict';
(() => {
  const { fmt, ticks, clock, clockTicks, esc, alpha } = window.Tracker;

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

  /** Dash patterns for the metrics of one run on one chart: the run keeps its colour, each metric its pattern. */
  const DASHES = [null, [6, 3], [2, 3], [10, 3, 2, 3], [1, 2]];

  /** The value at quantile q (0 to 1) of sorted numbers, interpolated. */
  function quantile(sorted, q) {
    const at = (sorted.length - 1) * q, i = Math.floor(at);
    return i + 1 < sorted.length ? sorted[i] + (sorted[i + 1] - sorted[i]) * (at - i) : sorted[i];
  }

  /** The y range around [lo, hi]: 5% each side, a constant a tenth of its size either way (1 for 0), a log scale by factors. */
  function around(lo, hi, scale, fixedLo, fixedHi) {
    if (scale === 'log') {
      if (lo === hi) return [fixedLo ? lo : lo / 2, fixedHi ? hi : hi * 2];
      const f = (hi / lo) ** 0.05;
      return [fixedLo ? lo : lo / f, fixedHi ? hi : hi * f];
    }
    const pad = lo === hi ? (lo === 0 ? 1 : Math.abs(lo) * 0.1) : (hi - lo) * 0.05;
    return [fixedLo ? lo : lo - pad, fixedHi ? hi : hi + pad];
  }

  /** About n round ticks (1, 2 or 5 times a power of ten apart) from lo to hi. */
  function roundTicks(lo, hi, n = 5) {
    const raw = (hi - lo) / n, power = 10 ** Math.floor(Math.log10(raw)), f = raw / power;
    const step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * power;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }

  /** 1 to 9 times each power of ten from lo to hi, as uPlot's log axis splits (it labels those that fit). */
  function logTicks(lo, hi) {
    const out = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
      for (let m = 1; m < 10; m++) {
        const v = +(m * 10 ** k).toPrecision(12);
        if (v >= lo && v <= hi) out.push(v);
      }
    }
    return out;
  }

  let measure = null;
  /** The width in CSS pixels of an axis label in the axes' font. */
  function textWidth(text) {
    measure ??= document.createElement('canvas').getContext('2d');
    measure.font = '11px system-ui';
    return measure.measureText(text).width;
  }

  const MARKS = { nan: 'NaN', inf: '+∞', ninf: '−∞' };

  /** Lines a chart draws bands for: past it the bands of many lines cover one another and the chart, and each line is drawn alone. */
  const BAND_LINES = 10;

  /**
   * Draws lines into `target` and returns { plot, data, main, destroy }: `data` is uPlot's aligned
   * data (x first), `main` each line's { index, raw, label, colour } (the series drawn bold, and the
   * unsmoothed one). A line is { label, colour, dash, xs, ys, lo, hi }; lo and hi (the band) may be
   * null; values may be NaN or ±Infinity (marked where they occur, not drawn).
   * Options: width, height, xLabel, xTime (x in seconds since 1970), xClock (x in seconds, shown
   * h:mm:ss), unit (after y values), scale ('linear', 'log' or 'symlog'), smoothing (0 to 1),
   * yMin and yMax (null for auto), clip (a percentile, 90 to 100: y shows that central share of the
   * values, outliers past it are cut off; 0 for none), hidden (a Set of line labels not drawn, kept
   * up to date as the legend is clicked), cursor and hooks (uPlot's).
   * Target's data-y-min, data-y-max and data-y-ticks say what the y-axis shows, data-axis-colour the
   * colour its text was drawn in (the theme's --chart-text).
   */
  function lineChart(target, {
    lines, width, height, xLabel, xTime = false, xClock = false, unit = '', scale = 'linear', smoothing = 0,
    yMin = null, yMax = null, clip = 0, hidden = new Set(), cursor = {}, hooks = {},
  }) {
    const log = scale === 'log';
    let leftOut = 0, finiteCount = 0, smallest = Infinity;
    const marks = []; // { line, x, kind }
    const drawable = v => {
      if (!Number.isFinite(v)) return null;
      finiteCount++;
      if (v !== 0) smallest = Math.min(smallest, Math.abs(v));
      if (log && !(v > 0)) { leftOut++; return null; }
      return v;
    };
    const bandValue = v => (Number.isFinite(v) && !(log && v <= 0) ? v : null);

    const tables = [], series = [{ label: xLabel }], bands = [], main = [];
    lines.forEach((line, li) => {
      const cols = [line.xs];
      const first = series.length, members = [];
      line.xs.forEach((x, i) => {
        const y = line.ys[i], lo = line.lo?.[i], hi = line.hi?.[i];
        if (Number.isNaN(y)) marks.push({ line: li, x, kind: 'nan' });
        if (y === Infinity || hi === Infinity) marks.push({ line: li, x, kind: 'inf' });
        if (y === -Infinity || lo === -Infinity) marks.push({ line: li, x, kind: 'ninf' });
      });
      if (line.lo && line.hi && lines.length <= BAND_LINES) {
        cols.push(line.hi.map(bandValue), line.lo.map(bandValue));
        series.push({ label: `${line.label} max`, stroke: 'transparent', points: { show: false }, spanGaps: true }, { label: `${line.label} min`, stroke: 'transparent', points: { show: false }, spanGaps: true });
        bands.push({ series: [first, first + 1], fill: alpha(line.colour, 0.12) });
        members.push(first, first + 1);
      }
      const raw = line.ys.map(drawable);
      const single = raw.filter(v => v !== null).length === 1;
      cols.push(raw);
      // A lone point has no line to draw: it is drawn as a dot (and labelled below).
      const dots = { show: single, size: 7, fill: line.colour, stroke: line.colour };
      series.push({ label: line.label, stroke: smoothing ? alpha(line.colour, 0.25) : line.colour, dash: line.dash ?? undefined, width: 1.25, points: dots, spanGaps: true });
      members.push(series.length - 1);
      if (smoothing) {
        cols.push(smooth(raw, smoothing));
        series.push({ label: `${line.label} (smoothed)`, stroke: line.colour, dash: line.dash ?? undefined, width: 1.75, points: { show: false }, spanGaps: true });
        members.push(series.length - 1);
      }
      main.push({ index: series.length - 1, raw: series.length - (smoothing ? 2 : 1), label: line.label, colour: line.colour, dash: line.dash, single, members });
      tables.push(cols);
    });
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);

    // The y range from the lines shown: clipped to a percentile, or the user's bounds, and never a zero-height range.
    const yRange = (u, dataMin, dataMax) => {
      let lo = dataMin, hi = dataMax;
      if (clip > 0) {
        const values = main.filter(m => u.series[m.raw].show).flatMap(m => u.data[m.raw].filter(v => v !== null && v !== undefined)).sort((a, b) => a - b);
        if (values.length) [lo, hi] = [quantile(values, (100 - clip) / 100), quantile(values, clip / 100)];
      }
      if (yMin !== null && Number.isFinite(yMin) && !(log && yMin <= 0)) lo = yMin;
      if (yMax !== null && Number.isFinite(yMax) && !(log && yMax <= 0)) hi = yMax;
      if (lo === null || hi === null || !Number.isFinite(lo) || !Number.isFinite(hi)) return log ? [1, 10] : [0, 1];
      if (lo > hi) [lo, hi] = [hi, lo];
      return around(lo, hi, scale, yMin !== null && lo === yMin, yMax !== null && hi === yMax);
    };
    const xRange = (u, lo, hi) => (lo === null || hi === null ? [0, 1] : lo === hi ? [lo - (xTime ? 60 : 1), hi + (xTime ? 60 : 1)] : [lo, hi]);

    let yLabels = [];
    // The y-axis as wide as its longest label, plus uPlot's tick (10 px) and gap (5 px).
    const axisSize = (u, values) => Math.ceil(Math.max(20, ...(values ?? []).map(v => textWidth(String(v ?? ''))))) + 19;
    const overlay = document.createElement('div');
    overlay.className = 'chart-overlay';
    const note = document.createElement('p');
    note.className = 'chart-note';

    // Lone points get their value written beside them; NaN and infinities a marker at the plot's edge.
    const drawOverlay = u => {
      overlay.replaceChildren();
      const h = u.over.clientHeight, w = u.over.clientWidth;
      for (const m of main) {
        if (!m.single || !u.series[m.raw].show) continue;
        const i = u.data[m.raw].findIndex(v => v !== null && v !== undefined);
        const px = u.valToPos(u.data[0][i], 'x'), py = u.valToPos(u.data[m.raw][i], 'y');
        if (!(px >= 0 && px <= w && py >= 0 && py <= h)) continue;
        const label = document.createElement('span');
        label.className = 'point-label';
        label.textContent = ticks([u.data[m.raw][i]], unit)[0];
        label.style.color = m.colour;
        Object.assign(label.dataset, { px: px.toFixed(1), py: py.toFixed(1), line: m.label });
        label.style.left = `${px + 6}px`;
        label.style.top = `${py < 18 ? py + 4 : py - 18}px`;
        if (px > w - 60) { label.style.left = ''; label.style.right = `${w - px + 6}px`; }
        overlay.append(label);
      }
      const lastAt = new Map();
      for (const mark of marks) {
        const m = main[mark.line];
        if (!u.series[m.raw].show) continue;
        const px = u.valToPos(mark.x, 'x');
        const id = `${mark.line}:${mark.kind}`;
        if (!(px >= 0 && px <= w) || Math.abs((lastAt.get(id) ?? -99) - px) < 8) continue; // one marker per 8 px
        lastAt.set(id, px);
        const e = document.createElement('span');
        e.className = `mark mark-${mark.kind}`;
        e.textContent = MARKS[mark.kind];
        e.title = `${m.label}: ${MARKS[mark.kind].replace('−', '-')} at ${xLabel} ${xTime ? new Date(mark.x * 1000).toLocaleString() : xClock ? clock(mark.x, 1) : fmt(mark.x)}`;
        e.style.color = m.colour;
        e.style.borderColor = m.colour;
        e.style.left = `${px}px`;
        if (mark.kind === 'inf') e.style.top = '2px'; else e.style.bottom = '2px';
        e.dataset.line = m.label;
        overlay.append(e);
      }
      const kinds = new Set(marks.map(m => m.kind)), bottom = [kinds.has('nan') && 'NaN', kinds.has('ninf') && '−∞'].filter(Boolean).join(' and ');
      const nonFinite = [bottom && ` ${bottom} marked at the bottom edge`, kinds.has('inf') && `${bottom ? ',' : ''} +∞ at the top`].filter(Boolean).join('') + (kinds.size ? '.' : '');
      note.textContent = (log && leftOut ? (leftOut === finiteCount
        ? `Log scale: all ${leftOut} values are zero or negative, so none is drawn; pick symlog or linear.`
        : `Log scale: ${leftOut} value${leftOut === 1 ? '' : 's'} ≤ 0 left out; symlog shows them.`) : '') + nonFinite;
      note.hidden = !note.textContent;
      const [lo, hi] = [u.scales.y.min, u.scales.y.max];
      Object.assign(target.dataset, { yMin: lo ?? '', yMax: hi ?? '', yTicks: yLabels.join('|'), marks: marks.length, leftOut });
    };

    // Axis text and grid in the page's theme (chart.css: --chart-text, --chart-grid), read when drawn: the canvas has no CSS.
    const theme = name => getComputedStyle(target).getPropertyValue(name).trim() || (name === '--chart-text' ? '#1d2330' : 'rgba(0,0,0,.07)');
    const text = () => (target.dataset.axisColour = theme('--chart-text')), grid = () => theme('--chart-grid');
    const themed = () => ({ stroke: text, grid: { stroke: grid }, ticks: { stroke: grid } });
    const userDraw = hooks.draw ?? [];
    const plot = new uPlot({
      width, height, series, bands,
      legend: { show: false },
      scales: {
        x: { time: xTime, range: xRange },
        // symlog is uPlot's asinh scale: linear within the smallest magnitude logged, logarithmic past it.
        y: { distr: log ? 3 : scale === 'symlog' ? 4 : 1, asinh: Number.isFinite(smallest) ? smallest : 1, range: yRange },
      },
      axes: [
        { ...themed(), label: xLabel, labelSize: 18, size: 34, space: xClock ? 90 : 50, font: '11px system-ui', labelFont: '11px system-ui', ...(xTime ? {} : { values: (u, splits) => (xClock ? clockTicks(splits) : ticks(splits)) }) },
        {
          ...themed(), size: axisSize, font: '11px system-ui',
          // Within less than a decade a log axis has no power of ten to label: round ticks as on a linear one.
          // Across decades: gridlines at 1 to 9 times each power of ten, labels at the powers (and 2, 5 within two decades).
          ...(log ? { splits: (u, i, lo, hi) => (hi / lo < 10 ? roundTicks(lo, hi) : logTicks(lo, hi)), filter: (u, splits) => splits } : {}),
          values: (u, splits) => {
            const { min, max } = u.scales.y, decades = log && max / min >= 10;
            const mantissa = v => Math.round(v / 10 ** Math.floor(Math.log10(v) + 1e-9));
            const labelled = decades ? splits.map(v => ([1, ...(max / min <= 100 ? [2, 5] : [])].includes(mantissa(v)) ? v : null)) : splits;
            const labels = ticks(labelled, unit);
            yLabels = labels.filter(l => l !== null);
            return labels;
          },
        },
      ],
      cursor: { points: { show: false }, ...cursor },
      hooks: { ...hooks, draw: [drawOverlay, ...userDraw] },
    }, data, target);
    plot.over.append(overlay);
    target.append(note);

    const apply = () => plot.batch(() => {
      for (const m of main) for (const i of m.members) plot.setSeries(i, { show: !hidden.has(m.label) });
      legend?.querySelectorAll('.legend-item').forEach((b, i) => b.classList.toggle('off', hidden.has(main[i].label)));
    });

    // A legend on every chart of more than one line: click hides or shows a line, ctrl/⌘/shift-click or a double-click shows it alone.
    let legend = null;
    if (main.length > 1) {
      legend = document.createElement('div');
      legend.className = 'chart-legend';
      legend.title = 'Click to hide or show; ctrl-click or double-click to show only this one';
      for (const m of main) {
        const item = document.createElement('button');
        item.type = 'button';
        item.className = 'legend-item';
        item.dataset.label = m.label;
        item.innerHTML = `<svg width="22" height="8" aria-hidden="true"><line x1="1" y1="4" x2="21" y2="4" stroke="${m.colour}" stroke-width="2.5"${m.dash ? ` stroke-dasharray="${m.dash.join(' ')}"` : ''}/></svg>${esc(m.label)}`;
        const isolate = () => {
          const alone = main.every(o => hidden.has(o.label) === (o !== m));
          hidden.clear();
          if (!alone) for (const o of main) if (o !== m) hidden.add(o.label);
          apply();
        };
        item.addEventListener('click', e => {
          if (e.detail > 1) return; // the double-click's second click: isolate follows
          if (e.ctrlKey || e.metaKey || e.shiftKey) { isolate(); return; }
          if (hidden.has(m.label)) hidden.delete(m.label); else hidden.add(m.label);
          apply();
        });
        item.addEventListener('dblclick', () => {
          if (hidden.has(m.label)) hidden.delete(m.label); // undo the first click's toggle
          isolate();
        });
        legend.append(item);
      }
      target.append(legend);
    }
    for (const label of [...hidden]) if (!main.some(m => m.label === label)) hidden.delete(label);
    if (hidden.size) apply();

    // The system switching between light and dark, or printing (paper is light), redraws the axes in the new colours.
    const media = [matchMedia('(prefers-color-scheme: dark)'), matchMedia('print')], retheme = () => plot.redraw(false, true);
    media.forEach(m => m.addEventListener('change', retheme));
    const destroy = () => { media.forEach(m => m.removeEventListener('change', retheme)); plot.destroy(); target.replaceChildren(); };
    return { plot, data, main, legend, bands: bands.length, destroy };
  }

  /** Lines the readout lists at most: with more, those nearest the pointer's height, then how many more there are. */
  const READOUT_LINES = 10;

  /** The readout under a chart for the cursor at data index i: the x, then each shown line's value there. */
  function readout(chart, i, xLabel, xText = fmt, unit = '') {
    if (i === null || i === undefined || !chart?.data) return '';
    const shown = chart.main.map(m => ({ m, v: chart.data[m.index][i] }))
      .filter(({ m, v }) => v !== null && v !== undefined && chart.plot?.series[m.index].show !== false);
    let listed = shown;
    if (shown.length > READOUT_LINES) {
      const top = chart.plot?.cursor.top, y = Number.isFinite(top) && top >= 0 ? chart.plot.posToVal(top, 'y') : null;
      listed = [...shown].sort((a, b) => (y === null ? b.v - a.v : Math.abs(a.v - y) - Math.abs(b.v - y))).slice(0, READOUT_LINES);
    }
    const more = shown.length - listed.length;
    return `<span>${esc(xLabel)} ${esc(xText(chart.data[0][i]))}</span>${listed.map(({ m, v }) =>
      `<span><i class="swatch" style="background:${m.colour}"></i>${esc(m.label)}: ${esc(fmt(v))}${unit ? esc(` ${unit}`) : ''}</span>`).join('')}${
      more ? `<span class="readout-more">and ${more} more (the ${READOUT_LINES} nearest the pointer shown)</span>` : ''}`;
  }

  /** The lowest and highest finite x drawn, for the chart's data-x-min and data-x-max. */
  function xRange(chart) {
    const xs = chart.data[0].filter(Number.isFinite);
    return xs.length ? [Math.min(...xs), Math.max(...xs)] : ['', ''];
  }

  window.Tracker = Object.assign(window.Tracker || {}, { smooth, lineChart, readout, xRange, DASHES, BAND_LINES, roundTicks });
})();
