// The profile: your details, password and two-factor sign-in, what you are notified about; and
// for a customer's administrators: the company's details, colleagues and invitations, API keys
// and webhooks (with each endpoint's delivery log at /profile/webhooks/:id).
import { ApiError, del, get, patch, post, put } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { isCustomer, isCustomerAdmin, session, signOut } from '../lib/session.js';
import { action, badge, card, errorBox, facts, field, form, loading, page, pager, table, toast } from '../lib/ui.js';
import { twoFactorEnrol } from './auth.js';

const PASSWORD_HINT = 'At least 10 characters; a long phrase is easiest to remember.';
const ROLES = [['customer_admin', 'Admin'], ['customer_booker', 'Booker'], ['customer_viewer', 'Viewer']];
const ROLE_HINT = 'Admin: colleagues, company details, API keys, webhooks, paying invoices, and orders. '
  + 'Booker: places and follows orders. Viewer: reads only.';
const roleLabel = (role) => ({
  customer_booker: 'Booker', customer_viewer: 'Viewer', customer_admin: 'Admin', operator_admin: 'Operator administrator', dispatcher: 'Dispatcher',
}[role] || fmt.label(role));
const sitesText = (sites) => (sites ? sites.join(', ') : 'All sites');

/** A multi-select of the company's sites (none chosen: all sites). */
function sitesSelect(sites, chosen, label) {
  return h('select', { multiple: true, 'aria-label': label, size: Math.min(4, Math.max(2, sites.length)) },
    sites.map((s) => h('option', { value: s.code, selected: (chosen || []).includes(s.code) }, `${s.code} – ${s.name}`)));
}
/** The chosen site codes, or null (all sites) when none is chosen. */
function chosenSites(select) {
  const codes = select ? [...select.selectedOptions].map((o) => o.value) : [];
  return codes.length ? codes : null;
}

// What webhooks may subscribe to: asked of the API (GET /webhooks/event-types) on each screen that needs it.
let WEBHOOK_EVENTS = [];

/** Names people read for the event types of notifications and webhooks. */
const EVENT_LABELS = {
  'call_off.decided': 'Call-off confirmed or declined', 'call_off.requested': 'Call-off requested',
  'credit_note.issued': 'Credit note issued', 'document.added': 'Document added to an order',
  'import.finished': 'Import finished', 'invoice.issued': 'Invoice issued', 'invoice.overdue': 'Invoice overdue',
  'message.posted': 'New message', 'order.scheduled': 'Order scheduled', 'order.status_changed': 'Order status changed',
  'order.submitted': 'Order submitted', 'order.created': 'Order created', 'order.priced': 'Order priced',
  'order.withdrawn': 'Order withdrawn', 'order.approval_requested': 'Order waits for approval', 'order.cancelled': 'Order cancelled', 'payment.received': 'Payment received',
  'payment.refunded': 'Payment refunded', 'quote.sent': 'Quote sent to you', 'quote.requested': 'Quote requested',
  'quote.changes_requested': 'Quote changes requested', 'quote.accepted': 'Quote accepted', 'quote.rejected': 'Quote rejected',
  'reschedule.decided': 'Reschedule request decided', 'reschedule.requested': 'Reschedule requested',
  'stop.eta_changed': 'Delivery time (ETA) changed', 'stop.completed': 'Stop completed',
  'customer.created': 'Customer created', 'customer.updated': 'Customer updated', 'webhook.test': 'Test event',
};
const eventLabel = (type) => EVENT_LABELS[type] || fmt.label(String(type).replaceAll('.', ' '));

/** A card whose body loads by itself; a failing API shows its error in the card only. */
function loadingCard(title, build, { id } = {}) {
  const body = h('div', {}, loading());
  const section = card(title, body);
  if (id) section.id = id;
  const fill = async () => {
    try {
      replace(body, await build(fill));
    } catch (error) {
      replace(body, errorBox(error));
    }
  };
  fill();
  return section;
}

