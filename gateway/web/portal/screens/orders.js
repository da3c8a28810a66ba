// Orders: the list (filters in the URL, columns chosen per user through /orders/view, bulk
// submit of drafts), the order page (stops, items, history, live tracking map, documents and
// proof of delivery, the conversation, tracking links, withdraw/cancel/reschedule) and the
// conversation links the emails carry (/conversations/<id>).
import { api, ApiError, del, get, href, post, put, stream } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { setQuery } from '../lib/router.js';
import { canBook, isStaff, session, siteOptions } from '../lib/session.js';
import { action, badge, card, dialog, errorBox, facts, field, form, loading, page, pager, showErrors, table, toast } from '../lib/ui.js';
import { trackingMap } from './map.js';
import { orderEmissions } from './emissions.js';
import { askedText, exceptionsTable } from './exceptions.js';

const STATUSES = ['draft', 'pending_approval', 'submitted', 'scheduled', 'in_transit', 'delivered', 'failed', 'cancelled'];
// An order above the company's approval limit waits for an admin (issue 11).
const STATUS_OPTIONS = STATUSES.map((s) => (s === 'pending_approval' ? [s, 'Waiting for approval'] : s));
const KINDS = ['delivery', 'booking', 'rental'];
const FINAL = ['delivered', 'failed', 'cancelled'];
const DOCUMENT_KINDS = [['document', 'Document'], ['bill_of_lading', 'Bill of lading'], ['label', 'Label'],
  ['photo', 'Photo'], ['invoice', 'Invoice'], ['customs', 'Customs']];
const POD_KINDS = ['pod_photo', 'pod_signature'];

// The list's columns: what each shows and which the API can sort by.
const COLUMNS = {
  reference: { label: 'Reference', sort: 'reference', render: (o) => h('a', { href: `/orders/${o.id}` }, o.reference || 'Order') },
  kind: { label: 'Kind', render: (o) => fmt.label(o.kind) },
  status: { label: 'Status', sort: 'status', render: (o) => badge(o.status) },
  created_at: { label: 'Created', sort: 'created_at', render: (o) => fmt.dateTime(o.created_at) },
  updated_at: { label: 'Updated', sort: 'updated_at', render: (o) => fmt.dateTime(o.updated_at) },
  pickup: { label: 'Pickup', render: (o) => o.pickup || '—' },
  dropoff: { label: 'Delivery address', render: (o) => o.dropoff || '—' },
  recipient: { label: 'Recipient', render: (o) => o.recipient || '—' },
  city: { label: 'City', render: (o) => o.city || '—' },
  window_start: { label: 'Window from', sort: 'window_start', render: (o) => fmt.dateTime(o.window_start) },
  window_end: { label: 'Window to', render: (o) => fmt.dateTime(o.window_end) },
  eta: { label: 'ETA', render: (o) => (o.eta ? h('span', {}, fmt.dateTime(o.eta), o.late ? h('strong', { class: 'late' }, ' late') : null) : '—') },
  packages: { label: 'Packages', render: (o) => String(o.packages ?? '—') },
  weight_kg: { label: 'Weight (kg)', render: (o) => o.weight_kg ?? '—' },
  stop_count: { label: 'Stops', render: (o) => String(o.stop_count ?? '—') },
  customer_name: { label: 'Customer', render: (o) => o.customer_name || '—' },
  route: { label: 'Route', render: (o) => (o.route_id ? 'On a route' : '—') },
  price_total: { label: 'Price', render: (o) => (o.price_total ? fmt.money(o.price_total.amount, o.price_total.currency) : '—') },
  site: { label: 'Site', render: (o) => o.site || '—' },
};
// A customer's list is of its own orders: no customer column.
const HIDDEN_FOR_CUSTOMERS = ['customer_name'];

// --- small shared pieces ------------------------------------------------------------------------
export function addressText(address = {}) {
  return [address.unit, address.line1, address.line2, address.postal_code, address.city, address.state, address.country]
    .filter(Boolean).join(', ') || '—';
}

/** A conversation's messages as list items: who wrote each (as the reader sees it) and when. */
function messageItems(messages, staff) {
  const author = (m) => (m.author_id && m.author_id === session.user?.id ? 'You'
    : m.author_side === 'operator' ? 'Operator team' : staff ? 'Customer' : 'Your team');
  return messages.map((m) => h('li', { class: `message message-${m.author_side}` },
    h('p', { class: 'message-meta' }, h('strong', {}, author(m)), ' · ', fmt.dateTime(m.created_at)),
    h('p', { class: 'message-body' }, m.body)));
}

function windowText(start, end) {
  if (!start && !end) return 'Any time';
  if (start && end && fmt.date(start) === fmt.date(end)) return `${fmt.dateTime(start)} – ${fmt.time(end)}`;
  return `${start ? fmt.dateTime(start) : '…'} – ${end ? fmt.dateTime(end) : '…'}`;
}

const stopKind = (type) => (type === 'pickup' ? 'Collection' : 'Delivery');

/** "2026-12-01" (a date input) -> the ISO instant at the start (or end) of that local day. */
function dayBound(day, end = false) {
  if (!day) return undefined;
  const when = new Date(`${day}T${end ? '23:59:59.999' : '00:00:00'}`);
  return Number.isNaN(when.getTime()) ? undefined : when.toISOString();
}

function datesError(from, to) {
  if (!from || !to || to >= from) return null;
  return new ApiError(422, { error: { message: 'Check the dates.',
    details: { fields: { created_to: ['Must not be before "Created from".'] } } } });
}

