// Spreadsheet imports: the template and its glossary, the upload (previewed first: the first rows
// with each problem marked, nothing created until confirmed), the customer's own column mappings,
// the import-by-email address, the past imports; one import's progress (polled while it runs), its
// per-row errors and the drafts it made, to submit at once.
import { api, ApiError, href } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { setQuery } from '../lib/router.js';
import { isCustomerAdmin, session } from '../lib/session.js';
import * as ui from '../lib/ui.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const RUNNING = ['queued', 'running'];
const POLL_MS = 1000;

function rowsText(job) {
  return job.total_rows == null ? `${job.processed_rows} rows read` : `${job.processed_rows} of ${job.total_rows} rows`;
}

// --- /imports ------------------------------------------------------------------------------------
function chooseFile(values) {
  if (!values.file) {
    throw new ApiError(422, { error: { message: 'Choose the file to upload.', details: { fields: { file: ['Choose a CSV or XLSX file.'] } } } });
  }
}

function uploadForm(app, mappings, previewHolder, glossary, onSaved) {
  const preview = h('button', { type: 'submit', class: 'secondary' }, 'Preview first');
  const options = [['', 'Automatic: a saved mapping whose headers the file has, else the template'],
    ...mappings.map((m) => [m.id, m.is_default ? `${m.name} (default)` : m.name])];
  return ui.form({
    class: 'import-upload',
    label: 'Upload a spreadsheet',
    submit: 'Upload',
    actions: [preview],
    fields: [
      { name: 'file', label: 'Spreadsheet (CSV or XLSX)', type: 'file', required: true,
        attrs: { accept: `.csv,.xlsx,text/csv,${XLSX}` }, hint: 'One order per row, with the columns of the template or your own (map them once). “Preview first” shows how the first rows read, with every problem, before anything is created.' },
      { name: 'mapping_id', label: 'Column mapping', type: 'select', options },
      { name: 'submit', label: 'Submit the orders for delivery at once', type: 'checkbox',
        hint: 'Left unticked, every good row becomes a draft you can check and submit afterwards.' },
    ],
    onSubmit: async (values, _form, submitter) => {
      chooseFile(values);
      const data = new FormData();
      data.append('file', values.file);
      if (values.mapping_id) data.append('mapping_id', values.mapping_id);
      if (submitter === preview) {
        const shown = await api('/imports/preview', { method: 'POST', form: data });
        replace(previewHolder, previewCard(app, shown, { file: values.file, submit: !!values.submit, glossary, onSaved }));
        previewHolder.querySelector('h2')?.focus();
        return;
      }
      if (values.submit) data.append('submit', 'true');
      const job = await api('/imports', { method: 'POST', form: data });
      ui.toast(`${job.filename} uploaded; reading its rows.`);
      app.navigate(`/imports/${job.id}`);
    },
  });
}

