// Tracker's front-end modules, shared by the web UI and the `tracker report` file (which inlines
// them): runs grouped by config keys, and a group's line. Pure functions, no DOM; needs format.js.
'use strict';
(() => {
  const { fmt, runColour, PALETTE } = window.Tracker;

  /** Bands a group line can carry: the members' range, or the mean ± one standard deviation or standard error. */
  const BANDS = ['minmax', 'std', 'stderr'];

  /** A run's group id for config `keys`: "k1=v1, k2=v2", values as the UI writes them (a missing key reads ""). */
  const groupOf = (run, keys) => keys.map(k => `${k}=${fmt(run.config?.[k])}`).join(', ');

  /**
   * Each group's colour, the same on every chart of the page: picked from the group id's hash among
   * the ten main colours, moved on to the first free one when taken, as runs' colours are. Groups are
   * taken in id order, so the colours depend on the set of groups only, never on a chart's series.
   * Returns a Map(group id -> #rrggbb).
   */
  function groupColours(ids) {
    const used = new Set(), out = new Map();
    for (const id of [...new Set(ids)].sort()) {
      let h = 0;
      for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
      let i = h % PALETTE.length;
      if (used.has(i)) for (i = 0; used.has(i); i++);
      used.add(i);
      out.set(id, runColour(i));
    }
    return out;
  }

  /** A series' finite points as [x, y] pairs in x order, a repeated x keeping its last value. */
  function points(xs, ys) {
    const pairs = [];
    xs.forEach((x, i) => { if (Number.isFinite(x) && Number.isFinite(ys[i])) pairs.push([x, ys[i], i]); });
    pairs.sort((a, b) => a[0] - b[0] || a[2] - b[2]);
    const out = [];
    for (const [x, y] of pairs) {
      if (out.length && out[out.length - 1][0] === x) out[out.length - 1][1] = y; else out.push([x, y]);
    }
    return out;
  }

  /**
   * The x grid a group is computed on, from the lowest to the highest x of its members: every x the
   * members have when they have at most `size` distinct ones, else `size` evenly spaced values.
   */
  function commonGrid(members, size = 500) {
    const all = new Set();
    let lo = Infinity, hi = -Infinity;
    for (const m of members) for (const x of m.xs) if (Number.isFinite(x)) { all.add(x); lo = Math.min(lo, x); hi = Math.max(hi, x); }
    if (all.size <= size) return [...all].sort((a, b) => a - b);
    return Array.from({ length: size }, (_, i) => (i === size - 1 ? hi : lo + ((hi - lo) * i) / (size - 1)));
  }

  /**
   * A series' values on `grid`, linearly interpolated between its points and null outside its own x
   * range (never extrapolated), as W&B resamples runs before it aggregates them. NaN and infinite
   * values are left out of the interpolation.
   */
  function interpolate(xs, ys, grid) {
    const p = points(xs, ys);
    let j = 0;
    return grid.map(x => {
      if (p.length === 0 || x < p[0][0] || x > p[p.length - 1][0]) return null;
      while (j + 1 < p.length && p[j + 1][0] < x) j++;
      while (j > 0 && p[j][0] > x) j--; // a grid out of order still reads right
      const [x0, y0] = p[j];
      if (x === x0 || j + 1 === p.length) return y0;
      const [x1, y1] = p[j + 1];
      return x >= x1 ? y1 : y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
    });
  }

  /**
   * Mean, band and count of numbers: band 'minmax' is [min, max]; 'std' the mean ± the sample
   * standard deviation (n − 1; 0 for one value); 'stderr' the mean ± std / √n.
   */
  function aggregate(values, band = 'minmax') {
    const n = values.length;
    if (n === 0) return { mean: null, lo: null, hi: null, n: 0 };
    const mean = values.reduce((a, v) => a + v, 0) / n;
    if (band === 'minmax') return { mean, lo: Math.min(...values), hi: Math.max(...values), n };
    const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
    const half = band === 'stderr' ? std / Math.sqrt(n) : std;
    return { mean, lo: mean - half, hi: mean + half, n };
  }

  /**
   * A group's line from its members' series ({ xs, ys }, x in any unit: step, seconds, another
   * metric): each member interpolated onto the common grid within its own x range, then the values
   * at each grid x aggregated, so a densely logged run cannot pull the mean to and fro. Returns
   * { xs, ys, lo, hi, counts }, grid points no member covers left out.
   */
  function groupLine(members, { band = 'minmax', size = 500 } = {}) {
    if (!BANDS.includes(band)) throw new Error(`Unknown band '${band}': use one of ${BANDS.join(', ')}.`);
    const grid = commonGrid(members, size);
    const columns = members.map(m => interpolate(m.xs, m.ys, grid));
    const out = { xs: [], ys: [], lo: [], hi: [], counts: [] };
    grid.forEach((x, i) => {
      const a = aggregate(columns.map(c => c[i]).filter(v => v !== null), band);
      if (a.n === 0) return;
      out.xs.push(x); out.ys.push(a.mean); out.lo.push(a.lo); out.hi.push(a.hi); out.counts.push(a.n);
    });
    return out;
  }

  window.Tracker = Object.assign(window.Tracker || {}, { BANDS, groupOf, groupColours, commonGrid, interpolate, aggregate, groupLine });
})();
