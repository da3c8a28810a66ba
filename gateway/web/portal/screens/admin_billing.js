// The operator's billing: invoices across customers (overdue first), recording payments received
// offline, credit notes and refunds, issuing invoices, and the rate cards.
import { ApiError, api, get } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { isOperatorAdmin } from '../lib/session.js';
import { action, badge, card, field, form, page, pager, table, toast } from '../lib/ui.js';
import { attempts, filterTabs, formDialog, invoiceBody, invoiceColumns, money, periodForm, statementView } from './invoices.js';

const PER_PAGE = 25;
const METHODS = [['bank_transfer', 'Bank transfer'], ['cheque', 'Cheque'], ['cash', 'Cash']];
const qs = (obj) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
};
const localNow = () => {
  const d = new Date();
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
};

/** customer id -> name, for the operator's lists (one request, the first 200 customers). */
export async function customerNames() {
  const names = new Map();
  try {
    const found = await get('/admin/customers', { per_page: 200 });
    for (const c of found.items) names.set(c.id, c.name);
  } catch { /* names then fall back to "Customer" */ }
  return names;
}

/** A "Customer" select that filters a list (all customers, or one). */
export function customerPicker(names, current, onChange) {
  const holder = field({
    name: 'customer_id', label: 'Customer', type: 'select', value: current,
    options: [['', 'All customers'], ...[...names.entries()].sort((a, b) => a[1].localeCompare(b[1]))],
  });
  holder.classList.add('customer-picker');
  holder.querySelector('select').addEventListener('change', (e) => onChange(e.target.value));
  return holder;
}

// --- invoices ------------------------------------------------------------------------------------
const TABS = [['overdue', 'Overdue'], ['open', 'Outstanding'], ['partially_paid', 'Part-paid'], ['paid', 'Paid'],
  ['credited', 'Credited'], ['all', 'All']];

async function invoiceList({ query: q, app }) {
  const status = q.status || 'open';
  const customerId = q.customer_id || '';
  const pageNo = Number(q.page) || 1;
  // Outstanding ones by due date: the overdue come first.
  const sort = q.sort || (['paid', 'credited', 'all'].includes(status) ? '-issued_at' : 'due_date');
  const [names, list] = await Promise.all([
    customerNames(),
    get('/invoices', { status: status === 'all' ? undefined : status, customer_id: customerId, page: pageNo, per_page: PER_PAGE, sort }),
  ]);
  const link = (changes) => `/admin/invoices${qs({ status, customer_id: customerId, sort: q.sort, ...changes })}`;
  return page('Invoices',
    h('div', { class: 'row' },
      h('a', { class: 'button-link', href: '/admin/invoices/new' }, 'Issue invoice'),
      h('a', { href: '/admin/rate-cards' }, 'Rate cards'),
      customerId ? h('a', { href: `/admin/statements${qs({ customer_id: customerId })}` }, 'Statement of this customer') : null),
    customerPicker(names, customerId, (id) => app.navigate(link({ customer_id: id, page: undefined }))),
    card('All invoices',
      filterTabs('Invoice status', TABS, status, (v) => link({ status: v, sort: undefined })),
      table({
        columns: invoiceColumns((i) => `/admin/invoices/${i.id}`,
          [{ label: 'Customer', render: (i) => names.get(i.customer_id) || '—' }]),
        rows: list.items,
        empty: status === 'overdue' ? 'Nothing is overdue.' : 'No invoices here.',
        sorted: sort,
        onSort: (s) => app.navigate(link({ sort: s })),
      }),
      pager({ page: list.page, perPage: list.per_page, total: list.total, onPage: (p) => app.navigate(link({ page: p })) })));
}