/** The preview: counts, which header gives which column, the first rows with every problem. */
function previewCard(app, shown, { file, submit, glossary, onSaved }) {
  const job = shown.import;
  if (!job) {   // headers the import cannot read as they are: map them first
    return h('section', { class: 'card import-preview', 'aria-labelledby': 'preview-title' },
      h('h2', { tabindex: '-1', id: 'preview-title' }, `Preview of ${file.name}`),
      ui.errorBox({ message: shown.problem }),
      h('p', {}, 'Tell which of your headers holds what, save it, then preview the file again.'),
      mappingEditor(shown, glossary, file, onSaved, true));
  }
  const names = Object.fromEntries(glossary.map((c) => [c.name, c.header]));
  const used = Object.keys(shown.columns);
  const counted = shown.whole_file
    ? `${shown.good_rows} good row${shown.good_rows === 1 ? '' : 's'} and ${shown.bad_rows} with problems in the whole file.`
    : `The file is large: the first ${shown.checked_rows} rows were checked (${shown.bad_rows} with problems); the import checks the rest.`;
  const cell = (row, column) => {
    const problems = row.errors.filter((e) => e.column === column);
    const value = row.values[column] || '';
    if (!problems.length) return value || '—';
    return h('span', { class: 'cell-problem' }, h('strong', {}, value || '(empty)'),
      ...problems.map((e) => h('span', { class: 'error' }, ` ⚠ ${e.message}`)));
  };
  const other = (row) => row.errors.filter((e) => !e.column || !used.includes(e.column)).map((e) => e.message).join(' ') || '—';
  const confirm = ui.action('Import the good rows', async () => {
    const queued = await api(`/imports/${job.id}/confirm`, { method: 'POST', body: { submit } });
    ui.toast(`${queued.filename}: importing.`);
    app.navigate(`/imports/${queued.id}`);
  }, { class: 'primary' });
  return h('section', { class: 'card import-preview', 'aria-labelledby': 'preview-title' },
    h('h2', { tabindex: '-1', id: 'preview-title' }, `Preview of ${job.filename}`),
    h('p', { role: 'status' }, counted, ' Nothing is created until you import.'),
    job.mapping_name ? h('p', {}, `Read with your mapping “${job.mapping_name}”.`) : null,
    shown.warnings.length ? h('ul', {}, shown.warnings.map((w) => h('li', {}, w))) : null,
    job.unknown_headers.length ? h('p', {}, 'Headers not used: ', job.unknown_headers.join(', '), '.') : null,
    ui.table({
      caption: `The first ${shown.rows.length} rows`,
      empty: 'The file has no rows below its header.',
      columns: [
        { label: 'Row', render: (r) => String(r.row) },
        ...used.map((c) => ({ label: `${names[c] || c} (${shown.columns[c]})`, render: (r) => cell(r, c) })),
        { label: 'Other problems', render: other },
      ],
      rows: shown.rows,
    }),
    h('div', { class: 'actions' }, confirm),
    mappingEditor(shown, glossary, file, onSaved));
}

/** Map this file's headers to the import's columns and save it as a named mapping. */
function mappingEditor(shown, glossary, file, onSaved, open = false) {
  const options = [['', 'Ignore this column'], ...glossary.map((c) => [c.name, c.header])];
  const current = Object.fromEntries(Object.entries(shown.columns).map(([col, header]) => [header, col]));
  const fields = shown.headers.map((header, i) => ({
    name: `col${i}`, label: `“${header}” holds`, type: 'select', options,
    value: current[header] ?? shown.suggested_mapping[header] ?? '',
  }));
  const saved = h('div', { role: 'status' });
  const editor = ui.form({
    class: 'mapping-editor',
    label: 'Save the column mapping',
    submit: 'Save the mapping',
    fields: [
      { name: 'name', label: 'Name of the mapping', required: true, value: shown.import?.mapping_name || '', hint: 'e.g. “ERP export”' },
      ...fields,
      { name: 'is_default', label: 'Make it the default (used for files sent by email)', type: 'checkbox' },
    ],
    onSubmit: async (values) => {
      const columns = Object.fromEntries(shown.headers.map((header, i) => [header, values[`col${i}`] || '']));
      const mapping = await api('/import-mappings', { method: 'POST', body: { name: values.name, columns, is_default: !!values.is_default } });
      replace(saved, h('p', {}, `Saved “${mapping.name}”: choose ${file.name} again and “Preview first” to read it with this mapping.`));
      ui.toast(`Mapping “${mapping.name}” saved.`);
      onSaved(mapping);
    },
  });
  return h('details', { class: 'mapping-details', open },
    h('summary', {}, 'Columns read wrongly? Map this file’s headers and save it for next time'),
    editor, saved);
}

function mappingsCard(mappings, reload) {
  return ui.card('Your column mappings',
    h('p', {}, 'A mapping tells how your own spreadsheet’s headers match the import’s columns. An upload whose headers all appear in a mapping is read with it; preview a file to make one.'),
    ui.table({
      empty: 'No mappings yet: files are read with the template’s headers (and the other names of the glossary).',
      columns: [
        { label: 'Name', render: (m) => h('strong', {}, m.name) },
        { label: 'Default', render: (m) => (m.is_default ? 'Yes' : ui.action('Make default', async () => {
          await api(`/import-mappings/${m.id}`, { method: 'PATCH', body: { is_default: true } });
          reload();
        })) },
        { label: 'Headers', render: (m) => Object.entries(m.columns).map(([k, v]) => `${k} → ${v || 'ignored'}`).join('; ') },
        { label: 'Delete', render: (m) => ui.action('Delete', async () => {
          await api(`/import-mappings/${m.id}`, { method: 'DELETE' });
          ui.toast(`Mapping “${m.name}” deleted.`);
          reload();
        }, { confirmText: `Delete the mapping “${m.name}”? Imports made with it stay as they are.` }) },
      ],
      rows: mappings,
    }));
}