/** A secret the API shows once (API key, signing secret): copy button and a clear warning. */
function shownOnce(label, secret, warning) {
  const copy = h('button', { type: 'button' }, `Copy ${label.toLowerCase()}`);
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(secret);
      toast(`${label} copied.`);
    } catch {
      toast('Copying is not allowed here; select the text and copy it by hand.', 'error');
    }
  });
  const box = h('div', { class: 'shown-once', role: 'status', tabindex: '-1' },
    h('p', {}, h('strong', {}, `${label}: `), warning),
    h('p', {}, h('code', {}, secret)),
    h('div', { class: 'actions' }, copy));
  setTimeout(() => box.focus(), 0);
  return box;
}

// --- you ---------------------------------------------------------------------------------------
function detailsCard() {
  const user = session.user;
  return card('Your details',
    facts([
      ['Email', user.email],
      ['Role', roleLabel(user.role)],
      session.customer ? ['Company', session.customer.name] : null,
      ['Last sign-in', fmt.dateTime(user.last_login_at)],
    ]),
    form({
      submit: 'Save name',
      fields: [{ name: 'name', label: 'Name', required: true, value: user.name, autocomplete: 'name' }],
      onSubmit: async (vals) => {
        session.user = await patch('/me', { name: vals.name || '' });
        toast('Your name is saved.');
      },
    }));
}

function passwordCard() {
  return card('Change password', form({
    submit: 'Change password',
    fields: [
      { name: 'current_password', label: 'Current password', type: 'password', required: true, autocomplete: 'current-password' },
      { name: 'new_password', label: 'New password', type: 'password', required: true, autocomplete: 'new-password', hint: PASSWORD_HINT },
    ],
    onSubmit: async (vals, formEl) => {
      await patch('/me', { current_password: vals.current_password || '', new_password: vals.new_password || '' });
      formEl.reset();
      toast('Your password is changed.');
    },
  }));
}

function twoFactorCard(app) {
  const body = h('div', {});
  // GET /me says whether it is on: offer the one thing that applies.
  const intro = () => (session.user?.two_factor_enabled ? [
    h('p', {}, 'Two-factor sign-in is on: signing in asks for a code from your authenticator app.'),
    h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => showDisable() }, 'Turn off two-factor sign-in')),
  ] : [
    h('p', {}, 'With two-factor sign-in, signing in asks for a code from an authenticator app on your phone as well as your password.'),
    h('div', { class: 'actions' }, action('Set up two-factor sign-in', () => startSetup())),
  ]);
  async function startSetup() {
    try {
      const enrol = await twoFactorEnrol({
        doneLabel: 'I saved the codes — sign in again',
        onCancel: () => replace(body, intro()),
        onDone: async () => {
          // Turning it on ends every session, this one too: sign in again with a code.
          try { await signOut(); } catch { /* already ended */ }
          toast('Sign in again with your password and a new code from your app.');
          history.replaceState(null, '', '/sign-in?next=/profile');
          await app.reload();
        },
      });
      replace(body, enrol);
      body.querySelector('input')?.focus();
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        toast(error.message);
        showDisable();
        return;
      }
      throw error;
    }
  }
  function showDisable() {
    replace(body,
      h('p', {}, 'To turn two-factor sign-in off, confirm with your password and a code from your app (or a recovery code).'),
      form({
        label: 'Turn off two-factor sign-in',
        submit: 'Turn off two-factor sign-in',
        fields: [
          { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'current-password' },
          { name: 'code', label: 'Authentication code', required: true, autocomplete: 'one-time-code', attrs: { inputmode: 'numeric' } },
        ],
        actions: [h('button', { type: 'button', onclick: () => replace(body, intro()) }, 'Cancel')],
        onSubmit: async (vals) => {
          const result = await post('/me/2fa/disable', { password: vals.password || '', code: (vals.code || '').replace(/\s+/g, '') });
          replace(body, h('p', { class: 'acct-notice', role: 'status' },
            result.enabled ? 'Two-factor sign-in is still on.' : 'Two-factor sign-in is off. You can turn it on again at any time.'), intro());
        },
      }));
    body.querySelector('input')?.focus();
  }
  replace(body, intro());
  return card('Two-factor sign-in', body);
}