function copyButton(getText, label = 'Copy link') {
  return h('button', { type: 'button', onclick: async (e) => {
    const text = getText();
    try {
      await navigator.clipboard.writeText(text);
      toast('Copied.');
    } catch {
      // No clipboard permission (e.g. plain http): select the text so Ctrl+C works.
      const input = e.target.closest('.copy-box')?.querySelector('input');
      input?.select();
      toast('Press Ctrl+C (or Cmd+C) to copy the selected link.');
    }
  } }, label);
}

// --- the list -----------------------------------------------------------------------------------
async function ordersList({ query, app }) {
  const staff = isStaff();
  let view;
  try {
    view = await get('/orders/view');
  } catch {
    view = { columns: ['reference', 'status', 'created_at', 'dropoff', 'recipient', 'window_start', 'packages'], available_columns: Object.keys(COLUMNS) };
  }
  const sort = query.sort || view.sort || '-created_at';
  const perPage = view.per_page || 25;
  const pageNo = Math.max(1, Number(query.page) || 1);
  // Named as the API's arguments, so its 422 lands next to the right filter (dates kept as days).
  const filters = { status: query.status || '', kind: query.kind || '', q: query.q || '',
    created_from: query.created_from || '', created_to: query.created_to || '', site: query.site || '' };
  // The customer's sites (cost centres): a filter when it keeps some (a user limited to some
  // sites is answered only its sites' orders by the API anyway).
  const sites = siteOptions();

  const go = (changes) => {
    setQuery({ ...filters, sort: query.sort, page: pageNo > 1 ? pageNo : '', ...changes });
    app.refresh();
  };

  const filterForm = form({
    label: 'Filter orders', class: 'wide order-filters', submit: 'Apply filters',
    fields: [
      { name: 'q', label: 'Search', type: 'search', value: filters.q, hint: 'Reference, address or recipient' },
      { name: 'status', label: 'Status', type: 'select', value: filters.status, options: [['', 'Any status'], ...STATUS_OPTIONS] },
      { name: 'kind', label: 'Kind', type: 'select', value: filters.kind, options: [['', 'Any kind'], ...KINDS] },
      { name: 'created_from', label: 'Created from', type: 'date', value: filters.created_from },
      { name: 'created_to', label: 'Created to', type: 'date', value: filters.created_to },
      ...(sites.length ? [{ name: 'site', label: 'Site', type: 'select', value: filters.site, options: [['', 'Any site'], ...sites] }] : []),
    ],
    actions: [h('a', { href: '/orders', class: 'button-link' }, 'Clear filters')],
    onSubmit: async (v) => {
      const bad = datesError(v.created_from, v.created_to);
      if (bad) throw bad;
      go({ q: v.q || '', status: v.status || '', kind: v.kind || '', created_from: v.created_from || '', created_to: v.created_to || '', site: v.site || '', page: '' });
    },
  });

  const results = h('div', { class: 'order-results' }, loading());
  let data;
  try {
    const bad = datesError(filters.created_from, filters.created_to);
    if (bad) throw bad;   // said here rather than asked of the API
    data = await get('/orders', {
      status: filters.status || undefined, kind: filters.kind || undefined, q: filters.q || undefined, site: filters.site || undefined,
      created_from: dayBound(filters.created_from), created_to: dayBound(filters.created_to, true), sort, page: pageNo, per_page: perPage,
    });
  } catch (error) {
    if (error.status === 422) {
      showErrors(filterForm, error);
      replace(results, h('p', { class: 'empty' }, 'Correct the filters above to see orders.'));
    } else replace(results, errorBox(error));
    data = null;
  }

  const available = (view.available_columns || Object.keys(COLUMNS))
    .filter((c) => COLUMNS[c] && (staff || !HIDDEN_FOR_CUSTOMERS.includes(c)));
  const shown = (view.columns || []).filter((c) => available.includes(c));
  // A company with sites sees the Site column until the user saves columns of its own.
  if (sites.length && view.sort == null && view.per_page == null && !shown.includes('site')) shown.push('site');
  const columnsPanel = columnChooser({ view, available, shown: shown.length ? shown : ['reference', 'status'], sort, perPage, app });

  if (data) {
    const selected = new Set();
    // Viewers read only: no ticking of drafts to submit.
    const drafts = canBook() ? data.items.filter((o) => o.status === 'draft') : [];
    const count = h('span', { class: 'muted', 'aria-live': 'polite' }, '');
    const submitButton = action('Submit selected', async () => {
      const ids = [...selected];
      if (!ids.length) {
        toast('Tick the drafts to submit first.', 'error');
        return;
      }
      const result = await post('/orders/submit', { ids });
      const ok = result.submitted.filter((o) => o.status !== 'pending_approval').length;
      const waiting = result.submitted.length - ok;
      if (ok) toast(`${ok} order${ok === 1 ? '' : 's'} submitted.`);
      if (waiting) toast(`${waiting} order${waiting === 1 ? '' : 's'} above your company's approval limit wait${waiting === 1 ? 's' : ''} for an administrator.`);
      for (const err of result.errors) toast(`${err.id}: ${err.message}`, 'error');
      app.refresh();
    }, { class: 'primary' });
    const updateCount = () => {
      count.textContent = selected.size ? `${selected.size} selected` : 'No drafts selected';
      submitButton.disabled = selected.size === 0;
    };
    const cols = [];
    if (drafts.length) {
      cols.push({ key: '_select', label: 'Select', render: (o) => (o.status !== 'draft' ? '' : h('input', {
        type: 'checkbox', class: 'select-order', 'aria-label': `Select draft ${o.reference}`,
        onchange: (e) => { if (e.target.checked) selected.add(o.id); else selected.delete(o.id); updateCount(); },
      })) });
    }
    for (const key of shown.length ? shown : ['reference', 'status']) cols.push({ key, ...COLUMNS[key] });
    updateCount();
    const anyFilter = Object.values(filters).some(Boolean);
    replace(results,
      drafts.length ? h('div', { class: 'row bulk-bar' }, submitButton, count,
        h('button', { type: 'button', class: 'link', onclick: () => {
          results.querySelectorAll('input.select-order').forEach((box) => { box.checked = true; });
          drafts.forEach((o) => selected.add(o.id));
          updateCount();
        } }, 'Select all drafts on this page')) : null,
      table({
        columns: cols, rows: data.items, sorted: sort, caption: `Orders (${data.total_exact === false ? 'more than ' : ''}${data.total})`,
        empty: anyFilter ? 'No orders match these filters. Change or clear the filters.'
          : 'No orders yet. Create one with "New order" or import a spreadsheet.',
        onSort: (key) => {
          // The sort is remembered with the columns, so the list opens the same way next time.
          put('/orders/view', { columns: shown.length ? shown : ['reference', 'status'], sort: key, per_page: view.per_page ?? null })
            .catch(() => {});
          go({ sort: key, page: '' });
        },
      }),
      pager({ page: pageNo, perPage, total: data.total, onPage: (p) => go({ page: p > 1 ? p : '' }) }));
  }

  return page('Orders',
    canBook() ? h('div', { class: 'row page-actions' },
      h('a', { href: '/orders/new', class: 'button-link primary' }, 'New order'),
      h('a', { href: '/imports', class: 'button-link' }, 'Import')) : null,
    card('Find orders', filterForm),
    columnsPanel,
    results);
}