async function addressCard() {
  const holder = h('div', {});
  const show = (found) => {
    replace(holder,
      found.address
        ? h('p', {}, 'Send CSV or XLSX attachments to ', h('code', {}, found.address),
          ': each becomes drafts, read with your default mapping, and the sender gets the result by email if it is one of your users.')
        : h('p', {}, 'No import address yet.'),
      h('p', { class: 'muted' }, 'Refused with a bounce to the sender: an unknown or replaced address, a message without a CSV or XLSX attachment, a file over the upload limit or one the import cannot read.'),
      isCustomerAdmin()
        ? ui.action(found.address ? 'Replace the address' : 'Make an import address', async () => {
          show(await api('/import-address', { method: 'POST' }));
          ui.toast('The import address is ready.');
        }, found.address ? { confirmText: 'The current address stops working at once. Replace it?' } : {})
        : null);
  };
  show(await api('/import-address'));
  return ui.card('Import by email', holder);
}

async function pastImports(query) {
  const pageNo = Number(query.page) || 1;
  const holder = h('div', {});
  const load = async (n) => {
    const result = await api('/imports', { query: { page: n, per_page: 20 } });
    replace(holder,
      ui.table({
        empty: 'No imports yet: fill the template and upload it above.',
        columns: [
          { label: 'File', render: (job) => h('a', { href: `/imports/${job.id}` }, job.filename || 'Import') },
          { label: 'Uploaded', render: (job) => fmt.dateTime(job.created_at) },
          { label: 'Status', render: (job) => ui.badge(job.status) },
          { label: 'Rows', render: (job) => rowsText(job) },
          { label: 'Orders made', render: (job) => String(job.created + job.updated) },
          { label: 'Errors', render: (job) => String(job.error_count) },
        ],
        rows: result.items,
      }),
      ui.pager({ page: result.page, perPage: result.per_page, total: result.total, onPage: (p) => {
        setQuery({ page: p });
        load(p).catch((e) => ui.toast(e.message, 'error'));
      } }));
  };
  await load(pageNo);
  return holder;
}

async function glossaryTable() {
  const columns = await api('/imports/glossary');
  // Folded by default: two dozen columns would bury the upload form on a phone.
  return h('details', { class: 'glossary', id: 'glossary-table' },
    h('summary', {}, `Show the ${columns.length} columns, what they hold and the other headers accepted`),
    ui.table({
    columns: [
      { label: 'Column', render: (c) => h('strong', {}, c.header) },
      { label: 'Required', render: (c) => (c.required ? 'Yes' : 'No') },
      { label: 'What it holds', render: (c) => c.description },
      { label: 'Example', render: (c) => c.example || '—' },
      { label: 'Also accepted', render: (c) => h('span', { class: 'glossary-synonyms' }, (c.synonyms || []).join(', ') || '—') },
    ],
    rows: columns,
  }));
}

/** Open the glossary and bring it into view (a '#' link would be taken for a page change). */
function showGlossary() {
  const details = document.getElementById('glossary-table');
  if (!details) return;
  details.open = true;
  details.scrollIntoView({ behavior: 'smooth', block: 'start' });
  details.querySelector('summary')?.focus();
}

