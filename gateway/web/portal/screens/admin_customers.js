// Operator console, customers side: the customers and their portal settings, users and
// invitations, partner webhooks, the audit log, operator settings with the email outbox, and the
// customers' reschedule / call-off requests that the "request received" emails link to.
// Everything is the public /api/v1 (admin.py, notify.py, dispatch.py); what only an operator admin
// may change is hidden from dispatchers, and a 403 still says so clearly.
import { ApiError, del, get, patch, post } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { setQuery } from '../lib/router.js';
import { isOperatorAdmin } from '../lib/session.js';
import { action, badge, card, dialog, errorBox, facts, field, form as uiForm, loading, page, pager, table, toast } from '../lib/ui.js';

const PER_PAGE = 25;
const EMAILS_PER_PAGE = 10;   // below the settings, on a phone: keep it short
const LOCATION_SHARING = [['exact', 'Exact position'], ['approximate', 'Approximate (area only)'], ['none', 'None']];
const INVITE_ROLES = [['customer_booker', 'Customer user'], ['customer_admin', 'Customer admin']];
// What webhooks may subscribe to: asked of the API (GET /webhooks/event-types) on each screen that needs it.
let WEBHOOK_EVENTS = [];
// The actions the identity service records in its audit log (services/identity/*: audit.record).
const AUDIT_ACTIONS = [
  'api_key.created', 'api_key.revoked', 'auth.login', 'auth.login_failed', 'auth.logout', 'auth.password_reset',
  'auth.password_reset_requested', 'auth.sso_linked', 'auth.two_factor_disabled', 'auth.two_factor_enabled',
  'customer.claimed', 'customer.self_updated', 'customer.signed_up', 'driver.created', 'driver.credential_rotated',
  'driver.updated', 'invite.accepted', 'invite.resent', 'invite.revoked', 'invite.sent', 'settings.changed',
  'user.access_changed', 'user.created', 'user.password_changed', 'user.removed',
];

// --- small shared pieces --------------------------------------------------------------------------

/** A 403 says who may do it; anything else keeps the API's own sentence. */
function explain(error) {
  if (error instanceof ApiError && error.status === 403) return `${error.message} Only an operator admin can do this.`;
  return error.message || String(error);
}

/** ui.action, but a refused (403) action says that only an operator admin may do it. */
function act(label, run, opts) {
  return action(label, async (button) => {
    try {
      await run(button);
    } catch (error) {
      throw new Error(explain(error));
    }
  }, opts);
}

/** ui.form, whose refused (403) submits say that only an operator admin may do it. */
function form(opts) {
  return uiForm({ ...opts, onSubmit: async (...args) => {
    try {
      return await opts.onSubmit(...args);
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) throw new ApiError(403, { error: { code: error.code, message: explain(error) } });
      throw error;
    }
  } });
}

const yesNo = (value) => (value ? 'Yes' : 'No');
const short = (id) => (id ? String(id).slice(0, 8) : '—');
const adminOnlyNote = () => h('p', { class: 'muted admin-note' }, 'Only an operator admin can change these.');

/** Every customer (id -> customer) for names and filters; cached briefly across screens. */
let customerCache = { at: 0, map: null };
async function customerMap() {
  if (customerCache.map && Date.now() - customerCache.at < 60_000) return customerCache.map;
  const map = new Map();
  for (let pageNo = 1; pageNo <= 10; pageNo++) {
    const data = await get('/admin/customers', { per_page: 200, page: pageNo, sort: 'name' });
    data.items.forEach((c) => map.set(c.id, c));
    if (pageNo * 200 >= data.total) break;
  }
  customerCache = { at: Date.now(), map };
  return map;
}

function customerLink(map, id) {
  if (!id) return h('span', { class: 'muted' }, 'All customers');
  const c = map && map.get(id);
  return h('a', { href: `/admin/customers/${id}` }, c ? c.name : short(id));
}

function customerOptions(map, first) {
  const list = [...(map?.values() || [])].sort((a, b) => a.name.localeCompare(b.name));
  return [['', first], ...list.map((c) => [c.id, `${c.name} (${c.client_id})`])];
}

/** A <form role="search"> of filter fields that calls onApply(values) (no API errors to place). */
function filterForm({ fields, onApply, label, submit = 'Apply filters', onClear }) {
  const el = form({
    fields, submit, label, class: 'filters',
    onSubmit: async (vals) => onApply(vals),
    actions: onClear ? [h('button', { type: 'button', onclick: onClear }, 'Clear filters')] : [],
  });
  el.setAttribute('role', 'search');
  return el;
}

/** Fields sent as null when left empty on an edit, so a cleared field is cleared. */
function withNulls(vals, names) {
  const out = { ...vals };
  for (const name of names) if (!(name in out)) out[name] = null;
  return out;
}

// --- customer form (create and edit share it) -----------------------------------------------------

function depotOptions(depots) {
  return [['', 'No default depot'], ...(depots || []).map((d) => [d.id, d.name])];
}

function customerFields(c = {}, depots = []) {
  const a = c.billing_address || {};
  return [
    { name: 'name', label: 'Company name', required: true, value: c.name, autocomplete: 'organization' },
    h('div', { class: 'grid two' },
      field({ name: 'email', label: 'Contact email', type: 'email', value: c.email, autocomplete: 'email' }),
      field({ name: 'phone', label: 'Contact phone', type: 'tel', value: c.phone, autocomplete: 'tel', hint: 'Digits, spaces and + ( ) . / - only.' })),
    field({ name: 'postal_code', label: 'Postal code (used when the customer claims its account)', value: c.postal_code }),
    h('fieldset', {}, h('legend', {}, 'Billing address'),
      h('div', { class: 'grid two' },
        field({ name: 'billing_address.line1', label: 'Address line 1', value: a.line1 }),
        field({ name: 'billing_address.line2', label: 'Address line 2', value: a.line2 }),
        field({ name: 'billing_address.unit', label: 'Unit', value: a.unit }),
        field({ name: 'billing_address.city', label: 'City', value: a.city }),
        field({ name: 'billing_address.state', label: 'State or region', value: a.state }),
        field({ name: 'billing_address.postal_code', label: 'Billing postal code', value: a.postal_code }),
        field({ name: 'billing_address.country', label: 'Country (2 letters, e.g. NL)', value: a.country, attrs: { maxlength: 2 } }))),
    h('fieldset', {}, h('legend', {}, 'Portal settings'),
      field({ name: 'has_portal_access', label: 'Portal access', type: 'checkbox', value: c.has_portal_access ?? true, hint: 'Its users can sign in to the portal.' }),
      field({ name: 'is_active', label: 'Active', type: 'checkbox', value: c.is_active ?? true, hint: 'An inactive customer is kept but cannot be served.' }),
      field({ name: 'require_dimensions', label: 'Require dimensions', type: 'checkbox', value: c.require_dimensions ?? false, hint: 'Orders must give each item\'s dimensions.' }),
      field({ name: 'allow_order_upload', label: 'Order upload allowed', type: 'checkbox', value: c.allow_order_upload ?? true, hint: 'The customer may import orders from a spreadsheet.' }),
      field({ name: 'location_sharing', label: 'Location sharing', type: 'select', options: LOCATION_SHARING, value: c.location_sharing || 'approximate', hint: 'How precisely the customer sees the driver on the map.' }),
      field({ name: 'default_depot_id', label: 'Default depot', type: 'select', options: depotOptions(depots), value: c.default_depot_id || '', hint: 'Imported orders land on this depot.' })),
  ];
}

