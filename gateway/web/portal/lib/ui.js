// The few building blocks every screen uses, so that forms, tables, errors and dialogs look and
// behave the same everywhere (labelled fields, errors next to the field, keyboard usable).
import { ApiError } from './api.js';
import { fmt, h, replace } from './dom.js';

let fieldSeq = 0;

/** A page: its h1 (focused after navigation by the app) and its content. */
export function page(title, ...children) {
  return h('section', { class: 'page' }, h('h1', { tabindex: '-1' }, title), ...children);
}

export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...children);
}

/**
 * One labelled field. spec: {name, label, type ('text', 'email', 'password', 'number', 'date',
 * 'datetime-local', 'textarea', 'select', 'checkbox', 'file'), value, required, options
 * ([[value, label]] or [value]), hint, placeholder, autocomplete, attrs: {...}}
 * The input's ``name`` is the API's (dotted for nested: 'address.city'), which is how API
 * errors find their field.
 */
export function field(spec) {
  const id = `f${++fieldSeq}`;
  const hintId = spec.hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const common = {
    id, name: spec.name, required: !!spec.required, 'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
    autocomplete: spec.autocomplete, placeholder: spec.placeholder, ...(spec.attrs || {}),
  };
  let input;
  if (spec.type === 'textarea') input = h('textarea', { ...common, rows: spec.rows || 3 }, spec.value ?? '');
  else if (spec.type === 'select') {
    input = h('select', common, (spec.options || []).map((o) => {
      const [value, label] = Array.isArray(o) ? o : [o, fmt.label(o)];
      return h('option', { value, selected: String(value) === String(spec.value ?? '') }, label);
    }));
  } else if (spec.type === 'checkbox') {
    input = h('input', { ...common, type: 'checkbox', checked: !!spec.value });
    return h('div', { class: 'field checkbox' }, input, h('label', { for: id }, spec.label),
      hintId ? h('p', { class: 'hint', id: hintId }, spec.hint) : null,
      h('p', { class: 'error', id: errorId, 'aria-live': 'polite' }));
  } else input = h('input', { ...common, type: spec.type || 'text', value: spec.value ?? '' });
  return h('div', { class: 'field' },
    h('label', { for: id }, spec.label, spec.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    input,
    hintId ? h('p', { class: 'hint', id: hintId }, spec.hint) : null,
    h('p', { class: 'error', id: errorId, 'aria-live': 'polite' }));
}

/** The values of a form's named fields: checkboxes as booleans, numbers as numbers, '' left out. */
export function values(formEl) {
  const out = {};
  for (const el of formEl.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.type === 'file') out[el.name] = el.files[0] || null;
    else if (el.value === '') continue;
    else if (el.type === 'number') out[el.name] = Number(el.value);
    else out[el.name] = el.value;
  }
  return out;
}

/** {"address.city": "x"} -> {address: {city: "x"}} (and "items.0.qty" -> items[0].qty) */
export function nest(flat) {
  const out = {};
  for (const [path, value] of Object.entries(flat)) {
    const keys = path.split('.');
    let node = out;
    keys.forEach((key, i) => {
      const last = i === keys.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(keys[i + 1]);
      if (last) node[key] = value;
      else node = node[key] ??= nextIsIndex ? [] : {};
    });
  }
  return out;
}

/** Show an API error: each field message next to its field, the rest in the form's alert. */
export function showErrors(formEl, error) {
  clearErrors(formEl);
  const alert = formEl.querySelector('.form-alert');
  if (!(error instanceof ApiError)) {
    replace(alert, String(error && error.message ? error.message : error));
    alert.hidden = false;
    console.error(error);
    return;
  }
  const fields = error.fields;
  const unplaced = [];
  let first = null;
  for (const [name, message] of Object.entries(fields)) {
    const input = formEl.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!input) {
      unplaced.push(`${name}: ${message}`);
      continue;
    }
    input.setAttribute('aria-invalid', 'true');
    const holder = input.closest('.field');
    const slot = holder && holder.querySelector('.error');
    if (slot) slot.textContent = message;
    first ??= input;
  }
  replace(alert, error.message, unplaced.length ? h('ul', {}, unplaced.map((m) => h('li', {}, m))) : null);
  alert.hidden = false;
  (first || alert).focus?.();
}

/** Required fields left empty get "Required." next to them before anything is sent. */
function requiredFilled(formEl) {
  const missing = [...formEl.elements].filter((el) => el.required && !el.disabled
    && (el.type === 'checkbox' ? !el.checked : el.type === 'file' ? !el.files.length : !String(el.value).trim()));
  for (const el of missing) {
    el.setAttribute('aria-invalid', 'true');
    const slot = el.closest('.field')?.querySelector('.error');
    if (slot) slot.textContent = 'Required.';
  }
  if (missing.length) missing[0].focus();
  return missing.length === 0;
}

export function clearErrors(formEl) {
  formEl.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  formEl.querySelectorAll('.field .error').forEach((el) => (el.textContent = ''));
  const alert = formEl.querySelector('.form-alert');
  if (alert) alert.hidden = true;
}