async function importsPage({ app, query }) {
  const [past, glossary, columns, mappings, address] = await Promise.all([pastImports(query),
    glossaryTable().catch((e) => ui.errorBox(e)), api('/imports/glossary'),
    api('/import-mappings').catch(() => []), addressCard().catch((e) => ui.card('Import by email', ui.errorBox(e)))]);
  const previewHolder = h('div', {});
  const mappingsHolder = h('div', {});
  const reloadMappings = async () => {
    replace(mappingsHolder, mappingsCard(await api('/import-mappings'), () => reloadMappings().catch((e) => ui.toast(e.message, 'error'))));
  };
  replace(mappingsHolder, mappingsCard(mappings, () => reloadMappings().catch((e) => ui.toast(e.message, 'error'))));
  let upload = null;
  const onSaved = (mapping) => {   // the new mapping: listed, and offered in the upload form
    reloadMappings().catch((e) => ui.toast(e.message, 'error'));
    upload.querySelector('select[name=mapping_id]')?.append(h('option', { value: mapping.id }, mapping.name));
  };
  upload = uploadForm(app, mappings, previewHolder, columns, onSaved);
  return ui.page('Import orders',
    ui.card('1. Fill the template',
      h('p', {}, 'Download the template, fill one row per order (keep the header row) and save it as CSV or XLSX.'),
      h('ul', { class: 'import-links' },
        h('li', {}, h('a', { href: href('/imports/template.csv'), download: 'orders-template.csv' }, 'Download the CSV template')),
        h('li', {}, h('a', { href: href('/imports/template.xlsx'), download: 'orders-template.xlsx' }, 'Download the Excel (XLSX) template')),
        h('li', {}, h('button', { type: 'button', class: 'link', onclick: showGlossary }, 'What each column means')))),
    // The API refuses imports from users limited to some sites (services/orders/imports.py).
    ui.card('2. Upload it', session.user?.sites ? h('p', {}, 'Your user is limited to some sites and cannot import '
      + 'spreadsheets yet: create the orders one by one, or ask your admin.') : upload),
    previewHolder,
    mappingsHolder,
    address,
    ui.card('Your imports', past),
    h('section', { class: 'card', id: 'glossary' }, h('h2', {}, 'Columns (glossary)'), glossary));
}

// --- /imports/:id --------------------------------------------------------------------------------
function progressBlock(job) {
  const id = `import-progress-${job.id}`;
  const running = RUNNING.includes(job.status);
  return h('div', { class: 'import-progress' },
    h('label', { for: id }, running ? 'Reading the rows…' : 'Rows read'),
    h('progress', { id, max: job.total_rows || Math.max(job.processed_rows, 1), value: job.processed_rows }, rowsText(job)),
    h('p', { class: 'muted', role: 'status' }, rowsText(job), running ? ' — this page updates by itself.' : ''));
}

function summary(job) {
  return ui.facts([
    ['File', job.filename],
    ['Uploaded', fmt.dateTime(job.created_at)],
    ['Status', ui.badge(job.status)],
    ['Rows', rowsText(job)],
    ['New orders', String(job.created)],
    ['Orders updated', String(job.updated)],
    ['Unchanged rows', String(job.unchanged)],
    ['Errors', String(job.error_count)],
    job.finished_at ? ['Finished', fmt.dateTime(job.finished_at)] : null,
  ]);
}

/** The glossary's column names -> the headers the customer wrote ('address_line1' -> 'Address Line 1'). */
let headers = null;
async function columnHeaders() {
  if (!headers) {
    try {
      headers = Object.fromEntries((await api('/imports/glossary')).map((c) => [c.name, c.header]));
    } catch {
      return {};
    }
  }
  return headers;
}

function errorsCard(job, reload, names = {}) {
  if (RUNNING.includes(job.status) && !job.error_count) return null;
  const link = h('a', { href: href(`/imports/${job.id}/errors.csv`), download: `import-errors.csv` }, 'Download the errors (CSV)');
  return ui.card('Rows with errors',
    job.error_count ? h('p', {}, `${job.error_count} problem${job.error_count === 1 ? '' : 's'}: correct these rows in your file and upload it again — rows already imported are not duplicated. `, link) : null,
    ui.table({
      empty: 'No errors: every row was read.',
      columns: [
        { label: 'Row', render: (e) => String(e.row) },
        { label: 'Column', render: (e) => (e.column ? names[e.column] || e.column : '—') },
        { label: 'Message', render: (e) => e.message },
      ],
      rows: job.errors || [],
    }),
    ui.pager({ page: job.errors_page || 1, perPage: 200, total: job.error_count, onPage: reload }));
}