/** The form's values as the API takes them: an all-empty address is no address. */
function customerBody(vals, { edit }) {
  const body = { ...vals };
  if (body.billing_address && Object.keys(body.billing_address).length === 0) delete body.billing_address;
  if (body.billing_address?.country) body.billing_address.country = body.billing_address.country.toUpperCase();
  return edit ? withNulls(body, ['email', 'phone', 'postal_code', 'billing_address', 'default_depot_id']) : body;
}

async function depotsOrNothing() {
  try {
    return await get('/admin/depots');
  } catch {
    return [];   // the select then offers no depot; saving still works
  }
}

// --- 1. customers list ----------------------------------------------------------------------------

async function customersScreen({ query, app }) {
  const state = { q: query.q || '', page: Number(query.page) || 1, sort: query.sort || '-created_at' };
  const results = h('div', { class: 'results' });
  const newHolder = h('div', { hidden: true });

  async function load() {
    setQuery({ q: state.q, page: state.page > 1 ? state.page : '', sort: state.sort !== '-created_at' ? state.sort : '' });
    replace(results, loading());
    try {
      const data = await get('/admin/customers', { q: state.q, page: state.page, per_page: PER_PAGE, sort: state.sort });
      replace(results,
        table({
          caption: state.q ? `Customers matching “${state.q}”` : 'All customers',
          columns: [
            { key: 'name', label: 'Name', sort: 'name', render: (c) => h('a', { href: `/admin/customers/${c.id}` }, c.name) },
            { key: 'client_id', label: 'Client ID', sort: 'client_id' },
            { key: 'email', label: 'Contact', render: (c) => [c.email || '—', c.phone ? h('div', { class: 'muted' }, c.phone) : null] },
            { key: 'access', label: 'Portal access', render: (c) => (c.has_portal_access ? 'On' : 'Off') },
            { key: 'active', label: 'Status', render: (c) => badge(c.is_active ? 'active' : 'inactive') },
            { key: 'created_at', label: 'Created', sort: 'created_at', render: (c) => fmt.date(c.created_at) },
          ],
          rows: data.items,
          sorted: state.sort,
          onSort: (sort) => { state.sort = sort; state.page = 1; load(); },
          empty: state.q ? 'No customer matches this search; try part of the name or the client ID.'
            : 'No customers yet. Create the first one with “New customer”.',
        }),
        pager({ page: state.page, perPage: PER_PAGE, total: data.total, onPage: (p) => { state.page = p; load(); } }));
    } catch (error) {
      replace(results, errorBox(error));
    }
  }

  const search = filterForm({
    label: 'Search customers', submit: 'Search',
    fields: [{ name: 'q', label: 'Search by name or client ID', type: 'search', value: state.q }],
    onApply: (vals) => { state.q = vals.q || ''; state.page = 1; return load(); },
  });

  let newButton = null;
  if (isOperatorAdmin()) {
    const idempotencyKey = crypto.randomUUID();   // a double submit creates one customer
    const depots = await depotsOrNothing();
    newHolder.append(card('New customer', form({
      label: 'New customer', submit: 'Create customer', fields: customerFields({}, depots),
      actions: [h('button', { type: 'button', onclick: () => { newHolder.hidden = true; newButton.setAttribute('aria-expanded', 'false'); } }, 'Cancel')],
      onSubmit: async (vals) => {
        const created = await post('/admin/customers', customerBody(vals, { edit: false }), { headers: { 'Idempotency-Key': idempotencyKey } });
        customerCache.map = null;
        toast(`Customer ${created.name} created (client ID ${created.client_id}).`);
        app.navigate(`/admin/customers/${created.id}`);
      },
    })));
    newButton = h('button', { type: 'button', class: 'primary', 'aria-expanded': 'false', onclick: () => {
      newHolder.hidden = !newHolder.hidden;
      newButton.setAttribute('aria-expanded', String(!newHolder.hidden));
      if (!newHolder.hidden) newHolder.querySelector('input')?.focus();
    } }, 'New customer');
  }

  load();
  return page('Customers',
    h('div', { class: 'row admin-toolbar' }, newButton),
    newHolder,
    card(null, search, results));
}

// --- 2. one customer ------------------------------------------------------------------------------