function preferencesCard() {
  return loadingCard('Notifications', async () => {
    const prefs = await get('/me/notification-preferences');
    const types = Object.keys(prefs).sort((a, b) => eventLabel(a).localeCompare(eventLabel(b)));
    if (!types.length) return h('p', { class: 'empty' }, 'There is nothing to choose yet.');
    const box = (type, channel, label) => {
      if (!(channel in prefs[type])) return h('span', { class: 'muted' }, 'Not available');
      return h('input', { type: 'checkbox', checked: !!prefs[type][channel], dataset: { type, channel }, 'aria-label': `${eventLabel(type)}: ${label}` });
    };
    const formEl = form({
      label: 'Notification preferences',
      class: 'wide prefs',
      submit: 'Save preferences',
      fields: [
        h('p', { class: 'muted' }, 'Choose what you are told about in the portal (the bell) and by email.'),
        table({
          columns: [
            { key: 'type', label: 'Event', render: (type) => eventLabel(type) },
            { key: 'in_app', label: 'In the portal', render: (type) => box(type, 'in_app', 'in the portal') },
            { key: 'email', label: 'Email', render: (type) => box(type, 'email', 'by email') },
          ],
          rows: types,
        }),
      ],
      onSubmit: async (_vals, el) => {
        const body = {};
        el.querySelectorAll('input[type=checkbox][data-type]').forEach((input) => {
          (body[input.dataset.type] ??= {})[input.dataset.channel] = input.checked;
        });
        await put('/me/notification-preferences', body);
        toast('Your notification choices are saved.');
      },
    });
    return formEl;
  }, { id: 'preferences' });
}

// --- your company (customer administrators) ------------------------------------------------------
function companyCard() {
  return loadingCard('Company details', async (refill) => {
    const customer = await get('/customer');
    const address = customer.billing_address || {};
    return h('div', {},
      facts([
        ['Company', customer.name],
        ['Client ID', h('span', {}, h('code', {}, customer.client_id), ' ', h('span', { class: 'muted' }, '(for imports and the API)'))],
        ['Location sharing', fmt.label(customer.location_sharing)],
      ]),
      h('p', { class: 'muted' }, 'To change the company name or your service settings, contact the operator.'),
      form({
        label: 'Company contact and billing address',
        submit: 'Save company details',
        fields: [
          { name: 'email', label: 'Company email', type: 'email', value: customer.email, autocomplete: 'email', hint: 'Where invoices and account notices go.' },
          { name: 'phone', label: 'Company phone', type: 'tel', value: customer.phone, autocomplete: 'tel' },
          h('fieldset', {}, h('legend', {}, 'Billing address'),
            field({ name: 'billing_address.line1', label: 'Address line 1', value: address.line1, autocomplete: 'address-line1' }),
            field({ name: 'billing_address.line2', label: 'Address line 2', value: address.line2, autocomplete: 'address-line2' }),
            field({ name: 'billing_address.unit', label: 'Unit or suite', value: address.unit }),
            field({ name: 'billing_address.postal_code', label: 'Postal code', value: address.postal_code, autocomplete: 'postal-code' }),
            field({ name: 'billing_address.city', label: 'City', value: address.city, autocomplete: 'address-level2' }),
            field({ name: 'billing_address.state', label: 'State or region', value: address.state, autocomplete: 'address-level1' }),
            field({ name: 'billing_address.country', label: 'Country code', value: address.country, autocomplete: 'country',
              hint: 'Two letters, for example NL, GB or DE.', attrs: { maxlength: 2 } })),
        ],
        onSubmit: async (vals) => {
          const body = {};
          // A cleared email or phone is sent as null (the API keeps what is left out).
          body.email = vals.email || null;
          body.phone = vals.phone || null;
          if (vals.billing_address) {
            body.billing_address = { ...vals.billing_address };
            if (body.billing_address.country) body.billing_address.country = body.billing_address.country.toUpperCase();
          }
          session.customer = await patch('/customer', body);
          toast('Company details saved.');
          refill();
        },
      }),
      h('h3', {}, 'Sites and approval'),
      sitesForm(customer, refill));
  });
}

