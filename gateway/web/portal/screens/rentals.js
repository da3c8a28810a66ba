// Rentals: the customer's items out on rent and asking for them to be called off rent; the
// operator's view of every customer's contracts and the call-off requests to confirm or decline.
import { api, ApiError, get, href, post } from '../lib/api.js';
import { fmt, h } from '../lib/dom.js';
import { action, badge, card, field, page, table, toast } from '../lib/ui.js';
import { canBook } from '../lib/session.js';
import { signDialog } from '../lib/sign_dialog.js';
import { filterTabs, formDialog } from './invoices.js';
import { customerNames, customerPicker } from './admin_billing.js';

const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
const qs = (obj) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
};

/** rental_item_id -> {item, description, contract} over the contracts given. */
function itemIndex(contracts) {
  const index = new Map();
  for (const c of contracts) for (const i of c.items) index.set(i.id, { ...i, contract: c });
  return index;
}

/** "TRL-40 × 2, FORK-3 × 1" as a list. */
function lineList(lines, index) {
  return h('ul', { class: 'call-off-lines' }, (lines || []).map((l) => {
    const it = index.get(l.rental_item_id);
    return h('li', {}, `${it ? `${it.item}${it.description ? ` (${it.description})` : ''}` : 'Item'} × ${l.quantity}`);
  }));
}

function callOffColumns(index, { customers } = {}) {
  return [
    customers ? { label: 'Customer', render: (c) => customers.get(c.customer_id) || '—' } : null,
    { label: 'Asked', render: (c) => fmt.dateTime(c.created_at) },
    { label: 'Contract', render: (c) => index.get(c.lines?.[0]?.rental_item_id)?.contract.number || '—' },
    { label: 'Items', render: (c) => lineList(c.lines, index) },
    { label: 'Off rent on', render: (c) => fmt.date(c.off_on) },
    { label: 'Contact', render: (c) => [c.contact?.name, c.contact?.phone, c.contact?.email].filter(Boolean).join(', ') || '—' },
    { label: 'Note', render: (c) => c.note || '—' },
    { label: 'Status', render: (c) => h('span', {}, badge(c.status), c.reason ? h('span', { class: 'muted' }, ` ${c.reason}`) : null) },
  ].filter(Boolean);
}

// --- the customer's rentals -------------------------------------------------------------------
/**
 * The contract document the operator attached (services/orders/rental_signing.py): read it, sign
 * it (an admin or a booker; a viewer reads only), and the signature once signed.
 */
function contractDocument(c, app) {
  const doc = c.document;
  if (!doc) return null;
  const read = h('a', { href: href(`/rentals/${c.id}/document.pdf`), target: '_blank', rel: 'noopener' }, 'Read the contract (PDF)');
  if (doc.signature) {
    const s = doc.signature;
    return h('div', { class: 'rental-document' },
      h('p', {}, `Contract signed by ${s.full_name} on ${fmt.dateTime(s.signed_at)}. `,
        h('a', { href: href(`/rentals/${c.id}/signed.pdf`, { download: 1 }), download: `rental-contract-${c.number}-signed.pdf` }, 'Download the signed contract')));
  }
  const sign = canBook() ? action('Sign the contract', async () => {
    const body = await signDialog({
      title: 'Sign the contract',
      intro: `Rental contract ${c.number} (document version ${doc.version}): you sign it for your company.`,
      documentUrl: href(`/rentals/${c.id}/document.pdf`),
      documentLabel: 'Read the contract (PDF)',
      sha256: doc.sha256,
      agree: 'I have read this contract and sign it with my electronic signature.',
      submit: 'Sign the contract',
    });
    if (!body) return;
    try {
      await api(`/rentals/${c.id}/sign`, { method: 'POST', body });
    } catch (error) {
      if (error.status === 409) app.refresh();     // another document attached meanwhile: show it
      throw error;
    }
    toast(`Rental contract ${c.number} signed.`);
    app.refresh();
  }, { class: 'primary' }) : null;
  return h('div', { class: 'rental-document' },
    h('p', {}, h('strong', {}, 'The contract waits for your signature. '), read),
    sign ? h('div', { class: 'actions' }, sign) : null);
}