async function customerScreen({ params, app }) {
  const id = params.id;
  const [customer, depots, following] = await Promise.all([
    get(`/admin/customers/${id}`), depotsOrNothing(), get('/admin/following').catch(() => null),
  ]);
  const admin = isOperatorAdmin();
  const depotName = (depotId) => (depots.find((d) => d.id === depotId)?.name) || (depotId ? short(depotId) : 'None');

  const links = h('nav', { class: 'row admin-links', 'aria-label': 'About this customer' },
    h('a', { href: `/admin/invoices?customer_id=${id}` }, 'Its invoices'),
    h('a', { href: `/admin/rentals?customer_id=${id}` }, 'Its rentals'),
    h('a', { href: `/admin/requests?customer_id=${id}` }, 'Its requests'),
    h('a', { href: `/admin/webhooks?customer_id=${id}` }, 'Its webhooks'),
    h('a', { href: `/admin/audit?customer_id=${id}` }, 'Its audit log'),
    h('a', { href: `/admin/settings?customer_id=${id}#emails` }, 'Emails sent to it'));

  const summary = h('div', { class: 'row' },
    h('span', {}, 'Client ID ', h('strong', {}, customer.client_id)),
    badge(customer.is_active ? 'active' : 'inactive'),
    h('span', {}, `Portal access: ${customer.has_portal_access ? 'on' : 'off'}`));

  let settings;
  if (admin) {
    settings = card('Details and portal settings', form({
      label: 'Details and portal settings', submit: 'Save', fields: customerFields(customer, depots),
      onSubmit: async (vals) => {
        const saved = await patch(`/admin/customers/${id}`, customerBody(vals, { edit: true }));
        customerCache.map = null;
        toast(`Saved ${saved.name}.`);
        app.refresh();
      },
    }));
  } else {
    const a = customer.billing_address;
    settings = card('Details and portal settings', adminOnlyNote(), facts([
      ['Company name', customer.name], ['Contact email', customer.email], ['Contact phone', customer.phone],
      ['Postal code', customer.postal_code],
      ['Billing address', a ? [a.line1, a.line2, a.unit, a.postal_code, a.city, a.state, a.country].filter(Boolean).join(', ') : null],
      ['Portal access', yesNo(customer.has_portal_access)], ['Active', yesNo(customer.is_active)],
      ['Require dimensions', yesNo(customer.require_dimensions)], ['Order upload allowed', yesNo(customer.allow_order_upload)],
      ['Location sharing', fmt.label(customer.location_sharing)], ['Default depot', depotName(customer.default_depot_id)],
    ]));
  }

  const usersBox = h('div', {}, loading());
  const invitesBox = h('div', {}, loading());
  const refreshPeople = () => Promise.all([loadUsers(), loadInvites()]);

  // The user answer (UserOut) does not say whether portal access is on; the latest
  // user.access_changed / user.removed entry of the audit log does, so that is what is shown.
  async function accessStates() {
    const states = new Map();
    const [changed, removed] = await Promise.all([
      get('/admin/audit-log', { customer_id: id, action: 'user.access_changed', per_page: 200 }),
      get('/admin/audit-log', { customer_id: id, action: 'user.removed', per_page: 200 }),
    ]);
    const entries = [...changed.items, ...removed.items.map((e) => ({ ...e, details: { has_portal_access: false, is_active: false } }))]
      .sort((x, y) => (x.at < y.at ? 1 : -1));
    for (const e of entries) {
      const s = states.get(e.target_id) || {};
      for (const key of ['has_portal_access', 'is_active']) if (key in e.details && !(key in s)) s[key] = e.details[key];
      states.set(e.target_id, s);
    }
    return states;
  }

  async function loadUsers() {
    try {
      const [users, states] = await Promise.all([get(`/admin/customers/${id}/users`), accessStates().catch(() => new Map())]);
      const access = (u) => states.get(u.id)?.has_portal_access !== false;
      const columns = [
        { key: 'name', label: 'Name' },
        { key: 'email', label: 'Email' },
        { key: 'role', label: 'Role', render: (u) => fmt.label(u.role) },
        { key: 'last_login_at', label: 'Last sign-in', render: (u) => (u.last_login_at ? fmt.dateTime(u.last_login_at) : 'Never') },
        { key: 'access', label: 'Portal access', render: (u) => (access(u) ? 'On' : 'Off') },
      ];
      if (admin) {
        columns.push({ key: 'actions', label: 'Actions', render: (u) => {
          const on = access(u);
          return act(on ? 'Switch portal access off' : 'Switch portal access on', async () => {
            await patch(`/admin/users/${u.id}`, { has_portal_access: !on });
            toast(`Portal access for ${u.email} is now ${on ? 'off' : 'on'}.`);
            await loadUsers();
          }, { confirmText: on ? `${u.email} will be signed out and cannot sign in until access is switched on again.` : null });
        } });
      }
      replace(usersBox, table({ caption: 'Portal users', columns, rows: users, empty: 'No portal users yet: invite people below.' }));
    } catch (error) {
      replace(usersBox, errorBox(error));
    }
  }

  async function loadInvites() {
    try {
      const invites = await get(`/admin/customers/${id}/invites`);
      replace(invitesBox, table({
        caption: 'Invitations',
        columns: [
          { key: 'email', label: 'Email' },
          { key: 'role', label: 'Role', render: (i) => fmt.label(i.role) },
          { key: 'status', label: 'Status', render: (i) => badge(i.status) },
          { key: 'created_at', label: 'Invited', render: (i) => fmt.dateTime(i.created_at) },
          { key: 'expires_at', label: 'Link valid until', render: (i) => (i.status === 'pending' ? fmt.dateTime(i.expires_at) : '—') },
          { key: 'sent_count', label: 'Times sent' },
          { key: 'actions', label: 'Actions', render: (i) => (['pending', 'expired'].includes(i.status) ? h('div', { class: 'row' },
            act('Resend', async () => {
              await post(`/admin/invites/${i.id}/resend`);
              toast(`Invitation sent again to ${i.email}; the old link no longer works.`);
              await loadInvites();
            }),
            act('Revoke', async () => {
              await del(`/admin/invites/${i.id}`);
              toast(`Invitation to ${i.email} revoked.`);
              await loadInvites();
            }, { class: 'danger', confirmText: `The link sent to ${i.email} will stop working.` })) : '—') },
        ],
        rows: invites,
        empty: 'No invitations sent yet.',
      }));
    } catch (error) {
      replace(invitesBox, errorBox(error));
    }
  }

  const inviteForm = form({
    label: 'Invite people', submit: 'Send invites',
    fields: [
      { name: 'emails', label: 'Email addresses', type: 'textarea', required: true, rows: 4, hint: 'One per line or separated by commas; at most 20 users per customer, invitations included.' },
      { name: 'role', label: 'Role', type: 'select', options: INVITE_ROLES, value: 'customer_booker' },
    ],
    onSubmit: async (vals, formEl) => {
      const emails = [...new Set((vals.emails || '').split(/[\s,;]+/).map((e) => e.trim()).filter(Boolean))];
      if (!emails.length) throw fieldError('emails', 'Enter at least one email address.');
      let sent;
      try {
        sent = await post(`/admin/customers/${id}/invites`, { emails, role: vals.role || 'customer_booker' });
      } catch (error) {
        throw inviteError(error, emails);
      }
      formEl.reset();
      toast(`Invitation${sent.length === 1 ? '' : 's'} sent to ${sent.map((i) => i.email).join(', ')}.`);
      await refreshPeople();
    },
  });

  const directForm = admin ? h('details', { class: 'admin-more' },
    h('summary', {}, 'Open a user account directly'),
    h('p', { class: 'muted' }, 'Instead of an invitation: the person gets an email with a temporary password to change at first sign-in.'),
    form({
      label: 'Open a user account', submit: 'Create user',
      fields: [
        { name: 'name', label: 'Name', required: true, autocomplete: 'off' },
        { name: 'email', label: 'Email', type: 'email', required: true, autocomplete: 'off' },
        { name: 'role', label: 'User role', type: 'select', options: INVITE_ROLES, value: 'customer_booker' },
      ],
      onSubmit: async (vals, formEl) => {
        const user = await post(`/admin/customers/${id}/users`, vals);
        formEl.reset();
        toast(`User ${user.email} created; the activation email is on its way.`);
        await loadUsers();
      },
    })) : null;

  loadUsers();
  loadInvites();
  return page(customer.name,
    summary,
    links,
    followCard(id, following),
    await recentOrders(id),
    settings,
    card('Users', usersBox),
    card('Invite people', inviteForm, invitesBox, directForm));
}