/** The company's sites (cost centres: a code and a name each; orders name one, colleagues may be
 * limited to some) and the amount above which a booker's order waits for an admin's approval. */
function sitesForm(customer, refill) {
  const list = h('div', { class: 'site-list' });
  let seq = 0;
  const addRow = (site = {}) => {
    const n = seq++;
    const row = h('div', { class: 'row site-row' },
      field({ name: `sites.${n}.code`, label: 'Site code', value: site.code, attrs: { maxlength: 32 } }),
      field({ name: `sites.${n}.name`, label: 'Site name', value: site.name, attrs: { maxlength: 100 } }));
    row.append(h('button', { type: 'button', class: 'link', 'aria-label': `Remove site ${n + 1}`, onclick: () => row.remove() }, 'Remove'));
    list.append(row);
    return row;
  };
  (customer.sites || []).forEach(addRow);
  const limit = customer.approval_limit;
  return form({
    label: 'Sites and approval',
    submit: 'Save sites and approval',
    fields: [
      h('fieldset', {}, h('legend', {}, 'Sites or cost centres'),
        h('p', { class: 'hint' }, 'Orders name one of them; a colleague may be limited to some. '
          + 'A code is letters, digits, dots or dashes, e.g. NORTH or CC-120.'),
        list,
        h('button', { type: 'button', onclick: () => addRow().querySelector('input')?.focus() }, 'Add site')),
      h('fieldset', {}, h('legend', {}, 'Approval limit'),
        h('p', { class: 'hint' }, 'A booker\'s order priced above it waits for an admin\'s approval. Leave the amount empty for none.'),
        h('div', { class: 'row' },
          field({ name: 'approval_limit.amount', label: 'Amount', type: 'number', value: limit?.amount, attrs: { min: 0, step: '0.01', inputmode: 'decimal' } }),
          field({ name: 'approval_limit.currency', label: 'Currency', value: limit?.currency || 'EUR', attrs: { maxlength: 3 }, hint: 'Three letters, e.g. EUR.' }))),
    ],
    onSubmit: async (vals) => {
      // Rows left empty are dropped; a removed row leaves a gap in the numbering.
      const sites = (vals.sites || []).filter((s) => s && (s.code || s.name))
        .map((s) => ({ code: (s.code || '').trim(), name: (s.name || '').trim() }));
      const amount = vals.approval_limit?.amount;
      const approval = amount === undefined || amount === '' ? null
        : { amount: String(amount), currency: String(vals.approval_limit?.currency || '').toUpperCase() };
      session.customer = await patch('/customer', { sites, approval_limit: approval });
      toast('Sites and approval limit saved.');
      refill();
    },
  });
}

function splitEmails(text) {
  return [...new Set(String(text || '').split(/[\s,;]+/).map((e) => e.trim()).filter(Boolean))];
}