/** Record a payment received by bank transfer, cheque or cash. Resolves true once recorded. */
function recordPayment(inv) {
  const keys = attempts();
  const opened = localNow();
  return formDialog({
    title: 'Record offline payment',
    text: `Invoice ${inv.number}: ${money(inv.outstanding)} outstanding.`,
    submit: 'Record payment',
    fields: [
      { name: 'amount', label: `Amount (${inv.currency})`, required: true, value: inv.outstanding.amount, attrs: { inputmode: 'decimal' } },
      { name: 'method', label: 'Method', type: 'select', required: true, options: METHODS, value: 'bank_transfer' },
      { name: 'reference', label: 'Reference', hint: 'The bank reference, cheque number or receipt.', attrs: { maxlength: 100 } },
      { name: 'received_at', label: 'Received on', type: 'datetime-local', required: true, value: opened },
    ],
    onSubmit: async (vals) => {
      const body = {
        amount: String(vals.amount || '').trim().replace(',', '.'),
        method: vals.method,
        reference: vals.reference || null,
        // Left as opened: "now" by the server's clock (the field's minute could precede the invoice).
        received_at: vals.received_at && vals.received_at !== opened ? new Date(vals.received_at).toISOString() : null,
      };
      try {
        await api(`/admin/invoices/${inv.id}/payments`, { method: 'POST', body, headers: { 'Idempotency-Key': keys.for(body) } });
      } catch (error) {
        keys.failed(error);
        throw error;
      }
      return true;
    },
  });
}

function creditNote(inv) {
  return formDialog({
    title: 'Issue credit note',
    text: `At most the ${money(inv.outstanding)} outstanding; refund a payment first to correct what was paid.`,
    submit: 'Issue credit note',
    fields: [
      { name: 'amount', label: `Amount (${inv.currency})`, required: true, value: inv.outstanding.amount, attrs: { inputmode: 'decimal' } },
      { name: 'reason', label: 'Reason', type: 'textarea', required: true },
    ],
    onSubmit: async (vals) => {
      await api(`/admin/invoices/${inv.id}/credit-notes`, { method: 'POST', body: {
        amount: String(vals.amount || '').trim().replace(',', '.'), reason: vals.reason || '' } });
      return true;
    },
  });
}

function refund(payment) {
  const keys = attempts();
  const left = (Number(payment.amount.amount) - Number(payment.refunded?.amount || 0)).toFixed(2);
  return formDialog({
    title: 'Refund payment',
    text: `${money(payment.amount)} ${fmt.label(payment.method).toLowerCase()} of ${fmt.date(payment.received_at)}; ${money({ amount: left, currency: payment.amount.currency })} can be refunded.`,
    submit: 'Refund',
    fields: [
      { name: 'amount', label: `Amount (${payment.amount.currency})`, required: true, value: left, attrs: { inputmode: 'decimal' } },
      { name: 'reason', label: 'Reason', type: 'textarea' },
    ],
    onSubmit: async (vals) => {
      const body = { amount: String(vals.amount || '').trim().replace(',', '.'), reason: vals.reason || null };
      try {
        await api(`/admin/payments/${payment.id}/refunds`, { method: 'POST', body, headers: { 'Idempotency-Key': keys.for(body) } });
      } catch (error) {
        keys.failed(error);
        throw error;
      }
      return true;
    },
  });
}

async function invoiceDetail({ params }) {
  const holder = h('div', {});
  const show = async (flash) => {
    const inv = await get(`/invoices/${params.id}`);
    const open = Number(inv.outstanding.amount) > 0;
    const after = (message) => async (ok) => {
      if (ok) await show(message);
    };
    const actions = [
      open ? action('Record offline payment', async () => after('Payment recorded.')(await recordPayment(inv)), { class: 'primary' }) : null,
      open && isOperatorAdmin() ? action('Issue credit note', async () => after('Credit note issued.')(await creditNote(inv))) : null,
    ];
    const refundable = inv.payments.filter((p) => p.status === 'succeeded' && Number(p.refunded?.amount || 0) < Number(p.amount.amount));
    const refunds = isOperatorAdmin() && refundable.length ? card('Refunds', table({
      columns: [
        { label: 'Payment', render: (p) => `${fmt.label(p.method)} ${p.reference || ''} of ${fmt.date(p.received_at)}`.trim() },
        { label: 'Amount', render: (p) => money(p.amount) },
        { label: 'Refunded', render: (p) => money(p.refunded) },
        { label: 'Action', render: (p) => action('Refund', async () => after('Refund recorded.')(await refund(p))) },
      ],
      rows: refundable,
    })) : null;
    const notice = flash ? h('div', { class: 'notice-ok', role: 'status', tabindex: '-1' }, flash) : null;
    replace(holder, page(`Invoice ${inv.number}`,
      h('p', {}, h('a', { href: `/admin/invoices${qs({ customer_id: inv.customer_id })}` }, '← Invoices of this customer')),
      notice,
      invoiceBody(inv, { actions, extra: [refunds], customerName: inv.customer?.name || '—' })));
    if (notice) notice.focus();
  };
  await show();
  return holder;
}