/** The customer's latest orders (the staff order page is /orders/:id). */
async function recentOrders(customerId) {
  try {
    const data = await get('/admin/orders', { customer_id: customerId, per_page: 10, sort: '-created_at' });
    return card('Recent orders',
      table({
        caption: data.total > data.items.length ? `The latest ${data.items.length} of ${data.total} orders` : 'Orders',
        columns: [
          { key: 'reference', label: 'Reference', render: (o) => h('a', { href: `/orders/${o.id}` }, o.reference) },
          { key: 'status', label: 'Status', render: (o) => badge(o.status) },
          { key: 'recipient', label: 'Delivery to', render: (o) => [o.recipient, o.city].filter(Boolean).join(', ') || '—' },
          { key: 'created_at', label: 'Created', render: (o) => fmt.dateTime(o.created_at) },
        ],
        rows: data.items,
        empty: 'No orders yet.',
      }));
  } catch (error) {
    return card('Recent orders', errorBox(error));
  }
}

function fieldError(name, message) {
  return new ApiError(422, { error: { code: 'validation_failed', message: 'Check the highlighted field.', details: { fields: { [name]: [message] } } } });
}

/** The API names a bad address by its index ("emails.2"); say which address, next to the field. */
function inviteError(error, emails) {
  if (!(error instanceof ApiError)) return error;
  const messages = [];
  for (const [name, message] of Object.entries(error.fields)) {
    const m = /^emails\.(\d+)$/.exec(name);
    if (m) messages.push(`${emails[Number(m[1])] ?? `Address ${Number(m[1]) + 1}`}: ${message}`);
    else if (name === 'emails') messages.push(message);
  }
  if (Array.isArray(error.details.emails)) messages.push(`Already portal users: ${error.details.emails.join(', ')}.`);
  if (!messages.length) return error;
  const out = new ApiError(error.status, { error: { code: error.code, message: error.message, details: { fields: { emails: messages } } } });
  return out;
}

/** Follow / unfollow: the customer's questions, quote requests and messages reach you. */
function followCard(id, following) {
  const box = h('div', {});
  function render(state) {
    if (!state) return replace(box, h('p', { class: 'muted' }, 'Your following could not be loaded.'));
    const follows = state.customer_ids.includes(id);
    replace(box,
      h('p', {}, follows ? 'You follow this customer: its questions, quote requests, requests and messages reach you.'
        : 'You do not follow this customer.'),
      state.all_customers ? h('p', { class: 'muted' }, 'You also follow every customer, so you hear about this one either way. ',
        act('Stop following every customer', async () => render(await del('/admin/following/*')), { class: 'link' })) : null,
      h('div', { class: 'actions' }, follows
        ? act('Unfollow this customer', async () => { render(await del(`/admin/following/${id}`)); toast('You no longer follow this customer.'); })
        : act('Follow this customer', async () => { render(await post('/admin/following', { customer_id: id })); toast('You now follow this customer.'); })));
  }
  render(following);
  return card('Notifications', box);
}

// --- 3. webhooks ----------------------------------------------------------------------------------

function webhookStatus(w) {
  return w.enabled ? badge('enabled') : h('span', {}, badge('disabled'), w.disabled_reason ? h('span', { class: 'muted' }, ` ${w.disabled_reason}`) : null);
}

function eventsText(events) {
  if (events.includes('*')) return 'All events';
  return events.length > 3 ? `${events.slice(0, 3).join(', ')} and ${events.length - 3} more` : events.join(', ');
}

/** The events as checkboxes; "events" is a hidden field so that API errors land next to them.
 * Checked states are attributes (defaults), so a form reset brings them back. */
function eventsFieldset(chosen = ['*']) {
  const all = chosen.includes('*');
  const seq = ++eventsSeq;
  const boxes = WEBHOOK_EVENTS.map((type) => {
    const id = `ev${seq}-${type.replace(/[^a-z]/g, '-')}`;
    return h('div', { class: 'field checkbox' },
      h('input', { type: 'checkbox', id, checked: all || chosen.includes(type) ? '' : null, disabled: all ? '' : null, dataset: { event: type } }),
      h('label', { for: id }, type));
  });
  const allId = `ev${seq}-all`;
  const allInput = h('input', { type: 'checkbox', id: allId, checked: all ? '' : null, dataset: { all: '1' } });
  const sync = () => boxes.forEach((b) => { b.querySelector('input').disabled = allInput.checked; });
  allInput.addEventListener('change', sync);
  const set = h('fieldset', { class: 'field webhook-events' },
    h('legend', {}, 'Events'),
    h('input', { type: 'hidden', name: 'events', value: '' }),
    h('p', { class: 'error', 'aria-live': 'polite' }),
    h('div', { class: 'field checkbox' }, allInput, h('label', { for: allId }, 'All events, including ones added later')),
    h('div', { class: 'event-grid' }, boxes));
  // After a reset the checkboxes are back to their defaults: match the disabled ones to them.
  set.addEventListener('portal:reset', () => setTimeout(sync));
  return set;
}
let eventsSeq = 0;

function chosenEvents(formEl) {
  if (formEl.querySelector('[data-all]')?.checked) return ['*'];
  return [...formEl.querySelectorAll('[data-event]')].filter((b) => b.checked).map((b) => b.dataset.event);
}