/** Which columns, in which order, and how many per page: kept per user by the API. */
function columnChooser({ view, available, shown, sort, perPage, app }) {
  let order = [...shown, ...available.filter((c) => !shown.includes(c))];
  const chosen = new Set(shown);
  const list = h('ul', { class: 'column-list' });

  function move(key, delta) {
    const i = order.indexOf(key);
    const j = i + delta;
    if (j < 0 || j >= order.length) return;
    [order[i], order[j]] = [order[j], order[i]];
    draw(key, delta < 0 ? 'up' : 'down');
  }

  function draw(focusKey, focusDir) {
    replace(list, order.map((key, i) => {
      const id = `col-${key}`;
      return h('li', { class: 'column-item' },
        h('input', { type: 'checkbox', id, checked: chosen.has(key),
          onchange: (e) => { if (e.target.checked) chosen.add(key); else chosen.delete(key); } }),
        h('label', { for: id }, COLUMNS[key].label),
        h('span', { class: 'column-move' },
          h('button', { type: 'button', disabled: i === 0, dataset: { key, dir: 'up' }, 'aria-label': `Move ${COLUMNS[key].label} up`, onclick: () => move(key, -1) }, 'Up'),
          h('button', { type: 'button', disabled: i === order.length - 1, dataset: { key, dir: 'down' }, 'aria-label': `Move ${COLUMNS[key].label} down`, onclick: () => move(key, 1) }, 'Down')));
    }));
    if (focusKey) {
      const target = list.querySelector(`button[data-key="${focusKey}"][data-dir="${focusDir}"]:not(:disabled)`)
        || list.querySelector(`button[data-key="${focusKey}"]:not(:disabled)`);
      target?.focus();
    }
  }
  draw();

  const perPageField = field({ name: 'per_page', label: 'Orders per page', type: 'select', value: String(perPage),
    options: [['10', '10'], ['25', '25'], ['50', '50'], ['100', '100'], ['200', '200']] });
  const save = action('Save columns', async () => {
    const columns = order.filter((c) => chosen.has(c));
    if (!columns.length) {
      toast('Choose at least one column.', 'error');
      return;
    }
    await put('/orders/view', { columns, sort: view.sort ?? sort ?? null, per_page: Number(perPageField.querySelector('select').value) });
    toast('Columns saved.');
    app.refresh();
  }, { class: 'primary' });
  return h('details', { class: 'card column-chooser' },
    h('summary', {}, 'Columns'),
    h('p', { class: 'hint' }, 'Tick the columns to show and put them in order; they are kept for your account.'),
    list, perPageField, h('div', { class: 'actions' }, save));
}

