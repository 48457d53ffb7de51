// Tracker's front-end modules, shared by the web UI and the `tracker report` file (which inlines
// them): a histogram logged over steps as a heat map (TensorBoard's distributions), a column per
// step, and one step's histogram as bars. Needs format.js.
'use strict';
(() => {
  const { fmt, tick } = window.Tracker;
  const PAD = { left: 58, right: 10, top: 8, bottom: 20 };
  const BLUE = '#3554d1';
  const HEAT = [[226, 232, 255], [120, 146, 240], [53, 84, 209], [22, 34, 112]]; // BLUE's ramp, light to dark

  /** A colour ramp, light to dark, through a #rrggbb colour: its tint, a lighter shade, the colour, a darker shade. */
  function ramp(hex) {
    if (hex === BLUE) return HEAT;
    const c = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16));
    const mix = (to, f) => c.map(v => Math.round(v + (to - v) * f));
    return [mix(255, 0.85), mix(255, 0.45), c, mix(0, 0.55)];
  }

  /** A canvas as wide as the page lays it out, at the device's pixel ratio, drawn on in CSS pixels. */
  function surface(canvas, height) {
    const ratio = window.devicePixelRatio || 1, width = Math.max(160, canvas.clientWidth || 420);
    canvas.style.height = `${height}px`;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    return { ctx, width, height, ratio };
  }

  function label(ctx, text, x, y, align) {
    ctx.fillStyle = '#6b7385';
    ctx.textAlign = align;
    ctx.fillText(text, x, y);
  }

  const area = (width, height) => ({ left: PAD.left, top: PAD.top, w: width - PAD.left - PAD.right, h: height - PAD.top - PAD.bottom });

  /** A histogram's counts spread over `rows` equal ranges of [lo, hi], each bin in proportion to its overlap. */
  function rebin(bins, counts, lo, hi, rows) {
    const out = new Float64Array(rows), scale = rows / (hi - lo);
    for (let j = 0; j < counts.length; j++) {
      const count = counts[j];
      if (!(count > 0)) continue;
      const a = (bins[j] - lo) * scale, b = (bins[j + 1] - lo) * scale;
      if (!(b > a)) {
        out[Math.min(rows - 1, Math.max(0, Math.floor(a)))] += count;
        continue;
      }
      for (let r = Math.max(0, Math.floor(a)); r < Math.min(rows, Math.ceil(b)); r++) out[r] += (count * (Math.min(b, r + 1) - Math.max(a, r))) / (b - a);
    }
    return out;
  }

  /**
   * The histograms of one key over steps: items are { step, bins, counts } in step order. Every
   * step is re-binned onto one value grid, from the lowest edge of any step to the highest, and
   * shaded by its count over that step's fullest row, in a ramp through `colour`.
   */
  class HistogramHeatmap {
    constructor(items, colour = BLUE) {
      this.items = items;
      this.colour = colour;
      this.ramp = ramp(colour);
      let lo = Math.min(...items.map(i => i.bins[0])), hi = Math.max(...items.map(i => i.bins.at(-1)));
      if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
      if (!(hi > lo)) [lo, hi] = [lo - 0.5, hi + 0.5];
      this.lo = lo;
      this.hi = hi;
      this.rows = Math.min(128, Math.max(32, ...items.map(i => i.counts.length)));
      this.grid = items.map(i => rebin(i.bins, i.counts, lo, hi, this.rows));
      this.peaks = this.grid.map(g => Math.max(...g));
      this.image = null;
      const steps = items.map(i => i.step), n = steps.length;
      const gap = n > 1 ? (steps[n - 1] - steps[0]) / (n - 1) || 1 : 1;
      this.x0 = steps[0] - gap / 2;
      this.x1 = steps[n - 1] + gap / 2;
    }

    /** Item i's column on a plot `w` wide: halfway to its neighbours, so unevenly spaced steps keep their place. */
    column(i, w) {
      const items = this.items, x = s => ((s - this.x0) / (this.x1 - this.x0)) * w;
      const a = i === 0 ? 0 : x((items[i - 1].step + items[i].step) / 2), b = i === items.length - 1 ? w : x((items[i].step + items[i + 1].step) / 2);
      return [a, b];
    }

    /** The index of the item nearest to a point `offsetX` across a canvas drawn by drawHeat. */
    itemAt(canvas, offsetX) {
      const { left, w } = area(canvas.clientWidth, 0);
      const step = this.x0 + ((offsetX - left) / w) * (this.x1 - this.x0);
      let lo = 0, hi = this.items.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.items[mid].step < step) lo = mid + 1; else hi = mid;
      }
      return lo > 0 && step - this.items[lo - 1].step < this.items[lo].step - step ? lo - 1 : lo;
    }

    /** The heat map at device resolution across, one pixel row per grid row. */
    buildImage(w) {
      const rows = this.rows, shade = new Float32Array(w * rows);
      this.items.forEach((_, i) => {
        const [a, b] = this.column(i, w), g = this.grid[i], peak = this.peaks[i];
        if (!(peak > 0)) return;
        for (let px = Math.max(0, Math.floor(a)); px < Math.min(w, Math.max(Math.floor(a) + 1, Math.floor(b))); px++) {
          for (let r = 0; r < rows; r++) shade[r * w + px] = Math.max(shade[r * w + px], g[r] / peak);
        }
      });
      const image = new ImageData(w, rows), heat = this.ramp;
      for (let r = 0; r < rows; r++) {
        for (let px = 0; px < w; px++) {
          const t = shade[r * w + px];
          if (t <= 0) continue;
          const at = Math.min(1, t) * (heat.length - 1), k = Math.min(heat.length - 2, Math.floor(at)), f = at - k;
          image.data.set([...heat[k].map((c, j) => Math.round(c + (heat[k + 1][j] - c) * f)), 255], ((rows - 1 - r) * w + px) * 4);
        }
      }
      const canvas = document.createElement('canvas');
      canvas.width = w;
      canvas.height = rows;
      canvas.getContext('2d').putImageData(image, 0, 0);
      return canvas;
    }

    /** Draws the heat map `height` CSS pixels high, the selected item's column outlined. */
    drawHeat(canvas, height, selected) {
      const { ctx, width, ratio } = surface(canvas, height);
      const { left, top, w, h } = area(width, height), items = this.items, n = items.length;
      const pixels = Math.max(1, Math.round(w * ratio));
      if (this.image?.width !== pixels) this.image = this.buildImage(pixels);
      ctx.fillStyle = '#fafbfc';
      ctx.fillRect(left, top, w, h);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(this.image, left, top, w, h);
      ctx.strokeStyle = '#e3e6ec';
      ctx.strokeRect(left + 0.5, top + 0.5, w - 1, h - 1);
      const [a, b] = this.column(selected, w);
      ctx.strokeStyle = '#e4572e';
      ctx.lineWidth = 1.5;
      ctx.strokeRect(left + a + 0.75, top + 0.75, Math.max(1.5, b - a - 1.5), h - 1.5);
      ctx.lineWidth = 1;
      label(ctx, tick(this.hi), left - 6, top + 5, 'right');
      label(ctx, tick((this.lo + this.hi) / 2), left - 6, top + h / 2, 'right');
      label(ctx, tick(this.lo), left - 6, top + h - 5, 'right');
      label(ctx, `step ${items[0].step}`, left, height - 8, 'left');
      if (n > 1) label(ctx, `step ${items[n - 1].step}`, left + w, height - 8, 'right');
    }

    /** What the heat map holds under a point of it: the step, the value range and about how many values. */
    describeHeat(canvas, height, offsetX, offsetY) {
      const { top, h } = area(canvas.clientWidth, height), i = this.itemAt(canvas, offsetX);
      const r = Math.min(this.rows - 1, Math.max(0, Math.floor(((top + h - offsetY) / h) * this.rows))), size = (this.hi - this.lo) / this.rows;
      return `step ${this.items[i].step}, ${fmt(this.lo + r * size)} to ${fmt(this.lo + (r + 1) * size)}: about ${fmt(+this.grid[i][r].toPrecision(3))}`;
    }

    /** Draws one item's histogram as bars on its own value range, so a narrow one still shows its shape. */
    drawBars(canvas, height, item) {
      const { ctx, width } = surface(canvas, height);
      const { left, top, w, h } = area(width, height), lo = item.bins[0], hi = item.bins.at(-1);
      const most = Math.max(0, ...item.counts), x = v => left + (hi > lo ? ((v - lo) / (hi - lo)) * w : w / 2);
      ctx.fillStyle = this.colour;
      item.counts.forEach((count, j) => {
        if (!(count > 0)) return;
        const a = x(item.bins[j]), b = x(item.bins[j + 1]), bar = (count / most) * h;
        ctx.fillRect(a, top + h - bar, Math.max(1, b - a - (b - a > 3 ? 1 : 0)), bar);
      });
      ctx.fillStyle = '#c8cdd8';
      ctx.fillRect(left, top + h, w, 1);
      label(ctx, most > 0 ? fmt(most) : 'no finite values', left - 6, top + 5, 'right');
      label(ctx, '0', left - 6, top + h - 3, 'right');
      label(ctx, tick(lo), left, height - 8, 'left');
      label(ctx, tick(hi), left + w, height - 8, 'right');
    }

    /** The bin of an item's bars under a point `offsetX` across: "[lo, hi): count", or '' outside. */
    describeBars(canvas, item, offsetX) {
      const { left, w } = area(canvas.clientWidth, 0), lo = item.bins[0], hi = item.bins.at(-1), n = item.counts.length;
      const v = lo + ((offsetX - left) / w) * (hi - lo);
      const j = item.bins.findIndex((edge, k) => k < n && v >= edge && (v < item.bins[k + 1] || k === n - 1));
      return j < 0 || v > hi ? '' : `[${fmt(item.bins[j])}, ${fmt(item.bins[j + 1])}${j === n - 1 ? ']' : ')'}: ${item.counts[j]}`;
    }
  }

  window.Tracker = Object.assign(window.Tracker || {}, { HistogramHeatmap });
})();