/**
 * form({fields: [spec | Node], submit: 'Save', onSubmit: async (values, formEl) => {...}})
 * Values are nested by dotted names; while onSubmit runs the button is busy; an ApiError lands
 * next to its fields. Extra buttons: actions: [Node].
 */
export function form({ fields = [], submit = 'Save', onSubmit, actions = [], class: cls, label }) {
  const button = h('button', { type: 'submit', class: 'primary' }, submit);
  const formEl = h('form', { class: ['form', cls], novalidate: true, 'aria-label': label },
    h('div', { class: 'form-alert', role: 'alert', tabindex: '-1', hidden: true }),
    fields.map((f) => (f instanceof Node ? f : field(f))),
    h('div', { class: 'actions' }, button, actions));
  formEl.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(formEl);
    if (!requiredFilled(formEl)) return;
    // every submit button (a form may have "Save as draft" beside "Submit") waits for this one
    const buttons = [...formEl.querySelectorAll('button[type=submit]')].filter((b) => !b.disabled);
    buttons.forEach((b) => { b.disabled = true; });
    button.setAttribute('aria-busy', 'true');
    try {
      await onSubmit(nest(values(formEl)), formEl, event.submitter);
    } catch (error) {
      showErrors(formEl, error);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      button.removeAttribute('aria-busy');
    }
  });
  return formEl;
}

/**
 * table({columns: [{key, label, render: (row) => Node|string, sort: 'api_sort_key'}], rows,
 *        empty: 'No orders yet.', caption, onSort: (key) => ..., sorted: '-created_at'})
 */
export function table({ columns, rows, empty = 'Nothing here yet.', caption, onSort, sorted }) {
  if (!rows || rows.length === 0) return h('p', { class: 'empty' }, empty);
  const head = columns.map((c) => {
    if (!c.sort || !onSort) return h('th', { scope: 'col' }, c.label);
    const dir = sorted === c.sort ? 'ascending' : sorted === `-${c.sort}` ? 'descending' : 'none';
    return h('th', { scope: 'col', 'aria-sort': dir },
      h('button', { type: 'button', class: 'link', onclick: () => onSort(dir === 'ascending' ? `-${c.sort}` : c.sort) },
        c.label, dir === 'ascending' ? ' ▲' : dir === 'descending' ? ' ▼' : ''));
  });
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, head)),
      h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c) => h('td', { 'data-label': c.label },
        c.render ? c.render(row) : row[c.key] ?? '—')))))));
}

// Statuses whose words are not their code's.
const BADGE_LABELS = { pending_approval: 'Waiting for approval' };

/** A status as a coloured badge (the class names are in app.css). */
export function badge(status) {
  return h('span', { class: `badge badge-${String(status).replaceAll('_', '-')}` }, BADGE_LABELS[status] || fmt.label(status));
}

/** A message that says what happened: toast('Saved'), toast('Could not ...', 'error'). */
export function toast(message, kind = 'ok') {
  const region = document.getElementById('toasts');
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  region.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 9000 : 4000);
}

/** A modal dialog (<dialog>, so focus and Escape work): resolves with the form's values or null. */
export function dialog({ title, fields = [], submit = 'OK', cancel = 'Cancel', text }) {
  return new Promise((resolve) => {
    let formEl;
    const dlg = h('dialog', { class: 'dialog', 'aria-label': title });
    formEl = form({
      fields, submit,
      onSubmit: async (vals) => {
        resolve(vals);
        dlg.close();
      },
      actions: [h('button', { type: 'button', onclick: () => dlg.close() }, cancel)],
    });
    dlg.append(h('h2', {}, title), text ? h('p', {}, text) : null, formEl);
    dlg.addEventListener('close', () => {
      resolve(null);
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

export const confirm = (title, text, submit = 'Confirm') => dialog({ title, text, submit }).then((v) => v !== null);

/** Run an action from a button: busy while it runs, errors shown as a toast. */
export function action(label, run, { class: cls, confirmText } = {}) {
  const button = h('button', { type: 'button', class: cls }, label);
  button.addEventListener('click', async () => {
    if (confirmText && !(await confirm(label, confirmText, label))) return;
    button.disabled = true;
    try {
      await run(button);
    } catch (error) {
      toast(error.message || String(error), 'error');
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** Previous / next for the API's pages ({items, total, page, per_page} or {next_cursor}). */
export function pager({ page: current = 1, perPage = 25, total, onPage }) {
  if (total === undefined || total <= perPage) return null;
  const last = Math.max(1, Math.ceil(total / perPage));
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', disabled: current <= 1, onclick: () => onPage(current - 1) }, 'Previous'),
    h('span', {}, `Page ${current} of ${last} (${total})`),
    h('button', { type: 'button', disabled: current >= last, onclick: () => onPage(current + 1) }, 'Next'));
}

/** A definition list of label -> value pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}

export function errorBox(error) {
  return h('div', { class: 'form-alert', role: 'alert' }, error.message || String(error));
}