// --- the order page -----------------------------------------------------------------------------
async function orderPage({ params, app }) {
  const id = params.id;
  const staff = isStaff();
  let order = await get(`/orders/${encodeURIComponent(id)}`);
  let tracking = null;
  try {
    tracking = await get(`/orders/${encodeURIComponent(id)}/tracking`);
  } catch {
    tracking = null;   // the page still shows the order; the map says it has nothing yet
  }

  const head = h('div', { class: 'order-head' });
  const detailsBox = h('div');
  const stopsBox = h('div');
  const historyBox = h('div');
  const podBox = h('div');
  const feedbackBox = h('div');
  const docsBox = h('div', {}, loading());
  const messagesBox = h('div', {}, loading());
  const linksBox = h('div', {}, loading());
  const rescheduleBox = h('div');
  const mapHolder = h('div', { class: 'map-holder' });
  let documents = [];

  const actionsFor = () => {
    const allowed = order.allowed_actions || [];
    // Operator staff may only cancel here (submit, withdraw, edit and reschedule are the customer's).
    return staff ? allowed.filter((a) => a === 'cancel') : allowed;
  };

  const base = `/orders/${encodeURIComponent(id)}`;
  async function reloadOrder() {
    order = await get(base);
    drawOrder();
    loadDocuments();
    loadFeedback();
  }

  function mapView() {
    const live = new Map((tracking?.stops || []).map((s) => [s.id, s]));
    return {
      // The order's own status wins once final (the tracking service hears of it a moment later).
      status: FINAL.includes(order.status) || !tracking ? order.status : tracking.status,
      location: tracking?.location || null,
      stops: order.stops.map((s, i) => {
        const t = live.get(s.id) || {};
        return { lat: s.lat, lng: s.lng, type: s.type, status: t.status || s.status, eta: t.eta ?? s.eta, late: !!t.late,
          label: `stop ${i + 1} (${s.address?.line1 || s.address?.city || stopKind(s.type)})` };
      }),
    };
  }

  function drawHead() {
    const acts = actionsFor();
    const buttons = [];
    if (acts.includes('edit')) buttons.push(h('a', { href: `/orders/${order.id}/edit`, class: 'button-link' }, 'Edit'));
    if (acts.includes('submit')) {
      buttons.push(action('Submit', async () => {
        order = await post(`${base}/submit`);
        toast(order.status === 'pending_approval' ? 'Above your company\'s approval limit: the order waits for an administrator.' : 'Order submitted.');
        await afterChange();
      }, { class: 'primary' }));
    }
    if (acts.includes('approve')) {
      buttons.push(action('Approve', async () => {
        order = await post(`${base}/approve`);
        toast('Order approved and submitted.');
        await afterChange();
      }, { class: 'primary' }));
    }
    if (acts.includes('decline')) {
      buttons.push(h('button', { type: 'button', onclick: declineOrder }, 'Decline'));
    }
    if (acts.includes('withdraw')) {
      buttons.push(action('Withdraw', async () => {
        order = await post(`${base}/withdraw`);
        toast('The order is a draft again; edit and submit it when ready.');
        await afterChange();
      }, { confirmText: 'Take the order back to draft? The operator will not plan it until you submit it again.' }));
    }
    if (acts.includes('reschedule')) {
      buttons.push(h('button', { type: 'button', onclick: requestReschedule }, 'Request another time'));
    }
    if (acts.includes('cancel')) {
      buttons.push(h('button', { type: 'button', class: 'danger', onclick: cancelOrder }, 'Cancel order'));
    }
    if (!staff && canBook()) {
      // Book again: a draft of the same order on the next working day, opened for editing.
      buttons.push(action('Book again', async () => {
        const again = await post(`${base}/repeat`, {});
        toast(`Draft ${again.reference} made from this order; check its times and submit it.`);
        app.navigate(`/orders/${again.id}/edit`);
      }));
      buttons.push(h('a', { href: `/recurring-orders/new?order=${encodeURIComponent(order.id)}`, class: 'button-link' },
        'Repeat on a schedule'));
    }
    replace(head,
      h('p', { class: 'row order-status', 'aria-live': 'polite' }, h('span', { class: 'muted' }, 'Status:'), badge(order.status),
        h('span', { class: 'muted' }, `${fmt.label(order.kind)} order`)),
      order.status === 'pending_approval'
        ? h('p', { class: 'hint approval-note' }, acts.includes('approve')
          ? 'Waiting for approval: it is above your company\'s approval limit. Approve it to submit it, or decline it with a reason.'
          : 'Waiting for approval: it is above your company\'s approval limit, so an administrator approves it before it is submitted.')
        : null,
      buttons.length ? h('div', { class: 'actions' }, buttons) : null);
  }

  async function declineOrder() {
    const values = await dialog({ title: 'Decline order', submit: 'Decline order', cancel: 'Keep waiting',
      text: 'The order goes back to draft; the colleague who booked it is told your reason.',
      fields: [{ name: 'reason', label: 'Reason', type: 'textarea', required: true, attrs: { maxlength: 500 } }] });
    if (!values) return;
    try {
      order = await post(`${base}/decline`, { reason: values.reason });
      toast('Order declined; it is a draft again.');
      await afterChange();
    } catch (error) {
      toast(error.message, 'error');
    }
  }

  async function cancelOrder() {
    const values = await dialog({ title: 'Cancel order', submit: 'Cancel order', cancel: 'Keep order',
      text: 'The order will not be delivered. This cannot be undone.',
      fields: [{ name: 'reason', label: 'Reason (optional)', type: 'textarea' }] });
    if (!values) return;
    try {
      order = await post(`${base}/cancel`, { reason: values.reason || null });
      toast('Order cancelled.');
      await afterChange();
    } catch (error) {
      toast(error.message, 'error');
    }
  }

  async function requestReschedule() {
    const dropoffs = order.stops.filter((s) => s.type === 'dropoff');
    const values = await dialog({ title: 'Request another time', submit: 'Send request',
      text: 'The operator accepts or declines; you are told either way.',
      fields: [
        order.stops.length > 1 ? { name: 'stop_id', label: 'Stop', type: 'select',
          options: [['', dropoffs.length > 1 ? 'All delivery stops' : 'The delivery stop'],
            ...order.stops.map((s, i) => [s.id, `${i + 1}. ${stopKind(s.type)}: ${addressText(s.address)}`])] } : null,
        { name: 'window_start', label: 'New window from', type: 'datetime-local', required: true },
        { name: 'window_end', label: 'New window to', type: 'datetime-local', required: true },
        { name: 'note', label: 'Note (optional)', type: 'textarea' },
      ].filter(Boolean) });
    if (!values) return;
    try {
      const body = { window_start: values.window_start ? new Date(values.window_start).toISOString() : null,
        window_end: values.window_end ? new Date(values.window_end).toISOString() : null,
        note: values.note || null, stop_id: values.stop_id || null };
      await post(`${base}/reschedule`, body);
      toast('Request sent to the operator.');
      loadReschedules();
    } catch (error) {
      const fields = error.fields ? Object.values(error.fields) : [];
      toast(fields.length ? `${error.message} ${fields.join(' ')}` : error.message, 'error');
    }
  }

  function drawDetails() {
    const price = order.price?.total;
    replace(detailsBox, facts([
      ['Reference', order.reference],
      ['Kind', fmt.label(order.kind)],
      order.site ? ['Site', order.site] : null,
      ['Created', fmt.dateTime(order.created_at)],
      order.submitted_at ? ['Submitted', fmt.dateTime(order.submitted_at)] : null,
      order.pickup_at ? ['Pickup at', fmt.dateTime(order.pickup_at)] : null,
      order.passengers ? ['Passengers', String(order.passengers)] : null,
      order.vehicle_type ? ['Vehicle', order.vehicle_type] : null,
      order.rental_start ? ['Rental', `${fmt.date(order.rental_start)} – ${fmt.date(order.rental_end)}`] : null,
      ['Price', price ? fmt.money(price.amount, price.currency) : 'Not priced yet'],
      order.notes ? ['Notes', order.notes] : null,
    ]), orderEmissions(order));
  }

  function drawStops() {
    const live = new Map((tracking?.stops || []).map((s) => [s.id, s]));
    if (!order.stops.length) {
      replace(stopsBox, h('p', { class: 'empty' }, 'No stops yet.', acts().includes('edit') ? ' Edit the draft to add them.' : ''));
      return;
    }
    replace(stopsBox, h('ol', { class: 'stop-list' }, order.stops.map((s, i) => {
      const t = live.get(s.id) || {};
      const status = t.status || s.status;
      const eta = t.eta ?? s.eta;
      const contact = [s.contact?.name, s.contact?.phone, s.contact?.email].filter(Boolean).join(' · ');
      return h('li', { class: 'stop' },
        h('h3', {}, `${i + 1}. ${stopKind(s.type)}`),
        h('p', { class: 'stop-address' }, addressText(s.address)),
        facts([
          ['Time window', windowText(s.window_start, s.window_end)],
          contact ? ['Contact', contact] : null,
          ['Status', h('span', {}, badge(status), t.late ? h('span', { class: 'late' }, ' Running late') : null)],
          status === 'pending' || status === 'arrived' ? ['ETA', eta ? `${fmt.time(eta)} (${fmt.relative(eta)})` : 'Not known yet'] : null,
          t.arrived_at ? ['Driver arrived', fmt.dateTime(t.arrived_at)] : null,
          s.completed_at || t.completed_at ? ['Completed', fmt.dateTime(s.completed_at || t.completed_at)] : null,
          s.failure_reason ? ['Reason', s.failure_reason] : null,
          s.notes ? ['Notes', s.notes] : null,
        ]));
    })));
  }
  const acts = actionsFor;

  function drawItems() {
    return table({
      columns: [
        { key: 'description', label: 'Description' },
        { key: 'quantity', label: 'Quantity', render: (i) => String(i.quantity) },
        { key: 'weight_kg', label: 'Weight (kg)', render: (i) => i.weight_kg ?? '—' },
        { key: 'dims', label: 'Size (cm)', render: (i) => (i.length_cm ? `${i.length_cm} × ${i.width_cm ?? '?'} × ${i.height_cm ?? '?'}` : '—') },
      ],
      rows: order.items, empty: 'No items listed.',
    });
  }
  const itemsBox = h('div');

  function drawHistory() {
    replace(historyBox, h('ol', { class: 'timeline' }, (order.history || []).map((c) => h('li', {},
      h('strong', {}, fmt.label(c.to_status)), ' ', h('span', { class: 'muted' }, `${fmt.dateTime(c.at)} · by ${fmt.label(c.by_role || 'system')}`),
      c.note ? h('div', {}, c.note) : null))));
  }

  /** After the user changed the order (submit, withdraw, cancel): the tracking view follows. */
  async function afterChange() {
    tracking = await get(`${base}/tracking`).catch(() => tracking);
    drawOrder();
    startLive();
  }

  function drawOrder() {
    drawHead();
    drawDetails();
    drawStops();
    replace(itemsBox, drawItems());
    drawHistory();
    drawPod();
    rescheduleCard.hidden = !(actionsFor().includes('reschedule') || rescheduleCount > 0);
    if (map) map.update(mapView());
  }

  // --- documents and proof of delivery
  function docLinks(d) {
    return h('span', { class: 'row' },
      h('a', { href: href(`/documents/${d.id}/content`), target: '_blank', rel: 'noopener' }, `Open ${d.filename}`),
      h('a', { href: href(`/documents/${d.id}/content`, { download: 1 }), download: d.filename }, 'Download'));
  }

  function thumb(d, alt) {
    if (!d.has_thumbnail) return null;
    return h('a', { href: href(`/documents/${d.id}/content`), target: '_blank', rel: 'noopener', class: 'thumb-link' },
      h('img', { src: href(`/documents/${d.id}/thumbnail`), alt, class: 'thumb', loading: 'lazy' }));
  }

  function drawPod() {
    const pods = documents.filter((d) => POD_KINDS.includes(d.kind));
    const notes = order.stops.map((s, i) => ({ s, i })).filter(({ s }) => s.pod);
    if (!pods.length && !notes.length) {
      replace(podBox, h('p', { class: 'empty' }, order.status === 'delivered'
        ? 'No proof of delivery was recorded for this order.'
        : 'The driver\'s photos and the recipient\'s signature appear here once the order is delivered.'));
      return;
    }
    const stopNo = (stopId) => {
      const i = order.stops.findIndex((s) => s.id === stopId);
      return i >= 0 ? `stop ${i + 1}` : 'the order';
    };
    replace(podBox,
      notes.map(({ s, i }) => facts([
        [`Stop ${i + 1}`, addressText(s.address)],
        s.pod.recipient_name ? ['Received by', s.pod.recipient_name] : null,
        s.pod.comments ? ['Driver\'s comments', s.pod.comments] : null,
        s.completed_at ? ['Delivered', fmt.dateTime(s.completed_at)] : null,
      ])),
      h('ul', { class: 'doc-grid' }, pods.map((d) => {
        const what = d.kind === 'pod_signature' ? 'Signature' : 'Photo';
        return h('li', { class: 'doc' },
          thumb(d, `${what} for ${stopNo(d.stop_id)}`),
          h('p', {}, h('strong', {}, what), ` for ${stopNo(d.stop_id)} · ${fmt.dateTime(d.created_at)}`),
          docLinks(d));
      })));
  }

  function drawDocuments() {
    const others = documents.filter((d) => !POD_KINDS.includes(d.kind));
    replace(docsBox,
      others.length ? h('ul', { class: 'doc-grid' }, others.map((d) => h('li', { class: 'doc' },
        thumb(d, `Preview of ${d.filename}`),
        h('p', {}, h('strong', {}, fmt.label(d.kind)), ` · ${fmt.dateTime(d.created_at)} · ${Math.max(1, Math.round(d.size / 1024))} KB`),
        docLinks(d))))
        : h('p', { class: 'empty' }, 'No documents yet. Upload a bill of lading, a label or a photo below.'),
      uploadForm);
  }

  const uploadForm = form({
    label: 'Upload a document', submit: 'Upload',
    fields: [
      { name: 'file', label: 'File', type: 'file', required: true, hint: 'PDF, image, text, CSV or Office file.' },
      { name: 'kind', label: 'Kind of document', type: 'select', value: 'document', options: DOCUMENT_KINDS },
    ],
    onSubmit: async (_values, formEl) => {
      const file = formEl.querySelector('input[type=file]');
      if (!file.files.length) {
        const slot = file.closest('.field').querySelector('.error');
        slot.textContent = 'Choose a file to upload.';
        file.setAttribute('aria-invalid', 'true');
        file.focus();
        return;
      }
      await api(`${base}/documents`, { method: 'POST', form: new FormData(formEl) });
      formEl.reset();
      toast('Document uploaded.');
      await loadDocuments();
    },
  });
  uploadForm.hidden = !canBook();       // viewers read only

  async function loadDocuments() {
    try {
      documents = await get(`${base}/documents`);
    } catch (error) {
      replace(docsBox, errorBox(error), uploadForm);
      return;
    }
    drawDocuments();
    drawPod();
  }

  // --- the conversation
  const messageList = h('ol', { class: 'messages', 'aria-live': 'polite' });
  const drawMessages = (list) => replace(messageList, messageItems(list, staff));
  let messages = [];
  const messageForm = form({
    label: 'Write to the operator', submit: 'Send',
    fields: [{ name: 'body', label: 'Message', type: 'textarea', required: true, rows: 3 }],
    onSubmit: async (v, formEl) => {
      const m = await post(`${base}/messages`, { body: v.body });
      messages.push(m);
      formEl.reset();
      drawMessagesBox();
      toast('Message sent.');
    },
  });
  messageForm.hidden = !canBook();
  function drawMessagesBox() {
    drawMessages(messages);
    replace(messagesBox,
      messages.length ? messageList : h('p', { class: 'empty' },
        staff ? 'No messages about this order yet.' : 'No messages yet. Ask the operator\'s team anything about this order below.'),
      messageForm);
  }
  async function loadMessages() {
    try {
      messages = await get(`${base}/messages`);
      drawMessagesBox();
    } catch (error) {
      replace(messagesBox, errorBox(error));
    }
  }

  // --- tracking links
  const newLinkBox = h('div', { class: 'new-link', 'aria-live': 'polite' });
  const linkForm = form({
    label: 'Share tracking', submit: 'Create tracking link',
    fields: [{ name: 'label', label: 'Label (optional)', hint: 'Who the link is for, e.g. "Reception". Anyone with the link sees the status, ETA and driver location only.' }],
    onSubmit: async (v, formEl) => {
      const link = await post(`${base}/tracking-links`, { label: v.label || null });
      formEl.reset();
      const input = h('input', { type: 'text', readonly: true, value: link.url, id: 'new-tracking-link', class: 'copy-input' });
      replace(newLinkBox, h('div', { class: 'copy-box' },
        h('p', {}, h('strong', {}, 'Copy this link now: it is shown only once.')),
        h('label', { for: 'new-tracking-link' }, 'Tracking link'),
        h('div', { class: 'row' }, input, copyButton(() => link.url))));
      input.focus();
      input.select();
      loadLinks();
    },
  });
  const linksList = h('div');
  // Who opened a link, coarsely (a network and a browser family), loaded when asked for.
  function linkOpenings(l) {
    if (!l.opened_count) return '0';
    const list = h('ul', { class: 'openings' }, h('li', {}, loading()));
    return h('details', { ontoggle: async (e) => {
      if (!e.target.open || e.target.dataset.loaded) return;
      e.target.dataset.loaded = '1';
      try {
        const seen = await get(`/tracking-links/${encodeURIComponent(l.id)}/accesses`);
        replace(list, ...seen.items.map((a) => h('li', {}, `${fmt.dateTime(a.opened_at)} · ${a.network || 'unknown network'} · ${a.browser}`)));
      } catch (error) {
        replace(list, h('li', {}, errorBox(error)));
      }
    } }, h('summary', {}, `${l.opened_count} ${l.opened_count === 1 ? 'opening' : 'openings'}`), list);
  }
  async function loadLinks() {
    let links;
    try {
      links = await get(`${base}/tracking-links`);
    } catch (error) {
      replace(linksList, errorBox(error));
      return;
    }
    replace(linksList, table({
      caption: 'Links made for this order',
      columns: [
        { key: 'label', label: 'Label', render: (l) => l.label || 'No label' },
        { key: 'created_at', label: 'Created', render: (l) => fmt.dateTime(l.created_at) },
        { key: 'last_opened_at', label: 'Last opened', render: (l) => (l.last_opened_at ? fmt.dateTime(l.last_opened_at) : 'Never') },
        { key: 'opened_count', label: 'Openings', render: linkOpenings },
        { key: 'active', label: 'State', render: (l) => (l.active ? 'Active' : l.revoked_at ? 'Revoked' : 'Expired') },
        { key: 'actions', label: 'Actions', render: (l) => (l.active && canBook() ? action('Revoke', async () => {
          await del(`/tracking-links/${l.id}`);
          toast('Link revoked: it stopped working.');
          loadLinks();
        }, { class: 'danger', confirmText: 'Revoke this link? Whoever has it can no longer follow the delivery.' }) : '—') },
      ],
      rows: links, empty: 'No tracking links yet.',
    }));
  }
  linkForm.hidden = !canBook();
  replace(linksBox, linkForm, newLinkBox, linksList);

  // --- the recipient's feedback (given on the tracking page once delivered; read-only here)
  const feedbackCard = card('Recipient feedback', feedbackBox);
  async function loadFeedback() {
    feedbackCard.hidden = order.status !== 'delivered';
    if (feedbackCard.hidden) return;
    try {
      const { feedback } = await get(`${base}/feedback`);
      replace(feedbackBox, feedback ? facts([
        ['Rating', `${feedback.rating} out of 5`],
        ['Comment', feedback.comment || 'No comment'],
        ['Given', fmt.dateTime(feedback.updated_at || feedback.created_at)],
        ['Through', feedback.link_label || 'A tracking link'],
      ]) : h('p', { class: 'empty' }, 'No feedback yet: the recipient can rate the delivery on the tracking page.'));
    } catch (error) {
      replace(feedbackBox, errorBox(error));
    }
  }

  // --- delivery problems (late or failed stops) and what the customer asks dispatch for them
  const problemsBox = h('div');
  const problemsCard = card('Delivery problems', problemsBox);
  problemsCard.id = 'delivery-problems';
  problemsCard.hidden = true;
  async function loadProblems() {
    const found = await exceptionsTable(problemsBox, { order_id: id },
      { empty: 'No delivery problem: the stops are on time.' });
    problemsCard.hidden = staff || !found || found.total === 0;
    if (!problemsCard.hidden && location.hash === '#delivery-problems') problemsCard.scrollIntoView();
  }

  // --- reschedule requests
  let rescheduleCount = 0;
  const rescheduleCard = card('Reschedule requests', rescheduleBox);
  async function loadReschedules() {
    try {
      const found = await get(`${base}/reschedule`, { per_page: 20 });
      rescheduleCount = found.items.length;
      replace(rescheduleBox, table({
        columns: [
          { key: 'window', label: 'Asked for', render: (r) => (r.kind && r.kind !== 'window' ? askedText(r) : windowText(r.window_start, r.window_end)) },
          { key: 'created_at', label: 'Asked', render: (r) => fmt.dateTime(r.created_at) },
          { key: 'status', label: 'Answer', render: (r) => h('span', {}, badge(r.status), r.reason ? ` ${r.reason}` : '') },
        ],
        rows: found.items,
        empty: actionsFor().includes('reschedule') ? 'No requests. Use "Request another time" above to ask for another time window.' : 'No requests.',
      }));
      rescheduleCard.hidden = !(actionsFor().includes('reschedule') || rescheduleCount > 0);
    } catch (error) {
      replace(rescheduleBox, errorBox(error));
    }
  }

  // --- the live map
  let map = null;
  let closeStream = null;
  let refetching = false;
  function onTracking(next) {
    if (!next || typeof next !== 'object') return;
    const statusChanged = tracking && next.status !== tracking.status;
    tracking = next;
    if (FINAL.includes(next.status) && pollTimer) stopLive();
    map?.update(mapView());
    drawStops();   // not the head: re-making its buttons would steal a keyboard user's focus
    if ((statusChanged || next.status !== order.status) && !refetching) {
      // A new status brings history, actions and maybe proof of delivery: read the order again.
      refetching = true;
      reloadOrder().catch(() => {}).finally(() => { refetching = false; });
    }
  }
  let pollTimer = null;
  function stopLive() {
    closeStream?.();
    closeStream = null;
    clearInterval(pollTimer);
    pollTimer = null;
  }
  function startLive() {
    stopLive();
    if (FINAL.includes(order.status) || order.status === 'draft') return;
    let failures = 0;
    closeStream = stream(`${base}/stream`, {
      tracking: (view) => { failures = 0; onTracking(view); },
      end: () => stopLive(),
    }, {
      // EventSource retries by itself; if the stream keeps failing (a proxy that buffers it),
      // fall back to asking every 20 s so the page still moves.
      onerror: () => {
        if (++failures < 5) return;
        closeStream?.();
        closeStream = null;
        pollTimer ??= setInterval(() => get(`${base}/tracking`).then(onTracking).catch(() => {}), 20000);
      },
    });
  }

  map = trackingMap(mapHolder, {
    tilesUrl: document.body.dataset.tiles || '',
    attribution: document.body.dataset.tilesAttribution || '',
    label: 'Map of the order\'s stops and the driver',
  });
  app.onLeave(() => {
    stopLive();
    map?.destroy();
    map = null;
  });

  drawOrder();
  map.update(mapView());
  startLive();
  loadDocuments();
  loadMessages();
  // A new message arrives through the bell's live feed (a notification): read the thread again.
  const onNotification = (event) => { if (event.detail?.event_type === 'message.posted') loadMessages(); };
  window.addEventListener('portal:notification', onNotification);
  app.onLeave(() => window.removeEventListener('portal:notification', onNotification));
  loadLinks();
  loadFeedback();
  loadReschedules();
  loadProblems();
  rescheduleCard.hidden = !actionsFor().includes('reschedule');

  const messagesCard = card('Messages', messagesBox);
  messagesCard.id = 'messages';
  if (location.hash === '#messages') setTimeout(() => messagesCard.scrollIntoView(), 50);

  return page(`Order ${order.reference}`,
    head,
    h('div', { class: 'grid two order-top' },
      card('Live tracking', mapHolder),
      card('Details', detailsBox)),
    card('Stops', stopsBox),
    card('Items', itemsBox),
    card('Status history', historyBox),
    card('Proof of delivery', podBox),
    feedbackCard,
    card('Documents', docsBox),
    messagesCard,
    problemsCard,
    rescheduleCard,
    card('Share tracking', linksBox),
    staff ? null : h('p', {}, h('a', { href: '/orders' }, 'Back to orders')));
}