async function webhooksScreen({ query }) {
  WEBHOOK_EVENTS = (await get('/webhooks/event-types')).event_types;
  const state = { customer_id: query.customer_id || '', page: Number(query.page) || 1 };
  const admin = isOperatorAdmin();
  const map = await customerMap().catch(() => new Map());
  const results = h('div', {});
  const secretBox = h('div', { 'aria-live': 'polite' });

  async function load() {
    setQuery({ customer_id: state.customer_id, page: state.page > 1 ? state.page : '' });
    replace(results, loading());
    try {
      const data = await get('/admin/webhooks', { customer_id: state.customer_id, page: state.page, per_page: PER_PAGE });
      replace(results, table({
        caption: 'Webhooks',
        columns: [
          { key: 'url', label: 'URL', render: (w) => [h('a', { href: `/admin/webhooks/${w.id}` }, w.url), w.description ? h('div', { class: 'muted' }, w.description) : null] },
          { key: 'customer', label: 'For', render: (w) => customerLink(map, w.customer_id) },
          { key: 'events', label: 'Events', render: (w) => eventsText(w.events) },
          { key: 'status', label: 'Status', render: webhookStatus },
          { key: 'created_at', label: 'Created', render: (w) => fmt.date(w.created_at) },
          { key: 'open', label: 'Delivery log', render: (w) => h('a', { href: `/admin/webhooks/${w.id}` }, 'Deliveries and actions') },
        ],
        rows: data.items,
        empty: admin ? 'No webhooks yet. Add one with the form below to send events to a partner system.' : 'No webhooks yet; an operator admin can add them.',
      }), pager({ page: state.page, perPage: PER_PAGE, total: data.total, onPage: (p) => { state.page = p; load(); } }));
    } catch (error) {
      replace(results, errorBox(error));
    }
  }

  const filters = filterForm({
    label: 'Filter webhooks', fields: [{ name: 'customer_id', label: 'Customer', type: 'select', options: customerOptions(map, 'Every customer and the operator'), value: state.customer_id }],
    onApply: (vals) => { state.customer_id = vals.customer_id || ''; state.page = 1; return load(); },
  });

  let createCard = null;
  if (admin) {
    createCard = card('New webhook', h('p', { class: 'muted' }, 'The URL must be https and reach a public address. Deliveries are signed (Standard Webhooks) with a secret shown once.'),
      form({
        label: 'New webhook', submit: 'Create webhook', class: 'wide',
        fields: [
          { name: 'url', label: 'URL', type: 'url', required: true, placeholder: 'https://partner.example/hooks/portal' },
          { name: 'description', label: 'Description' },
          { name: 'customer_id', label: 'Events of', type: 'select', options: customerOptions(map, 'Every customer (operator webhook)'), value: state.customer_id },
          eventsFieldset(),
        ],
        onSubmit: async (vals, formEl) => {
          const events = chosenEvents(formEl);
          if (!events.length) throw fieldError('events', 'Choose at least one event, or all events.');
          const created = await post('/admin/webhooks', { url: vals.url, description: vals.description || null, customer_id: vals.customer_id || null, events });
          formEl.reset();
          formEl.querySelector('.webhook-events').dispatchEvent(new Event('portal:reset'));
          showSecret(secretBox, created);
          load();
        },
      }));
  }

  load();
  return page('Webhooks', secretBox, card(null, filters, results), createCard);
}

function showSecret(box, created) {
  const code = h('code', { class: 'secret' }, created.secret);
  replace(box, card('Signing secret',
    h('p', {}, 'Webhook ', h('strong', {}, created.url), ' was created. Copy its signing secret now: it is shown this once.'),
    h('p', {}, code),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: async () => {
        try {
          await navigator.clipboard.writeText(created.secret);
          toast('Secret copied.');
        } catch {
          toast('Copying is not allowed here; select the secret and copy it by hand.', 'error');
        }
      } }, 'Copy secret'),
      h('button', { type: 'button', onclick: () => replace(box) }, 'I have stored it'))));
  box.querySelector('h2').setAttribute('tabindex', '-1');
  box.querySelector('h2').focus();
}

async function webhookScreen({ params, query, app }) {
  WEBHOOK_EVENTS = (await get('/webhooks/event-types')).event_types;
  const id = params.id;
  const admin = isOperatorAdmin();
  const [hook, map] = await Promise.all([get(`/webhooks/${id}`), customerMap().catch(() => new Map())]);
  const state = { status: query.status || '', page: Number(query.page) || 1 };
  const log = h('div', {});

  async function load() {
    setQuery({ status: state.status, page: state.page > 1 ? state.page : '' });
    replace(log, loading());
    try {
      const data = await get(`/webhooks/${id}/deliveries`, { status: state.status, page: state.page, per_page: PER_PAGE });
      const columns = [
        { key: 'event_type', label: 'Event' },
        { key: 'status', label: 'Status', render: (d) => badge(d.status) },
        { key: 'attempts', label: 'Attempts' },
        { key: 'last', label: 'Last answer', render: (d) => attemptsDetail(d) },
        { key: 'created_at', label: 'Created', render: (d) => fmt.dateTime(d.created_at) },
        { key: 'when', label: 'Delivered / next try', render: (d) => (d.delivered_at ? fmt.dateTime(d.delivered_at) : d.next_attempt_at ? `Next ${fmt.relative(d.next_attempt_at)}` : '—') },
      ];
      if (admin) columns.push({ key: 'replay', label: 'Replay', render: (d) => act('Replay', async () => {
        await post(`/webhooks/${id}/deliveries/${d.id}/replay`);
        toast('Delivery queued again.');
        await load();
      }) });
      replace(log, table({ caption: 'Delivery log', columns, rows: data.items, empty: state.status ? 'No deliveries with this status.' : 'Nothing delivered yet. “Send test event” sends one now.' }),
        pager({ page: state.page, perPage: PER_PAGE, total: data.total, onPage: (p) => { state.page = p; load(); } }));
    } catch (error) {
      replace(log, errorBox(error));
    }
  }

  const filters = filterForm({
    label: 'Filter deliveries', fields: [{ name: 'status', label: 'Status', type: 'select', value: state.status,
      options: [['', 'Any status'], ['pending', 'Pending'], ['succeeded', 'Succeeded'], ['failed', 'Failed'], ['cancelled', 'Cancelled']] }],
    onApply: (vals) => { state.status = vals.status || ''; state.page = 1; return load(); },
  });

  const actions = admin ? h('div', { class: 'actions' },
    act('Send test event', async () => {
      await post(`/webhooks/${id}/test`);
      toast('Test event queued; it appears in the delivery log.');
      await load();
    }),
    act(hook.enabled ? 'Disable' : 'Enable', async () => {
      await patch(`/webhooks/${id}`, { enabled: !hook.enabled });
      toast(hook.enabled ? 'Webhook disabled.' : 'Webhook enabled.');
      app.refresh();
    }),
    act('Edit', async () => {
      const vals = await dialog({ title: 'Edit webhook', submit: 'Save', fields: [
        { name: 'url', label: 'URL', type: 'url', required: true, value: hook.url },
        { name: 'description', label: 'Description', value: hook.description },
      ] });
      if (!vals) return;
      await patch(`/webhooks/${id}`, { url: vals.url, description: vals.description || null });
      toast('Webhook saved.');
      app.refresh();
    }),
    act('Delete', async () => {
      await del(`/webhooks/${id}`);
      toast('Webhook deleted.');
      app.navigate('/admin/webhooks');
    }, { class: 'danger', confirmText: 'Deliveries still pending are cancelled; the partner gets nothing more.' }))
    : h('p', { class: 'muted admin-note' }, 'Only an operator admin can test, switch, edit or delete webhooks.');

  const eventsEditor = admin ? h('details', { class: 'admin-more' }, h('summary', {}, 'Change the events'),
    form({
      label: 'Events of this webhook', submit: 'Save events', class: 'wide', fields: [eventsFieldset(hook.events)],
      onSubmit: async (_vals, formEl) => {
        const events = chosenEvents(formEl);
        if (!events.length) throw fieldError('events', 'Choose at least one event, or all events.');
        await patch(`/webhooks/${id}`, { events });
        toast('Events saved.');
        app.refresh();
      },
    })) : null;

  load();
  return page('Webhook',
    h('p', {}, h('a', { href: '/admin/webhooks' }, 'All webhooks')),
    card('Details', facts([
      ['URL', hook.url], ['Description', hook.description], ['For', customerLink(map, hook.customer_id)],
      ['Events', hook.events.includes('*') ? 'All events' : hook.events.join(', ')],
      ['Status', webhookStatus(hook)], ['Disabled', hook.disabled_at ? fmt.dateTime(hook.disabled_at) : null],
      ['Created', fmt.dateTime(hook.created_at)],
    ]), actions, eventsEditor),
    card('Deliveries', filters, log));
}