/**
 * Ask for the selected items to go off rent: one dialog, one request per contract (the API's
 * call-off belongs to one contract). Field names follow the dialog's own line numbers, and the
 * API's errors per contract are moved onto them.
 */
async function callOff(selected) {
  const groups = new Map();
  selected.forEach((it, n) => {
    if (!groups.has(it.contract.id)) groups.set(it.contract.id, { contract: it.contract, lines: [] });
    groups.get(it.contract.id).lines.push({ it, n });
  });
  const done = new Set();
  const earliest = selected.map((it) => it.contract.starts_on).sort().pop();
  const tomorrow = new Date(Date.now() + 86400000);
  return formDialog({
    title: 'Call off rent',
    text: 'The operator confirms the request; the items stop counting from the day they go off rent.',
    submit: 'Send call-off request',
    fields: [
      h('fieldset', {}, h('legend', {}, 'Quantity to call off'),
        selected.map((it, n) => h('div', { class: 'qty-line' },
          h('input', { type: 'hidden', name: `lines.${n}.rental_item_id`, value: it.id }),
          field({ name: `lines.${n}.quantity`, type: 'number', required: true, value: it.free,
            label: `${it.item}${it.description ? ` (${it.description})` : ''}, ${it.contract.number}`,
            hint: `${it.free} can be called off`, attrs: { min: 1, max: it.free, step: 1 } })))),
      { name: 'off_on', label: 'Off rent on', type: 'date', required: true, value: iso(tomorrow),
        attrs: { min: earliest }, hint: 'The day you want the items collected and off rent.' },
      { name: 'contact.name', label: 'Contact name', autocomplete: 'name' },
      { name: 'contact.phone', label: 'Contact phone', type: 'tel', autocomplete: 'tel' },
      { name: 'note', label: 'Note', type: 'textarea', hint: 'A time that suits you, where the items are, access ...' },
    ],
    onSubmit: async (vals) => {
      if (!vals.off_on) throw new ApiError(422, { error: { message: 'Choose the day.', details: { fields: { off_on: 'Choose the day the items go off rent.' } } } });
      const sent = [];
      for (const { contract, lines } of groups.values()) {
        if (done.has(contract.id)) continue;
        const body = {
          off_on: vals.off_on, note: vals.note || null, contact: vals.contact || {},
          lines: lines.map(({ it, n }) => ({ rental_item_id: it.id, quantity: vals.lines?.[n]?.quantity })),
        };
        try {
          await post(`/rentals/${contract.id}/call-off`, body);
        } catch (error) {
          if (error instanceof ApiError && error.details?.fields?.lines) {
            // lines.<j> of this contract's request is line <n> of the dialog
            const moved = {};
            for (const [j, errs] of Object.entries(error.details.fields.lines)) moved[lines[Number(j)]?.n ?? j] = errs;
            error.details.fields = { ...error.details.fields, lines: moved };
          }
          if (sent.length) error.message = `Sent for ${sent.join(', ')}; not for ${contract.number}: ${error.message}`;
          throw error;
        }
        done.add(contract.id);
        sent.push(contract.number);
      }
      return true;
    },
  });
}