// --- /conversations/<id>: the emails' link --------------------------------------------------------
async function conversationPage({ params, app }) {
  const conversation = await get(`/conversations/${encodeURIComponent(params.id)}`);
  if (conversation.order_id) {
    // An order's conversation lives on the order page.
    setTimeout(() => app.navigate(`/orders/${conversation.order_id}#messages`, { replace: true }), 0);
    return page(conversation.subject, h('p', {}, 'Opening the order… ',
      h('a', { href: `/orders/${conversation.order_id}#messages` }, 'Open the order')));
  }
  return conversationView(conversation, { app, staff: isStaff() });
}

/** A conversation with its messages and a reply form (also used by the operator's inbox). */
export function conversationView(conversation, { app, staff, onChange, asCard = false }) {
  const list = h('ol', { class: 'messages' });
  const draw = () => replace(list, messageItems(conversation.messages, staff));
  draw();
  const statusHolder = h('span', {}, badge(conversation.status));
  const reply = form({
    label: 'Reply', submit: 'Send',
    fields: [{ name: 'body', label: 'Message', type: 'textarea', required: true, rows: 3 }],
    onSubmit: async (v, formEl) => {
      const m = await post(`/conversations/${conversation.id}/messages`, { body: v.body });
      conversation.messages.push(m);
      conversation.status = 'open';
      replace(statusHolder, badge('open'));
      formEl.reset();
      draw();
      toast('Message sent.');
      onChange?.();
    },
  });
  const toggle = (!conversation.order_id || staff) ? action(conversation.status === 'closed' ? 'Reopen' : 'Close conversation', async (btn) => {
    const next = conversation.status === 'closed' ? 'open' : 'closed';
    const updated = await api(`/conversations/${conversation.id}`, { method: 'PATCH', body: { status: next } });
    conversation.status = updated.status;
    replace(statusHolder, badge(updated.status));
    btn.textContent = updated.status === 'closed' ? 'Reopen' : 'Close conversation';
    toast(updated.status === 'closed' ? 'Conversation closed.' : 'Conversation reopened.');
    onChange?.();
  }) : null;
  const body = [
    h('div', { class: 'row' }, h('span', { class: 'muted' }, 'Status:'), statusHolder,
      conversation.order_id ? h('a', { href: `/orders/${conversation.order_id}` }, 'Open the order') : null, toggle),
    conversation.messages.length ? list : h('p', { class: 'empty' }, 'No messages yet.'),
    reply,
  ];
  if (asCard) return card(conversation.subject, ...body);
  return page(conversation.subject, ...body);
}

export const routes = [
  { path: '/orders', title: 'Orders', access: 'customer', nav: { label: 'Orders', order: 10 }, render: ordersList },
  // Operator staff open orders too (GET /orders/{id} answers them): the emails link here for both.
  { path: '/orders/:id', title: 'Order', access: 'signed-in', render: orderPage },
  { path: '/conversations/:id', title: 'Conversation', access: 'signed-in', render: conversationPage },
];
