// Tracker web UI: projects, runs table, run page, compare view. Plain JavaScript and uPlot, served
// by Tracker.Server itself; every request goes to the read API of the same origin.
'use strict';
(() => {
  const view = document.getElementById('view');
  const crumbs = document.getElementById('crumbs');
  const pageQuery = new URLSearchParams(location.search);
  const POLL_MS = Math.max(200, Number(pageQuery.get('poll')) || 3000);
  /** Sections in name order, with the system metrics last: they describe the machine, not the model. */
  const bySection = (a, b) => (a === 'system') - (b === 'system') || a.localeCompare(b);

  let generation = 0; // bumped on every navigation: late answers for an old page are dropped
  let liveTimer = null;

  // ---- Helpers ----

  // Number formatting, charts and heat maps are the shared modules (shared/*.js) that the report inlines too.
  const { esc, num, fmt, clock, fmtDuration, unitOf, runColour, PALETTE, DASHES, BAND_LINES, lineChart, readout, xRange, HistogramHeatmap, groupOf, groupColours, groupLine } = window.Tracker;
  const enc = encodeURIComponent;

  function duration(run) {
    const start = Date.parse(run.start_time);
    const end = run.state === 'running' ? Date.now() : Date.parse(run.end_time || run.updated_at);
    if (!Number.isFinite(start) || !Number.isFinite(end)) return null;
    return Math.max(0, (end - start) / 1000);
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /**
   * A function that runs the tasks given to it at most `n` at a time, in the order given. A
   * browser refuses requests beyond a few hundred pending (Chromium: net::ERR_INSUFFICIENT_RESOURCES),
   * so a page of many runs queues its requests here instead of starting them all.
   */
  function limiter(n) {
    let active = 0;
    const waiting = [];
    const next = () => {
      if (active >= n || waiting.length === 0) return;
      active++;
      const { task, resolve, reject } = waiting.shift();
      task().then(resolve, reject).finally(() => { active--; next(); });
    };
    return task => new Promise((resolve, reject) => { waiting.push({ task, resolve, reject }); next(); });
  }

  const requestSlots = limiter(8); // the page's requests in flight; the browser opens 6 connections to a host

  /** A request to the server (GET unless `init` says otherwise), with the browser's API key if it has one; throws on an error status. */
  function request(url, init = {}) {
    return requestSlots(() => send(url, init));
  }

  async function send(url, init) {
    const headers = { ...init.headers };
    const key = localStorage.getItem('tracker.apiKey');
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch(url, { ...init, headers });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch { /* not a problem body */ }
      throw new ApiError(response.status, `${response.status}: ${detail}`);
    }
    return response;
  }

  const api = async path => (await request(`/api/v1${path}`)).json();

  /** A POST of JSON that only reads, such as the batch series read. */
  const postApi = async (path, body) => (await request(`/api/v1${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })).json();

  // Runs read in batches (the server takes up to 100 per request): a compare of 300 runs is 3 requests, not 600.
  const RUN_BATCH = 100;

  /** The runs, in the order given, as `{run, metrics}`: each run as GET .../runs/{id} answers it and, with `metrics`, its metric list. */
  async function readRuns(project, ids, metrics = false) {
    const batches = [];
    for (let i = 0; i < ids.length; i += RUN_BATCH) batches.push(ids.slice(i, i + RUN_BATCH));
    const answers = await Promise.all(batches.map(runs => postApi(`/projects/${enc(project)}/runs/batch`, { runs, metrics })));
    return answers.flatMap(a => a.runs);
  }

  // The series of many runs go in batches: pairs per request (the server takes up to 200) and batch requests in flight.
  const SERIES_BATCH = 50;
  // Buckets one chart asks for in all lines together: 300 runs get 200 each, since no eye tells
  // 300 overlaid lines apart at finer grain, and fetching and drawing cost grow with every bucket.
  const CHART_BUCKETS = 60000;
  const seriesSlots = limiter(4);

  /** Whether a failed request may succeed if sent again: no answer at all, or the server busy or failing. */
  const transient = error => !(error instanceof ApiError) || error.status >= 500 || error.status === 429;

  /** The task, and once more if it failed in a way that may pass. */
  async function retryOnce(task) {
    try {
      return await task();
    } catch (error) {
      if (!transient(error)) throw error;
      await new Promise(resolve => setTimeout(resolve, 300));
      return task();
    }
  }

  /** What went wrong with a request, in words: "Failed to fetch" alone says nothing. */
  const failure = error => (error instanceof ApiError ? `the server answered ${error.message}` : `no answer from the server (${error.message}): is it running and reachable?`);

  /**
   * Colours stay with a run: one per run for the whole page (every chart, legend and table), first
   * picked from its id among the ten main colours, moved on to the first colour no other run on the
   * page has when that one is taken; the palette goes on past ten runs (runColour).
   */
  function assignColours(runs) {
    const used = new Set();
    for (const run of runs) {
      let h = 0;
      for (const c of run.id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
      let i = h % PALETTE.length;
      if (used.has(i)) for (i = 0; used.has(i); i++);
      used.add(i);
      run.colour = runColour(i);
    }
  }

  /** Whether a metric definition's name applies to a key: a glob (`val/*`) by prefix, as Tracker.Format's MetricSpec.Matches. */
  const metricMatches = (name, key) => (name.endsWith('*') ? key.startsWith(name.slice(0, -1)) : key === name);

  function setCrumbs(items) {
    crumbs.innerHTML = items.map(([label, href]) => (href ? `<a href="${href}">${esc(label)}</a>` : `<span>${esc(label)}</span>`)).join('');
  }

  function showError(error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      view.innerHTML = `<h1>This server needs an API key to read</h1>
        <p class="muted">Its reads are closed (Tracker:ReadAccess). Enter a key; it is kept in this browser only.</p>
        <p><input type="text" id="api-key" size="48" placeholder="trk_..."> <button class="primary" id="save-key">Use key</button></p>`;
      document.getElementById('save-key').onclick = () => {
        localStorage.setItem('tracker.apiKey', document.getElementById('api-key').value.trim());
        route();
      };
      return;
    }
    view.innerHTML = `<p class="error">${esc(error.message)}</p>`;
  }

  function stopLive() {
    clearInterval(liveTimer);
    liveTimer = null;
  }

  function download(name, href) {
    const a = document.createElement('a');
    a.href = href;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  // ---- Routing ----

  /** What a page shows until its data comes: grey blocks, never the page before it under the new address. */
  const PLACEHOLDER = `<div class="page-placeholder" role="status" aria-label="Loading"><div class="skeleton skeleton-title"></div>
    <div class="panels"><div class="card skeleton skeleton-card"></div><div class="card skeleton skeleton-card"></div><div class="card skeleton skeleton-card"></div></div>
    <div class="skeleton skeleton-block"></div></div>`;

  function route() {
    const gen = ++generation;
    stopLive();
    view.innerHTML = PLACEHOLDER;
    setCrumbs([]);
    const [path, qs] = (location.hash.replace(/^#/, '') || '/').split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const query = new URLSearchParams(qs || '');
    let page;
    if (parts.length === 0) page = projectsView(gen);
    else if (parts[0] === 'projects' && parts.length === 2) page = window.TrackerWorkspace.projectView(gen, parts[1], query); // workspace.js
    else if (parts[0] === 'projects' && parts[2] === 'runs' && parts.length === 4) page = runView(gen, parts[1], parts[3]);
    else if (parts[0] === 'projects' && parts[2] === 'compare') page = compareView(gen, parts[1], (query.get('runs') || '').split(',').filter(Boolean));
    else page = Promise.reject(new Error(`There is no page at #${path}.`));
    page.catch(error => gen === generation && showError(error));
  }

  // ---- Projects ----

  async function projectsView(gen) {
    setCrumbs([]);
    const projects = await api('/projects');
    if (gen !== generation) return;
    view.innerHTML = projects.length === 0
      ? `<h1>Projects</h1><p class="muted">No runs yet. Log one with the SDK in online mode (TRACKER_BASE_URL=${esc(location.origin)}), or upload a local run with <code>tracker sync</code>.</p>`
      : `<h1>Projects</h1><div class="table-wrap" style="display:inline-block"><table id="projects"><thead><tr><th>Project</th><th>Runs</th><th>Last update</th></tr></thead><tbody>${
        projects.map(p => `<tr><td><a href="#/projects/${enc(p.name)}">${esc(p.name)}</a></td><td class="num">${p.run_count}</td><td>${esc(p.last_update ? new Date(p.last_update).toLocaleString() : '')}</td></tr>`).join('')
      }</tbody></table></div>`;
  }

  // ---- Run page and compare view ----

  const kv = obj => {
    const entries = Object.entries(obj || {}).filter(([, v]) => v !== null && v !== undefined && v !== '');
    return entries.length === 0 ? '<p class="muted">none</p>'
      : `<dl class="kv">${entries.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(fmt(v))}</dd>`).join('')}</dl>`;
  };

  async function runView(gen, project, id) {
    setCrumbs([[project, `#/projects/${enc(project)}`], [id]]);
    // Fetched together: a page is as slow as its longest chain of requests.
    const [run, metrics, mediaKeys] = await Promise.all([api(`/projects/${enc(project)}/runs/${enc(id)}`),
      api(`/projects/${enc(project)}/runs/${enc(id)}/metrics`), api(`/projects/${enc(project)}/runs/${enc(id)}/media`)]);
    if (gen !== generation) return;
    assignColours([run]);
    const git = run.git || {};
    const meta = {
      id: run.id, state: run.state, started: run.start_time && new Date(run.start_time).toLocaleString(), duration: fmtDuration(duration(run)),
      'exit code': run.exit_code, error: run.error, host: run.host, os: run.os,
      cpu: run.cpu_model ? `${run.cpu_model}${run.cpu_count ? ` (${run.cpu_count} logical)` : ''}` : run.cpu_count, gpus: (run.gpus || []).join(', '),
      '.NET': run.dotnet_version, libraries: Object.entries(run.libraries || {}).map(([k, v]) => `${k} ${v}`).join(', '),
      program: run.entry_assembly, 'command line': run.command_line,
      'git commit': git.commit, 'git branch': git.branch, 'git remote': git.remote, 'git dirty': git.dirty, group: run.group, 'job type': run.job_type,
      sdk: run.sdk_version,
    };
    view.innerHTML = `
      <div id="run-header"></div>
      <div class="panels">
        <div class="card" id="run-meta"><h2>Run</h2>${kv(meta)}</div>
        <div class="card" id="run-config"><h2>Config</h2>${kv(run.config)}</div>
        <div class="card" id="run-summary"><h2>Summary</h2>${kv(run.summary)}</div>
      </div>
      <details class="card" id="run-output" style="margin-top:1em"><summary>Console output</summary><pre class="output"></pre></details>
      <div id="workspace"></div>
      <section id="run-media" hidden><h2>Media</h2><div class="media-grid"></div></section>`;
    // Name, tags and notes, editable in place, with archive and delete (manage.js).
    window.TrackerManage.runHeader(document.getElementById('run-header'), project, run, () => { location.hash = `#/projects/${enc(project)}`; });
    const output = new ConsoleOutput(project, id, document.getElementById('run-output'));
    const media = new MediaSection(gen, project, id, document.getElementById('run-media'));
    const workspace = new Workspace(gen, project, [run], document.getElementById('workspace'));
    workspace.onRefresh = () => Promise.all([output.load(), media.load()]);
    await Promise.all([workspace.start([metrics]), media.load(mediaKeys)]);
  }

  async function compareView(gen, project, ids) {
    setCrumbs([[project, `#/projects/${enc(project)}`], ['compare']]);
    if (ids.length === 0) throw new Error('Select runs to compare in the runs table.');
    const read = await readRuns(project, ids, true);
    if (gen !== generation) return;
    const runs = read.map(r => r.run);
    assignColours(runs);
    const keys = [...new Set(runs.flatMap(r => Object.keys(r.config || {})))].sort();
    const differs = k => new Set(runs.map(r => JSON.stringify(r.config?.[k] ?? null))).size > 1;
    view.innerHTML = `
      <h1>Compare ${runs.length} runs</h1>
      <div class="card" style="display:inline-block;max-width:100%;overflow:auto">
        <h2>Config <label class="hint"><input type="checkbox" id="diff-all"> show all keys</label></h2>
        <table id="config-diff"><thead><tr><th>key</th>${runs.map(r => `<th><span class="swatch" style="background:${r.colour}"></span><a href="#/projects/${enc(project)}/runs/${enc(r.id)}">${esc(r.name)}</a></th>`).join('')}</tr></thead><tbody></tbody></table>
      </div>
      <div id="workspace"></div>`;
    const renderDiff = () => {
      const all = document.getElementById('diff-all').checked;
      const rows = keys.filter(k => all || differs(k));
      document.querySelector('#config-diff tbody').innerHTML = rows.length === 0
        ? `<tr><td colspan="${runs.length + 1}" class="muted">no config keys differ</td></tr>`
        : rows.map(k => `<tr data-key="${esc(k)}" class="${differs(k) ? 'differs' : ''}"><td>${esc(k)}</td>${runs.map(r => `<td>${esc(fmt(r.config?.[k]))}</td>`).join('')}</tr>`).join('');
    };
    document.getElementById('diff-all').addEventListener('change', renderDiff);
    renderDiff();
    await new Workspace(gen, project, runs, document.getElementById('workspace'), keys).start(read.map(r => r.metrics));
  }

  /** The charts of one or more runs, with the controls they share. */
  class Workspace {
    constructor(gen, project, runs, el, groupKeys = [], saved = null) {
      Object.assign(this, { gen, project, runs, el, groupKeys, charts: [], saved });
      // What the toolbar set; each chart starts from it and keeps its own settings (Chart.view) after.
      this.settings = { x: 'default', smoothing: 0, log: false, groupBy: [], band: 'minmax', ...saved?.settings };
      if (!Array.isArray(this.settings.groupBy)) this.settings.groupBy = this.settings.groupBy ? [this.settings.groupBy] : []; // views saved with one key
      this.groupColours = new Map();
    }

    /** The toolbar's settings, the added charts and each chart's own settings where they differ from the toolbar's: what a saved view keeps. */
    snapshot() {
      const base = JSON.stringify(this.baseView());
      return {
        settings: { ...this.settings },
        added: this.charts.filter(c => c.removable).map(c => ({ keys: c.keys, view: { ...c.view } })),
        views: Object.fromEntries(this.charts.filter(c => !c.removable && JSON.stringify(c.view) !== base).map(c => [c.keys.join(','), { ...c.view }])),
      };
    }

    baseView() { return { smoothing: this.settings.smoothing, scale: this.settings.log ? 'log' : 'linear', yMin: null, yMax: null, clip: 0 }; }

    changed() { this.onChange?.(this.snapshot()); }

    /**
     * The x-axis a metric is charted against by default: its step metric (DefineMetric; the last
     * definition that matches it wins) when every run that logged the metric pairs it with the same
     * one and logged that too; else the step. Several metrics on one chart share it only when they agree.
     * System metrics (system/*) are sampled on a timer, not at steps: relative time.
     */
    defaultAxis(keys) {
      if (keys.every(k => k.startsWith('system/'))) return 'relative';
      const axes = new Set(keys.flatMap(key => this.runs.filter(run => this.metrics.get(key)?.has(run.id)).map(run => {
        const x = (run.metrics || []).filter(d => metricMatches(d.name, key)).at(-1)?.step_metric;
        return x && x !== key && this.metrics.get(x)?.has(run.id) ? `metric:${x}` : 'step';
      })));
      return axes.size === 1 ? [...axes][0] : 'step';
    }

    async start(metricLists = null) {
      await this.loadMetrics(metricLists);
      if (this.gen !== generation) return;
      const keys = [...this.metrics.keys()].sort();
      const grouping = this.runs.length > 1 ? `<label title="Ctrl-click for several keys">group by <select id="group-by" multiple size="1" style="min-width:8em;vertical-align:middle">${this.groupKeys.map(k => `<option>${esc(k)}</option>`).join('')}</select></label>
          <label>band <select id="group-band" title="Around each group's mean"><option value="minmax">min–max</option><option value="std">± std dev</option><option value="stderr">± std error</option></select></label>` : '';
      this.el.innerHTML = `
        <div class="toolbar" style="margin-top:1.2em">
          <label>x-axis <select id="x-axis"><option value="default" title="Each metric's step metric (DefineMetric), else the step">default</option><option value="step">step</option><option value="relative">relative time</option><option value="wall">wall time</option>${keys.map(k => `<option value="metric:${esc(k)}">${esc(k)}</option>`).join('')}</select></label>
          <label>smoothing <input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0"> <span id="smoothing-value">0</span></label>
          <label><input type="checkbox" id="log-scale"> log scale</label>
          ${grouping}
          <label>several metrics on one chart <select id="combine" multiple size="1" style="min-width:10em;vertical-align:middle">${keys.map(k => `<option>${esc(k)}</option>`).join('')}</select></label>
          <button id="add-chart">Add chart</button>
          <span class="hint">Drag across a chart to zoom (fetched at full resolution); double-click to reset. Or its + − ⟲ buttons, or the keys + - 0 on a focused chart.</span>
        </div>
        <div id="custom-charts" class="charts"></div>
        <div id="sections"></div>`;
      if (keys.length === 0) {
        this.el.querySelector('#sections').innerHTML = '<p class="muted">No metrics logged yet.</p>';
      }
      const added = this.addCharts(keys);
      for (const chart of this.saved?.added ?? []) {
        const restored = new Chart(this, chart.keys, this.el.querySelector('#custom-charts'), true, chart.view);
        this.charts.push(restored);
        added.push(restored);
      }
      this.wireControls();
      await Promise.all(added.map(c => c.load()));
      // Not for charts already replaced (the project workspace rebuilds them when its runs change).
      if (this.runs.some(r => r.state === 'running') && this.el.isConnected) liveTimer = setInterval(() => this.refresh(), POLL_MS);
    }

    /** A chart per key in its section (the key's prefix), sections in name order, keys in order within one. */
    addCharts(keys) {
      const sectionsEl = this.el.querySelector('#sections');
      sectionsEl.querySelector(':scope > p.muted')?.remove();
      const added = [];
      for (const key of [...keys].sort()) {
        const prefix = key.includes('/') ? key.slice(0, key.indexOf('/')) : '';
        let section = [...sectionsEl.children].find(e => e.dataset.prefix === prefix);
        if (!section) {
          section = document.createElement('section');
          section.className = 'chart-section';
          section.dataset.prefix = prefix;
          section.innerHTML = `<h2>${esc(prefix || 'metrics')}</h2><div class="charts"></div>`;
          sectionsEl.insertBefore(section, [...sectionsEl.children].find(e => bySection(prefix, e.dataset.prefix) < 0) ?? null);
        }
        const grid = section.lastElementChild;
        const chart = new Chart(this, [key], grid, false, this.saved?.views?.[key]);
        grid.insertBefore(chart.el, [...grid.children].find(e => e.dataset.key > key) ?? null);
        this.charts.push(chart);
        added.push(chart);
      }
      return added;
    }

    /** Metrics that appeared while the page was open: their charts, and their place in the x-axis and combine lists. */
    addKeys(keys) {
      const $ = id => this.el.querySelector(`#${id}`);
      for (const key of keys) {
        $('x-axis').append(new Option(key, `metric:${key}`));
        $('combine').append(new Option(key, key));
      }
      return this.addCharts(keys);
    }

    async loadMetrics(lists = null) {
      lists ??= (await readRuns(this.project, this.runs.map(r => r.id), true)).map(r => r.metrics);
      this.metrics = new Map(); // key -> Map(runId -> {count, first_step, last_step, ...})
      lists.forEach((list, i) => list.forEach(m => {
        if (!this.metrics.has(m.key)) this.metrics.set(m.key, new Map());
        this.metrics.get(m.key).set(this.runs[i].id, m);
      }));
    }

    wireControls() {
      const $ = id => this.el.querySelector(`#${id}`);
      const reload = () => { this.charts.forEach(c => { c.zoom = null; c.load(); }); this.changed(); };
      // A restored view's toolbar shows what it set.
      if ([...$('x-axis').options].some(o => o.value === this.settings.x)) $('x-axis').value = this.settings.x;
      $('smoothing').value = String(this.settings.smoothing);
      $('smoothing-value').textContent = String(this.settings.smoothing);
      $('log-scale').checked = this.settings.log;
      if ($('group-by')) for (const option of $('group-by').options) option.selected = this.settings.groupBy.includes(option.value);
      if ($('group-band')) $('group-band').value = this.settings.band;
      if (this.settings.groupBy.length) this.groupColours = groupColours(this.runs.map(r => groupOf(r, this.settings.groupBy)));
      $('x-axis').addEventListener('change', e => { this.settings.x = e.target.value; reload(); });
      // The toolbar sets every chart; a chart's own settings (its ⚙) then change it alone.
      $('smoothing').addEventListener('input', e => {
        this.settings.smoothing = Number(e.target.value);
        $('smoothing-value').textContent = e.target.value;
        this.charts.forEach(c => c.set({ smoothing: this.settings.smoothing }, true));
        this.changed();
      });
      $('log-scale').addEventListener('change', e => {
        this.settings.log = e.target.checked;
        this.charts.forEach(c => c.set({ scale: e.target.checked ? 'log' : 'linear' }, true));
        this.changed();
      });
      $('group-by')?.addEventListener('change', e => {
        this.settings.groupBy = [...e.target.selectedOptions].map(o => o.value);
        this.groupColours = groupColours(this.runs.map(r => groupOf(r, this.settings.groupBy)));
        this.charts.forEach(c => c.series.length && c.draw());
        this.changed();
      });
      $('group-band')?.addEventListener('change', e => { this.settings.band = e.target.value; this.charts.forEach(c => c.series.length && c.draw()); this.changed(); });
      $('add-chart').addEventListener('click', () => {
        const keys = [...$('combine').selectedOptions].map(o => o.value);
        if (keys.length === 0) return;
        const chart = new Chart(this, keys, $('custom-charts'), true);
        this.charts.push(chart);
        chart.load();
        this.changed();
      });
    }

    /** Live runs: new points, and new metrics, without a reload. */
    async refresh() {
      if (this.refreshing) return;
      this.refreshing = true;
      try {
        const read = await readRuns(this.project, this.runs.map(r => r.id), true);
        const runs = read.map(r => r.run);
        const known = new Set(this.metrics.keys());
        await this.loadMetrics(read.map(r => r.metrics));
        if (this.gen !== generation) return;
        runs.forEach((r, i) => { this.runs[i].state = r.state; this.runs[i].summary = r.summary; });
        const stateEl = document.getElementById('run-state');
        if (stateEl && runs.length === 1) { stateEl.textContent = runs[0].state; stateEl.className = `state state-${runs[0].state}`; }
        // A new metric gets a chart of its own; the charts there keep their settings, zoom and hidden lines.
        const added = this.addKeys([...this.metrics.keys()].filter(k => !known.has(k)));
        await Promise.all(this.charts.filter(c => !c.zoom || added.includes(c)).map(c => c.load()));
        await this.onRefresh?.();
        if (!this.runs.some(r => r.state === 'running')) stopLive();
      } catch { /* the next poll tries again */ } finally {
        this.refreshing = false;
      }
    }
  }

  /** The run's captured console lines (RunOptions.CaptureConsole), fetched when opened and as they grow. */
  class ConsoleOutput {
    constructor(project, id, el) {
      Object.assign(this, { project, id, el, after: 0, count: 0 });
      el.addEventListener('toggle', () => el.open && this.load());
    }

    async load() {
      if (!this.el.open || this.loading) return;
      this.loading = true;
      try {
        const pre = this.el.querySelector('pre');
        for (let page = 0; page < 20; page++) {
          const answer = await api(`/projects/${enc(this.project)}/runs/${enc(this.id)}/output?after_seq=${this.after}&limit=5000`);
          if (answer.lines.length) {
            if (this.count === 0) pre.textContent = '';
            pre.insertAdjacentText('beforeend', answer.lines.map(l => `${l.line}\n`).join(''));
            this.after = answer.lines[answer.lines.length - 1].seq;
            this.count += answer.lines.length;
          }
          if (answer.next_after_seq === null) break;
        }
        if (this.count === 0) pre.textContent = 'Nothing captured: start the run with CaptureConsole = true to keep its console output.';
        this.el.querySelector('summary').textContent = `Console output (${this.count} lines)`;
      } finally {
        this.loading = false;
      }
    }
  }

  // ---- Media ----

  const MEDIA_PAGE = Math.min(10000, Math.max(1, Number(pageQuery.get('media_page')) || 1000)); // items per request
  const MEDIA_MAX_ITEMS = 10000; // per key: more steps than that make a slider no one can aim
  const MEDIA_TABLE_ROWS = 200; // a table lays out in time proportional to its cells
  const MEDIA_KINDS = ['image', 'histogram', 'table', 'text'];

  /** An element with a class and a text: logged strings (keys, captions, cells, texts) only ever go in as text. */
  function make(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  const blobSources = new Map(); // blob address -> promise of an object URL
  const tableFiles = new Map(); // blob address -> promise of {columns, data}

  /** Where an <img> loads a file from: its address, or a fetched copy when reads need the key an <img> cannot send. */
  function imageSource(url) {
    if (!localStorage.getItem('tracker.apiKey')) return Promise.resolve(url);
    if (!blobSources.has(url)) {
      blobSources.set(url, request(url).then(r => r.blob()).then(b => URL.createObjectURL(b)).catch(error => { blobSources.delete(url); throw error; }));
    }
    return blobSources.get(url);
  }

  /** A table's file, fetched once: files are named by their hash, so they never change. */
  function tableFile(url) {
    if (!tableFiles.has(url)) tableFiles.set(url, request(url).then(r => r.json()).catch(error => { tableFiles.delete(url); throw error; }));
    return tableFiles.get(url);
  }

  /** The run's images, histograms, tables and texts: a panel per key, each with a slider over the steps it was logged at. */
  class MediaSection {
    constructor(gen, project, id, el) {
      Object.assign(this, { gen, project, id, el, panels: new Map() });
      this.base = `/projects/${enc(project)}/runs/${enc(id)}/media`;
    }

    /** New keys get a panel and keys with new items fetch them; `keys` is the key list when the caller has it. */
    async load(keys = null) {
      keys ??= await api(this.base);
      if (this.gen !== generation) return;
      const shown = keys.filter(k => MEDIA_PANELS[k.kind])
        .sort((a, b) => MEDIA_KINDS.indexOf(a.kind) - MEDIA_KINDS.indexOf(b.kind) || a.key.localeCompare(b.key));
      this.el.hidden = shown.length === 0;
      this.el.dataset.keys = shown.length;
      const grid = this.el.querySelector('.media-grid');
      shown.forEach((info, i) => {
        let panel = this.panels.get(info.key);
        if (panel && panel.kind !== info.kind) panel.el.remove();
        if (!panel || panel.kind !== info.kind) this.panels.set(info.key, (panel = new MEDIA_PANELS[info.kind](this, info.key)));
        // Moved only when out of place: moving a panel would take the focus off its slider.
        if (grid.children[i] !== panel.el) grid.insertBefore(panel.el, grid.children[i] ?? null);
      });
      await Promise.all(shown.map(info => this.panels.get(info.key).update(info)));
    }
  }

  /** One media key: its items in step order, fetched a page at a time, and a slider that picks the one to show. */
  class MediaPanel {
    constructor(section, key, kind) {
      Object.assign(this, { section, key, kind, items: [], selected: -1, known: '' });
      this.el = make('div', 'media-panel');
      this.el.dataset.key = key;
      this.el.dataset.kind = kind;
      const head = make('div', 'chart-head'), title = make('h3', null, key);
      title.title = key;
      head.append(title, make('span', 'media-kind', kind));
      this.body = make('div', 'media-body');
      this.problem = make('p', 'error');
      this.problem.hidden = true;
      this.slider = make('input', 'media-slider');
      Object.assign(this.slider, { type: 'range', min: '0', max: '0', step: '1', value: '0', hidden: true });
      this.slider.setAttribute('aria-label', `step of ${key}`);
      this.stepLabel = make('span', 'media-step');
      const controls = make('div', 'media-controls');
      controls.append(this.slider, this.stepLabel);
      this.note = make('p', 'hint media-note');
      this.note.hidden = true;
      this.el.append(head, this.body, this.problem, controls, this.note);
      this.slider.addEventListener('input', () => this.select(Number(this.slider.value)));
    }

    /** Fetches what the key list says is new; keeps the item shown, or follows the newest when the newest was shown. */
    async update(info) {
      const known = `${info.count}:${info.first_step}:${info.last_step}`;
      if (known === this.known) return;
      const following = this.selected < 0 || this.selected === this.items.length - 1;
      const shownSeq = this.items[this.selected]?.seq;
      let items;
      try {
        items = this.items.length >= MEDIA_MAX_ITEMS ? this.items : await this.fetchPages(this.items.at(-1)?.seq ?? 0, [...this.items]);
        // Fewer than listed: an item came in below the newest step, behind the cursor. Read them all again.
        if (items.length < Math.min(info.count, MEDIA_MAX_ITEMS)) items = await this.fetchPages(0, []);
      } catch (error) {
        this.fail(error);
        return;
      }
      if (this.section.gen !== generation || items.length === 0) return;
      this.items = items.slice(0, MEDIA_MAX_ITEMS);
      this.known = known;
      this.slider.max = String(this.items.length - 1);
      this.slider.hidden = this.items.length < 2;
      this.el.dataset.steps = this.items.length;
      this.note.hidden = info.count <= this.items.length;
      this.note.textContent = `Showing the first ${this.items.length} of ${info.count} steps.`;
      this.itemsChanged();
      const index = following ? -1 : this.items.findIndex(i => i.seq === shownSeq);
      this.select(index < 0 ? this.items.length - 1 : index);
    }

    async fetchPages(after, items) {
      for (;;) {
        const page = await api(`${this.section.base}?key=${enc(this.key)}&after_seq=${after}&limit=${MEDIA_PAGE}`);
        items.push(...page.items);
        if (page.next_after_seq === null || page.next_after_seq === undefined || page.items.length === 0 || items.length >= MEDIA_MAX_ITEMS) return items;
        after = page.next_after_seq;
      }
    }

    select(index) {
      const item = this.items[index];
      if (!item) return;
      this.selected = index;
      this.slider.value = String(index);
      this.stepLabel.textContent = this.items.length > 1 ? `step ${item.step} (${index + 1} of ${this.items.length})` : `step ${item.step}`;
      this.el.dataset.step = item.step;
      this.el.dataset.index = index;
      this.problem.hidden = true;
      Promise.resolve()
        .then(() => this.show(item))
        .catch(error => this.items[this.selected] === item && this.fail(error));
    }

    /** True while `item` is the one picked: answers for an item picked before arrive late. */
    current(item) { return this.items[this.selected] === item && this.section.gen === generation; }

    fail(error) {
      this.problem.textContent = error.message;
      this.problem.hidden = false;
    }

    itemsChanged() { /* kinds that summarise every step recompute here */ }
  }

  class ImagePanel extends MediaPanel {
    constructor(section, key) {
      super(section, key, 'image');
      this.frame = make('div', 'media-frame');
      this.img = make('img', 'media-image');
      this.missing = make('p', 'media-missing', 'file not uploaded');
      this.caption = make('p', 'media-caption');
      this.frame.append(this.img, this.missing);
      this.body.append(this.frame, this.caption);
      this.img.addEventListener('load', () => this.fit());
      this.img.addEventListener('error', () => this.img.getAttribute('src') && this.fail(new Error('The image could not be loaded.')));
      new ResizeObserver(() => this.fit()).observe(this.frame);
    }

    async show(item) {
      const m = item.media, missing = m.available === false;
      this.caption.textContent = m.caption ?? '';
      this.caption.hidden = !m.caption;
      this.missing.hidden = !missing;
      this.img.hidden = missing;
      if (missing) {
        this.img.removeAttribute('src');
        return;
      }
      const src = await imageSource(m.url);
      if (!this.current(item)) return;
      this.img.style.aspectRatio = m.width > 0 && m.height > 0 ? `${m.width} / ${m.height}` : '';
      this.img.alt = m.caption || `${this.key} at step ${item.step}`;
      if (this.img.getAttribute('src') !== src) this.img.src = src;
      this.fit();
    }

    /** Images narrower than the panel are scaled up with hard pixel edges: at that size the pixels are the content. */
    fit() {
      const width = this.items[this.selected]?.media.width || this.img.naturalWidth;
      this.img.classList.toggle('pixelated', width > 0 && width < this.frame.clientWidth);
    }
  }

  /** Every step's histogram as a column of a heat map (TensorBoard's distributions), and the picked step's as bars. */
  class HistogramPanel extends MediaPanel {
    static HEAT_HEIGHT = 170;
    static BARS_HEIGHT = 90;

    constructor(section, key) {
      super(section, key, 'histogram');
      this.heat = make('canvas', 'media-heatmap');
      this.bars = make('canvas', 'media-bars');
      this.readout = make('div', 'readout media-readout');
      this.summary = make('span', 'media-summary');
      this.hover = make('span', 'media-hover');
      this.readout.append(this.summary, this.hover);
      this.body.append(this.heat, this.bars, this.readout);
      this.heat.title = 'Click to pick a step';
      let width = 0;
      new ResizeObserver(() => {
        if (this.body.clientWidth === width) return;
        width = this.body.clientWidth;
        if (this.items[this.selected]) this.show(this.items[this.selected]);
      }).observe(this.body);
      this.heat.addEventListener('click', e => this.map && this.select(this.map.itemAt(this.heat, e.offsetX)));
      this.heat.addEventListener('mousemove', e => {
        if (this.map) this.hover.textContent = this.map.describeHeat(this.heat, HistogramPanel.HEAT_HEIGHT, e.offsetX, e.offsetY);
      });
      this.bars.addEventListener('mousemove', e => {
        const m = this.items[this.selected]?.media;
        if (m && this.map) this.hover.textContent = this.map.describeBars(this.bars, m, e.offsetX);
      });
      for (const canvas of [this.heat, this.bars]) canvas.addEventListener('mouseleave', () => { this.hover.textContent = ''; });
    }

    /** The common value grid: from the lowest edge of any step to the highest, each step re-binned onto it. */
    itemsChanged() {
      this.map = new HistogramHeatmap(this.items.map(i => ({ step: i.step, bins: i.media.bins, counts: i.media.counts })));
      this.heat.dataset.steps = this.items.length;
      this.heat.dataset.min = this.map.lo;
      this.heat.dataset.max = this.map.hi;
    }

    show(item) {
      this.map.drawHeat(this.heat, HistogramPanel.HEAT_HEIGHT, this.selected);
      this.map.drawBars(this.bars, HistogramPanel.BARS_HEIGHT, item.media);
      this.bars.dataset.step = item.step;
      this.bars.dataset.counts = item.media.counts.join(',');
      const m = item.media, values = m.counts.reduce((sum, c) => sum + c, 0);
      this.summary.textContent = [`step ${item.step}: ${values} values in [${fmt(m.bins[0])}, ${fmt(m.bins.at(-1))}]`,
        m.nan ? `NaN ${m.nan}` : '', m.inf ? `±inf ${m.inf}` : ''].filter(Boolean).join(' · ');
    }
  }

  class TablePanel extends MediaPanel {
    constructor(section, key) {
      super(section, key, 'table');
      this.missing = make('p', 'media-missing', 'file not uploaded');
      this.wrap = make('div', 'table-wrap media-table-wrap');
      this.rowsNote = make('p', 'hint media-rows');
      this.body.append(this.missing, this.wrap, this.rowsNote);
    }

    async show(item) {
      const missing = item.media.available === false;
      this.missing.hidden = !missing;
      this.wrap.hidden = missing;
      this.rowsNote.hidden = missing;
      if (missing) return;
      const file = await tableFile(item.media.url);
      if (!this.current(item)) return;
      const columns = file.columns ?? item.media.columns ?? [], data = file.data ?? [];
      const table = make('table'), head = make('tr'), body = make('tbody');
      const numeric = columns.map((_, k) => typeof num(data.find(row => row[k] !== null && row[k] !== undefined)?.[k]) === 'number');
      head.append(...columns.map((c, k) => make('th', numeric[k] ? 'num' : null, c)));
      for (const row of data.slice(0, MEDIA_TABLE_ROWS)) {
        const tr = make('tr');
        tr.append(...row.map(v => make('td', typeof num(v) === 'number' ? 'num' : null, fmt(v))));
        body.append(tr);
      }
      table.append(make('thead'), body);
      table.tHead.append(head);
      this.wrap.replaceChildren(table);
      this.rowsNote.textContent = data.length > MEDIA_TABLE_ROWS ? `The first ${MEDIA_TABLE_ROWS} of ${data.length} rows.` : `${data.length} row${data.length === 1 ? '' : 's'}`;
    }
  }

  class TextPanel extends MediaPanel {
    constructor(section, key) {
      super(section, key, 'text');
      this.pre = make('pre', 'media-text');
      this.body.append(this.pre);
    }

    show(item) { this.pre.textContent = item.media.text ?? ''; }
  }

  const MEDIA_PANELS = { image: ImagePanel, histogram: HistogramPanel, table: TablePanel, text: TextPanel };


  /** A y bound typed into a chart's settings: a number, or null for automatic. */
  const bound = v => (v.trim() === '' || !Number.isFinite(Number(v)) ? null : Number(v));

  /** One chart: one or more metrics of the workspace's runs, bucketed by the server. */
  class Chart {
    constructor(ws, keys, container, removable = false, view = null) {
      Object.assign(this, { ws, keys, removable, zoom: null, series: [], plot: null, drawn: null });
      // This chart's own settings, kept through live updates and redraws; the toolbar sets every chart's.
      this.view = { ...ws.baseView(), ...view };
      this.hidden = new Set(); // lines hidden from the legend
      this.el = document.createElement('div');
      this.el.className = 'chart';
      this.el.dataset.key = keys.join(',');
      this.el.innerHTML = `<div class="chart-head"><h3 title="${esc(keys.join(', '))}">${esc(keys.join(', '))}</h3>
        <button class="settings" title="This chart's settings" aria-expanded="false">⚙</button><button class="csv" title="Download the chart's data as CSV">CSV</button><button class="png" title="Download the chart as PNG">PNG</button>${removable ? '<button class="remove" title="Remove">✕</button>' : ''}</div>
        <div class="chart-zoom" role="group" aria-label="Zoom ${esc(keys.join(', '))}"><button class="zoom-in" title="Zoom in on the middle of the x range (+)" aria-label="Zoom in">+</button><button class="zoom-out" title="Zoom out (−)" aria-label="Zoom out">−</button><button class="zoom-reset" title="Show the whole x range (0, or double-click the chart)" aria-label="Reset zoom" disabled>⟲</button></div>
        <div class="chart-settings" hidden>
          <label>smoothing <input type="range" class="chart-smoothing" min="0" max="0.99" step="0.01"> <span class="chart-smoothing-value"></span></label>
          <label>y scale <select class="chart-scale"><option value="linear">linear</option><option value="log">log</option><option value="symlog" title="Linear near zero, logarithmic beyond: zeros and negatives stay">symlog</option></select></label>
          <label>y from <input type="number" class="chart-ymin" step="any" placeholder="auto"></label>
          <label>to <input type="number" class="chart-ymax" step="any" placeholder="auto"></label>
          <label title="Fit y to this share of the values, cutting off outliers beyond it">clip outliers <select class="chart-clip"><option value="0">no</option><option value="99.5">to 99.5%</option><option value="99">to 99%</option><option value="95">to 95%</option></select></label>
        </div>
        <div class="plot" tabindex="0" aria-label="Chart of ${esc(keys.join(', '))}: + zooms in, − zooms out, 0 resets"><div class="skeleton skeleton-plot" role="status" aria-label="Loading chart"></div></div><div class="readout"></div>`;
      container.appendChild(this.el);
      this.el.querySelector('.csv').onclick = () => this.downloadCsv();
      this.el.querySelector('.png').onclick = () => this.downloadPng();
      // Zoom without a mouse drag: buttons, and keys while the plot has focus.
      this.el.querySelector('.zoom-in').onclick = () => this.zoomBy(0.5);
      this.el.querySelector('.zoom-out').onclick = () => this.zoomBy(2);
      this.el.querySelector('.zoom-reset').onclick = () => this.setZoom(null);
      this.el.querySelector('.plot').addEventListener('keydown', e => {
        if (e.ctrlKey || e.metaKey || e.altKey) return; // the browser's own zoom
        const act = { '+': () => this.zoomBy(0.5), '=': () => this.zoomBy(0.5), '-': () => this.zoomBy(2), '0': () => this.setZoom(null) }[e.key];
        if (act) { e.preventDefault(); act(); }
      });
      const panel = this.el.querySelector('.chart-settings'), toggle = this.el.querySelector('.settings');
      toggle.onclick = () => { panel.hidden = !panel.hidden; toggle.setAttribute('aria-expanded', String(!panel.hidden)); };
      panel.querySelector('.chart-smoothing').addEventListener('input', e => this.set({ smoothing: Number(e.target.value) }));
      panel.querySelector('.chart-scale').addEventListener('change', e => this.set({ scale: e.target.value }));
      panel.querySelector('.chart-ymin').addEventListener('change', e => this.set({ yMin: bound(e.target.value) }));
      panel.querySelector('.chart-ymax').addEventListener('change', e => this.set({ yMax: bound(e.target.value) }));
      panel.querySelector('.chart-clip').addEventListener('change', e => this.set({ clip: Number(e.target.value) }));
      this.showView();
      if (removable) this.el.querySelector('.remove').onclick = () => { this.drawn?.destroy(); this.el.remove(); ws.charts.splice(ws.charts.indexOf(this), 1); ws.changed(); };
      // Redrawn only when the chart's size changes: the plot's box also grows as the canvas replaces the skeleton, and
      // setSize redraws every line even at the same size (100 ms and more for a chart of 300 runs).
      new ResizeObserver(() => {
        const size = this.size();
        if (this.plot && (size.width !== this.plot.width || size.height !== this.plot.height)) this.plot.setSize(size);
      }).observe(this.el.querySelector('.plot'));
    }

    size() { return { width: Math.max(200, this.el.querySelector('.plot').clientWidth), height: 240 }; }

    /** Changes this chart's settings and redraws it. */
    set(changes, quiet = false) {
      Object.assign(this.view, changes);
      this.showView();
      if (this.series.length) this.draw();
      if (!quiet) this.ws.changed();
    }

    /** The settings panel's inputs and the chart's data-* attributes as the settings are. */
    showView() {
      const v = this.view, q = c => this.el.querySelector(`.chart-settings .${c}`);
      q('chart-smoothing').value = String(v.smoothing);
      q('chart-smoothing-value').textContent = String(v.smoothing);
      q('chart-scale').value = v.scale;
      if (bound(q('chart-ymin').value) !== v.yMin) q('chart-ymin').value = v.yMin ?? '';
      if (bound(q('chart-ymax').value) !== v.yMax) q('chart-ymax').value = v.yMax ?? '';
      q('chart-clip').value = String(v.clip);
      Object.assign(this.el.dataset, { smoothing: v.smoothing, scale: v.scale });
    }

    /** The chart's x-axis: the one picked, or by default the metric's step metric. */
    mode() { return this.ws.settings.x === 'default' ? this.ws.defaultAxis(this.keys) : this.ws.settings.x; }

    /** Buckets per line: 1.5 a pixel (200 to 2,000), fewer when many lines share the chart (CHART_BUCKETS in all, at least 100 a line). */
    buckets(lines = 1) {
      return Math.min(2000, Math.max(200, Math.round(this.size().width * 1.5)), Math.max(100, Math.floor(CHART_BUCKETS / Math.max(1, lines))));
    }

    async load() {
      const ws = this.ws, mode = this.mode();
      const token = (this.token = (this.token || 0) + 1);
      // One batch request per 50 runs of a key: 300 runs are 6 requests a key, not 300.
      const batches = [];
      for (const key of this.keys) {
        const runs = ws.runs.filter(run => ws.metrics.get(key)?.has(run.id));
        for (let i = 0; i < runs.length; i += SERIES_BATCH) batches.push({ key, runs: runs.slice(i, i + SERIES_BATCH) });
      }
      const buckets = this.buckets(batches.reduce((n, b) => n + b.runs.length, 0));
      const lineCount = batches.reduce((n, b) => n + b.runs.length, 0);
      const answers = await Promise.allSettled(batches.map(b => this.fetchBatch(b.runs, b.key, mode, buckets, lineCount <= BAND_LINES))); // min and max only for the bands, which charts of few lines draw
      if (token !== this.token || ws.gen !== generation) return;
      const failed = batches.map((b, i) => ({ ...b, error: answers[i].reason })).filter((b, i) => answers[i].status === 'rejected');
      const order = new Map(ws.runs.map((r, i) => [r.id, i]));
      const series = answers.filter(a => a.status === 'fulfilled').flatMap(a => a.value) // in run order, then key order, as the lines were
        .sort((a, b) => order.get(a.run.id) - order.get(b.run.id) || this.keys.indexOf(a.key) - this.keys.indexOf(b.key));
      this.series = series;
      this.shownMode = mode;
      this.el.dataset.xAxis = mode;
      this.el.dataset.buckets = buckets;
      this.el.dataset.points = series[0]?.xs.length ?? 0;
      this.el.dataset.lastStep = Math.max(...series.map(s => s.lastStep), 0);
      this.showFailures(failed, batches.reduce((n, b) => n + b.runs.length, 0));
      if (series.length === 0 && failed.length > 0) {
        this.plot?.destroy();
        this.plot = null;
        this.el.querySelector('.plot').innerHTML = '';
        return;
      }
      this.draw();
    }

    /** Says on the chart which series could not be loaded and why, with a button to try again; hidden when all loaded. */
    showFailures(failed, total) {
      let note = this.el.querySelector('.chart-error');
      this.el.dataset.failed = failed.reduce((n, b) => n + b.runs.length, 0);
      if (failed.length === 0) {
        note?.remove();
        return;
      }
      if (!note) {
        note = make('div', 'error chart-error');
        this.el.querySelector('.plot').before(note);
      }
      const missing = failed.flatMap(b => b.runs.map(r => `${r.name} ${b.key}`));
      const shown = missing.slice(0, 3).join(', ') + (missing.length > 3 ? ` and ${missing.length - 3} more` : '');
      note.textContent = `Could not load ${missing.length} of ${total} series (${shown}): ${failure(failed[0].error)}. `;
      const retry = make('button', 'retry', 'Try again');
      retry.onclick = () => this.load();
      note.append(retry);
    }

    /** The series of `key` for up to 50 runs, in one request (retried once), each as x, last, min, max arrays in the axis's units. */
    async fetchBatch(runs, key, mode, buckets, bands) {
      // Only the four fields a line needs, as one array each: a third of the bytes of whole buckets.
      const x = mode.startsWith('metric:') ? 'x_value' : 'last_x';
      const body = { runs: runs.map(r => r.id), keys: [key], buckets, columns: bands ? [x, 'last', 'min', 'max'] : [x, 'last'] };
      const startMs = run => Date.parse(run.start_time) || 0;
      if (mode.startsWith('metric:')) {
        body.x = mode; // paired by step on the server: each bucket's x is the other metric's value at the bucket's last step
      } else {
        body.x = mode === 'step' ? 'step' : 'time';
        if (this.zoom) {
          const [a, b] = this.zoom;
          if (mode === 'relative') {
            // Seconds since each run's own start: a range of its own per run.
            body.runs = runs.map(r => ({ id: r.id, from: Math.floor(a * 1000 + startMs(r)), to: Math.ceil(b * 1000 + startMs(r)) }));
          } else {
            const toServer = v => (mode === 'step' ? v : v * 1000);
            Object.assign(body, { from: Math.floor(toServer(a)), to: Math.ceil(toServer(b)) });
          }
        }
      }
      // A batch still waiting for a slot when the page is left is dropped: the next page's charts wait for no leftovers.
      const answer = await seriesSlots(() => (this.ws.gen !== generation ? Promise.resolve({ series: [] }) : retryOnce(() => postApi(`/projects/${enc(this.ws.project)}/series`, body))));
      return answer.series.map(({ columns: c }, i) => {
        const run = runs[i], lastStep = this.ws.metrics.get(key).get(run.id).last_step;
        const last = c.last.map(num), min = c.min?.map(num) ?? null, max = c.max?.map(num) ?? null;
        if (mode.startsWith('metric:')) {
          const order = c.x_value.map(num).map((v, j) => [v, j]).filter(r => Number.isFinite(r[0])).sort((p, q) => p[0] - q[0]);
          return { run, key, xs: order.map(r => r[0]), last: order.map(r => last[r[1]]), min: min && order.map(r => min[r[1]]), max: max && order.map(r => max[r[1]]), lastStep };
        }
        const toX = v => (mode === 'step' ? v : mode === 'wall' ? v / 1000 : (v - startMs(run)) / 1000);
        return { run, key, xs: mode === 'step' ? c.last_x : c.last_x.map(toX), last, min, max, lastStep };
      });
    }

    /**
     * Lines to draw: one per run and metric, or per config group on any x-axis (shared/groups.js:
     * the mean on a common x grid, with the band the toolbar picked), in the group's page-wide colour.
     */
    lines() {
      const { groupBy, band } = this.ws.settings;
      const label = s => (this.ws.runs.length > 1 ? (this.keys.length > 1 ? `${s.run.name} ${s.key}` : s.run.name) : s.key);
      // A run keeps its colour; its metrics on one chart differ by dash pattern.
      const dash = key => DASHES[this.keys.indexOf(key) % DASHES.length];
      if (groupBy.length === 0) {
        return this.series.map(s => ({ label: label(s), colour: s.run.colour, dash: dash(s.key), xs: s.xs, ys: s.last, lo: s.min, hi: s.max }));
      }
      const groups = new Map();
      for (const s of this.series) {
        const group = groupOf(s.run, groupBy), id = `${this.keys.length > 1 ? `${s.key} ` : ''}${group}`;
        if (!groups.has(id)) groups.set(id, { colour: this.ws.groupColours.get(group), dash: dash(s.key), members: [] });
        groups.get(id).members.push({ xs: s.xs, ys: s.last });
      }
      return [...groups].map(([id, g]) => ({
        label: `${id} (mean of ${g.members.length} run${g.members.length === 1 ? '' : 's'})`, colour: g.colour, dash: g.dash,
        ...groupLine(g.members, { band, size: Math.min(1000, this.buckets()) }),
      }));
    }

    draw() {
      const plotEl = this.el.querySelector('.plot');
      this.drawn?.destroy();
      this.drawn = null;
      this.plot = null;
      const lines = this.lines();
      this.el.dataset.series = new Set(this.series.map(s => s.run.id)).size;
      Object.assign(this.el.dataset, { groups: this.ws.settings.groupBy.length ? lines.length : 0, band: this.ws.settings.band });
      if (lines.length === 0 || lines.every(l => l.xs.length === 0)) {
        plotEl.innerHTML = '<p class="empty">no points</p>';
        return;
      }
      plotEl.innerHTML = '';
      const { smoothing, scale, yMin, yMax, clip } = this.view, mode = this.shownMode;
      const chart = lineChart(plotEl, {
        ...this.size(),
        lines,
        xLabel: this.xLabel(),
        xTime: mode === 'wall',
        xClock: mode === 'relative',
        unit: this.unit(),
        scale, smoothing, yMin, yMax, clip,
        hidden: this.hidden,
        cursor: { drag: { x: true, y: false, setScale: false } },
        hooks: {
          setSelect: [u => this.onSelect(u)],
          setCursor: [u => this.readout(u)],
        },
      });
      this.el.dataset.bands = chart.bands;
      this.data = chart.data;
      this.main = chart.main; // each line's main series, for the readout and the CSV
      this.plot = chart.plot;
      this.drawn = chart;
      const [xMin, xMax] = xRange(chart);
      Object.assign(this.el.dataset, { xLabel: this.xLabel(), xMin, xMax });
      if (!this.zoom) this.full = [xMin, xMax];
      this.plot.over.addEventListener('dblclick', () => this.setZoom(null));
      if (this.zoom && mode.startsWith('metric:')) this.plot.setScale('x', { min: this.zoom[0], max: this.zoom[1] });
      this.showZoom();
    }

    /** The x range shown narrowed (factor < 1) or widened around its middle; back to all of it once it covers the data. */
    zoomBy(factor) {
      if (!this.plot) return;
      const { min, max } = this.plot.scales.x, mid = (min + max) / 2, half = ((max - min) * factor) / 2;
      const [lo, hi] = this.full ?? [-Infinity, Infinity];
      const range = [Math.max(mid - half, lo), Math.min(mid + half, hi)];
      this.setZoom(range[0] <= lo && range[1] >= hi ? null : range);
    }

    /** Shows x from a to b ([a, b]), or everything (null): a metric x-axis is rescaled here, the others read the range again at full resolution. */
    setZoom(range) {
      if (range === null && !this.zoom) return;
      this.zoom = range;
      this.showZoom();
      if (this.shownMode?.startsWith('metric:') && this.plot) {
        const [min, max] = range ?? this.full;
        this.plot.setScale('x', { min, max });
        return;
      }
      this.load();
    }

    /** The reset button usable and data-zoom set ("from,to") only while zoomed. */
    showZoom() {
      this.el.querySelector('.zoom-reset').disabled = !this.zoom;
      this.el.dataset.zoom = this.zoom ? this.zoom.join(',') : '';
    }

    xLabel() {
      const mode = this.shownMode ?? this.mode();
      return mode === 'step' ? 'step' : mode === 'wall' ? 'time' : mode === 'relative' ? 'time since start' : mode.slice(7);
    }

    /** The unit of the chart's values: its system metrics' (%, MB, W, °C) when they all share one. */
    unit() {
      const units = new Set(this.keys.map(unitOf));
      return units.size === 1 ? [...units][0] : '';
    }

    onSelect(u) {
      if (u.select.width < 4) return;
      const a = u.posToVal(u.select.left, 'x'), b = u.posToVal(u.select.left + u.select.width, 'x');
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      this.setZoom([a, b]);
    }

    readout(u) {
      const xText = x => (this.shownMode === 'wall' ? new Date(x * 1000).toLocaleString() : this.shownMode === 'relative' ? clock(x, 1) : fmt(x));
      this.el.querySelector('.readout').innerHTML = readout(this, u.cursor.idx, this.xLabel(), xText, this.unit());
    }

    downloadCsv() {
      if (!this.data) return;
      const cells = v => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
      const header = [this.xLabel(), ...this.main.map(m => m.label)];
      const rows = this.data[0].map((x, i) => [x, ...this.main.map(m => this.data[m.raw][i])]);
      const csv = [header, ...rows.filter(r => r.slice(1).some(v => v !== null && v !== undefined))].map(r => r.map(cells).join(',')).join('\n') + '\n';
      download(`${this.keys.join('+').replace(/[^\w.-]+/g, '_')}.csv`, URL.createObjectURL(new Blob([csv], { type: 'text/csv' })));
    }

    downloadPng() {
      if (!this.plot) return;
      const source = this.plot.ctx.canvas;
      const canvas = document.createElement('canvas');
      const title = 28 * devicePixelRatio;
      canvas.width = source.width;
      canvas.height = source.height + title;
      const ctx = canvas.getContext('2d');
      const theme = getComputedStyle(this.el.querySelector('.plot')); // the axes are drawn in the theme's colours: the title and paper follow
      ctx.fillStyle = theme.getPropertyValue('--chart-paper').trim() || '#fff';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.fillStyle = theme.getPropertyValue('--chart-text').trim() || '#1d2330';
      ctx.font = `${14 * devicePixelRatio}px system-ui, sans-serif`;
      ctx.fillText(this.keys.join(', '), 8 * devicePixelRatio, 19 * devicePixelRatio);
      ctx.drawImage(source, 0, title);
      download(`${this.keys.join('+').replace(/[^\w.-]+/g, '_')}.png`, canvas.toDataURL('image/png'));
    }
  }

  // What the project workspace (workspace.js) shares with the other pages.
  window.TrackerApp = { api, request, ApiError, Workspace, assignColours, duration, setCrumbs, stopLive, route, generation: () => generation, pollMs: POLL_MS };

  window.TrackerManage.mountKeyButton(document.querySelector('header'));
  window.addEventListener('hashchange', route);
  route();
})();