async function customerRentals({ app }) {
  const [contracts, callOffs] = await Promise.all([
    get('/rentals', { per_page: 200 }),
    get('/rentals/call-offs', { per_page: 100 }),
  ]);
  const index = itemIndex(contracts.items);
  const active = contracts.items.filter((c) => c.status === 'active' && c.items.some((i) => i.quantity_out > 0));
  const chosen = new Set();
  const callOffButton = action('Call off rent', async () => {
    const selected = [...index.values()].filter((it) => chosen.has(it.id))
      .map((it) => ({ ...it, free: it.quantity_out - it.pending_call_off }));
    if (!selected.length) {
      toast('Select the items to call off first (tick them in the list).', 'error');
      return;
    }
    if (await callOff(selected)) {
      toast('Call-off request sent: the operator will confirm it.');
      app.refresh();
    }
  }, { class: 'primary' });

  const contractCard = (c) => card(`Contract ${c.number}`,
    h('dl', { class: 'facts rental-facts' },
      h('dt', {}, 'Where'), h('dd', {}, c.site || '—'),
      h('dt', {}, 'On rent since'), h('dd', {}, fmt.date(c.starts_on)),
      h('dt', {}, 'Ends'), h('dd', {}, c.ends_on ? fmt.date(c.ends_on) : 'Open-ended'),
      c.order_id ? [h('dt', {}, 'Order'), h('dd', {}, h('a', { href: `/orders/${c.order_id}` }, 'View order'))] : null),
    contractDocument(c, app),
    table({
      columns: [
        { label: 'Select', render: (i) => {
          const free = i.quantity_out - i.pending_call_off;
          if (free <= 0) return i.quantity_out > 0 ? 'Asked off' : '—';
          return h('input', { type: 'checkbox', class: 'rental-select', 'aria-label': `Select ${i.item} ${i.description || ''}`.trim(),
            checked: chosen.has(i.id), onchange: (e) => (e.target.checked ? chosen.add(i.id) : chosen.delete(i.id)) });
        } },
        { label: 'Item', render: (i) => i.item },
        { label: 'Description', render: (i) => i.description || '—' },
        { label: 'Out on rent', render: (i) => String(i.quantity_out) },
        { label: 'Asked off', render: (i) => (i.pending_call_off ? String(i.pending_call_off) : '—') },
        { label: 'Since', render: (i) => fmt.date(i.since) },
      ],
      rows: c.items.filter((i) => i.quantity_out > 0),
      empty: 'Nothing of this contract is out on rent.',
    }));

  return page('Rentals',
    active.length
      ? [canBook() ? h('div', { class: 'row' }, callOffButton, h('span', { class: 'muted' }, 'Tick the items to send back, then call them off rent.')) : null,
        active.map(contractCard)]
      : h('p', { class: 'empty' }, 'You have nothing out on rent. Rental orders you book appear here once delivered.'),
    card('Call-off requests', table({
      columns: callOffColumns(index),
      rows: callOffs.items,
      empty: 'No call-off requests yet: select items above and choose "Call off rent".',
    })));
}

// --- the operator's rentals -------------------------------------------------------------------
/** The contract PDF for the customer to sign: its state, and attaching one (or another). */
function attachColumn(c, app) {
  const doc = c.document;
  const state = !doc ? 'None attached'
    : doc.signature ? `v${doc.version}, signed by ${doc.signature.full_name} ${fmt.date(doc.signature.signed_at)}`
      : `v${doc.version}, waiting for the customer's signature`;
  return h('div', {},
    h('span', {}, state, ' '),
    doc?.signature ? h('a', { href: href(`/rentals/${c.id}/signed.pdf`, { download: 1 }) }, 'Signed PDF') : null,
    action(doc ? 'Attach another' : 'Attach contract PDF', async () => {
      const ok = await formDialog({
        title: `Contract document for ${c.number}`,
        text: 'The customer signs this PDF. Attaching another replaces it: the customer signs again.',
        submit: 'Attach',
        fields: [{ name: 'file', label: 'Contract (PDF)', type: 'file', required: true, attrs: { accept: 'application/pdf' }, hint: 'At most 10 MB.' }],
        onSubmit: async (vals) => {
          if (!vals.file) throw new ApiError(422, { error: { message: 'Choose the PDF.', details: { fields: { file: ['Choose a PDF file.'] } } } });
          const data = new FormData();
          data.append('file', vals.file);
          await api(`/admin/rentals/${c.id}/document`, { method: 'POST', form: data });
          return true;
        },
      });
      if (ok) {
        toast(`Contract document attached to ${c.number}.`);
        app.refresh();
      }
    }));
}