function colleaguesCard() {
  return loadingCard('Colleagues', async (refill) => {
    const [users, invites, company] = await Promise.all([get('/users'), get('/invites'), get('/customer')]);
    const sites = company.sites || [];
    const pending = invites.filter((i) => i.status === 'pending');
    const others = invites.filter((i) => i.status === 'expired');
    const userTable = table({
      caption: `Portal users (${users.length})`,
      columns: [
        { key: 'name', label: 'Name' },
        { key: 'email', label: 'Email' },
        { key: 'role', label: 'Role and sites', render: (u) => (u.id === session.user.id
          ? h('span', {}, roleLabel(u.role), sites.length ? ` · ${sitesText(u.sites)}` : '')
          : accessEditor(u, sites, refill)) },
        { key: 'last_login_at', label: 'Last sign-in', render: (u) => (u.last_login_at ? fmt.dateTime(u.last_login_at) : 'Never') },
        { key: 'actions', label: 'Actions', render: (u) => (u.id === session.user.id ? h('span', { class: 'muted' }, 'You')
          : action(`Remove ${u.name}`, async () => {
            await del(`/users/${u.id}`);
            toast(`${u.name} can no longer sign in.`);
            refill();
          }, { class: 'danger', confirmText: `${u.name} (${u.email}) will no longer be able to sign in.` })) },
      ],
      rows: users,
      empty: 'No colleagues yet: invite them below.',
    });
    const inviteTable = table({
      caption: 'Invitations waiting',
      columns: [
        { key: 'email', label: 'Email' },
        { key: 'role', label: 'Role', render: (i) => roleLabel(i.role) + (sites.length ? ` · ${sitesText(i.sites)}` : '') },
        { key: 'status', label: 'Status', render: (i) => badge(i.status) },
        { key: 'created_at', label: 'Sent', render: (i) => fmt.date(i.created_at) },
        { key: 'expires_at', label: 'Expires', render: (i) => fmt.date(i.expires_at) },
        { key: 'actions', label: 'Actions', render: (i) => h('div', { class: 'row' },
          action(`Resend to ${i.email}`, async () => {
            await post(`/invites/${i.id}/resend`);
            toast(`A new link went to ${i.email}; the old one no longer works.`);
            refill();
          }),
          i.status === 'pending' ? action(`Revoke ${i.email}`, async () => {
            await del(`/invites/${i.id}`);
            toast(`The invitation to ${i.email} no longer works.`);
            refill();
          }, { class: 'danger', confirmText: `The link sent to ${i.email} will stop working.` }) : null) },
      ],
      rows: [...pending, ...others],
      empty: 'No invitation is waiting for an answer.',
    });
    let inviteSites = null;
    const inviteForm = form({
      label: 'Invite colleagues',
      submit: 'Send invitations',
      fields: [
        { name: 'emails', label: 'Email addresses', type: 'textarea', required: true, rows: 4,
          hint: 'One per line, or separated by commas; up to 20 at once. Your company can have at most 20 portal users, invitations included.' },
        { name: 'role', label: 'Role', type: 'select', options: ROLES, value: 'customer_booker', hint: ROLE_HINT },
        sites.length ? h('div', { class: 'field' }, h('label', {}, 'Limited to sites',
          inviteSites = sitesSelect(sites, null, 'Limited to sites')),
        h('p', { class: 'hint' }, 'None chosen: all sites. Ctrl- or Cmd-click to choose several.')) : null,
      ].filter(Boolean),
      onSubmit: async (vals) => {
        const emails = splitEmails(vals.emails);
        if (!emails.length) throw fieldError('emails', 'Enter at least one email address.');
        if (emails.length > 20) throw fieldError('emails', `That is ${emails.length} addresses; invite at most 20 at once.`);
        try {
          await post('/invites', { emails, role: vals.role || 'customer_booker', sites: chosenSites(inviteSites) });
        } catch (error) {
          throw explainInviteError(error, emails);
        }
        toast(emails.length === 1 ? `Invitation sent to ${emails[0]}.` : `${emails.length} invitations sent.`);
        refill();
      },
    });
    return h('div', {}, userTable, inviteTable, h('h3', {}, 'Invite colleagues'), inviteForm);
  }, { id: 'colleagues' });
}

/** A colleague's role and the sites it is limited to, changed with "Save" (PATCH /users/<id>):
 * its sessions end, so it signs in again with the new rights. */
function accessEditor(user, sites, refill) {
  const role = h('select', { 'aria-label': `Role of ${user.name}` },
    ROLES.map(([value, label]) => h('option', { value, selected: value === user.role }, label)));
  const limit = sites.length ? sitesSelect(sites, user.sites, `Sites of ${user.name}`) : null;
  const save = action('Save', async () => {
    const body = { role: role.value };
    if (limit) body.sites = chosenSites(limit);
    await patch(`/users/${user.id}`, body);
    toast(`${user.name} is now ${roleLabel(body.role)}${limit ? ` (${sitesText(body.sites)})` : ''}; they sign in again.`);
    refill();
  });
  save.setAttribute('aria-label', `Save ${user.name}`);
  return h('div', { class: 'row access-editor' }, role, limit, save);
}