// --- issuing an invoice ----------------------------------------------------------------------------
function lineFields(n) {
  return h('fieldset', { class: 'invoice-line' }, h('legend', {}, `Line ${n + 1}`),
    field({ name: `lines.${n}.description`, label: 'Description' }),
    field({ name: `lines.${n}.quantity`, label: 'Quantity', value: '1', attrs: { inputmode: 'decimal' } }),
    field({ name: `lines.${n}.unit`, label: 'Unit', value: 'unit' }),
    field({ name: `lines.${n}.unit_price`, label: 'Unit price', attrs: { inputmode: 'decimal' } }),
    field({ name: `lines.${n}.tax_rate`, label: 'Tax rate (%)', value: '21', attrs: { inputmode: 'decimal' } }));
}

async function issueInvoice({ query: q, app }) {
  const names = await customerNames();
  const keys = attempts();
  let count = 1;
  const lines = h('div', { class: 'billing-lines' }, lineFields(0));
  const addLine = h('button', { type: 'button', onclick: () => {
    const next = lineFields(count++);
    lines.append(next);
    next.querySelector('input').focus();
  } }, 'Add line');
  const f = form({
    label: 'Issue invoice', class: 'wide', submit: 'Issue invoice',
    fields: [
      { name: 'customer_id', label: 'Customer', type: 'select', required: true, value: q.customer_id || '',
        options: [['', 'Choose a customer'], ...[...names.entries()].sort((a, b) => a[1].localeCompare(b[1]))] },
      { name: 'order_id', label: 'Order ID', hint: 'To invoice a priced order at its price: then no lines are needed.' },
      { name: 'due_date', label: 'Due date', type: 'date', hint: 'Empty: by the payment terms.' },
      { name: 'notes', label: 'Notes', type: 'textarea' },
      h('h2', {}, 'Lines'),
      lines,
      h('div', { class: 'actions' }, addLine),
    ],
    onSubmit: async (vals) => {
      if (!vals.customer_id) throw new ApiError(422, { error: { message: 'Choose the customer.', details: { fields: { customer_id: 'Choose the customer.' } } } });
      // A line is one with a description; rows left empty are dropped (and keep their numbers).
      const filled = (vals.lines || []).map((l, n) => [l, n]).filter(([l]) => l && l.description);
      const body = { customer_id: vals.customer_id, order_id: vals.order_id || null, due_date: vals.due_date || null,
        notes: vals.notes || null, lines: filled.length ? filled.map(([l]) => l) : null };
      let inv;
      try {
        inv = await api('/admin/invoices', { method: 'POST', body, headers: { 'Idempotency-Key': keys.for(body) } });
      } catch (error) {
        keys.failed(error);
        if (error instanceof ApiError && error.details?.fields?.lines) {
          const moved = {};   // the API numbers the lines sent, the form all of its rows
          for (const [j, errs] of Object.entries(error.details.fields.lines)) moved[filled[Number(j)]?.[1] ?? j] = errs;
          error.details.fields.lines = moved;
        }
        throw error;
      }
      toast(`Invoice ${inv.number} issued.`);
      app.navigate(`/admin/invoices/${inv.id}`);
    },
  });
  return page('Issue invoice', h('p', {}, h('a', { href: '/admin/invoices' }, '← Invoices')), card(null, f));
}

