// Tracker web UI: projects, runs table, run page, compare view. Plain JavaScript and uPlot, served
// by Tracker.Server itself; every request goes to the read API of the same origin.
'use strict';
(() => {
  const view = document.getElementById('view');
  const crumbs = document.getElementById('crumbs');
  const pageQuery = new URLSearchParams(location.search);
  const POLL_MS = Math.max(200, Number(pageQuery.get('poll')) || 3000);
  const PALETTE = ['#3554d1', '#e4572e', '#17a673', '#9b51e0', '#f2a81d', '#0fa3b1', '#d1495b', '#5c4d7d', '#8ac926', '#ff7eb6'];
  /** Sections in name order, with the system metrics last: they describe the machine, not the model. */
  const bySection = (a, b) => (a === 'system') - (b === 'system') || a.localeCompare(b);

  let generation = 0; // bumped on every navigation: late answers for an old page are dropped
  let liveTimer = null;

  // ---- Helpers ----

  const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const enc = encodeURIComponent;
  /** Numbers travel as JSON numbers, or as "NaN" / "Infinity" / "-Infinity" strings. */
  const num = v => (typeof v === 'number' ? v : v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : null);

  function fmt(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
      const a = Math.abs(v);
      return a >= 1e6 || a < 1e-4 ? v.toExponential(4) : String(+v.toPrecision(6));
    }
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }

  function duration(run) {
    const start = Date.parse(run.start_time);
    const end = run.state === 'running' ? Date.now() : Date.parse(run.end_time || run.updated_at);
    if (!Number.isFinite(start) || !Number.isFinite(end)) return null;
    return Math.max(0, (end - start) / 1000);
  }

  function fmtDuration(seconds) {
    if (seconds === null) return '';
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
    return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${seconds.toFixed(1)}s`;
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /** A GET of the server's, with the browser's API key if it has one; throws on an error status. */
  async function request(url) {
    const headers = {};
    const key = localStorage.getItem('tracker.apiKey');
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch(url, { headers });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch { /* not a problem body */ }
      throw new ApiError(response.status, `${response.status}: ${detail}`);
    }
    return response;
  }

  const api = async path => (await request(`/api/v1${path}`)).json();

  /** Colours stay with a run: picked from its id, moved on only when another run on the page has it. */
  function assignColours(runs) {
    const used = new Set();
    for (const run of runs) {
      let h = 0;
      for (const c of run.id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
      let i = h % PALETTE.length;
      for (let tries = 0; used.has(i) && tries < PALETTE.length; tries++) i = (i + 1) % PALETTE.length;
      used.add(i);
      run.colour = PALETTE[i];
    }
  }

  const alpha = (hex, a) => `${hex}${Math.round(a * 255).toString(16).padStart(2, '0')}`;

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

  function route() {
    const gen = ++generation;
    stopLive();
    const [path, qs] = (location.hash.replace(/^#/, '') || '/').split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const query = new URLSearchParams(qs || '');
    let page;
    if (parts.length === 0) page = projectsView(gen);
    else if (parts[0] === 'projects' && parts.length === 2) page = runsView(gen, parts[1]);
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

  // ---- Runs table ----

  const tableStates = new Map(); // per project, kept while the page is open: sort, filters, columns
  const PAGE_ROWS = 200; // a table lays out in time proportional to its cells: longer lists grow on demand

  async function runsView(gen, project) {
    setCrumbs([[project]]);
    const runs = await api(`/projects/${enc(project)}/runs?limit=10000`);
    if (gen !== generation) return;
    const configKeys = [...new Set(runs.flatMap(r => Object.keys(r.config || {})))].sort();
    const summaryKeys = [...new Set(runs.flatMap(r => Object.keys(r.summary || {})))].sort();
    let state = tableStates.get(project);
    if (!state) {
      state = { sort: null, dir: 1, text: '', state: '', tag: '', config: '', agg: 'last', selected: new Set(), rows: PAGE_ROWS,
        columns: new Set([...configKeys.slice(0, 8).map(k => `config.${k}`), ...summaryKeys.slice(0, 8).map(k => `summary.${k}`)]) };
      tableStates.set(project, state);
    }
    let ranges = null;

    const chooser = (title, prefix, keys) => keys.length === 0 ? '' : `<strong>${title}</strong>${keys.map(k =>
      `<label><input type="checkbox" data-col="${esc(prefix + k)}" ${state.columns.has(prefix + k) ? 'checked' : ''}> ${esc(k)}</label>`).join('')}`;
    view.innerHTML = `
      <h1>${esc(project)} <span class="muted" style="font-weight:400;font-size:.7em">${runs.length} runs</span></h1>
      <div class="toolbar">
        <input type="text" id="filter-text" placeholder="Filter by name or id" value="${esc(state.text)}">
        <select id="filter-state">${['', 'running', 'finished', 'failed', 'crashed'].map(s => `<option value="${s}" ${s === state.state ? 'selected' : ''}>${s || 'any state'}</option>`).join('')}</select>
        <input type="text" id="filter-tag" placeholder="tag" size="10" value="${esc(state.tag)}">
        <input type="text" id="filter-config" placeholder="config, e.g. lr=0.1 or epochs>5" size="22" value="${esc(state.config)}">
        <label>summary <select id="summary-agg">${['last', 'min', 'max'].map(a => `<option ${a === state.agg ? 'selected' : ''}>${a}</option>`).join('')}</select></label>
        <details id="columns"><summary>Columns</summary><div>${chooser('Config', 'config.', configKeys)}${chooser('Summary', 'summary.', summaryKeys)}</div></details>
        <button class="primary" id="compare" disabled>Compare selected</button>
        <span class="muted" id="shown"></span>
      </div>
      <div class="table-wrap"><table id="runs"><thead></thead><tbody></tbody></table></div>
      <p><button id="more" hidden></button></p>`;

    const columns = () => [
      { id: 'name', label: 'Name' }, { id: 'state', label: 'State' }, { id: 'tags', label: 'Tags' },
      { id: 'start_time', label: 'Started' }, { id: 'duration', label: 'Duration' },
      ...configKeys.filter(k => state.columns.has(`config.${k}`)).map(k => ({ id: `config.${k}`, label: k })),
      ...summaryKeys.filter(k => state.columns.has(`summary.${k}`)).map(k => ({ id: `summary.${k}`, label: state.agg === 'last' ? k : `${k} (${state.agg})` })),
    ];

    function value(run, col) {
      if (col === 'duration') return duration(run);
      if (col === 'tags') return (run.tags || []).join(' ');
      if (col.startsWith('config.')) return run.config?.[col.slice(7)];
      if (col.startsWith('summary.')) {
        const key = col.slice(8);
        if (state.agg !== 'last' && ranges) return num(ranges[run.id]?.[key]?.[state.agg]);
        const v = run.summary?.[key];
        return num(v) ?? v;
      }
      return run[col];
    }

    function compare(a, b) {
      const missing = x => x === null || x === undefined || (typeof x === 'number' && Number.isNaN(x));
      if (missing(a) || missing(b)) return missing(a) - missing(b); // missing values last either way
      if (typeof a === 'number' && typeof b === 'number') return (a - b) * state.dir;
      return String(fmt(a)).localeCompare(String(fmt(b)), undefined, { numeric: true }) * state.dir;
    }

    function matchesConfig(run) {
      const m = state.config.trim().match(/^(.+?)\s*(>=|<=|!=|=|>|<)\s*(.*)$/);
      if (!m) return true;
      const [, key, op, wanted] = m;
      const v = run.config?.[key.trim()];
      if (op === '=') return v !== undefined && fmt(v) === wanted.trim();
      if (op === '!=') return v === undefined || fmt(v) !== wanted.trim();
      const a = Number(v), b = Number(wanted);
      return Number.isFinite(a) && Number.isFinite(b) && (op === '>' ? a > b : op === '<' ? a < b : op === '>=' ? a >= b : a <= b);
    }

    function cell(run, col) {
      const v = value(run, col.id);
      const attr = `data-col="${esc(col.id)}"`;
      switch (col.id) {
        case 'name': return `<td ${attr}><input type="checkbox" class="select-run" data-run-id="${esc(run.id)}" ${state.selected.has(run.id) ? 'checked' : ''}> <a href="#/projects/${enc(project)}/runs/${enc(run.id)}">${esc(run.name)}</a> <span class="muted">${esc(run.id === run.name ? '' : run.id)}</span></td>`;
        case 'state': return `<td ${attr}><span class="state state-${esc(v)}">${esc(v)}</span></td>`;
        case 'tags': return `<td ${attr}>${(run.tags || []).map(t => `<span class="tag">${esc(t)}</span>`).join('')}</td>`;
        case 'start_time': return `<td ${attr}>${esc(v ? new Date(v).toLocaleString() : '')}</td>`;
        case 'duration': return `<td ${attr} class="num">${fmtDuration(v)}</td>`;
        default: return `<td ${attr} class="${typeof v === 'number' ? 'num' : ''}">${esc(fmt(v))}</td>`;
      }
    }

    function render() {
      const cols = columns();
      const text = state.text.trim().toLowerCase();
      let shown = runs.filter(r => (!text || r.name.toLowerCase().includes(text) || r.id.toLowerCase().includes(text))
        && (!state.state || r.state === state.state)
        && (!state.tag || (r.tags || []).includes(state.tag.trim()))
        && matchesConfig(r));
      if (state.sort) shown = shown.map(r => [r, value(r, state.sort)]).sort((a, b) => compare(a[1], b[1])).map(p => p[0]);
      const table = document.getElementById('runs');
      table.tHead.innerHTML = `<tr>${cols.map(c => `<th data-col="${esc(c.id)}" ${state.sort === c.id ? `data-sort="${state.dir > 0 ? 'asc' : 'desc'}"` : ''}>${esc(c.label)}</th>`).join('')}</tr>`;
      table.tBodies[0].innerHTML = shown.slice(0, state.rows).map(r => `<tr data-run-id="${esc(r.id)}">${cols.map(c => cell(r, c)).join('')}</tr>`).join('');
      document.getElementById('shown').textContent = shown.length === runs.length ? '' : `${shown.length} of ${runs.length} match`;
      const more = document.getElementById('more');
      more.hidden = shown.length <= state.rows;
      more.textContent = `Show ${Math.min(PAGE_ROWS, shown.length - state.rows)} more of ${shown.length - state.rows}`;
      document.getElementById('compare').disabled = state.selected.size === 0;
    }

    const bind = (id, field, event = 'input') => document.getElementById(id).addEventListener(event, e => { state[field] = e.target.value; render(); });
    bind('filter-text', 'text');
    bind('filter-state', 'state', 'change');
    bind('filter-tag', 'tag');
    bind('filter-config', 'config');
    document.getElementById('summary-agg').addEventListener('change', async e => {
      state.agg = e.target.value;
      if (state.agg !== 'last' && !ranges) ranges = await api(`/projects/${enc(project)}/metric-ranges`);
      if (gen === generation) render();
    });
    document.getElementById('columns').addEventListener('change', e => {
      const col = e.target.dataset.col;
      if (e.target.checked) state.columns.add(col); else state.columns.delete(col);
      render();
    });
    document.getElementById('runs').addEventListener('click', e => {
      const th = e.target.closest('th[data-col]');
      if (th) {
        state.dir = state.sort === th.dataset.col ? -state.dir : 1;
        state.sort = th.dataset.col;
        render();
      }
    });
    document.getElementById('runs').addEventListener('change', e => {
      if (!e.target.classList.contains('select-run')) return;
      if (e.target.checked) state.selected.add(e.target.dataset.runId); else state.selected.delete(e.target.dataset.runId);
      document.getElementById('compare').disabled = state.selected.size === 0;
    });
    document.getElementById('more').addEventListener('click', () => { state.rows += PAGE_ROWS; render(); });
    document.getElementById('compare').addEventListener('click', () => {
      location.hash = `#/projects/${enc(project)}/compare?runs=${[...state.selected].map(enc).join(',')}`;
    });
    if (state.agg !== 'last') ranges = await api(`/projects/${enc(project)}/metric-ranges`);
    if (gen === generation) render();
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
    const [run, metrics] = await Promise.all([api(`/projects/${enc(project)}/runs/${enc(id)}`), api(`/projects/${enc(project)}/runs/${enc(id)}/metrics`)]);
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
      tags: (run.tags || []).join(', '), notes: run.notes, sdk: run.sdk_version,
    };
    view.innerHTML = `
      <h1><span class="swatch" style="background:${run.colour}"></span>${esc(run.name)} <span class="state state-${esc(run.state)}" id="run-state">${esc(run.state)}</span></h1>
      <div class="panels">
        <div class="card" id="run-meta"><h2>Run</h2>${kv(meta)}</div>
        <div class="card" id="run-config"><h2>Config</h2>${kv(run.config)}</div>
        <div class="card" id="run-summary"><h2>Summary</h2>${kv(run.summary)}</div>
      </div>
      <details class="card" id="run-output" style="margin-top:1em"><summary>Console output</summary><pre class="output"></pre></details>
      <div id="workspace"></div>`;
    const output = new ConsoleOutput(project, id, document.getElementById('run-output'));
    const workspace = new Workspace(gen, project, [run], document.getElementById('workspace'));
    workspace.onRefresh = () => output.load();
    await workspace.start([metrics]);
  }

  async function compareView(gen, project, ids) {
    setCrumbs([[project, `#/projects/${enc(project)}`], ['compare']]);
    if (ids.length === 0) throw new Error('Select runs to compare in the runs table.');
    const runs = await Promise.all(ids.map(id => api(`/projects/${enc(project)}/runs/${enc(id)}`)));
    if (gen !== generation) return;
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
    await new Workspace(gen, project, runs, document.getElementById('workspace'), keys).start();
  }

  /** The charts of one or more runs, with the controls they share. */
  class Workspace {
    constructor(gen, project, runs, el, groupKeys = []) {
      Object.assign(this, { gen, project, runs, el, groupKeys, charts: [] });
      this.settings = { x: 'step', smoothing: 0, log: false, groupBy: '' };
    }

    async start(metricLists = null) {
      await this.loadMetrics(metricLists);
      if (this.gen !== generation) return;
      const keys = [...this.metrics.keys()].sort();
      const grouping = this.runs.length > 1 ? `<label>group by <select id="group-by"><option value="">none</option>${this.groupKeys.map(k => `<option>${esc(k)}</option>`).join('')}</select></label>` : '';
      this.el.innerHTML = `
        <div class="toolbar" style="margin-top:1.2em">
          <label>x-axis <select id="x-axis"><option value="step">step</option><option value="relative">relative time</option><option value="wall">wall time</option>${keys.map(k => `<option value="metric:${esc(k)}">${esc(k)}</option>`).join('')}</select></label>
          <label>smoothing <input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0"> <span id="smoothing-value">0</span></label>
          <label><input type="checkbox" id="log-scale"> log scale</label>
          ${grouping}
          <label>several metrics on one chart <select id="combine" multiple size="1" style="min-width:10em;vertical-align:middle">${keys.map(k => `<option>${esc(k)}</option>`).join('')}</select></label>
          <button id="add-chart">Add chart</button>
          <span class="hint">Drag across a chart to zoom (fetched at full resolution); double-click to reset.</span>
        </div>
        <div id="custom-charts" class="charts"></div>
        <div id="sections"></div>`;
      if (keys.length === 0) {
        this.el.querySelector('#sections').innerHTML = '<p class="muted">No metrics logged yet.</p>';
      }
      const sections = new Map();
      for (const key of keys) {
        const prefix = key.includes('/') ? key.slice(0, key.indexOf('/')) : '';
        if (!sections.has(prefix)) sections.set(prefix, []);
        sections.get(prefix).push(key);
      }
      const sectionsEl = this.el.querySelector('#sections');
      for (const prefix of [...sections.keys()].sort(bySection)) {
        const section = document.createElement('section');
        section.className = 'chart-section';
        section.dataset.prefix = prefix;
        section.innerHTML = `<h2>${esc(prefix || 'metrics')}</h2><div class="charts"></div>`;
        sectionsEl.appendChild(section);
        for (const key of sections.get(prefix)) this.charts.push(new Chart(this, [key], section.lastElementChild));
      }
      this.wireControls();
      await Promise.all(this.charts.map(c => c.load()));
      if (this.runs.some(r => r.state === 'running')) liveTimer = setInterval(() => this.refresh(), POLL_MS);
    }

    async loadMetrics(lists = null) {
      lists ??= await Promise.all(this.runs.map(r => api(`/projects/${enc(this.project)}/runs/${enc(r.id)}/metrics`)));
      this.metrics = new Map(); // key -> Map(runId -> {count, first_step, last_step, ...})
      lists.forEach((list, i) => list.forEach(m => {
        if (!this.metrics.has(m.key)) this.metrics.set(m.key, new Map());
        this.metrics.get(m.key).set(this.runs[i].id, m);
      }));
    }

    wireControls() {
      const $ = id => this.el.querySelector(`#${id}`);
      const reload = () => this.charts.forEach(c => { c.zoom = null; c.load(); });
      $('x-axis').addEventListener('change', e => { this.settings.x = e.target.value; reload(); });
      $('smoothing').addEventListener('input', e => {
        this.settings.smoothing = Number(e.target.value);
        $('smoothing-value').textContent = e.target.value;
        this.charts.forEach(c => c.draw());
      });
      $('log-scale').addEventListener('change', e => { this.settings.log = e.target.checked; this.charts.forEach(c => c.draw()); });
      $('group-by')?.addEventListener('change', e => { this.settings.groupBy = e.target.value; reload(); });
      $('add-chart').addEventListener('click', () => {
        const keys = [...$('combine').selectedOptions].map(o => o.value);
        if (keys.length === 0) return;
        const chart = new Chart(this, keys, $('custom-charts'), true);
        this.charts.push(chart);
        chart.load();
      });
    }

    /** Live runs: new points, and new metrics, without a reload. */
    async refresh() {
      if (this.refreshing) return;
      this.refreshing = true;
      try {
        const runs = await Promise.all(this.runs.map(r => api(`/projects/${enc(this.project)}/runs/${enc(r.id)}`)));
        const known = new Set(this.metrics.keys());
        await this.loadMetrics();
        if (this.gen !== generation) return;
        runs.forEach((r, i) => { this.runs[i].state = r.state; this.runs[i].summary = r.summary; });
        const stateEl = document.getElementById('run-state');
        if (stateEl && runs.length === 1) { stateEl.textContent = runs[0].state; stateEl.className = `state state-${runs[0].state}`; }
        if ([...this.metrics.keys()].some(k => !known.has(k))) { route(); return; } // a new metric: lay the page out again
        await Promise.all(this.charts.filter(c => !c.zoom).map(c => c.load()));
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

  /** One chart: one or more metrics of the workspace's runs, bucketed by the server. */
  class Chart {
    constructor(ws, keys, container, removable = false) {
      Object.assign(this, { ws, keys, zoom: null, series: [], plot: null });
      this.el = document.createElement('div');
      this.el.className = 'chart';
      this.el.dataset.key = keys.join(',');
      this.el.innerHTML = `<div class="chart-head"><h3 title="${esc(keys.join(', '))}">${esc(keys.join(', '))}</h3>
        <button class="csv" title="Download the chart's data as CSV">CSV</button><button class="png" title="Download the chart as PNG">PNG</button>${removable ? '<button class="remove" title="Remove">✕</button>' : ''}</div>
        <div class="plot"></div><div class="readout"></div>`;
      container.appendChild(this.el);
      this.el.querySelector('.csv').onclick = () => this.downloadCsv();
      this.el.querySelector('.png').onclick = () => this.downloadPng();
      if (removable) this.el.querySelector('.remove').onclick = () => { this.plot?.destroy(); this.el.remove(); ws.charts.splice(ws.charts.indexOf(this), 1); };
      new ResizeObserver(() => this.plot && this.plot.setSize(this.size())).observe(this.el.querySelector('.plot'));
    }

    size() { return { width: Math.max(200, this.el.querySelector('.plot').clientWidth), height: 240 }; }

    buckets() { return Math.min(2000, Math.max(200, Math.round(this.size().width * 1.5))); }

    async load() {
      const ws = this.ws, mode = ws.settings.x, buckets = this.buckets();
      const token = (this.token = (this.token || 0) + 1);
      const jobs = [];
      for (const run of ws.runs) {
        for (const key of this.keys) {
          const info = ws.metrics.get(key)?.get(run.id);
          if (info) jobs.push(this.fetchSeries(run, key, info, mode, buckets).then(s => s && { run, key, ...s }));
        }
      }
      let series;
      try {
        series = (await Promise.all(jobs)).filter(Boolean);
      } catch (error) {
        this.el.querySelector('.plot').innerHTML = `<p class="error">${esc(error.message)}</p>`;
        return;
      }
      if (token !== this.token || ws.gen !== generation) return;
      this.series = series;
      this.el.dataset.buckets = buckets;
      this.el.dataset.points = series[0]?.xs.length ?? 0;
      this.el.dataset.lastStep = Math.max(...series.map(s => s.lastStep), 0);
      this.draw();
    }

    /** The server's buckets as x, last, min, max arrays in the axis's units. */
    async fetchSeries(run, key, info, mode, buckets) {
      const base = `/projects/${enc(this.ws.project)}/runs/${enc(run.id)}/series?buckets=${buckets}`;
      const startMs = Date.parse(run.start_time) || 0;
      if (mode.startsWith('metric:')) {
        // Both metrics bucketed over the same steps: bucket i of one pairs with bucket i of the other.
        const xKey = mode.slice(7);
        const range = `&from=${info.first_step}&to=${info.last_step}`;
        const [ys, xs] = await Promise.all([api(`${base}&key=${enc(key)}${range}`), api(`${base}&key=${enc(xKey)}${range}`)]);
        const byX0 = new Map(xs.buckets.map(b => [b.x0, num(b.last)]));
        const pairs = ys.buckets.filter(b => byX0.has(b.x0)).map(b => [byX0.get(b.x0), num(b.last)]).sort((a, b) => a[0] - b[0]);
        return { xs: pairs.map(p => p[0]), last: pairs.map(p => p[1]), min: null, max: null, x0: null, lastStep: info.last_step };
      }
      const axis = mode === 'step' ? 'step' : 'time';
      let range = '';
      if (this.zoom) {
        const [a, b] = this.zoom;
        const toServer = v => (mode === 'step' ? v : mode === 'wall' ? v * 1000 : v * 1000 + startMs);
        range = `&from=${Math.floor(toServer(a))}&to=${Math.ceil(toServer(b))}`;
      } else if (axis === 'step' && this.ws.settings.groupBy) {
        // Grouped runs share bucket boundaries: the same range for every run of the key.
        const infos = [...this.ws.metrics.get(key).values()];
        range = `&from=${Math.min(...infos.map(i => i.first_step))}&to=${Math.max(...infos.map(i => i.last_step))}`;
      }
      const answer = await api(`${base}&key=${enc(key)}&x=${axis}${range}`);
      const toX = x => (mode === 'step' ? x : mode === 'wall' ? x / 1000 : (x - startMs) / 1000);
      const b = answer.buckets;
      return { xs: b.map(p => toX(p.last_x)), last: b.map(p => num(p.last)), min: b.map(p => num(p.min)), max: b.map(p => num(p.max)), x0: b.map(p => p.x0), lastStep: info.last_step };
    }

    /** Lines to draw: one per run and metric, or per config group (mean line, min/max band). */
    lines() {
      const groupBy = this.ws.settings.groupBy;
      const label = s => (this.ws.runs.length > 1 ? (this.keys.length > 1 ? `${s.run.name} ${s.key}` : s.run.name) : s.key);
      if (!groupBy || this.ws.settings.x !== 'step') {
        return this.series.map(s => ({ label: label(s), colour: s.run.colour, xs: s.xs, ys: s.last, lo: s.min, hi: s.max }));
      }
      const groups = new Map();
      for (const s of this.series) {
        const id = `${this.keys.length > 1 ? `${s.key} ` : ''}${groupBy}=${fmt(s.run.config?.[groupBy])}`;
        if (!groups.has(id)) groups.set(id, { colour: s.run.colour, members: [] });
        groups.get(id).members.push(s);
      }
      return [...groups].map(([id, g]) => {
        const at = new Map(); // bucket start -> [x, values]
        for (const s of g.members) s.x0.forEach((x0, i) => {
          if (!at.has(x0)) at.set(x0, [s.xs[i], []]);
          if (Number.isFinite(s.last[i])) at.get(x0)[1].push(s.last[i]);
        });
        const rows = [...at.values()].filter(r => r[1].length > 0).sort((a, b) => a[0] - b[0]);
        return {
          label: `${id} (${g.members.length} runs, mean)`, colour: g.colour, xs: rows.map(r => r[0]),
          ys: rows.map(r => r[1].reduce((a, v) => a + v, 0) / r[1].length), lo: rows.map(r => Math.min(...r[1])), hi: rows.map(r => Math.max(...r[1])),
        };
      });
    }

    draw() {
      const plotEl = this.el.querySelector('.plot');
      this.plot?.destroy();
      this.plot = null;
      const lines = this.lines();
      this.el.dataset.series = new Set(this.series.map(s => s.run.id)).size;
      if (lines.length === 0 || lines.every(l => l.xs.length === 0)) {
        plotEl.innerHTML = '<p class="empty">no points</p>';
        return;
      }
      plotEl.innerHTML = '';
      const { smoothing, log, x: mode } = this.ws.settings;
      const positive = v => (log && !(v > 0) ? null : Number.isFinite(v) ? v : null);
      const tables = [], series = [{ label: this.xLabel() }], bands = [];
      this.main = []; // index of each line's main series, for the readout
      for (const line of lines) {
        const cols = [line.xs];
        const first = series.length;
        if (line.lo && line.hi) {
          cols.push(line.hi.map(positive), line.lo.map(positive));
          series.push({ label: `${line.label} max`, stroke: 'transparent', points: { show: false }, spanGaps: true }, { label: `${line.label} min`, stroke: 'transparent', points: { show: false }, spanGaps: true });
          bands.push({ series: [first, first + 1], fill: alpha(line.colour, 0.12) });
        }
        const raw = line.ys.map(positive);
        cols.push(raw);
        series.push({ label: line.label, stroke: smoothing ? alpha(line.colour, 0.25) : line.colour, width: 1.25, points: { show: false }, spanGaps: true });
        if (smoothing) {
          cols.push(smooth(raw, smoothing));
          series.push({ label: `${line.label} (smoothed)`, stroke: line.colour, width: 1.75, points: { show: false }, spanGaps: true });
        }
        this.main.push({ index: series.length - 1, raw: series.length - (smoothing ? 2 : 1), label: line.label, colour: line.colour });
        tables.push(cols);
      }
      const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
      const opts = {
        ...this.size(),
        series,
        bands,
        legend: { show: false },
        scales: { x: { time: mode === 'wall' }, y: { distr: log ? 3 : 1 } },
        axes: [{ label: this.xLabel(), labelSize: 18, size: 34, font: '11px system-ui', labelFont: '11px system-ui' }, { size: 60, font: '11px system-ui' }],
        cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
        hooks: {
          setSelect: [u => this.onSelect(u)],
          setCursor: [u => this.readout(u)],
        },
      };
      this.data = data;
      this.plot = new uPlot(opts, data, plotEl);
      this.plot.over.addEventListener('dblclick', () => { if (this.zoom) { this.zoom = null; this.load(); } });
      if (this.zoom && mode.startsWith('metric:')) this.plot.setScale('x', { min: this.zoom[0], max: this.zoom[1] });
    }

    xLabel() {
      const mode = this.ws.settings.x;
      return mode === 'step' ? 'step' : mode === 'wall' ? 'time' : mode === 'relative' ? 'seconds since start' : mode.slice(7);
    }

    onSelect(u) {
      if (u.select.width < 4) return;
      const a = u.posToVal(u.select.left, 'x'), b = u.posToVal(u.select.left + u.select.width, 'x');
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      this.zoom = [a, b];
      if (this.ws.settings.x.startsWith('metric:')) { u.setScale('x', { min: a, max: b }); return; }
      this.load(); // the range again, at full resolution
    }

    readout(u) {
      const i = u.cursor.idx;
      const out = this.el.querySelector('.readout');
      if (i === null || i === undefined) { out.innerHTML = ''; return; }
      const x = this.data[0][i];
      const xText = this.ws.settings.x === 'wall' ? new Date(x * 1000).toLocaleString() : fmt(x);
      out.innerHTML = `<span>${esc(this.xLabel())} ${esc(xText)}</span>${this.main.map(m => {
        const v = this.data[m.index][i];
        return v === null || v === undefined ? '' : `<span><i class="swatch" style="background:${m.colour}"></i>${esc(m.label)}: ${esc(fmt(v))}</span>`;
      }).join('')}`;
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
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.fillStyle = '#1d2330';
      ctx.font = `${14 * devicePixelRatio}px system-ui, sans-serif`;
      ctx.fillText(this.keys.join(', '), 8 * devicePixelRatio, 19 * devicePixelRatio);
      ctx.drawImage(source, 0, title);
      download(`${this.keys.join('+').replace(/[^\w.-]+/g, '_')}.png`, canvas.toDataURL('image/png'));
    }
  }

  window.addEventListener('hashchange', route);
  route();
})();