const CALL_OFF_TABS = [['requested', 'To handle'], ['confirmed', 'Confirmed'], ['declined', 'Declined'], ['all', 'All']];

async function staffRentals({ query: q, app }) {
  const customerId = q.customer_id || '';
  const status = q.status || 'requested';
  const [customers, contracts, callOffs] = await Promise.all([
    customerNames(),
    get('/admin/rentals', { customer_id: customerId, per_page: 200 }),
    get('/admin/rentals/call-offs', { customer_id: customerId, status: status === 'all' ? undefined : status, per_page: 100 }),
  ]);
  const index = itemIndex(contracts.items);
  const link = (changes) => `/admin/rentals${qs({ customer_id: customerId, status, ...changes })}`;

  const decide = (c) => (c.status !== 'requested' ? '—' : h('div', { class: 'actions' },
    action('Confirm', async () => {
      await post(`/admin/rentals/call-offs/${c.id}/confirm`);
      toast('Call-off confirmed: the items are off rent.');
      app.refresh();
    }, { class: 'primary', confirmText: 'The items go off rent on the day asked. Confirm this call-off?' }),
    action('Decline', async () => {
      const ok = await formDialog({
        title: 'Decline call-off',
        submit: 'Decline',
        fields: [{ name: 'reason', label: 'Reason (the customer sees it)', type: 'textarea', required: true }],
        onSubmit: async (vals) => {
          if (!vals.reason) throw new ApiError(422, { error: { message: 'Say why.', details: { fields: { reason: 'Give the customer a reason.' } } } });
          await post(`/admin/rentals/call-offs/${c.id}/decline`, { reason: vals.reason });
          return true;
        },
      });
      if (ok) {
        toast('Call-off declined.');
        app.refresh();
      }
    }, { class: 'danger' })));

  // Contracts grouped by customer.
  const byCustomer = new Map();
  for (const c of contracts.items) {
    if (!byCustomer.has(c.customer_id)) byCustomer.set(c.customer_id, []);
    byCustomer.get(c.customer_id).push(c);
  }
  return page('Rentals',
    customerPicker(customers, customerId, (id) => app.navigate(link({ customer_id: id }))),
    card('Call-off requests',
      filterTabs('Call-off status', CALL_OFF_TABS, status, (v) => link({ status: v })),
      table({
        columns: [...callOffColumns(index, { customers }), { label: 'Action', render: decide }],
        rows: callOffs.items,
        empty: status === 'requested' ? 'No call-off requests wait for you.' : 'No call-off requests here.',
      })),
    byCustomer.size ? [...byCustomer.entries()].map(([cid, list]) => card(`${customers.get(cid) || 'Customer'}: rentals`, table({
      columns: [
        { label: 'Contract', render: (c) => c.number },
        { label: 'Where', render: (c) => c.site || '—' },
        { label: 'Since', render: (c) => fmt.date(c.starts_on) },
        { label: 'Ends', render: (c) => (c.ends_on ? fmt.date(c.ends_on) : 'Open-ended') },
        { label: 'Items out', render: (c) => h('ul', { class: 'call-off-lines' }, c.items.map((i) => h('li', {},
          `${i.item}${i.description ? ` (${i.description})` : ''}: ${i.quantity_out} out since ${fmt.date(i.since)}`,
          i.pending_call_off ? `, ${i.pending_call_off} asked off` : ''))) },
        { label: 'Status', render: (c) => badge(c.status) },
        { label: 'Contract document', render: (c) => attachColumn(c, app) },
      ],
      rows: list,
    }))) : card('Contracts', h('p', { class: 'empty' }, 'No rental contracts. A delivered rental order opens one.')));
}

export const routes = [
  { path: '/rentals', title: 'Rentals', access: 'customer', nav: { label: 'Rentals', order: 60 }, render: customerRentals },
  { path: '/admin/rentals', title: 'Rentals', access: 'staff', nav: { label: 'Rentals', order: 50 }, render: staffRentals },
];