function fieldError(name, message) {
  return new ApiError(422, { error: { code: 'validation_failed', message: 'Check the highlighted field.', details: { fields: { [name]: [message] } } } });
}

/** The API names a bad address by its position ("emails.3"); say which address it is. */
function explainInviteError(error, emails) {
  if (!(error instanceof ApiError)) return error;
  const flat = error.fields;
  const bad = Object.entries(flat).filter(([k]) => k.startsWith('emails.'))
    .map(([k, msg]) => `${emails[Number(k.split('.')[1])] ?? k}: ${msg}`);
  if (bad.length) error.details = { fields: { ...error.details.fields, emails: [bad.join(' ')] } };
  if (error.status === 409 && Array.isArray(error.details.emails)) {
    error.details = { fields: { emails: [`Already portal users: ${error.details.emails.join(', ')}.`] } };
  }
  return error;
}

function apiKeysCard() {
  const fresh = h('div', {});
  return loadingCard('API keys', async (refill) => {
    const keys = await get('/api-keys');
    return h('div', {},
      h('p', { class: 'muted' }, 'Programs of your company use an API key to work with orders, invoices and more through the API. Send it as "Authorization: Bearer <key>".'),
      fresh,
      table({
        columns: [
          { key: 'name', label: 'Name' },
          { key: 'prefix', label: 'Key starts with', render: (k) => h('code', {}, `${k.prefix}…`) },
          { key: 'created_at', label: 'Created', render: (k) => fmt.date(k.created_at) },
          { key: 'last_used_at', label: 'Last used', render: (k) => (k.last_used_at ? fmt.dateTime(k.last_used_at) : 'Never') },
          { key: 'status', label: 'Status', render: (k) => (k.revoked_at ? badge('revoked') : badge('active')) },
          { key: 'actions', label: 'Actions', render: (k) => (k.revoked_at ? `Revoked ${fmt.date(k.revoked_at)}`
            : action(`Revoke ${k.name}`, async () => {
              await del(`/api-keys/${k.id}`);
              toast(`The key "${k.name}" is revoked; it stops working within a minute.`);
              replace(fresh);
              refill();
            }, { class: 'danger', confirmText: `Programs using "${k.name}" will stop working within a minute.` })) },
        ],
        rows: keys,
        empty: 'No API keys yet. Create one for each program that uses the API.',
      }),
      form({
        label: 'Create an API key',
        submit: 'Create API key',
        fields: [{ name: 'name', label: 'Key name', required: true, hint: 'What uses it, for example "Warehouse system".' }],
        onSubmit: async (vals) => {
          const created = await post('/api-keys', { name: vals.name || '' });
          await refill();
          replace(fresh, shownOnce('API key', created.secret,
            `this is the only time it is shown. Copy it now and keep it in your program's secret store.`));
        },
      }));
  }, { id: 'api-keys' });
}

// --- webhooks ------------------------------------------------------------------------------------
function eventsFieldset(chosen = ['*']) {
  const all = chosen.includes('*');
  const allBox = h('input', { type: 'checkbox', id: 'wh-all', checked: all });
  const boxes = WEBHOOK_EVENTS.map((type) => h('input', { type: 'checkbox', id: `wh-${type}`, value: type, checked: all || chosen.includes(type), disabled: all, class: 'wh-event' }));
  // Leaving "all" starts from an empty choice: the user ticks what the system needs.
  allBox.addEventListener('change', () => boxes.forEach((b) => { b.disabled = allBox.checked; b.checked = allBox.checked; }));
  return h('fieldset', { class: 'wh-events' }, h('legend', {}, 'Events'),
    h('div', { class: 'field checkbox' }, allBox, h('label', { for: 'wh-all' }, 'All events, including ones added later')),
    h('div', { class: 'wh-grid' }, boxes.map((b) => h('div', { class: 'field checkbox' }, b, h('label', { for: b.id }, eventLabel(b.value), ' ', h('code', {}, b.value))))),
    h('input', { type: 'hidden', name: 'events' }),
    h('p', { class: 'error', 'aria-live': 'polite' }));
}

