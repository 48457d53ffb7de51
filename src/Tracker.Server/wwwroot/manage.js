// Run management in the web UI: the browser's API key, editing a run's name, tags and notes in
// place, archiving and deleting runs (docs/protocol.md, "Managing runs"). Writes always need a key,
// so every write here goes with the key kept in this browser, and a refusal says why.
'use strict';
window.TrackerManage = (() => {
  const KEY = 'tracker.apiKey';
  const { esc } = window.Tracker;
  const enc = encodeURIComponent;

  class WriteError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /** A write to the server's API with the browser's key; the answer's JSON, or null for 204. Throws WriteError saying what was refused and why. */
  async function write(method, path, body) {
    const headers = { 'Content-Type': 'application/json' };
    const key = localStorage.getItem(KEY);
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.ok) return response.status === 204 ? null : response.json();
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch { /* not a problem body */ }
    const advice = response.status === 401
      ? (key ? ' Set a valid key with “API key” at the top of the page.' : ' Changes need an API key: set one with “API key” at the top of the page.')
      : response.status === 403 ? ' Set another key with “API key” at the top of the page.' : '';
    throw new WriteError(response.status, `${response.status === 401 || response.status === 403 ? 'Refused' : 'Failed'} (${response.status}): ${detail}${advice}`);
  }

  /** The “API key” button in the page header, with a dialog to set or forget the key. */
  function mountKeyButton(header) {
    const button = document.createElement('button');
    button.id = 'api-key-button';
    button.className = 'key-button';
    const label = () => { button.textContent = localStorage.getItem(KEY) ? 'API key ✓' : 'API key'; };
    label();
    const dialog = document.createElement('dialog');
    dialog.id = 'api-key-dialog';
    dialog.innerHTML = `<form method="dialog">
        <h2>API key</h2>
        <p class="muted">Edits, archiving and deletion need a key that may write to the project. It is kept in this browser only (localStorage) and sent as a Bearer token.</p>
        <p><input type="password" id="api-key-input" size="52" placeholder="trk_..." autocomplete="off"></p>
        <p class="dialog-buttons"><button value="forget" id="api-key-forget">Forget key</button> <button value="cancel">Cancel</button> <button value="save" class="primary" id="api-key-save">Save</button></p>
      </form>`;
    document.body.appendChild(dialog);
    button.addEventListener('click', () => { dialog.querySelector('#api-key-input').value = localStorage.getItem(KEY) || ''; dialog.showModal(); });
    dialog.addEventListener('close', () => {
      const value = dialog.querySelector('#api-key-input').value.trim();
      if (dialog.returnValue === 'save' && value) localStorage.setItem(KEY, value);
      if (dialog.returnValue === 'forget') localStorage.removeItem(KEY);
      label();
    });
    header.appendChild(button);
  }

  /** Notes as HTML: Markdown by marked, sanitised by DOMPurify (no script, no event handlers). */
  const notesHtml = notes => window.DOMPurify.sanitize(window.marked.parse(notes || ''));

  /**
   * The run page's header: name, state, tags and notes, each editable in place, and the archive and
   * delete buttons; <paramref>onDeleted</paramref> is called once the run is deleted.
   */
  function runHeader(container, project, run, onDeleted) {
    const path = `/projects/${enc(project)}/runs/${enc(run.id)}`;
    let current = run;

    function render() {
      const tags = current.tags || [];
      container.innerHTML = `
        <div class="run-head">
          <h1 id="run-title"><span class="swatch" style="background:${run.colour}"></span><span id="run-name">${esc(current.name)}</span>
            <button class="icon" id="edit-name" title="Rename">✎</button>
            <span class="state state-${esc(current.state)}" id="run-state">${esc(current.state)}</span>
            ${current.archived ? '<span class="archived-badge" id="run-archived">archived</span>' : ''}</h1>
          <div class="run-actions">
            <button id="archive-run">${current.archived ? 'Unarchive' : 'Archive'}</button>
            <button class="danger" id="delete-run">Delete</button>
          </div>
        </div>
        <div class="run-tags" id="run-tags">${tags.map(t => `<span class="tag">${esc(t)}</span>`).join('') || '<span class="muted">no tags</span>'}
          <button class="link" id="edit-tags">Edit tags</button></div>
        <p class="error" id="manage-error" hidden></p>
        <div class="card run-notes" id="run-notes">
          <div class="notes-head"><h2>Notes</h2><button class="link" id="edit-notes">Edit</button></div>
          <div class="markdown" id="notes-body">${current.notes ? notesHtml(current.notes) : '<p class="muted">No notes. Markdown is welcome.</p>'}</div>
        </div>`;
      container.querySelector('#edit-name').onclick = editName;
      container.querySelector('#edit-tags').onclick = editTags;
      container.querySelector('#edit-notes').onclick = editNotes;
      container.querySelector('#archive-run').onclick = () => save({ archived: !current.archived });
      container.querySelector('#delete-run').onclick = remove;
    }

    function fail(error) {
      const box = container.querySelector('#manage-error');
      box.textContent = error.message;
      box.hidden = false;
    }

    async function save(change) {
      try {
        current = await write('PATCH', path, change);
        render();
        return true;
      } catch (error) {
        fail(error);
        return false;
      }
    }

    /** Swaps an element for an editor; Enter (Ctrl+Enter in text areas) saves, Escape cancels. */
    function editor(target, id, html, read) {
      const form = document.createElement('form');
      form.className = 'inline-edit';
      form.id = id;
      form.innerHTML = `${html} <button class="primary" type="submit">Save</button> <button type="button" data-cancel>Cancel</button>`;
      target.replaceWith(form);
      const field = form.querySelector('input, textarea');
      field.focus();
      form.addEventListener('submit', async e => { e.preventDefault(); await save(read(field.value)); });
      form.querySelector('[data-cancel]').onclick = render;
      form.addEventListener('keydown', e => {
        if (e.key === 'Escape') render();
        if (e.key === 'Enter' && e.ctrlKey && field.tagName === 'TEXTAREA') form.requestSubmit();
      });
    }

    const editName = () => editor(container.querySelector('#run-title'), 'name-editor',
      `<input type="text" id="name-input" size="40" value="${esc(current.name)}" aria-label="Run name">`, v => ({ name: v }));
    const editTags = () => editor(container.querySelector('#run-tags'), 'tags-editor',
      `<input type="text" id="tags-input" size="50" value="${esc((current.tags || []).join(', '))}" placeholder="baseline, v2" aria-label="Tags, separated by commas">`,
      v => ({ tags: v.split(',').map(t => t.trim()).filter(Boolean) }));
    const editNotes = () => editor(container.querySelector('#notes-body'), 'notes-editor',
      `<textarea id="notes-input" rows="8" aria-label="Notes (Markdown)">${esc(current.notes || '')}</textarea><br>`,
      v => ({ notes: v.trim() ? v : null }));

    async function remove() {
      if (!confirm(`Delete run “${current.name}” (${current.id})? Its metrics, console output and media are removed for good.`)) return;
      try {
        await write('DELETE', path);
        onDeleted();
      } catch (error) {
        fail(error);
      }
    }

    render();
  }

  /**
   * Archive, unarchive and delete for the runs selected in a project's runs table. Each selected
   * run is written in turn, stopping at the first refusal; <paramref>done</paramref> reloads the
   * table with the refusal's message to show, or null.
   */
  async function applyToSelected(project, ids, action, done) {
    if (ids.length === 0) return;
    if (action === 'delete' && !confirm(`Delete ${ids.length} run${ids.length === 1 ? '' : 's'} (${ids.join(', ')})? Their metrics, console output and media are removed for good.`)) return;
    let refusal = null;
    try {
      for (const id of ids) {
        const path = `/projects/${enc(project)}/runs/${enc(id)}`;
        if (action === 'delete') await write('DELETE', path);
        else await write('PATCH', path, { archived: action === 'archive' });
      }
    } catch (error) {
      refusal = error.message;
    }
    done(refusal);
  }

  return { write, mountKeyButton, runHeader, applyToSelected, notesHtml };
})();
