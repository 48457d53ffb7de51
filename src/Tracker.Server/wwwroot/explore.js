// Tracker web UI: config against results on the runs page. Parallel coordinates (an axis per
// config key or summary metric, a line per run; dragging along an axis brushes a range, and the
// runs table keeps the runs inside every brush) and a scatter chart of any two of those fields.
// Drawn as SVG: a few hundred runs, each an element that carries its run id and values.
'use strict';
(() => {
  const { esc, num, fmt, ticks, roundTicks } = window.Tracker;
  const SVG = 'http://www.w3.org/2000/svg';
  const HEIGHT = 320, TOP = 44, BOTTOM = 28, SIDE = 64;
  const MAX_AXES = 8, MAX_CATEGORY_LABELS = 16;

  /** A field of a run: `config.KEY` or `summary.KEY` (its last value); numbers as numbers, else null or the value. */
  function valueOf(run, field) {
    const v = field.startsWith('config.') ? run.config?.[field.slice(7)] : run.summary?.[field.slice(8)];
    if (v === undefined || v === null) return null;
    const n = num(v);
    return n !== null && Number.isFinite(n) ? n : typeof v === 'string' && n !== null ? null : v; // NaN and ±∞ have no place on an axis
  }

  /** A value in full for data-* attributes (numbers to the last digit); fmt's shorter text is for people. */
  const exact = v => (typeof v === 'number' ? String(v) : fmt(v));
  const label = field => (field.startsWith('config.') ? field.slice(7) : `${field.slice(8)} (summary)`);
  const byText = (a, b) => a.localeCompare(b, undefined, { numeric: true });

  /**
   * An axis over runs' values of a field: numeric (a linear range) when every present value is a
   * number, else categorical (each distinct value as text, in natural order, evenly spaced).
   * pos(v) is 0 (bottom) to 1 (top), or null for a missing value.
   */
  function axisOf(field, runs) {
    const values = runs.map(r => valueOf(r, field)).filter(v => v !== null);
    if (values.every(v => typeof v === 'number')) {
      let lo = Math.min(...values), hi = Math.max(...values);
      if (!values.length) [lo, hi] = [0, 1];
      const flat = lo === hi;
      return {
        field, numeric: true, lo, hi,
        pos: v => (typeof v !== 'number' ? null : flat ? 0.5 : (v - lo) / (hi - lo)),
        value: t => lo + t * (hi - lo),
        ticks: () => (flat ? [lo] : roundTicks(lo, hi, 5).filter(t => t >= lo && t <= hi)),
      };
    }
    const cats = [...new Set(values.map(v => fmt(v)))].sort(byText);
    const at = new Map(cats.map((c, i) => [c, cats.length === 1 ? 0.5 : i / (cats.length - 1)]));
    return { field, numeric: false, cats, pos: v => (v === null ? null : at.get(fmt(v)) ?? null), ticks: () => cats };
  }

  /** Whether a run's value lies in a brush: a numeric range, or a set of categories. */
  function inBrush(brush, v) {
    if (v === null) return false;
    return brush.cats ? brush.cats.includes(fmt(v)) : typeof v === 'number' && v >= brush.lo && v <= brush.hi;
  }

  function el(tag, attrs = {}, parent = null) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    parent?.append(e);
    return e;
  }

  /**
   * Mounts the section into `container`. `store` keeps the chosen axes, the brushes and the scatter's
   * fields while the page is open; `onBrush` runs when a brush changes. Returns { update(runs), passes(run) }:
   * update draws the runs the table's other filters let through, passes says whether a run is inside every brush.
   */
  function mount(container, { fields, store, onBrush, href }) {
    if (!store.axes) {
      store.axes = fields.filter(f => f.startsWith('config.')).slice(0, MAX_AXES / 2);
      store.axes.push(...fields.filter(f => f.startsWith('summary.')).slice(0, MAX_AXES - store.axes.length));
      store.brushes = {};
      store.x = fields.find(f => f.startsWith('config.')) ?? fields[0] ?? '';
      store.y = fields.find(f => f.startsWith('summary.')) ?? fields[1] ?? fields[0] ?? '';
    }
    const options = selected => fields.map(f => `<option value="${esc(f)}" ${f === selected ? 'selected' : ''}>${esc(label(f))}</option>`).join('');
    container.innerHTML = `
      <details class="card explore" ${store.closed ? '' : 'open'}>
        <summary><strong>Config against results</strong> <span class="muted">parallel coordinates and scatter</span></summary>
        <div class="toolbar">
          <details class="pc-axes"><summary>Axes</summary><div>${fields.map(f => `<label><input type="checkbox" data-field="${esc(f)}" ${store.axes.includes(f) ? 'checked' : ''}> ${esc(label(f))}</label>`).join('')}</div></details>
          <button id="pc-clear" hidden>Clear brushes</button>
          <span class="hint">Drag along an axis to keep the runs in that range; click the axis to clear it.</span>
        </div>
        <div id="parallel" class="explore-plot"></div>
        <div class="toolbar" style="margin-top:.8em">
          <label>scatter x <select id="scatter-x">${options(store.x)}</select></label>
          <label>y <select id="scatter-y">${options(store.y)}</select></label>
        </div>
        <div id="scatter" class="explore-plot"><div class="scatter-tip" hidden></div></div>
      </details>`;
    const $ = s => container.querySelector(s);
    let runs = [], shownKey = null;

    const passes = run => Object.entries(store.brushes).every(([field, brush]) => inBrush(brush, valueOf(run, field)));
    const changed = () => { draw(); onBrush(); };

    $('details.explore').addEventListener('toggle', e => { if (e.target === $('details.explore')) { store.closed = !e.target.open; draw(); } });
    $('.pc-axes').addEventListener('change', e => {
      const f = e.target.dataset.field;
      store.axes = fields.filter(x => (x === f ? e.target.checked : store.axes.includes(x)));
      if (!e.target.checked && store.brushes[f]) { delete store.brushes[f]; changed(); } else draw();
    });
    $('#pc-clear').addEventListener('click', () => { store.brushes = {}; changed(); });
    $('#scatter-x').addEventListener('change', e => { store.x = e.target.value; drawScatter(); });
    $('#scatter-y').addEventListener('change', e => { store.y = e.target.value; drawScatter(); });
    let drawnWidth = 0;
    new ResizeObserver(([entry]) => { // a new width only: redrawing for a new height could loop
      if (Math.round(entry.contentRect.width) !== drawnWidth) { drawnWidth = Math.round(entry.contentRect.width); draw(); }
    }).observe($('#parallel'));

    function draw() {
      if (store.closed) return;
      drawParallel();
      drawScatter();
    }

    function drawParallel() {
      const host = $('#parallel');
      host.replaceChildren();
      $('#pc-clear').hidden = Object.keys(store.brushes).length === 0;
      if (store.axes.length === 0 || runs.length === 0) {
        host.innerHTML = `<p class="muted">${runs.length ? 'Pick axes to draw.' : 'No runs to draw.'}</p>`;
        return;
      }
      const width = Math.max(400, host.clientWidth), h = HEIGHT - TOP - BOTTOM;
      const axes = store.axes.map(f => axisOf(f, runs));
      const xAt = i => (axes.length === 1 ? width / 2 : SIDE + (i * (width - 2 * SIDE)) / (axes.length - 1));
      const yAt = t => TOP + (1 - t) * h;
      const svg = el('svg', { width, height: HEIGHT, class: 'parallel' }, host);
      const lines = el('g', { class: 'pc-lines' }, svg);
      // Runs outside a brush first and in grey, so the kept ones are drawn over them.
      const ordered = [...runs].sort((a, b) => passes(a) - passes(b));
      for (const run of ordered) {
        let d = '', pen = false;
        axes.forEach((axis, i) => {
          const t = axis.pos(valueOf(run, axis.field));
          if (t === null) { pen = false; return; } // a missing value breaks the line
          d += `${pen ? 'L' : 'M'}${xAt(i).toFixed(1)},${yAt(t).toFixed(1)}`;
          pen = true;
        });
        if (!d.includes('L') && d) d += 'h0.01'; // a lone value still shows (round caps make it a dot)
        const kept = passes(run);
        const path = el('path', { d, class: `pc-line${kept ? '' : ' out'}`, stroke: kept ? run.colour : '#c8cdd8', 'data-run-id': run.id }, lines);
        el('title', {}, path).textContent = run.name;
      }
      axes.forEach((axis, i) => {
        const x = xAt(i), g = el('g', { class: 'pc-axis', 'data-field': axis.field, 'data-kind': axis.numeric ? 'numeric' : 'categorical' }, svg);
        el('line', { x1: x, x2: x, y1: TOP, y2: TOP + h, class: 'axis-line' }, g);
        const name = el('text', { x, y: TOP - 24, 'text-anchor': 'middle', class: 'axis-name' }, g);
        name.textContent = label(axis.field).length > 22 ? `${label(axis.field).slice(0, 21)}…` : label(axis.field);
        el('title', {}, name).textContent = label(axis.field);
        const marks = axis.ticks();
        const shown = axis.numeric ? ticks(marks) : marks.map(c => (c.length > 14 ? `${c.slice(0, 13)}…` : c));
        const every = Math.max(1, Math.ceil(marks.length / MAX_CATEGORY_LABELS));
        marks.forEach((m, k) => {
          if (k % every) return;
          const y = yAt(axis.pos(m));
          el('line', { x1: x - 3, x2: x, y1: y, y2: y, class: 'axis-tick' }, g);
          const t = el('text', { x: x - 6, y: y + 3.5, 'text-anchor': 'end', class: 'axis-label' }, g);
          t.textContent = shown[k];
        });
        const brush = store.brushes[axis.field];
        if (brush) {
          const ts = brush.cats ? brush.cats.map(c => axis.pos(c)).filter(t => t !== null) : [axis.pos(Math.max(brush.lo, axis.lo)), axis.pos(Math.min(brush.hi, axis.hi))];
          if (ts.length) {
            const top = yAt(Math.max(...ts)) - 4, bottom = yAt(Math.min(...ts)) + 4;
            el('rect', { x: x - 8, width: 16, y: top, height: Math.max(2, bottom - top), class: 'pc-brush' }, g);
          }
        }
        // A wide invisible strip along the axis takes the drag.
        const hit = el('rect', { x: x - 14, width: 28, y: TOP - 6, height: h + 12, class: 'pc-hit', 'data-field': axis.field }, g);
        hit.addEventListener('pointerdown', e => startBrush(e, axis, x, svg, yAt, h));
      });
    }

    function startBrush(e, axis, x, svg, yAt, h) {
      e.preventDefault();
      const box = svg.getBoundingClientRect(), y0 = e.clientY - box.top;
      const live = el('rect', { x: x - 8, width: 16, y: y0, height: 0, class: 'pc-brush' }, svg);
      e.target.setPointerCapture(e.pointerId);
      const move = m => {
        const y1 = Math.max(TOP, Math.min(TOP + h, m.clientY - box.top));
        live.setAttribute('y', Math.min(y0, y1));
        live.setAttribute('height', Math.abs(y1 - y0));
      };
      const up = u => {
        e.target.removeEventListener('pointermove', move);
        e.target.removeEventListener('pointerup', up);
        const y1 = Math.max(TOP, Math.min(TOP + h, u.clientY - box.top));
        if (Math.abs(y1 - y0) < 3) delete store.brushes[axis.field]; // a click clears the axis's brush
        else {
          const [t0, t1] = [y0, y1].map(y => 1 - (Math.max(TOP, Math.min(TOP + h, y)) - TOP) / h).sort((a, b) => a - b);
          store.brushes[axis.field] = axis.numeric ? { lo: axis.value(t0), hi: axis.value(t1) }
            : { cats: axis.cats.filter(c => { const t = axis.pos(c); return t >= t0 - 1e-9 && t <= t1 + 1e-9; }) };
        }
        changed();
      };
      e.target.addEventListener('pointermove', move);
      e.target.addEventListener('pointerup', up);
    }

    function drawScatter() {
      if (store.closed) return;
      const host = $('#scatter'), tip = host.querySelector('.scatter-tip');
      host.querySelector('svg')?.remove();
      host.querySelector('p')?.remove();
      const kept = runs.filter(passes);
      const points = kept.map(run => ({ run, x: valueOf(run, store.x), y: valueOf(run, store.y) })).filter(p => p.x !== null && p.y !== null);
      Object.assign(host.dataset, { x: store.x, y: store.y, points: points.length });
      if (points.length === 0) {
        host.insertAdjacentHTML('afterbegin', `<p class="muted">No run has both ${esc(label(store.x))} and ${esc(label(store.y))}.</p>`);
        return;
      }
      const width = Math.min(720, Math.max(360, host.clientWidth)), left = 64, right = 16, top = 12, bottom = 40;
      const ax = axisOf(store.x, points.map(p => p.run)), ay = axisOf(store.y, points.map(p => p.run));
      const w = width - left - right, h = HEIGHT - top - bottom;
      // 4% of room each side, so points at the ends are not cut in half.
      const px = t => left + (0.04 + 0.92 * t) * w, py = t => top + (1 - (0.04 + 0.92 * t)) * h;
      const svg = el('svg', { width, height: HEIGHT, class: 'scatter' });
      host.prepend(svg);
      el('rect', { x: left, y: top, width: w, height: h, class: 'frame' }, svg);
      const axisMarks = (axis, horizontal) => {
        const marks = axis.ticks(), shown = axis.numeric ? ticks(marks) : marks;
        const every = Math.max(1, Math.ceil(marks.length / (horizontal ? 8 : 10)));
        marks.forEach((m, k) => {
          if (k % every) return;
          const t = axis.pos(m);
          const text = el('text', horizontal ? { x: px(t), y: top + h + 15, 'text-anchor': 'middle', class: 'axis-label' } : { x: left - 6, y: py(t) + 3.5, 'text-anchor': 'end', class: 'axis-label' }, svg);
          text.textContent = String(shown[k]).length > 14 ? `${String(shown[k]).slice(0, 13)}…` : shown[k];
          el('line', horizontal ? { x1: px(t), x2: px(t), y1: top, y2: top + h, class: 'grid' } : { x1: left, x2: left + w, y1: py(t), y2: py(t), class: 'grid' }, svg);
        });
      };
      axisMarks(ax, true);
      axisMarks(ay, false);
      el('text', { x: left + w / 2, y: HEIGHT - 6, 'text-anchor': 'middle', class: 'axis-name' }, svg).textContent = label(store.x);
      el('text', { x: 12, y: top + h / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${top + h / 2})`, class: 'axis-name' }, svg).textContent = label(store.y);
      for (const p of points) {
        const c = el('circle', {
          cx: px(ax.pos(p.x)).toFixed(1), cy: py(ay.pos(p.y)).toFixed(1), r: 5, fill: p.run.colour, class: 'scatter-point',
          'data-run-id': p.run.id, 'data-x': exact(p.x), 'data-y': exact(p.y),
        }, svg);
        c.addEventListener('pointerenter', () => {
          tip.innerHTML = `<strong>${esc(p.run.name)}</strong><br>${esc(label(store.x))}: ${esc(fmt(p.x))}<br>${esc(label(store.y))}: ${esc(fmt(p.y))}`;
          tip.hidden = false;
          tip.style.left = `${Number(c.getAttribute('cx')) + 10}px`;
          tip.style.top = `${Number(c.getAttribute('cy')) - 10}px`;
        });
        c.addEventListener('pointerleave', () => { tip.hidden = true; });
        c.addEventListener('click', () => { location.hash = href(p.run); });
      }
    }

    return {
      passes,
      update(shown) {
        // The table renders on every sort and keystroke: redraw only when the runs drawn change.
        const key = shown.map(r => r.id).join('\n');
        if (key === shownKey) return;
        shownKey = key;
        runs = shown;
        draw();
      },
    };
  }

  window.TrackerExplore = { mount, valueOf };
})();