function attemptsDetail(d) {
  const full = d.last_status_code ? `HTTP ${d.last_status_code}` : d.last_error || '—';
  const last = full.length > 60 ? `${full.slice(0, 57)}…` : full;
  if (!d.attempt_log?.length) return last;
  return h('details', {}, h('summary', {}, last),
    h('ol', { class: 'attempts' }, d.attempt_log.map((a) => h('li', {},
      `${fmt.dateTime(a.attempted_at)}: ${a.status_code ? `HTTP ${a.status_code}` : a.error || 'no answer'} (${Math.round(a.duration_ms)} ms)`,
      a.response_body ? h('pre', {}, a.response_body) : null))));
}

// --- 4. audit log ---------------------------------------------------------------------------------

/** A day picked in a date field, as the moment it starts here (the API wants a zone). */
function dayStart(day, plusDays = 0) {
  if (!day) return undefined;
  const d = new Date(`${day}T00:00`);
  d.setDate(d.getDate() + plusDays);
  return d.toISOString();
}

function detailsText(details) {
  const entries = Object.entries(details || {});
  if (!entries.length) return '—';
  return entries.map(([k, v]) => `${fmt.label(k)}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join('; ');
}

async function auditScreen({ query }) {
  const state = { customer_id: query.customer_id || '', actor_id: query.actor_id || '', action: query.action || '', since: query.since || '', until: query.until || '', page: Number(query.page) || 1 };
  const [map, staff] = await Promise.all([customerMap().catch(() => new Map()), get('/admin/staff').catch(() => [])]);
  const people = new Map(staff.map((u) => [u.id, u]));
  const results = h('div', {});

  async function load() {
    setQuery({ ...state, page: state.page > 1 ? state.page : '' });
    replace(results, loading());
    try {
      if (state.customer_id) {
        // Name the customer's own users too (sign-ins, invitations accepted ...).
        const users = await get(`/admin/customers/${state.customer_id}/users`).catch(() => []);
        users.forEach((u) => people.set(u.id, u));
      }
      const data = await get('/admin/audit-log', {
        customer_id: state.customer_id, actor_id: state.actor_id, action: state.action, since: dayStart(state.since), until: dayStart(state.until, 1),
        page: state.page, per_page: 50,
      });
      const who = (id, role) => {
        if (!id) return h('span', { class: 'muted' }, role ? fmt.label(role) : 'System or signed-out visitor');
        const p = people.get(id);
        if (!p) return `${fmt.label(role)} ${short(id)}`;
        const what = fmt.label(role || p.role);
        return [p.name || p.email, what !== p.name ? h('div', { class: 'muted' }, what) : null];
      };
      replace(results, table({
        caption: 'Audit log, newest first',
        columns: [
          { key: 'at', label: 'When', render: (e) => fmt.dateTime(e.at) },
          { key: 'action', label: 'Action', render: (e) => e.action },
          { key: 'actor', label: 'By', render: (e) => who(e.actor_id, e.actor_role) },
          { key: 'customer', label: 'Customer', render: (e) => (e.customer_id ? customerLink(map, e.customer_id) : '—') },
          { key: 'target', label: 'About', render: (e) => (e.target_id ? (people.get(e.target_id)?.email || e.details?.email || short(e.target_id)) : '—') },
          { key: 'details', label: 'Details', render: (e) => detailsText(e.details) },
          { key: 'address', label: 'From address', render: (e) => e.address || '—' },
        ],
        rows: data.items,
        empty: 'Nothing recorded for these filters; widen the dates or clear the filters.',
      }), pager({ page: state.page, perPage: 50, total: data.total, onPage: (p) => { state.page = p; load(); } }));
    } catch (error) {
      replace(results, errorBox(error));
    }
  }

  const actions = [['', 'Any action'], ...AUDIT_ACTIONS.map((a) => [a, a])];
  if (state.action && !AUDIT_ACTIONS.includes(state.action)) actions.push([state.action, state.action]);
  const filters = filterForm({
    label: 'Filter the audit log',
    fields: [h('div', { class: 'grid filters-grid' },
      field({ name: 'customer_id', label: 'Customer', type: 'select', options: customerOptions(map, 'Any customer'), value: state.customer_id }),
      field({ name: 'action', label: 'Action', type: 'select', options: actions, value: state.action }),
      field({ name: 'actor_id', label: 'Done by (staff)', type: 'select', value: state.actor_id,
        options: [['', 'Anyone'], ...staff.map((u) => [u.id, `${u.name} (${fmt.label(u.role)})`])] }),
      field({ name: 'since', label: 'From (date)', type: 'date', value: state.since }),
      field({ name: 'until', label: 'Until (date, included)', type: 'date', value: state.until }))],
    onApply: (vals) => { Object.assign(state, { customer_id: vals.customer_id || '', actor_id: vals.actor_id || '', action: vals.action || '', since: vals.since || '', until: vals.until || '', page: 1 }); return load(); },
    onClear: () => {
      Object.assign(state, { customer_id: '', actor_id: '', action: '', since: '', until: '', page: 1 });
      [...filters.elements].forEach((el) => { if (el.name) el.value = ''; });
      load();
    },
  });
  filters.classList.add('wide');

  load();
  return page('Audit log', card(null, filters, results));
}

// --- 5. operator settings and emails --------------------------------------------------------------

async function settingsScreen({ query }) {
  const admin = isOperatorAdmin();
  const [current, map] = await Promise.all([get('/admin/settings'), customerMap().catch(() => new Map())]);
  const labels = {
    self_signup: ['Self-service sign-up allowed', 'Companies may create their own customer account from the sign-in page.'],
    require_2fa_for_staff: ['Two-factor sign-in required for staff', 'Operator staff must turn on two-factor sign-in before doing anything else.'],
  };
  const settingsCard = admin
    ? card('Operator settings', form({
      label: 'Operator settings', submit: 'Save settings',
      fields: Object.entries(labels).map(([name, [label, hint]]) => ({ name, label, hint, type: 'checkbox', value: current[name] })),
      onSubmit: async (vals) => {
        await patch('/admin/settings', vals);
        toast('Settings saved.');
      },
    }))
    : card('Operator settings', adminOnlyNote(), facts(Object.entries(labels).map(([name, [label]]) => [label, yesNo(current[name])])));

  const state = { customer_id: query.customer_id || '', status: query.status || '', to: query.to || '', page: Number(query.page) || 1 };
  const results = h('div', {});
  async function load() {
    setQuery({ ...state, page: state.page > 1 ? state.page : '' });
    replace(results, loading());
    try {
      const data = await get('/admin/emails', { customer_id: state.customer_id, status: state.status, to: state.to, page: state.page, per_page: EMAILS_PER_PAGE });
      replace(results, table({
        caption: 'Emails, newest first',
        columns: [
          { key: 'created_at', label: 'Created', render: (m) => fmt.dateTime(m.created_at) },
          { key: 'to_address', label: 'To' },
          { key: 'subject', label: 'Subject', render: (m) => [m.subject, h('div', { class: 'muted' }, fmt.label(m.kind))] },
          { key: 'customer', label: 'Customer', render: (m) => (m.customer_id ? customerLink(map, m.customer_id) : '—') },
          { key: 'status', label: 'Status', render: (m) => badge(m.status) },
          { key: 'attempts', label: 'Attempts' },
          { key: 'last', label: 'Last answer', render: (m) => m.last_error || (m.last_code ? `Code ${m.last_code}` : m.sent_at ? `Sent ${fmt.dateTime(m.sent_at)}` : '—') },
        ],
        rows: data.items,
        empty: 'No emails for these filters.',
      }), pager({ page: state.page, perPage: EMAILS_PER_PAGE, total: data.total, onPage: (p) => { state.page = p; load(); } }));
    } catch (error) {
      replace(results, errorBox(error));
    }
  }
  const filters = filterForm({
    label: 'Filter emails',
    fields: [h('div', { class: 'grid filters-grid' },
      field({ name: 'to', label: 'To (address)', type: 'search', value: state.to }),
      field({ name: 'status', label: 'Status', type: 'select', value: state.status, options: [['', 'Any status'], ['queued', 'Queued'], ['sent', 'Sent'], ['bounced', 'Bounced'], ['failed', 'Failed']] }),
      field({ name: 'customer_id', label: 'Customer', type: 'select', options: customerOptions(map, 'Any customer'), value: state.customer_id }))],
    onApply: (vals) => { Object.assign(state, { to: vals.to || '', status: vals.status || '', customer_id: vals.customer_id || '', page: 1 }); return load(); },
  });
  filters.classList.add('wide');
  load();
  const emails = card('Emails', h('p', { class: 'muted' }, 'Every email the platform sent or is trying to send (bodies are not kept here).'), filters, results);
  emails.id = 'emails';
  return page('Settings', settingsCard, emails);
}

// --- 6. customers' requests (delivery change or call-off) --------------------------------------------

// A delivery-change request asks a new time window (the reschedules of before), leave-at
// instructions or a changed address (services.orders.exceptions).
const CHANGE_LABEL = { window: 'New time window', instructions: 'Leave-at instructions', address: 'Changed address' };
function changeText(r) {
  if (r.kind === 'instructions') return r.instructions;
  if (r.kind === 'address') return [r.address?.line1, r.address?.line2, r.address?.postal_code, r.address?.city, r.address?.country].filter(Boolean).join(', ');
  return `${fmt.dateTime(r.window_start)} – ${fmt.time(r.window_end)}`;
}

async function requestsScreen({ query }) {
  const state = { customer_id: query.customer_id || '', status: query.status || 'requested' };
  const map = await customerMap().catch(() => new Map());
  const results = h('div', {});
  async function load() {
    setQuery({ customer_id: state.customer_id, status: state.status !== 'requested' ? state.status : '' });
    replace(results, loading());
    const args = { customer_id: state.customer_id, status: state.status === 'all' ? undefined : state.status, per_page: 100 };
    const callOffStatus = { accepted: 'confirmed' }[state.status] || args.status;
    const [moves, callOffs] = await Promise.allSettled([
      get('/admin/reschedule-requests', args), get('/admin/rentals/call-offs', { ...args, status: callOffStatus }),
    ]);
    const open = (r) => h('a', { href: `/admin/requests/${r.id}` }, r.status === 'requested' ? 'Review' : 'Open');
    replace(results,
      moves.status === 'fulfilled' ? table({
        caption: 'Delivery changes asked for (time window, leave-at instructions, address)',
        columns: [
          { key: 'created_at', label: 'Asked', render: (r) => fmt.dateTime(r.created_at) },
          { key: 'customer', label: 'Customer', render: (r) => customerLink(map, r.customer_id) },
          { key: 'window', label: 'Change', render: changeText },
          { key: 'via', label: 'By', render: (r) => (r.requested_via === 'tracking_link' ? 'Recipient (tracking link)' : 'Customer') },
          { key: 'status', label: 'Status', render: (r) => badge(r.status) },
          { key: 'open', label: 'Request', render: open },
        ],
        rows: moves.value.items, empty: 'No reschedule requests here.',
      }) : errorBox(moves.reason),
      callOffs.status === 'fulfilled' ? table({
        caption: 'Call-offs asked for (rentals)',
        columns: [
          { key: 'created_at', label: 'Asked', render: (r) => fmt.dateTime(r.created_at) },
          { key: 'customer', label: 'Customer', render: (r) => customerLink(map, r.customer_id) },
          { key: 'off_on', label: 'Off rent on', render: (r) => fmt.date(r.off_on) },
          { key: 'status', label: 'Status', render: (r) => badge(r.status) },
          { key: 'open', label: 'Request', render: open },
        ],
        rows: callOffs.value.items, empty: 'No call-off requests here.',
      }) : errorBox(callOffs.reason));
  }
  const filters = filterForm({
    label: 'Filter requests',
    fields: [h('div', { class: 'grid filters-grid' },
      field({ name: 'status', label: 'Status', type: 'select', value: state.status,
        options: [['requested', 'Waiting for a decision'], ['accepted', 'Accepted or confirmed'], ['declined', 'Declined'], ['all', 'All']] }),
      field({ name: 'customer_id', label: 'Customer', type: 'select', options: customerOptions(map, 'Any customer'), value: state.customer_id }))],
    onApply: (vals) => { Object.assign(state, { status: vals.status || 'requested', customer_id: vals.customer_id || '' }); return load(); },
  });
  filters.classList.add('wide');
  load();
  return page('Requests', h('p', { class: 'muted' }, 'Customers ask to move an order to another time window, or to take rented items off rent.'),
    card(null, filters, results));
}


/** There is no GET by id: look through the open ones first, then the rest (a few pages). */
async function findIn(path, id) {
  for (const status of ['requested', undefined]) {
    for (let pageNo = 1; pageNo <= 5; pageNo++) {
      const data = await get(path, { status, page: pageNo, per_page: 200 });
      const hit = data.items.find((r) => r.id === id);
      if (hit) return hit;
      if (pageNo * 200 >= data.total) break;
    }
  }
  return null;
}

async function requestScreen({ params, app }) {
  const id = params.id;
  const [reschedule, callOff, map] = await Promise.all([
    findIn('/admin/reschedule-requests', id), findIn('/admin/rentals/call-offs', id), customerMap().catch(() => new Map()),
  ]);
  const req = reschedule || callOff;
  if (!req) {
    return page('Request not found', card(null,
      h('p', {}, 'No reschedule or call-off request has this id; it may have been removed.'),
      h('p', {}, h('a', { href: '/admin/requests' }, 'See the requests waiting for a decision'))));
  }
  const isReschedule = !!reschedule;
  const open = req.status === 'requested';
  // The order's reference reads better than a link that only says "order".
  const order = isReschedule ? await get(`/orders/${req.order_id}`).catch(() => null) : null;
  const details = isReschedule
    ? facts([
      ['Customer', customerLink(map, req.customer_id)], ['Order', h('a', { href: `/orders/${req.order_id}` }, order ? `Order ${order.reference}` : 'Open the order')],
      [CHANGE_LABEL[req.kind] || 'New time window', changeText(req)], ['Asked by', req.requested_via === 'tracking_link' ? 'The recipient, through a tracking link' : 'The customer'],
      ['Because', req.exception_id ? 'The delivery is late or its attempt failed' : null], ['Note', req.note],
      ['Status', badge(req.status)], ['Asked', fmt.dateTime(req.created_at)], ['Decided', req.decided_at ? fmt.dateTime(req.decided_at) : null], ['Reason', req.reason],
    ])
    : facts([
      ['Customer', customerLink(map, req.customer_id)], ['Off rent on', fmt.date(req.off_on)],
      ['Items', h('ul', {}, (req.lines || []).map((l) => h('li', {}, `${l.quantity} × ${l.name || l.description || `item ${short(l.rental_item_id)}`}`)))],
      ['Contact', req.contact ? [req.contact.name, req.contact.phone, req.contact.email].filter(Boolean).join(', ') : null], ['Note', req.note],
      ['Status', badge(req.status)], ['Asked', fmt.dateTime(req.created_at)], ['Decided', req.decided_at ? fmt.dateTime(req.decided_at) : null], ['Reason', req.reason],
    ]);

  const decide = open ? form({
    label: 'Decision', submit: isReschedule ? `Accept the ${(CHANGE_LABEL[req.kind] || 'new time window').toLowerCase()}` : 'Confirm call-off',
    fields: [{ name: 'reason', label: 'Reason (required to decline; the customer sees it)', type: 'textarea' }],
    actions: [h('button', { type: 'button', class: 'danger', onclick: (e) => decline(e.target.form) }, 'Decline')],
    onSubmit: async () => {
      if (isReschedule) await post(`/admin/reschedule-requests/${id}/decision`, { accept: true });
      else await post(`/admin/rentals/call-offs/${id}/confirm`);
      toast('Request accepted; the customer is told.');
      app.refresh();
    },
  }) : h('p', {}, 'This request was already decided.');

  async function decline(formEl) {
    const reason = formEl.elements.reason.value.trim();
    const slot = formEl.querySelector('.field .error');
    if (!reason) {
      slot.textContent = 'Say why, so the customer knows what to do.';
      formEl.elements.reason.setAttribute('aria-invalid', 'true');
      formEl.elements.reason.focus();
      return;
    }
    try {
      if (isReschedule) await post(`/admin/reschedule-requests/${id}/decision`, { accept: false, reason });
      else await post(`/admin/rentals/call-offs/${id}/decline`, { reason });
      toast('Request declined; the customer is told.');
      app.refresh();
    } catch (error) {
      toast(explain(error), 'error');
    }
  }

  return page(isReschedule ? 'Reschedule request' : 'Call-off request',
    h('p', {}, h('a', { href: '/admin/requests' }, 'All requests waiting for a decision')),
    card('The request', details), card('Decision', decide));
}

export const routes = [
  { path: '/admin/customers', title: 'Customers', access: 'staff', nav: { label: 'Customers', order: 10 }, render: customersScreen },
  { path: '/admin/customers/:id', title: 'Customer', access: 'staff', render: customerScreen },
  { path: '/admin/webhooks', title: 'Webhooks', access: 'staff', nav: { label: 'Webhooks', order: 70 }, render: webhooksScreen },
  { path: '/admin/webhooks/:id', title: 'Webhook', access: 'staff', render: webhookScreen },
  { path: '/admin/audit', title: 'Audit log', access: 'staff', nav: { label: 'Audit log', order: 80 }, render: auditScreen },
  { path: '/admin/settings', title: 'Settings', access: 'staff', nav: { label: 'Settings', order: 85 }, render: settingsScreen },
  { path: '/admin/requests', title: 'Requests', access: 'staff', nav: { label: 'Requests', order: 25 }, render: requestsScreen },
  { path: '/admin/requests/:id', title: 'Request', access: 'staff', render: requestScreen },
];
