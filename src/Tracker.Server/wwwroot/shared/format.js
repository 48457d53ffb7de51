// Tracker's front-end modules, shared by the web UI and the `tracker report` file (which inlines
// them): how numbers are read and written. Plain script, no build step: it adds to window.Tracker.
'use strict';
(() => {
  /** Numbers travel as JSON numbers, or as "NaN" / "Infinity" / "-Infinity" strings. */
  const num = v => (typeof v === 'number' ? v : v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : null);

  /** A value as text: integers whole, other numbers to six significant digits (exponent notation when very large or small). */
  function fmt(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
      const a = Math.abs(v);
      return a >= 1e6 || a < 1e-4 ? v.toExponential(4) : String(+v.toPrecision(6));
    }
    if (Array.isArray(v)) return `[${v.map(fmt).join(', ')}]`; // as the SDK and tracker show print lists: [64, 32]
    if (typeof v === 'object') {
      // {"_str": "NaN"} is the run format's text that would otherwise read as a number (docs/format.md).
      const keys = Object.keys(v);
      return keys.length === 1 && keys[0] === '_str' && typeof v._str === 'string' ? v._str : JSON.stringify(v);
    }
    return String(v);
  }

  const SI = [[1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];

  /**
   * One number to `digits` significant digits, short enough for an axis, no trailing zeros. `style`
   * 'si' writes SI suffixes (12.5k, 3M), 'exp' exponent notation (2.5e-4), 'plain' decimals; by
   * default the number's own size picks: SI from 10,000, exponent below 0.001.
   */
  function short(v, digits = 3, style = null) {
    if (!Number.isFinite(v)) return String(v);
    if (v === 0) return '0';
    const a = Math.abs(v);
    style ??= a >= 1e4 ? 'si' : a < 1e-3 ? 'exp' : 'plain';
    if (style === 'si' && a >= 1e3 && a < 1e18) {
      const [scale, suffix] = SI.find(([s]) => a >= s);
      return `${+(v / scale).toPrecision(digits)}${suffix}`;
    }
    if (style === 'exp' || a >= 1e18) {
      const [mantissa, exponent] = v.toExponential(Math.max(0, digits - 1)).split('e');
      return `${+mantissa}e${exponent.replace('+', '')}`;
    }
    return String(+v.toPrecision(digits));
  }

  /**
   * Labels for an axis's ticks: one style for the whole axis (SI when it reaches 10,000, exponents
   * when it stays under 0.001 or spans a hundredfold below it, as a log axis does) and the fewest
   * significant digits (3 to 12) at which no two ticks read the same, so a learning rate from 1e-3
   * to 1e-6 or a loss from 0.50001 to 0.50004 stays legible. `unit` (%, MB, W, °C) follows each label.
   */
  function ticks(values, unit = '') {
    const finite = values.filter(Number.isFinite);
    const sizes = finite.filter(v => v !== 0).map(Math.abs);
    const top = Math.max(0, ...sizes), low = Math.min(Infinity, ...sizes);
    const style = top >= 1e4 ? 'si' : top < 1e-3 || (low < 1e-3 && top / low >= 100) ? 'exp' : 'plain';
    let labels = [];
    for (let digits = 3; digits <= 12; digits++) {
      labels = values.map(v => (v === null || v === undefined ? null : short(v, digits, style)));
      if (new Set(finite.map(v => short(v, digits, style))).size === new Set(finite).size) break;
    }
    return unit ? labels.map(l => (l === null ? l : unitText(l, unit))) : labels;
  }

  const unitText = (text, unit) => (unit === '%' || unit === '°C' ? `${text}${unit}` : `${text} ${unit}`);

  /** Axis labels for a single value (the heat maps' edges): as one tick among distinct ones. */
  const tick = v => ticks([v])[0] ?? fmt(v);

  /** Seconds as h:mm:ss (m:ss under an hour), with `decimals` digits of the second. */
  function clock(seconds, decimals = 0) {
    if (!Number.isFinite(seconds)) return '';
    const sign = seconds < 0 ? '-' : '';
    const scale = 10 ** decimals, total = Math.round(Math.abs(seconds) * scale) / scale;
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    const sec = s.toFixed(decimals).padStart(decimals ? 3 + decimals : 2, '0');
    return h ? `${sign}${h}:${String(m).padStart(2, '0')}:${sec}` : `${sign}${m}:${sec}`;
  }

  /** Labels for a relative-time axis: h:mm:ss, with the fewest decimals of the second (0 to 3) at which no two ticks read the same. */
  /** A run's duration in seconds as the runs table and the report show it: 1h 2m, 3m 4s or 1.5s; '' for none (a running run). */
  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
    return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${seconds.toFixed(1)}s`;
  }

  function clockTicks(values) {
    const finite = values.filter(Number.isFinite);
    let labels = [];
    for (let decimals = 0; decimals <= 3; decimals++) {
      labels = values.map(v => (v === null || v === undefined ? null : clock(v, decimals)));
      if (new Set(finite.map(v => clock(v, decimals))).size === new Set(finite).size) break;
    }
    return labels;
  }

  /**
   * The unit of a system metric from its key (the SDK's SystemMetrics names): %, MB, W or °C;
   * '' for any other key.
   */
  function unitOf(key) {
    if (!key?.startsWith('system/')) return '';
    if (/(^system\/cpu$|_percent$|\.util$)/.test(key)) return '%';
    if (/_mb$/.test(key)) return 'MB';
    if (/\.power_w$/.test(key)) return 'W';
    if (/\.temp$/.test(key)) return '°C';
    return '';
  }

  /** Text for HTML: logged strings (keys, run names) never go in as markup. */
  const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

  /** A #rrggbb colour with an alpha of 0 to 1. */
  const alpha = (hex, a) => `${hex}${Math.round(a * 255).toString(16).padStart(2, '0')}`;

  // Ten main colours (a run's first pick), then ten darker or greyer ones far from those in hue or
  // lightness, then hues a golden angle apart at three lightnesses: the 11th run and the 40th still
  // differ from the runs before them, where cycling ten colours would repeat.
  const PALETTE = ['#3554d1', '#e4572e', '#17a673', '#9b51e0', '#f2a81d', '#0fa3b1', '#d1495b', '#5c4d7d', '#8ac926', '#ff7eb6'];
  const MORE = ['#8c564b', '#1f3d7a', '#b8860b', '#556b2f', '#c71585', '#2f4f4f', '#800000', '#8a8a8a', '#111111', '#4b0082'];

  /** The i-th run colour (0-based) as #rrggbb. */
  function runColour(i) {
    if (i < PALETTE.length) return PALETTE[i];
    if (i < PALETTE.length + MORE.length) return MORE[i - PALETTE.length];
    const k = i - PALETTE.length - MORE.length;
    const h = (k * 137.508 + 20) % 360, s = 0.65, l = [0.42, 0.58, 0.32][Math.floor(k / 7) % 3];
    const f = n => {
      const t = (n + h / 30) % 12, c = l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(t - 3, 9 - t, 1));
      return Math.round(c * 255).toString(16).padStart(2, '0');
    };
    return `#${f(0)}${f(8)}${f(4)}`;
  }

  window.Tracker = Object.assign(window.Tracker || {}, { num, fmt, short, ticks, tick, clock, clockTicks, fmtDuration, unitOf, esc, alpha, runColour, PALETTE });
})();