const MAX_DRAFTS = 200;   // one page of the orders list

/**
 * The drafts this import made or updated, in the file's order as far as the references tell
 * (PO-9 before PO-10). Returns {drafts, more} (more: others beyond this page; after a
 * submission the next ones come up).
 */
async function draftsOf(job) {
  const result = await api('/orders', { query: { import_id: job.id, status: 'draft', sort: 'reference', per_page: MAX_DRAFTS } });
  const drafts = [...result.items].sort((a, b) => a.reference.localeCompare(b.reference, undefined, { numeric: true }));
  return { drafts, more: result.total > result.items.length };
}

function draftsCard(job, { drafts, more }, onSubmitted) {
  const outcome = h('div', { role: 'status' });
  if (!drafts.length) {
    return ui.card('Drafts from this import',
      h('p', { class: 'empty' }, 'No drafts of this import are waiting: they have been submitted (or the import ',
        'submitted them at once), or no row became an order. Correct the rows with errors and upload the file again.'),
      h('p', {}, h('a', { href: '/orders' }, 'Go to your orders')));
  }
  const boxes = new Map();
  const selectAll = h('input', { type: 'checkbox', id: `select-all-${job.id}` });
  const count = h('span', { class: 'muted' });
  const update = () => {
    const chosen = [...boxes.values()].filter((b) => b.checked).length;
    selectAll.checked = chosen === boxes.size;
    selectAll.indeterminate = chosen > 0 && chosen < boxes.size;
    count.textContent = `${chosen} of ${boxes.size} selected`;
    submit.disabled = chosen === 0;
  };
  selectAll.addEventListener('change', () => {
    boxes.forEach((b) => (b.checked = selectAll.checked));
    update();
  });
  const submit = ui.action('Submit for delivery', async () => {
    const ids = [...boxes].filter(([, b]) => b.checked).map(([id]) => id);
    const result = await api('/orders/submit', { method: 'POST', body: { ids } });
    const byId = new Map(drafts.map((d) => [d.id, d]));
    const refused = result.errors || [];
    replace(outcome,
      h('p', { class: ['import-result', refused.length ? 'has-errors' : null] },
        `${result.submitted.length} order${result.submitted.length === 1 ? '' : 's'} submitted for delivery.`,
        refused.length ? ` ${refused.length} could not be submitted:` : ''),
      refused.length ? ui.table({
        columns: [
          { label: 'Order', render: (e) => h('a', { href: `/orders/${e.id}/edit` }, byId.get(e.id)?.reference || e.id) },
          { label: 'Why', render: (e) => e.message || fmt.label(e.code) },
        ],
        rows: refused,
      }) : null);
    ui.toast(`${result.submitted.length} submitted.`);
    onSubmitted(outcome);
  }, { class: 'primary' });
  const rows = drafts.map((d) => {
    const box = h('input', { type: 'checkbox', 'aria-label': `Select ${d.reference}`, checked: true, onchange: update });
    boxes.set(d.id, box);
    return { ...d, box };
  });
  update();
  return ui.card('Drafts from this import',
    h('p', {}, 'Check them, then submit the ones to deliver. ', h('a', { href: '/orders?status=draft' }, 'All your drafts')),
    more ? h('p', { class: 'muted' }, `Showing the first ${drafts.length}; once these are submitted, the next ones show here.`) : null,
    h('div', { class: 'import-select' },
      h('div', { class: 'field checkbox' }, selectAll, h('label', { for: selectAll.id }, 'Select all')), count),
    ui.table({
      columns: [
        { label: 'Select', render: (d) => d.box },
        { label: 'Reference', render: (d) => h('a', { href: `/orders/${d.id}` }, d.reference) },
        { label: 'Deliver to', render: (d) => d.dropoff || '—' },
        { label: 'Recipient', render: (d) => d.recipient || '—' },
        { label: 'Window', render: (d) => (d.window_start ? fmt.dateTime(d.window_start) : '—') },
        { label: 'Packages', render: (d) => String(d.packages ?? '—') },
        { label: 'Edit', render: (d) => h('a', { href: `/orders/${d.id}/edit`, 'aria-label': `Edit ${d.reference}` }, 'Edit') },
      ],
      rows,
    }),
    h('div', { class: 'actions' }, submit),
    outcome);
}

