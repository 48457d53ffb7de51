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

  /** Axis labels: three significant digits are enough to read a range off, and keep the margin narrow. */
  const tick = v => fmt(Number.isFinite(v) ? +v.toPrecision(3) : v);

  /** Text for HTML: logged strings (keys, run names) never go in as markup. */
  const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

  /** A #rrggbb colour with an alpha of 0 to 1. */
  const alpha = (hex, a) => `${hex}${Math.round(a * 255).toString(16).padStart(2, '0')}`;

  window.Tracker = Object.assign(window.Tracker || {}, { num, fmt, tick, esc, alpha });
})();