const chosenEvents = (formEl) => (formEl.querySelector('#wh-all').checked ? ['*']
  : [...formEl.querySelectorAll('.wh-event:checked')].map((b) => b.value));

function eventsText(events) {
  if (events.includes('*')) return 'All events';
  if (events.length <= 4) return events.map(eventLabel).join(', ');
  return h('details', {}, h('summary', {}, `${events.length} events`), h('ul', { class: 'wh-attempts' }, events.map((e) => h('li', {}, eventLabel(e)))));
}

function webhookStatus(w) {
  return w.enabled ? badge('active') : h('span', {}, badge('disabled'), w.disabled_reason ? h('span', { class: 'muted' }, ` ${w.disabled_reason}`) : null);
}

function webhookActions(w, refill) {
  return h('div', { class: 'row' },
    action('Send test', async () => {
      await post(`/webhooks/${w.id}/test`);
      toast('A test event is on its way; see it in the delivery log.');
    }),
    w.enabled
      ? action('Disable', async () => { await patch(`/webhooks/${w.id}`, { enabled: false }); toast('Webhook disabled.'); refill(); })
      : action('Enable', async () => { await patch(`/webhooks/${w.id}`, { enabled: true }); toast('Webhook enabled.'); refill(); }),
    action('Delete', async () => {
      await del(`/webhooks/${w.id}`);
      toast('Webhook deleted.');
      refill(true);
    }, { class: 'danger', confirmText: `Nothing more will be sent to ${w.url}; deliveries still waiting are cancelled.` }));
}

function webhooksCard() {
  const fresh = h('div', {});
  return loadingCard('Webhooks', async (refill) => {
    const found = await get('/webhooks', { per_page: 100 });
    return h('div', {},
      h('p', { class: 'muted' }, 'A webhook sends your system an HTTPS request when something happens (Standard Webhooks, signed with the endpoint\'s secret).'),
      fresh,
      table({
        columns: [
          { key: 'url', label: 'Endpoint', render: (w) => h('span', {}, h('a', { href: `/profile/webhooks/${w.id}` }, w.url),
            w.description ? h('span', { class: 'muted' }, ` ${w.description}`) : null) },
          { key: 'events', label: 'Events', render: (w) => eventsText(w.events) },
          { key: 'enabled', label: 'Status', render: webhookStatus },
          { key: 'actions', label: 'Actions', render: (w) => webhookActions(w, refill) },
        ],
        rows: found.items,
        empty: 'No webhooks yet. Add your system\'s HTTPS address below to be told about events as they happen.',
      }),
      h('h3', {}, 'Add a webhook'),
      form({
        label: 'Add a webhook',
        class: 'wide',
        submit: 'Add webhook',
        fields: [
          { name: 'url', label: 'Endpoint URL', type: 'url', required: true, placeholder: 'https://', hint: 'An https address your system answers on.' },
          { name: 'description', label: 'Description', hint: 'Optional: what receives it.' },
          eventsFieldset(),
        ],
        onSubmit: async (vals, formEl) => {
          const events = chosenEvents(formEl);
          if (!events.length) throw fieldError('events', 'Choose at least one event.');
          const created = await post('/webhooks', { url: vals.url || '', description: vals.description || null, events });
          await refill();
          replace(fresh, shownOnce('Signing secret', created.secret,
            `for ${created.url}. This is the only time it is shown: store it where your system verifies signatures.`));
        },
      }));
  }, { id: 'webhooks' });
}

// --- /profile/webhooks/:id -----------------------------------------------------------------------
function attemptsText(d) {
  const log = d.attempt_log || [];
  if (!log.length) return String(d.attempts);
  return h('details', {}, h('summary', {}, `${d.attempts} (show)`),
    h('ul', { class: 'wh-attempts' }, log.map((a) => h('li', {}, `${fmt.dateTime(a.attempted_at)}: `,
      a.status_code ? `HTTP ${a.status_code}` : (a.error || 'no answer'), ` in ${Math.round(a.duration_ms)} ms`))));
}