async function importPage({ params, app }) {
  const id = encodeURIComponent(params.id);
  let errorsPage = 1;
  const [first, names] = await Promise.all([api(`/imports/${id}`, { query: { errors_page: errorsPage } }), columnHeaders()]);
  let job = first;
  const head = h('div', {});
  const errorsHolder = h('div', {});
  const draftsHolder = h('div', {});
  let timer = null;
  let lastOutcome = null;

  const reloadErrors = async (n) => {
    errorsPage = n;
    job = await api(`/imports/${id}`, { query: { errors_page: n } });
    job.errors_page = n;
    replace(errorsHolder, errorsCard(job, (p) => reloadErrors(p).catch((e) => ui.toast(e.message, 'error')), names));
  };
  const showDrafts = async () => {
    if (RUNNING.includes(job.status)) {
      replace(draftsHolder);
      return;
    }
    replace(draftsHolder, ui.card('Drafts from this import', ui.loading('Finding the drafts of this import…')));
    try {
      const found = await draftsOf(job);
      replace(draftsHolder, draftsCard(job, found, (outcome) => {
        lastOutcome = outcome;
        showDrafts();
      }));
      // Keep the answer of the last "Submit for delivery" in view after the list refreshes.
      if (lastOutcome) draftsHolder.querySelector('.card')?.append(lastOutcome);
    } catch (error) {
      replace(draftsHolder, ui.card('Drafts from this import', ui.errorBox(error)));
    }
  };
  const render = () => {
    replace(head, ui.card('Progress', progressBlock(job), summary(job),
      job.failure ? ui.errorBox({ message: `The import failed: ${job.failure}` }) : null,
      job.status === 'preview'
        ? h('div', { class: 'actions' }, h('p', {}, 'This file was previewed and waits for you: nothing is created until you import it.'),
          ui.action('Import it now', async () => {
            job = await api(`/imports/${id}/confirm`, { method: 'POST', body: { submit: false } });
            render();
            timer = setTimeout(poll, POLL_MS);
          }, { class: 'primary' }))
        : null,
      job.unknown_headers?.length
        ? h('p', {}, 'Columns we did not recognise (ignored): ', job.unknown_headers.join(', '), '. ', h('a', { href: '/imports' }, 'See the glossary on the import page'))
        : null));
    job.errors_page = errorsPage;
    replace(errorsHolder, errorsCard(job, (p) => reloadErrors(p).catch((e) => ui.toast(e.message, 'error')), names));
  };

  let left = false;
  const poll = async () => {
    try {
      const next = await api(`/imports/${id}`, { query: { errors_page: errorsPage } });
      if (left) return;   // the answer came after the user went elsewhere
      job = next;
      render();
      if (RUNNING.includes(job.status)) timer = setTimeout(poll, POLL_MS);
      else {
        timer = null;
        ui.toast(job.status === 'done' ? `Import finished: ${job.created + job.updated} orders, ${job.error_count} errors.` : 'The import failed.', job.status === 'done' ? 'ok' : 'error');
        showDrafts();
      }
    } catch (error) {
      // A blip (the service busy): try again a little later rather than stop the progress.
      if (!left && error.status !== 404) timer = setTimeout(poll, POLL_MS * 3);
    }
  };
  app.onLeave(() => {
    left = true;
    if (timer) clearTimeout(timer);
  });

  render();
  if (RUNNING.includes(job.status)) timer = setTimeout(poll, POLL_MS);
  else showDrafts();
  return ui.page(`Import of ${job.filename || 'a spreadsheet'}`,
    h('p', {}, h('a', { href: '/imports' }, 'All imports')),
    head, errorsHolder, draftsHolder);
}

export const routes = [
  { path: '/imports', title: 'Import orders', access: 'booker', nav: { label: 'Import', order: 30 }, render: importsPage },
  { path: '/imports/:id', title: 'Import', access: 'customer', render: importPage },
];
