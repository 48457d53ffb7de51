// The project workspace: the runs table (its filters built into the server's filter expression,
// docs/protocol.md "Filtering and sorting runs"), charts of the selected or filtered runs beside it,
// and saved views. The whole state is in the page's address (#/projects/P?s=STATE), so a reload or
// a shared link shows the same workspace; the last state of each project is also kept in the
// browser, so coming back from a run page restores it.
'use strict';
window.TrackerWorkspace = (() => {
  const { esc, num, fmt, fmtDuration } = window.Tracker;
  const enc = encodeURIComponent;
  const PAGE_ROWS = 200; // a table lays out in time proportional to its cells: longer lists grow on demand
  const CHART_RUNS = 10; // runs charted when none are selected: W&B's default too, and about what one chart can show apart
  const SELECTED_CHART_RUNS = 50;
  const DEFAULT_CONFIG_COLUMNS = 15;
  const DEFAULT_SUMMARY_COLUMNS = 8;
  const OPS = ['=', '!=', '>', '>=', '<', '<='];
  const STATES = ['', 'running', 'finished', 'failed', 'killed', 'crashed'];
  const STORE = project => `tracker.workspace.${project}`;

  /** The workspace's state; what a URL and a saved view hold, less the fields left at these defaults. */
  const defaults = () => ({
    text: '', state: '', tag: '', expr: '', filters: [], sort: null, dir: 1, columns: null, agg: 'last', aggs: {},
    groupRows: '', collapsedGroups: [], archived: false, selected: [], charts: null, search: '', collapsedSections: [],
  });

  function compact(state) {
    const base = defaults(), out = {};
    for (const [k, v] of Object.entries(state)) if (k in base && JSON.stringify(v) !== JSON.stringify(base[k])) out[k] = v;
    return out;
  }

  /** A stored state (address, view, browser) over the defaults; fields of the wrong type are dropped, not trusted. */
  function restore(saved) {
    const state = defaults();
    if (!saved || typeof saved !== 'object') return state;
    for (const [k, v] of Object.entries(saved)) {
      if (!(k in state)) continue;
      const want = state[k] === null ? null : Array.isArray(state[k]) ? 'array' : typeof state[k];
      if (want === null || (want === 'array' ? Array.isArray(v) : typeof v === want)) state[k] = v;
    }
    state.filters = state.filters.filter(f => f && typeof f.key === 'string' && OPS.includes(f.op));
    if (typeof state.sort !== 'string') state.sort = null;
    if (typeof state.charts !== 'object' || Array.isArray(state.charts)) state.charts = null;
    if (!state.aggs || Array.isArray(state.aggs)) state.aggs = {};
    return state;
  }

  const addressOf = (project, state) => {
    const s = JSON.stringify(compact(state));
    return `#/projects/${enc(project)}${s === '{}' ? '' : `?s=${enc(s)}`}`;
  };

  // ---- The server's filter expression ----

  /** A key as the filter language takes it: backquoted after its prefix when it has spaces or operator characters. */
  function filterKey(key) {
    const m = key.match(/^(summary|config)\.(.*)$/s);
    const [prefix, rest] = m ? [`${m[1]}.`, m[2]] : ['', key];
    return /[\s=!<>'"`]/.test(rest) ? `${prefix}\`${rest}\`` : key;
  }

  /** A value: unquoted when it reads as a number, else quoted text. */
  function filterValue(value) {
    const v = String(value).trim();
    if (v !== '' && Number.isFinite(Number(v))) return v;
    return v.includes("'") ? `"${v}"` : `'${v}'`;
  }

  /** The conditions and the typed expression, joined by `and`. */
  function filterExpression(state) {
    const conditions = state.filters.filter(f => f.key && String(f.value ?? '').trim() !== '').map(f => `${filterKey(f.key)} ${f.op} ${filterValue(f.value)}`);
    if (state.expr.trim()) conditions.push(state.expr.trim());
    return conditions.join(' and ');
  }

  function listingPath(project, state) {
    const q = new URLSearchParams({ limit: '10000' });
    const filter = filterExpression(state);
    if (filter) q.set('filter', filter);
    if (state.state) q.set('state', state.state);
    if (state.tag.trim()) q.set('tag', state.tag.trim());
    if (state.text.trim()) q.set('name', state.text.trim());
    if (state.archived) q.set('archived', 'all');
    if (state.sort && /^(name|id|state|start_time|config\..+|summary\..+)$/s.test(state.sort) && aggOf(state, state.sort) === 'last') q.set('sort', `${state.dir < 0 ? '-' : ''}${state.sort}`);
    return `/api/v1/projects/${enc(project)}/runs?${q}`;
  }

  const aggOf = (state, col) => (col.startsWith('summary.') ? state.aggs[col] || state.agg : 'last');

  // ---- Default columns ----

  /** Keys whose values differ across the runs, in name order: the columns that tell runs apart. */
  function varying(runs, field, keys) {
    return keys.filter(k => new Set(runs.map(r => JSON.stringify(r[field]?.[k] ?? null))).size > 1);
  }

  function defaultColumns(runs, configKeys, summaryKeys) {
    const numeric = summaryKeys.filter(k => runs.some(r => typeof num(r.summary?.[k]) === 'number'));
    let config = varying(runs, 'config', configKeys);
    let summary = varying(runs, 'summary', numeric);
    if (runs.length < 2) [config, summary] = [configKeys, numeric];
    // Model metrics before the machine's: system/* only where room is left.
    summary = [...summary.filter(k => !k.startsWith('system/')), ...summary.filter(k => k.startsWith('system/'))];
    return [...config.slice(0, DEFAULT_CONFIG_COLUMNS).map(k => `config.${k}`), ...summary.slice(0, DEFAULT_SUMMARY_COLUMNS).map(k => `summary.${k}`)];
  }

  // ---- The page ----

  async function projectView(gen, project, query) {
    const App = window.TrackerApp;
    App.setCrumbs([[project]]);
    let note = '';
    let state;
    if (query.has('s')) {
      try {
        state = restore(JSON.parse(query.get('s')));
      } catch {
        state = defaults();
        note = 'The workspace in this address could not be read (it is not the JSON the UI writes); showing the defaults.';
      }
    } else {
      try { state = restore(JSON.parse(localStorage.getItem(STORE(project)) || 'null')); } catch { state = defaults(); }
    }
    const page = new ProjectPage(gen, project, state, note);
    await page.start();
  }

  class ProjectPage {
    constructor(gen, project, state, note) {
      Object.assign(this, { gen, project, state, note, runs: [], more: false, rows: PAGE_ROWS, ranges: null, workspace: null, chartIds: '', body: '' });
      this.selected = new Set(state.selected);
      this.configKeys = [];
      this.summaryKeys = [];
      this.App = window.TrackerApp;
    }

    get current() { return this.gen === this.App.generation(); }

    /** The state into the address (without a navigation) and the browser's store. */
    save() {
      this.state.selected = [...this.selected];
      history.replaceState(null, '', addressOf(this.project, this.state));
      try { localStorage.setItem(STORE(this.project), JSON.stringify(compact(this.state))); } catch { /* storage full or off: the address still has it */ }
    }

    async start() {
      const view = document.getElementById('view'), s = this.state;
      view.innerHTML = `
        <div class="project-head">
          <h1>${esc(this.project)} <span class="muted" id="run-count" style="font-weight:400;font-size:.7em"></span></h1>
          <details id="views-menu" class="menu"><summary>Views</summary><div>
            <form id="view-save-form"><input type="text" id="view-name" placeholder="view name" size="20" maxlength="128" aria-label="View name"> <button class="primary" id="view-save" type="submit">Save as</button></form>
            <p class="error" id="view-error" hidden></p>
            <ul id="views-list"></ul>
            <p class="hint">A view keeps the table's columns, filters, sort and grouping and the charts' settings. The address of this page holds them too: share it.</p>
          </div></details>
        </div>
        <div class="toolbar">
          <input type="text" id="filter-text" placeholder="Filter by name or id" value="${esc(s.text)}">
          <select id="filter-state" aria-label="State">${STATES.map(v => `<option value="${v}" ${v === s.state ? 'selected' : ''}>${v || 'any state'}</option>`).join('')}</select>
          <input type="text" id="filter-tag" placeholder="tag" size="10" value="${esc(s.tag)}">
          <input type="text" id="filter-config" placeholder="filter, e.g. val/acc > 0.8 and opt = adam" size="34" value="${esc(s.expr)}" title="Conditions KEY OP VALUE joined by and, as the API's filter=">
          <button id="add-filter" title="Add a condition on a config key or a summary metric">+ condition</button>
          <label>summary <select id="summary-agg" title="Last, smallest or largest value of every metric column">${['last', 'min', 'max'].map(a => `<option ${a === s.agg ? 'selected' : ''}>${a}</option>`).join('')}</select></label>
          <label>group rows by <select id="group-rows"></select></label>
          <details id="columns"><summary>Columns</summary><div></div></details>
          <label><input type="checkbox" id="show-archived" ${s.archived ? 'checked' : ''}> Show archived</label>
        </div>
        <div id="filter-rows"></div>
        <p class="error" id="filter-error" hidden></p>
        <p class="note" id="filter-note" hidden></p>
        <p class="note" id="state-note" ${this.note ? '' : 'hidden'}>${esc(this.note)}</p>
        <div class="toolbar">
          <button class="primary" id="compare" disabled>Compare selected</button>
          <span class="selection-actions"><button id="archive-selected" disabled>Archive</button><button id="unarchive-selected" disabled>Unarchive</button><button class="danger" id="delete-selected" disabled>Delete</button></span>
          <span class="selection"><button id="select-all" title="Select every run listed">Select all</button><button id="select-filtered" title="Select the runs the table shows (brushes included)">Select filtered</button></span>
          <button class="link" id="clear-selection" hidden>Clear selection</button>
          <span class="muted" id="shown"></span>
        </div>
        <p class="error" id="manage-error" ${this.App.refusal ? '' : 'hidden'}>${esc(this.App.refusal || '')}</p>
        <div class="project-layout">
          <div class="project-table">
            <div class="table-wrap"><table id="runs"><thead></thead><tbody></tbody></table></div>
            <p><button id="more" hidden></button></p>
            <section id="explore"></section>
          </div>
          <div class="project-charts">
            <div class="charts-head"><input type="search" id="metric-search" placeholder="Search metrics (text or regex)" value="${esc(s.search)}" aria-label="Search metrics"> <span class="hint" id="chart-note"></span></div>
            <div id="workspace"></div>
          </div>
        </div>`;
      this.App.refusal = null; // shown once
      this.save(); // the address shows a state restored from the browser, ready to share
      this.wire();
      this.renderFilters();
      await this.load(true);
      this.poll();
    }

    $(id) { return document.getElementById(id); }

    /** Fetches the runs that match; on a refused filter keeps the rows shown and says why. */
    async load(first = false) {
      const path = listingPath(this.project, this.state);
      const token = (this.token = (this.token || 0) + 1);
      let response;
      try {
        response = await this.App.request(path);
      } catch (error) {
        if (!this.current || token !== this.token) return;
        if (!(error instanceof this.App.ApiError) || error.status !== 400) throw error;
        this.$('filter-error').textContent = `The server refused the filter: ${error.message.replace(/^400: /, '')}`;
        this.$('filter-error').hidden = false;
        if (first) this.apply([], null);
        return;
      }
      const body = await response.text();
      if (!this.current || token !== this.token) return;
      this.$('filter-error').hidden = true;
      const unknown = response.headers.get('Tracker-Unknown-Keys');
      this.path = path;
      if (body === this.body && !first) return; // nothing new: the table, its scroll and the charts stay as they are
      this.body = body;
      this.more = response.headers.has('Tracker-Next-Offset'); // more match than the limit lists
      this.apply(JSON.parse(body), unknown);
    }

    apply(runs, unknown) {
      this.runs = runs;
      const note = this.$('filter-note');
      note.hidden = !unknown;
      if (unknown) {
        const keys = unknown.split(',').map(k => decodeURIComponent(k.trim()));
        note.textContent = `No run of this project has ${keys.join(', ')}: ${keys.length === 1 ? 'a condition on it matches' : 'conditions on them match'} nothing. Check the spelling (config.KEY, summary.KEY).`;
      }
      // Keys seen stay choosable: narrowing the filter does not take a column away.
      const seen = (list, field) => [...new Set([...list, ...runs.flatMap(r => Object.keys(r[field] || {}))])].sort();
      this.configKeys = seen(this.configKeys, 'config');
      this.summaryKeys = seen(this.summaryKeys, 'summary');
      this.defaultCols ??= runs.length ? defaultColumns(runs, this.configKeys, this.summaryKeys) : null;
      const present = new Set(runs.map(r => r.id));
      if (runs.length) for (const id of [...this.selected]) if (!present.has(id)) this.selected.delete(id); // deleted or filtered out
      this.renderChoosers();
      this.App.assignColours(runs); // one colour per run: swatches, parallel coordinates and charts
      this.updateExplore(runs);
      this.render();
      this.chartsFor();
    }

    /** Parallel coordinates and scatter of the listed runs (explore.js); its brushes filter the table. */
    updateExplore(runs) {
      const fields = [...this.configKeys.map(k => `config.${k}`), ...this.summaryKeys.map(k => `summary.${k}`)];
      if (!this.explore || this.exploreFields !== fields.join('\n')) {
        this.exploreStore ??= {};
        this.exploreFields = fields.join('\n');
        this.explore = window.TrackerExplore.mount(this.$('explore'), {
          fields, store: this.exploreStore, onBrush: () => this.render(), href: run => `#/projects/${enc(this.project)}/runs/${enc(run.id)}`,
        });
      }
      this.explore.update(runs);
    }

    columnIds() { return this.state.columns ?? this.defaultCols ?? []; }

    columns() {
      const chosen = this.columnIds().filter(c => (c.startsWith('config.') ? this.configKeys.includes(c.slice(7)) : this.summaryKeys.includes(c.slice(8))));
      return [
        { id: 'name', label: 'Name' }, { id: 'state', label: 'State' }, { id: 'tags', label: 'Tags' },
        { id: 'start_time', label: 'Started' }, { id: 'duration', label: 'Duration' },
        ...chosen.filter(c => c.startsWith('config.')).map(c => ({ id: c, label: c.slice(7) })),
        ...chosen.filter(c => c.startsWith('summary.')).map(c => ({ id: c, label: c.slice(8), metric: true })),
      ];
    }

    value(run, col) {
      if (col === 'duration') return this.App.duration(run);
      if (col === 'tags') return (run.tags || []).join(' ');
      if (col.startsWith('config.')) return run.config?.[col.slice(7)];
      if (col.startsWith('summary.')) {
        const key = col.slice(8), agg = aggOf(this.state, col);
        if (agg !== 'last') return this.ranges ? num(this.ranges[run.id]?.[key]?.[agg]) : undefined;
        const v = run.summary?.[key];
        return num(v) ?? v;
      }
      return run[col];
    }

    compare(a, b) {
      const missing = x => x === null || x === undefined || (typeof x === 'number' && Number.isNaN(x));
      if (missing(a) || missing(b)) return missing(a) - missing(b); // missing values last either way
      if (typeof a === 'number' && typeof b === 'number') return (a - b) * this.state.dir;
      if (typeof a === 'number' || typeof b === 'number') return (typeof a === 'number' ? -1 : 1) * this.state.dir; // numbers before text, as the server
      return String(fmt(a)).localeCompare(String(fmt(b)), undefined, { numeric: true }) * this.state.dir;
    }

    cell(run, col) {
      const v = this.value(run, col.id), attr = `data-col="${esc(col.id)}"`, p = enc(this.project);
      switch (col.id) {
        case 'name': return `<td ${attr}><input type="checkbox" class="select-run" data-run-id="${esc(run.id)}" ${this.selected.has(run.id) ? 'checked' : ''} aria-label="Select ${esc(run.name)}">${run.colour ? `<span class="swatch" style="background:${run.colour}"></span>` : ''}<a href="#/projects/${p}/runs/${enc(run.id)}">${esc(run.name)}</a> <span class="muted">${esc(run.id === run.name ? '' : run.id)}</span>${run.archived ? ' <span class="archived-badge">archived</span>' : ''}</td>`;
        case 'state': return `<td ${attr}><span class="state state-${esc(v)}">${esc(v)}</span></td>`;
        case 'tags': return `<td ${attr}>${(run.tags || []).map(t => `<span class="tag">${esc(t)}</span>`).join('')}</td>`;
        case 'start_time': return `<td ${attr}>${esc(v ? new Date(v).toLocaleString() : '')}</td>`;
        case 'duration': return `<td ${attr} class="num">${fmtDuration(v)}</td>`;
        default: return `<td ${attr} class="${typeof v === 'number' ? 'num' : ''}">${esc(fmt(v))}</td>`;
      }
    }

    /** The rows in table order: sorted here too, so a click on a header answers at once. */
    ordered() {
      const s = this.state, runs = this.explore ? this.runs.filter(this.explore.passes) : this.runs; // parallel coordinates' brushes filter the table
      if (!s.sort) return runs;
      return runs.map(r => [r, this.value(r, s.sort)]).sort((a, b) => this.compare(a[1], b[1])).map(p => p[0]);
    }

    /** Sorts by a column, ascending first, the other way on the same column again. */
    sortBy(col) {
      const s = this.state;
      s.dir = s.sort === col ? -s.dir : 1;
      s.sort = col;
      this.save();
      this.render();
      this.chartsFor();
    }

    render() {
      const s = this.state, cols = this.columns(), shown = this.ordered();
      const table = this.$('runs');
      // Headers sort by click or, focused with Tab, by Enter or Space; aria-sort says the order to screen readers.
      const order = c => (s.sort !== c.id ? 'none' : s.dir > 0 ? 'ascending' : 'descending');
      table.tHead.innerHTML = `<tr>${cols.map(c => `<th data-col="${esc(c.id)}" tabindex="0" aria-sort="${order(c)}" ${s.sort === c.id ? `data-sort="${s.dir > 0 ? 'asc' : 'desc'}"` : ''}>${esc(c.label)}${c.metric
        ? ` <select class="col-agg" data-col="${esc(c.id)}" title="Last, smallest or largest value" aria-label="${esc(c.label)}: last, min or max">${['last', 'min', 'max'].map(a => `<option ${a === aggOf(s, c.id) ? 'selected' : ''}>${a}</option>`).join('')}</select>` : ''}</th>`).join('')}</tr>`;
      const rowHtml = r => `<tr data-run-id="${esc(r.id)}" class="${this.selected.has(r.id) ? 'selected' : ''}">${cols.map(c => this.cell(r, c)).join('')}</tr>`;
      let html = '', count = 0;
      if (s.groupRows) {
        const groups = new Map();
        for (const r of shown) {
          const g = JSON.stringify(r.config?.[s.groupRows] ?? null);
          if (!groups.has(g)) groups.set(g, []);
          groups.get(g).push(r);
        }
        const order = [...groups.keys()].sort((a, b) => this.compareGroups(JSON.parse(a), JSON.parse(b)));
        for (const g of order) {
          const members = groups.get(g), value = JSON.parse(g), closed = s.collapsedGroups.includes(g);
          html += `<tr class="group-row" data-group="${esc(g)}" aria-expanded="${!closed}"><td colspan="${cols.length}"><button class="group-toggle" aria-label="${closed ? 'Expand' : 'Collapse'} group">${closed ? '▸' : '▾'}</button> ${esc(s.groupRows)} = <strong>${esc(value === null ? '(none)' : fmt(value))}</strong> <span class="muted group-count">${members.length} run${members.length === 1 ? '' : 's'}</span></td></tr>`;
          if (closed) continue;
          for (const r of members) if (count++ < this.rows) html += rowHtml(r);
        }
      } else {
        html = shown.slice(0, this.rows).map(rowHtml).join('');
        count = shown.length;
      }
      table.tBodies[0].innerHTML = html;
      const more = this.$('more');
      more.hidden = count <= this.rows;
      more.textContent = `Show ${Math.min(PAGE_ROWS, count - this.rows)} more of ${count - this.rows}`;
      const n = this.runs.length;
      this.$('run-count').textContent = this.more ? `first ${n} runs listed; more match` : `${n} run${n === 1 ? '' : 's'}`;
      this.$('shown').textContent = shown.length < this.runs.length ? `${shown.length} of ${this.runs.length} match` : ''; // the brushes left some out
      this.selectionChanged();
    }

    compareGroups(a, b) {
      if (a === null || b === null) return (a === null) - (b === null);
      if (typeof a === 'number' && typeof b === 'number') return a - b;
      return String(fmt(a)).localeCompare(String(fmt(b)), undefined, { numeric: true });
    }

    selectionChanged() {
      for (const id of ['compare', 'archive-selected', 'unarchive-selected', 'delete-selected']) this.$(id).disabled = this.selected.size === 0;
      this.$('clear-selection').hidden = this.selected.size === 0;
      this.$('compare').textContent = this.selected.size === 0 ? 'Compare selected' : `Compare ${this.selected.size} selected`;
    }

    renderChoosers() {
      const s = this.state, cols = new Set(this.columnIds());
      const chooser = (title, prefix, keys) => keys.length === 0 ? '' : `<strong>${title}</strong>${keys.map(k =>
        `<label><input type="checkbox" data-col="${esc(prefix + k)}" ${cols.has(prefix + k) ? 'checked' : ''}> ${esc(k)}</label>`).join('')}`;
      this.$('columns').querySelector('div').innerHTML = `${chooser('Config', 'config.', this.configKeys)}${chooser('Summary', 'summary.', this.summaryKeys)}
        <p><button class="link" id="default-columns">Default columns (the ones that vary)</button></p>`;
      this.$('group-rows').innerHTML = `<option value="">none</option>${this.configKeys.map(k => `<option ${k === s.groupRows ? 'selected' : ''}>${esc(k)}</option>`).join('')}`;
      if (s.groupRows && !this.configKeys.includes(s.groupRows)) this.$('group-rows').append(new Option(s.groupRows, s.groupRows, true, true));
      this.renderFilters(false);
    }

    /** The condition rows: a key (config or summary), an operator and a value each. */
    renderFilters(all = true) {
      const el = this.$('filter-rows'), s = this.state;
      if (!all && el.querySelector(':focus')) return; // not while the user types in one
      const keys = [...this.configKeys.map(k => `config.${k}`), ...this.summaryKeys.map(k => `summary.${k}`)];
      el.innerHTML = s.filters.map((f, i) => `<div class="filter-row" data-index="${i}">
          <select class="filter-key" aria-label="Key">${[...new Set([f.key, ...keys])].filter(Boolean).map(k => `<option ${k === f.key ? 'selected' : ''}>${esc(k)}</option>`).join('')}</select>
          <select class="filter-op" aria-label="Operator">${OPS.map(o => `<option ${o === f.op ? 'selected' : ''}>${o}</option>`).join('')}</select>
          <input type="text" class="filter-value" size="12" value="${esc(f.value ?? '')}" placeholder="value" aria-label="Value">
          <button class="filter-remove" title="Remove this condition" aria-label="Remove this condition">✕</button></div>`).join('');
    }

    /** The state changed: saved, and the runs fetched again (soon, while typing). */
    changed(debounce = 0) {
      this.save();
      clearTimeout(this.pending);
      this.pending = setTimeout(() => this.load().catch(e => this.current && this.fail(e)), debounce);
    }

    fail(error) {
      this.$('filter-error').textContent = error.message;
      this.$('filter-error').hidden = false;
    }

    wire() {
      const s = this.state;
      const bind = (id, field, event = 'input', wait = 250) => this.$(id).addEventListener(event, e => { s[field] = e.target.value; this.rows = PAGE_ROWS; this.changed(wait); });
      bind('filter-text', 'text');
      bind('filter-state', 'state', 'change', 0);
      bind('filter-tag', 'tag');
      bind('filter-config', 'expr', 'input', 400);
      this.$('add-filter').addEventListener('click', () => {
        s.filters.push({ key: this.summaryKeys.length ? `summary.${this.summaryKeys[0]}` : this.configKeys.length ? `config.${this.configKeys[0]}` : '', op: '>', value: '' });
        this.renderFilters();
        this.$('filter-rows').querySelector('.filter-row:last-child .filter-value')?.focus();
        this.save();
      });
      const rows = this.$('filter-rows');
      const fromRow = e => s.filters[Number(e.target.closest('.filter-row')?.dataset.index)];
      rows.addEventListener('change', e => {
        const f = fromRow(e);
        if (!f) return;
        if (e.target.classList.contains('filter-key')) f.key = e.target.value;
        if (e.target.classList.contains('filter-op')) f.op = e.target.value;
        this.changed();
      });
      rows.addEventListener('input', e => { const f = fromRow(e); if (f && e.target.classList.contains('filter-value')) { f.value = e.target.value; this.changed(400); } });
      rows.addEventListener('click', e => {
        if (!e.target.classList.contains('filter-remove')) return;
        s.filters.splice(Number(e.target.closest('.filter-row').dataset.index), 1);
        this.renderFilters();
        this.changed();
      });
      this.$('summary-agg').addEventListener('change', async e => {
        s.agg = e.target.value;
        s.aggs = {}; // the toolbar sets every metric column
        await this.aggChanged();
      });
      this.$('group-rows').addEventListener('change', e => { s.groupRows = e.target.value; s.collapsedGroups = []; this.save(); this.render(); });
      this.$('columns').addEventListener('change', e => {
        const col = e.target.dataset.col;
        if (!col) return;
        const cols = new Set(this.columnIds());
        if (e.target.checked) cols.add(col); else cols.delete(col);
        s.columns = [...cols];
        this.save();
        this.render();
      });
      this.$('columns').addEventListener('click', e => {
        if (e.target.id !== 'default-columns') return;
        s.columns = null;
        this.save();
        this.renderChoosers();
        this.render();
      });
      const table = this.$('runs');
      table.addEventListener('click', e => {
        if (e.target.closest('.col-agg')) return;
        const group = e.target.closest('tr.group-row');
        if (group) {
          const g = group.dataset.group, i = s.collapsedGroups.indexOf(g);
          if (i < 0) s.collapsedGroups.push(g); else s.collapsedGroups.splice(i, 1);
          this.save();
          this.render();
          return;
        }
        const th = e.target.closest('th[data-col]');
        if (th) this.sortBy(th.dataset.col);
      });
      table.addEventListener('keydown', e => {
        const th = e.target.closest('th[data-col]');
        if (!th || e.target !== th || (e.key !== 'Enter' && e.key !== ' ')) return; // not the aggregate's select inside
        e.preventDefault(); // Space would scroll
        this.sortBy(th.dataset.col);
        // The header row was drawn again: focus goes back to the header that was used.
        [...table.tHead.querySelectorAll('th[data-col]')].find(h => h.dataset.col === th.dataset.col)?.focus();
      });
      table.addEventListener('change', async e => {
        if (e.target.classList.contains('col-agg')) {
          s.aggs[e.target.dataset.col] = e.target.value;
          await this.aggChanged();
          return;
        }
        if (!e.target.classList.contains('select-run')) return;
        const id = e.target.dataset.runId;
        if (e.target.checked) this.selected.add(id); else this.selected.delete(id);
        e.target.closest('tr').classList.toggle('selected', e.target.checked);
        this.save();
        this.selectionChanged();
        this.chartsFor();
      });
      this.$('clear-selection').addEventListener('click', () => { this.selected.clear(); this.save(); this.render(); this.chartsFor(); });
      const select = runs => { this.selected = new Set(runs.map(r => r.id)); this.save(); this.render(); this.chartsFor(); };
      this.$('select-all').addEventListener('click', () => select(this.runs));
      this.$('select-filtered').addEventListener('click', () => select(this.ordered()));
      this.$('show-archived').addEventListener('change', e => { s.archived = e.target.checked; this.changed(); });
      for (const action of ['archive', 'unarchive', 'delete']) {
        this.$(`${action}-selected`).addEventListener('click', () =>
          window.TrackerManage.applyToSelected(this.project, [...this.selected], action, refusal => {
            this.App.refusal = refusal;
            this.selected.clear(); // acted on: a later action starts from a fresh selection
            this.save();
            this.App.route();
          }));
      }
      this.$('more').addEventListener('click', () => { this.rows += PAGE_ROWS; this.render(); });
      this.$('compare').addEventListener('click', () => {
        location.hash = `#/projects/${enc(this.project)}/compare?runs=${[...this.selected].map(enc).join(',')}`;
      });
      this.$('metric-search').addEventListener('input', e => { s.search = e.target.value; this.save(); this.searchCharts(); });
      this.$('workspace').addEventListener('click', e => {
        const h = e.target.closest('section.chart-section > h2');
        if (!h) return;
        const prefix = h.parentElement.dataset.prefix, i = s.collapsedSections.indexOf(prefix);
        if (i < 0) s.collapsedSections.push(prefix); else s.collapsedSections.splice(i, 1);
        this.save();
        this.sectionsShown();
      });
      this.wireViews();
    }

    async aggChanged() {
      this.save();
      const needed = this.state.agg !== 'last' || Object.values(this.state.aggs).some(a => a !== 'last');
      if (needed && !this.ranges) this.ranges = await this.App.api(`/projects/${enc(this.project)}/metric-ranges`);
      if (!this.current) return;
      this.render();
      if (this.state.sort?.startsWith('summary.')) this.chartsFor();
    }

    // ---- Charts ----

    /** The runs charted: the selected ones, else the first of the table's order. */
    chartRuns() {
      const ordered = this.ordered();
      if (this.selected.size) {
        const picked = ordered.filter(r => this.selected.has(r.id));
        return { runs: picked.slice(0, SELECTED_CHART_RUNS), note: picked.length > SELECTED_CHART_RUNS ? `Charting the first ${SELECTED_CHART_RUNS} of ${picked.length} selected runs.` : `Charting ${picked.length} selected run${picked.length === 1 ? '' : 's'}.` };
      }
      const runs = ordered.slice(0, CHART_RUNS);
      return { runs, note: ordered.length > CHART_RUNS ? `Charting the first ${CHART_RUNS} of ${ordered.length} runs in the table's order; select runs to chart others.` : runs.length ? `Charting the ${runs.length} run${runs.length === 1 ? '' : 's'} in the table.` : '' };
    }

    /** Rebuilds the charts when the charted runs changed; their settings come from the state, so nothing is lost but zoom. */
    chartsFor() {
      const { runs, note } = this.chartRuns();
      this.$('chart-note').textContent = note;
      const ids = runs.map(r => r.id).join('\n');
      if (ids === this.chartIds) return;
      this.chartIds = ids;
      this.App.stopLive(); // the old charts' live updates
      const el = this.$('workspace');
      if (runs.length === 0) {
        this.workspace = null;
        el.innerHTML = '<p class="muted">No runs to chart.</p>';
        return;
      }
      const charted = runs.map(r => ({ ...r })); // colours as the table's and the parallel coordinates' (load)
      // A container of its own: charts still loading for the runs before draw into it, out of the page.
      const box = document.createElement('div');
      el.replaceChildren(box);
      const ws = (this.workspace = new this.App.Workspace(this.gen, this.project, charted, box, this.configKeys, this.state.charts));
      ws.onChange = snapshot => { this.state.charts = snapshot; this.save(); };
      ws.onRefresh = () => { this.searchCharts(); this.sectionsShown(); };
      ws.start().then(() => { if (ws === this.workspace) { this.searchCharts(); this.sectionsShown(); } }).catch(error => {
        if (ws === this.workspace && this.current) box.innerHTML = `<p class="error">${esc(error.message)}</p>`;
      });
      // The sections exist before the points arrive: search and collapse apply at once.
      queueMicrotask(() => { this.searchCharts(); this.sectionsShown(); });
    }

    /** Hides the charts whose metric names do not match the search (a regular expression, or plain text where it is not one). */
    searchCharts() {
      const text = this.state.search.trim();
      let test = () => true;
      if (text) {
        try { const re = new RegExp(text, 'i'); test = k => re.test(k); } catch { const t = text.toLowerCase(); test = k => k.toLowerCase().includes(t); }
      }
      const el = this.$('workspace');
      if (!el) return;
      for (const chart of el.querySelectorAll('#sections div.chart')) chart.hidden = !test(chart.dataset.key);
      for (const section of el.querySelectorAll('section.chart-section')) section.hidden = !section.querySelector('div.chart:not([hidden])');
    }

    sectionsShown() {
      for (const section of this.$('workspace')?.querySelectorAll('section.chart-section') ?? []) {
        const closed = this.state.collapsedSections.includes(section.dataset.prefix);
        section.classList.toggle('collapsed', closed);
        section.querySelector('h2').setAttribute('aria-expanded', String(!closed));
      }
    }

    // ---- Live refresh ----

    /** New runs, states and summaries while the page is open; selection, scroll and settings stay. */
    poll() {
      setTimeout(async () => {
        if (!this.current) return;
        if (!document.hidden) {
          try { await this.load(); } catch { /* the next poll tries again */ }
        }
        this.poll();
      }, this.App.pollMs);
    }

    // ---- Saved views ----

    wireViews() {
      const menu = this.$('views-menu'), base = `/projects/${enc(this.project)}/views`;
      const error = message => { this.$('view-error').textContent = message; this.$('view-error').hidden = !message; };
      const list = async () => {
        const views = await this.App.api(base);
        if (!this.current) return;
        this.$('views-list').innerHTML = views.length === 0 ? '<li class="muted">No saved views.</li>' : views.map(v => `<li data-view="${esc(v.name)}">
            <a href="#" class="view-open">${esc(v.name)}</a> <span class="hint">${esc(new Date(v.updated_at).toLocaleString())}</span>
            <button class="link view-delete" title="Delete this view">Delete</button></li>`).join('');
      };
      menu.addEventListener('toggle', () => menu.open && list().catch(e => error(e.message)));
      this.$('view-save-form').addEventListener('submit', async e => {
        e.preventDefault();
        const name = this.$('view-name').value.trim();
        if (!name) { error('Give the view a name.'); return; }
        this.save();
        try {
          await window.TrackerManage.write('PUT', `${base}/${enc(name)}`, compact(this.state));
          error('');
          this.$('view-name').value = '';
          await list();
        } catch (failure) {
          error(`The view was not saved. ${failure.message}`);
        }
      });
      this.$('views-list').addEventListener('click', async e => {
        const item = e.target.closest('li[data-view]');
        if (!item) return;
        e.preventDefault();
        const name = item.dataset.view;
        try {
          if (e.target.classList.contains('view-delete')) {
            await window.TrackerManage.write('DELETE', `${base}/${enc(name)}`);
            error('');
            await list();
          } else if (e.target.classList.contains('view-open')) {
            const saved = await this.App.api(`${base}/${enc(name)}`);
            const address = addressOf(this.project, restore(saved));
            if (location.hash === address) this.App.route(); else location.hash = address;
          }
        } catch (failure) {
          error(failure.message);
        }
      });
    }
  }

  return { projectView, filterExpression };
})();