// --- a customer's statement --------------------------------------------------------------------
async function statement({ query: q, app }) {
  const names = await customerNames();
  const customerId = q.customer_id || '';
  const picker = { name: 'customer_id', label: 'Customer', type: 'select', required: true, value: customerId,
    options: [['', 'Choose a customer'], ...[...names.entries()].sort((a, b) => a[1].localeCompare(b[1]))] };
  const period = periodForm(q, (vals) => {
    if (!vals.customer_id) throw new ApiError(422, { error: { message: 'Choose the customer.', details: { fields: { customer_id: 'Choose the customer.' } } } });
    app.navigate(`/admin/statements${qs({ customer_id: vals.customer_id, from: vals.from, to: vals.to })}`);
  }, [picker]);
  let body = h('p', { class: 'empty' }, 'Choose a customer and a period, then "View statement".');
  if (customerId) {
    const range = { from: period.from, to: period.to, customer_id: customerId };
    try {
      body = statementView(await get('/statements', range), { ...range, link: (id) => `/admin/invoices/${id}` });
    } catch (error) {
      body = h('div', { class: 'form-alert', role: 'alert' }, error.message);
    }
  }
  return page('Customer statement', h('p', {}, h('a', { href: `/admin/invoices${qs({ customer_id: customerId })}` }, '← Invoices')),
    card('Period', period.node), body);
}

// --- rate cards ------------------------------------------------------------------------------------
async function rateCards({ app, query: q }) {
  const [names, list] = await Promise.all([customerNames(), get('/admin/rate-cards', { page: Number(q.page) || 1, per_page: 50 })]);
  const rate = (v, unit) => (v === null || v === undefined ? '—' : `${Number(v)}${unit}`);
  return page('Rate cards',
    h('p', {}, h('a', { href: '/admin/invoices' }, '← Invoices')),
    card('Rate cards', table({
      columns: [
        { label: 'Name', render: (r) => r.name },
        { label: 'For', render: (r) => (r.customer_id ? names.get(r.customer_id) || 'A customer' : 'Every customer (default)') },
        { label: 'Orders', render: (r) => (r.kind ? fmt.label(r.kind) : 'All kinds') },
        { label: 'Base fee', render: (r) => (r.base_fee ? fmt.money(r.base_fee, r.currency) : '—') },
        { label: 'Rates', render: (r) => [
          ['per km', r.per_km], ['per kg', r.per_kg], ['per package', r.per_package], ['per hour', r.per_hour], ['per day', r.per_day],
        ].filter(([, v]) => v !== null && v !== undefined).map(([u, v]) => `${fmt.money(v, r.currency)} ${u}`).join(', ') || '—' },
        { label: 'Minimum', render: (r) => (r.minimum ? fmt.money(r.minimum, r.currency) : '—') },
        { label: 'Surcharges', render: (r) => (r.surcharges || []).map((s) => `${s.name}${s.percent ? ` +${Number(s.percent)} %` : ''}${s.start ? ` (${s.start}–${s.end})` : ''}`).join(', ') || '—' },
        { label: 'Tax', render: (r) => rate(r.tax_rate, ' %') },
        { label: 'Status', render: (r) => badge(r.active ? 'active' : 'inactive') },
      ],
      rows: list.items,
      empty: 'No rate cards yet.',
    }),
    pager({ page: list.page, perPage: list.per_page, total: list.total, onPage: (p) => app.navigate(`/admin/rate-cards?page=${p}`) })));
}

export const routes = [
  { path: '/admin/invoices', title: 'Invoices', access: 'staff', nav: { label: 'Invoices', order: 40 }, render: invoiceList },
  // before '/admin/invoices/:id': "new" is not an invoice
  { path: '/admin/invoices/new', title: 'Issue invoice', access: 'staff', render: issueInvoice },
  { path: '/admin/invoices/:id', title: 'Invoice', access: 'staff', render: invoiceDetail },
  { path: '/admin/rate-cards', title: 'Rate cards', access: 'staff', render: rateCards },
  { path: '/admin/statements', title: 'Customer statement', access: 'staff', render: statement },
];