async function renderWebhook({ params, app }) {
  const hook = await get(`/webhooks/${params.id}`);
  const manager = isCustomerAdmin();
  let pageNo = 1;
  let statusFilter = '';
  const log = h('div', {}, loading());

  async function loadLog() {
    try {
      const found = await get(`/webhooks/${hook.id}/deliveries`, { page: pageNo, per_page: 25, status: statusFilter || undefined });
      replace(log,
        table({
          columns: [
            { key: 'created_at', label: 'When', render: (d) => fmt.dateTime(d.created_at) },
            { key: 'event_type', label: 'Event', render: (d) => h('span', {}, eventLabel(d.event_type), ' ', h('code', {}, d.event_type)) },
            { key: 'status', label: 'Status', render: (d) => badge(d.status) },
            { key: 'attempts', label: 'Attempts', render: attemptsText },
            { key: 'last_status_code', label: 'Response', render: (d) => (d.last_status_code ? `HTTP ${d.last_status_code}` : d.last_error || '—') },
            { key: 'next', label: 'Next try', render: (d) => (d.next_attempt_at ? fmt.dateTime(d.next_attempt_at) : '—') },
            ...(manager ? [{ key: 'replay', label: 'Actions', render: (d) => action('Replay', async () => {
              await post(`/webhooks/${hook.id}/deliveries/${d.id}/replay`);
              toast('Sent again; it appears in the log.');
              loadLog();
            }) }] : []),
          ],
          rows: found.items,
          empty: statusFilter ? 'No deliveries with this status.' : 'Nothing delivered yet. Use "Send test" to try the endpoint.',
        }),
        pager({ page: pageNo, perPage: 25, total: found.total, onPage: (n) => { pageNo = n; loadLog(); } }));
    } catch (error) {
      replace(log, errorBox(error));
    }
  }
  const filter = field({ name: 'status', label: 'Show', type: 'select', value: '',
    options: [['', 'All deliveries'], ['failed', 'Failed'], ['pending', 'Pending'], ['succeeded', 'Succeeded'], ['cancelled', 'Cancelled']] });
  filter.querySelector('select').addEventListener('change', (e) => { statusFilter = e.target.value; pageNo = 1; loadLog(); });
  loadLog();

  const refill = (gone) => (gone === true ? app.navigate('/profile#webhooks') : app.refresh());
  return page('Webhook',
    h('p', {}, h('a', { href: '/profile#webhooks' }, '← Back to your profile')),
    card('Endpoint',
      facts([
        ['URL', h('code', {}, hook.url)],
        ['Description', hook.description || '—'],
        ['Events', eventsText(hook.events)],
        ['Status', webhookStatus(hook)],
        ['Created', fmt.dateTime(hook.created_at)],
      ]),
      manager ? webhookActions(hook, refill) : null),
    card('Delivery log', h('div', { class: 'row' }, filter, h('button', { type: 'button', onclick: () => loadLog() }, 'Refresh')), log));
}

// --- the page ------------------------------------------------------------------------------------
async function renderProfile({ app }) {
  WEBHOOK_EVENTS = (await get('/webhooks/event-types')).event_types;
  const admin = isCustomerAdmin();
  const you = h('div', { class: 'grid two profile-top' }, detailsCard(), h('div', { class: 'acct-stack' }, passwordCard(), twoFactorCard(app)));
  const sections = [you, preferencesCard()];
  if (admin) sections.push(companyCard(), colleaguesCard(), apiKeysCard(), webhooksCard());
  else if (isCustomer()) sections.push(card('Your company', h('p', {}, 'Your company\'s administrators manage its details, colleagues, API keys and webhooks.')));
  const node = page('Profile', ...sections);
  // The page is built before it is shown: jump to a section named in the link (#preferences ...).
  if (location.hash) setTimeout(() => document.getElementById(location.hash.slice(1))?.scrollIntoView(), 300);
  return node;
}

export const routes = [
  { path: '/profile', title: 'Profile', access: 'signed-in', nav: { label: 'Profile', order: 90 }, render: renderProfile },
  { path: '/profile/webhooks/:id', title: 'Webhook', access: 'signed-in', render: renderWebhook },
];
