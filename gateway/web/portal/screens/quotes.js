// Quotes. Customers ask for a quote (the order described with the webbooker's fields), follow it,
// and accept it, reject it or ask for changes once it is sent. Operator staff list the requests,
// price them (the rate card's suggestion, or their own lines) and send them.
// GET /quotes and GET /quotes/{id} answer both sides, so '/quotes/:id' shows each its view.
import { api, href } from '../lib/api.js';
import { $$, fmt, h, replace } from '../lib/dom.js';
import { setQuery } from '../lib/router.js';
import { canBook, isStaff } from '../lib/session.js';
import { signDialog } from '../lib/sign_dialog.js';
import * as ui from '../lib/ui.js';
import { orderEditor, loadPlaces } from './book.js';
import { TEST_CARDS, tokenize } from './invoices.js';

const STATUSES = ['requested', 'sent', 'changes_requested', 'accepted', 'rejected', 'expired'];
const TO_PRICE = ['requested', 'changes_requested'];
const money = (m) => (m ? fmt.money(m.amount, m.currency) : '—');

/** A unit price is kept unrounded (0.125 per km): show up to 4 decimals rather than round it. */
function unitMoney(m) {
  if (!m) return '—';
  try {
    return new Intl.NumberFormat(navigator.language || 'en-GB', { style: 'currency', currency: m.currency, maximumFractionDigits: 4 })
      .format(Number(m.amount));
  } catch {
    return money(m);
  }
}

function oneLine(address = {}) {
  return [address.unit, address.line1, address.postal_code, address.city, address.country].filter(Boolean).join(', ') || '—';
}

/** "From → To" of a quote's order: the first pickup and the last drop-off. */
function route(order = {}) {
  const stops = order.stops || [];
  const from = stops.find((s) => s.type === 'pickup') || stops[0];
  const to = [...stops].reverse().find((s) => (s.type || 'dropoff') === 'dropoff');
  const city = (s) => (s ? s.address?.city || s.address?.line1 || 'a saved place' : '—');
  return `${city(from)} → ${city(to)}`;
}

function timeWindow(stop) {
  if (!stop.window_start && !stop.window_end) return null;
  return `${fmt.dateTime(stop.window_start)} – ${fmt.dateTime(stop.window_end)}`;
}

// --- lists ---------------------------------------------------------------------------------------
function filtersForm(query, statuses, onChange) {
  const formEl = ui.form({
    class: 'quote-filters',
    label: 'Filter quotes',
    submit: 'Filter',
    fields: [
      { name: 'status', label: 'Status', type: 'select', value: query.status || '',
        options: [['', 'All'], ...statuses.map((s) => [s, fmt.label(s)])] },
      { name: 'from', label: 'Asked from', type: 'date', value: query.from },
      { name: 'to', label: 'Asked until', type: 'date', value: query.to },
    ],
    onSubmit: async (values) => onChange({ status: values.status, from: values.from, to: values.to, page: 1 }),
  });
  return formEl;
}

async function quoteList({ query, staff }) {
  const holder = h('div', {});
  let customers = {};
  if (staff) {
    try {
      const page = await api('/admin/customers', { query: { per_page: 200 } });
      customers = Object.fromEntries(page.items.map((c) => [c.id, c.name]));
    } catch {
      customers = {};
    }
  }
  const base = staff ? '/admin/quotes' : '/quotes';
  const load = async (state) => {
    setQuery(state);
    const status = state.status === 'to_price' ? TO_PRICE : state.status;
    const result = await api('/quotes', { query: { status, from: state.from, to: state.to, page: state.page || 1, per_page: 25 } });
    replace(holder,
      ui.table({
        empty: staff ? 'No quotes match: try another status or dates.'
          : 'No quotes match. Ask for one with "Request a quote".',
        columns: [
          { label: 'Quote', render: (q) => h('a', { href: `${base}/${q.id}` }, q.number) },
          staff ? { label: 'Customer', render: (q) => customers[q.customer_id] || q.customer_id } : null,
          { label: 'Asked', render: (q) => fmt.date(q.created_at) },
          { label: 'Status', render: (q) => ui.badge(q.status) },
          { label: 'Route', render: (q) => route(q.order) },
          { label: 'Total', render: (q) => (q.total ? money(q.total) : 'Not priced yet') },
          { label: 'Valid until', render: (q) => (q.valid_until ? fmt.date(q.valid_until) : '—') },
        ].filter(Boolean),
        rows: result.items,
      }),
      ui.pager({ page: result.page, perPage: result.per_page, total: result.total,
        onPage: (p) => load({ ...state, page: p }).catch((e) => ui.toast(e.message, 'error')) }));
  };
  const state = { status: query.status ?? (staff ? 'to_price' : ''), from: query.from, to: query.to, page: Number(query.page) || 1 };
  await load(state);
  const statuses = staff ? ['to_price', ...STATUSES] : STATUSES;
  const filters = filtersForm(state, statuses, (next) => load(next));
  if (staff) {
    // "To price" is the operator's work list: requests and requests for changes.
    filters.querySelector('select[name=status] option[value=to_price]').textContent = 'To price (requested or changes asked)';
  }
  return [filters, holder];
}

async function customerList({ query }) {
  const [filters, list] = await quoteList({ query, staff: false });
  return ui.page('Quotes',
    canBook() ? h('div', { class: 'actions' }, h('a', { href: '/quotes/new', class: 'quote-cta' }, 'Request a quote')) : null,
    ui.card('Find a quote', filters),
    list);
}

async function staffList({ query }) {
  const [filters, list] = await quoteList({ query, staff: true });
  return ui.page('Quotes to price and sent', ui.card('Find a quote', filters), list);
}

// --- one quote -----------------------------------------------------------------------------------
function orderCard(order = {}) {
  const stops = order.stops || [];
  const items = order.items || [];
  return ui.card('What is quoted',
    ui.facts([
      ['Kind', fmt.label(order.kind || 'delivery')],
      order.reference ? ['Reference', order.reference] : null,
      order.pickup_at ? ['Pickup time', fmt.dateTime(order.pickup_at)] : null,
      order.passengers ? ['Passengers', String(order.passengers)] : null,
      order.vehicle_type ? ['Vehicle', order.vehicle_type] : null,
      order.rental_start ? ['Rental', `${fmt.date(order.rental_start)} – ${fmt.date(order.rental_end)}`] : null,
      order.notes ? ['Notes', order.notes] : null,
    ]),
    ui.table({
      caption: 'Stops',
      empty: 'No stops.',
      columns: [
        { label: '#', render: (s) => String(stops.indexOf(s) + 1) },
        { label: 'Type', render: (s) => (s.type === 'pickup' ? 'Pickup' : 'Delivery') },
        { label: 'Address', render: (s) => (s.place_id && !s.address?.line1 ? 'A saved place' : oneLine(s.address)) },
        { label: 'Time window', render: (s) => timeWindow(s) || '—' },
        { label: 'Contact', render: (s) => [s.contact?.name, s.contact?.phone].filter(Boolean).join(', ') || '—' },
      ],
      rows: stops,
    }),
    ui.table({
      caption: 'Items',
      empty: 'No items given.',
      columns: [
        { label: 'What', render: (i) => i.description },
        { label: 'Quantity', render: (i) => String(i.quantity ?? 1) },
        { label: 'Weight (kg)', render: (i) => i.weight_kg ?? '—' },
        { label: 'Size (cm)', render: (i) => (i.length_cm ? `${i.length_cm} × ${i.width_cm ?? '?'} × ${i.height_cm ?? '?'}` : '—') },
      ],
      rows: items,
    }));
}

function priceCard(quote, title = 'Price') {
  const price = quote.price;
  if (!price) {
    return ui.card(title, h('p', { class: 'empty' }, isStaff()
      ? 'No rate card applies to this request: give the lines below.'
      : 'The operator has not priced this quote yet; you will be told when it is sent.'));
  }
  return ui.card(title,
    ui.table({
      caption: 'Lines',
      columns: [
        { label: 'Description', render: (l) => l.description },
        { label: 'Quantity', render: (l) => `${l.quantity} ${l.unit || ''}`.trim() },
        { label: 'Unit price', render: (l) => unitMoney(l.unit_price) },
        { label: 'Tax rate', render: (l) => `${Number(l.tax_rate)} %` },
        { label: 'Net', render: (l) => money(l.net) },
        { label: 'Tax', render: (l) => money(l.tax) },
        { label: 'Total', render: (l) => money(l.total) },
      ],
      rows: price.lines || [],
    }),
    ui.facts([
      ['Net', money(price.net)],
      ['Tax', money(price.tax)],
      ['Total', h('span', { class: 'quote-total' }, money(quote.total || price.total))],
    ]),
    price.notes?.length ? h('ul', {}, price.notes.map((n) => h('li', { class: 'muted' }, n))) : null);
}

function historyCard(quote) {
  const history = quote.history || [];
  if (!history.length) return null;
  return ui.card('History', h('ol', { class: 'timeline' }, history.map((e) => h('li', {},
    h('strong', {}, fmt.label(e.action)), ` by the ${e.by}, ${fmt.dateTime(e.at)}`,
    e.total ? ` — ${money(e.total)}` : '',
    e.valid_until ? `, valid until ${fmt.date(e.valid_until)}` : '',
    e.note ? h('p', { class: 'muted' }, e.note) : null))));
}

function factsCard(quote, customerName) {
  return ui.card('Quote',
    ui.facts([
      ['Number', quote.number],
      customerName ? ['Customer', customerName] : null,
      ['Status', ui.badge(quote.status)],
      ['Asked', fmt.dateTime(quote.created_at)],
      quote.sent_at ? ['Sent', fmt.dateTime(quote.sent_at)] : null,
      quote.valid_until ? ['Valid until', fmt.dateTime(quote.valid_until)] : null,
      quote.revision ? ['Revision', String(quote.revision)] : null,
      quote.deposit ? ['Deposit on signing', money(quote.deposit)] : null,
      quote.message ? [isStaff() ? 'Customer says' : 'Your message', quote.message] : null,
      quote.note ? ['Operator note', quote.note] : null,
      quote.reason ? ['Reason', quote.reason] : null,
      quote.decided_at ? ['Decided', fmt.dateTime(quote.decided_at)] : null,
    ]));
}

// --- sign and accept -----------------------------------------------------------------------------
/** The sign dialog for a quote (lib/sign_dialog.js): resolves with the body of POST
 * /quotes/{id}/sign, or null when cancelled. A deposit adds the card, tokenised on submit. */
function quoteSignDialog(quote, shown) {
  // Accept, sign and pay: the deposit is charged in the same step (declined: nothing is accepted).
  const card = quote.deposit ? h('fieldset', { class: 'new-card' },
    h('legend', {}, `Deposit: ${money(quote.deposit)} by card, charged when you sign`),
    ui.field({ name: 'card_name', label: 'Name on card', required: true, autocomplete: 'cc-name' }),
    ui.field({ name: 'card_number', label: 'Card number', required: true, autocomplete: 'cc-number',
      attrs: { inputmode: 'numeric', maxlength: 23 }, hint: `Test cards: ${TEST_CARDS.map(([n, , what]) => `${n} (${what})`).join('; ')}.` }),
    h('div', { class: 'card-row' },
      ui.field({ name: 'card_exp', label: 'Expiry (MM/YY)', required: true, autocomplete: 'cc-exp', placeholder: 'MM/YY',
        attrs: { inputmode: 'numeric', maxlength: 7 } }),
      ui.field({ name: 'card_cvc', label: 'CVC', required: true, autocomplete: 'cc-csc', attrs: { inputmode: 'numeric', maxlength: 4 } })),
    h('p', { class: 'muted' }, 'The deposit is kept as credit on your account and used on the order\'s invoice.')) : null;
  const collect = (formEl) => {
    const el = formEl.elements;
    try {
      return { payment_method: tokenize({ name: el.card_name.value, number: el.card_number.value, exp: el.card_exp.value, cvc: el.card_cvc.value }) };
    } finally {
      // The card's details are done with once tokenised (or refused): keep none of them.
      for (const n of ['card_number', 'card_exp', 'card_cvc']) el[n].value = '';
    }
  };
  return signDialog({
    title: 'Sign and accept',
    intro: `You accept quote ${quote.number} (revision ${shown.revision}) for ${money(quote.total)}: the order is booked at that price.`,
    documentUrl: href(`/quotes/${quote.id}/document.pdf`),
    documentLabel: 'Read the quote (PDF)',
    sha256: shown.sha256,
    agree: 'I have read this quote and accept it with my electronic signature.',
    submit: 'Sign and accept',
    extra: card ? { node: card, collect } : null,
  });
}

/** The signature a quote was accepted with (both sides), or nothing when it was not signed. */
async function signatureCard(quote) {
  if (quote.status !== 'accepted') return null;
  let signature;
  try {
    signature = await api(`/quotes/${quote.id}/signature`);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
  const pdf = href(`/quotes/${quote.id}/signed.pdf`, { download: 1 });
  return ui.card('Signature',
    ui.facts([
      ['Signed by', signature.full_name],
      ['Signed at', fmt.dateTime(signature.signed_at)],
      ['Revision', String(signature.revision)],
      ['From', [signature.origin_network, signature.user_agent].filter(Boolean).join(' · ') || '—'],
      ['Document SHA-256', h('code', { class: 'hash' }, signature.document_sha256)],
      signature.deposit ? ['Deposit paid', `${money(signature.deposit)}${signature.card ? ` (${signature.card.brand} ${signature.card.last4})` : ''}`] : null,
    ]),
    h('p', {}, h('a', { class: 'button-link', href: pdf, download: `quote-${quote.number}-signed.pdf` }, 'Download the signed PDF')));
}

/** What the customer may do now, by status. */
function customerActions(quote, app) {
  const path = `/quotes/${quote.id}`;
  const buttons = [];
  if (quote.status === 'sent') {
    buttons.push(ui.action(quote.deposit ? 'Sign, accept and pay the deposit' : 'Sign and accept', async () => {
      const shown = await api(`${path}/document`);
      const signed = await quoteSignDialog(quote, shown);
      if (!signed) return;
      try {
        await api(`${path}/sign`, { method: 'POST', body: signed });
      } catch (error) {
        if (error.status === 409) app.refresh();   // sent again since: show the new revision
        throw error;
      }
      ui.toast(`Quote ${quote.number} signed and accepted: it becomes a booking.`);
      app.refresh();
    }, { class: 'primary' }));
    buttons.push(ui.action('Ask for changes', async () => {
      const values = await ui.dialog({
        title: 'Ask for changes', submit: 'Send the request',
        text: 'Say what should change; the operator sends a new revision.',
        fields: [{ name: 'message', label: 'What should change', type: 'textarea', required: true }],
      });
      if (!values) return;
      if (!values.message) {
        ui.toast('Write what should change, then send the request.', 'error');
        return;
      }
      await api(`${path}/request-changes`, { method: 'POST', body: { message: values.message || '' } });
      ui.toast('Your request for changes was sent.');
      app.refresh();
    }));
  }
  if (['requested', 'sent', 'changes_requested'].includes(quote.status)) {
    buttons.push(ui.action('Reject', async () => {
      const values = await ui.dialog({
        title: 'Reject the quote', submit: 'Reject the quote',
        fields: [{ name: 'reason', label: 'Reason', type: 'textarea', required: true }],
      });
      if (!values) return;
      if (!values.reason) {
        ui.toast('Give a reason to reject the quote.', 'error');
        return;
      }
      await api(`${path}/reject`, { method: 'POST', body: { reason: values.reason || '' } });
      ui.toast(`Quote ${quote.number} rejected.`);
      app.refresh();
    }, { class: 'danger' }));
  }
  const next = {
    requested: 'The operator is pricing your request.',
    changes_requested: 'The operator is revising the quote as you asked.',
    sent: quote.valid_until ? `Valid until ${fmt.dateTime(quote.valid_until)}.` : null,
    accepted: 'Accepted: the order is booked at the quoted price.',
    rejected: 'You rejected this quote.',
    expired: 'This quote has expired: ask for a new one.',
  }[quote.status];
  return ui.card('What next',
    next ? h('p', {}, next) : null,
    quote.status === 'accepted'
      ? h('p', {}, quote.order_id ? h('a', { href: `/orders/${quote.order_id}` }, 'Open the order') : h('a', { href: '/orders' }, 'See your orders'))
      : null,
    quote.status === 'expired' || quote.status === 'rejected' ? h('p', {}, h('a', { href: '/quotes/new' }, 'Request a quote')) : null,
    buttons.length && canBook() ? h('div', { class: 'actions' }, buttons) : null);     // viewers read only
}

async function customerQuote({ params, app }) {
  const quote = await api(`/quotes/${encodeURIComponent(params.id)}`);
  return ui.page(`Quote ${quote.number}`,
    h('p', {}, h('a', { href: '/quotes' }, 'All quotes')),
    h('div', { class: 'grid two' }, factsCard(quote), customerActions(quote, app)),
    await signatureCard(quote),
    priceCard(quote),
    orderCard(quote.order),
    historyCard(quote));
}

// --- the operator prices and sends ---------------------------------------------------------------
function lineSet(list, line = {}) {
  const n = list.children.length;
  const name = (f) => `lines.${n}.${f}`;
  const decimal = { inputmode: 'decimal', autocomplete: 'off' };
  const set = h('fieldset', { class: 'quote-line' });
  const remove = h('button', { type: 'button', class: 'danger' }, 'Remove line');
  remove.addEventListener('click', () => {
    set.remove();
    renumberLines(list);
  });
  set.append(h('legend', {}, `Line ${n + 1}`),
    h('div', { class: 'book-grid' },
      ui.field({ name: name('description'), label: 'Description', value: line.description, required: true }),
      ui.field({ name: name('quantity'), label: 'Quantity', value: line.quantity ?? '1', required: true, attrs: decimal }),
      ui.field({ name: name('unit'), label: 'Unit', value: line.unit || 'unit', placeholder: 'order, km, kg' }),
      ui.field({ name: name('unit_price'), label: 'Unit price (net)', value: line.unit_price?.amount ?? line.unit_price, required: true, attrs: decimal,
        hint: 'Negative for a discount.' }),
      ui.field({ name: name('tax_rate'), label: 'Tax rate (%)', value: line.tax_rate != null ? String(Number(line.tax_rate)) : '', required: true, attrs: decimal }),
      line.code ? h('input', { type: 'hidden', name: name('code'), value: line.code }) : null),
    h('div', { class: 'actions' }, remove));
  return set;
}

function renumberLines(list) {
  $$(':scope > fieldset', list).forEach((set, i) => {
    set.querySelectorAll('[name]').forEach((el) => (el.name = el.name.replace(/^lines\.\d+\./, `lines.${i}.`)));
    set.querySelector('legend').textContent = `Line ${i + 1}`;
  });
}

/** datetime-local (the operator's local time) -> ISO with its offset, as the API needs. */
const toIso = (local) => (local ? new Date(local).toISOString() : undefined);

function sendForm(quote, app) {
  const list = h('div', { class: 'quote-lines' });
  (quote.price?.lines || []).forEach((line) => list.append(lineSet(list, line)));
  if (!list.children.length) list.append(lineSet(list, { tax_rate: quote.price?.lines?.[0]?.tax_rate }));
  const addLine = h('button', { type: 'button', onclick: () => {
    const set = lineSet(list, {});
    list.append(set);
    set.querySelector('input')?.focus();
  } }, 'Add line');
  const resent = quote.status === 'sent';
  return ui.card(resent ? 'Send a new revision' : 'Price and send',
    h('p', { class: 'muted' }, quote.price?.rate_card_id
      ? 'The lines start from the rate card\'s price: change, add or remove them. With no lines, the rate card\'s price is sent.'
      : 'Give the quote\'s lines.'),
    ui.form({
      class: 'wide',
      label: 'Price and send the quote',
      submit: 'Send',
      fields: [
        list, h('div', { class: 'actions' }, addLine),
        h('div', { class: 'book-grid' },
          ui.field({ name: 'currency', label: 'Currency', value: quote.price?.currency || quote.total?.currency || '',
            placeholder: 'EUR', attrs: { maxlength: 3, autocapitalize: 'characters' }, hint: 'Three letters; left empty, the customer\'s.' }),
          ui.field({ name: 'valid_days', label: 'Valid for (days)', type: 'number', attrs: { min: 1, max: 365 },
            hint: 'Left empty, the usual validity.' }),
          ui.field({ name: 'valid_until', label: 'Or valid until', type: 'datetime-local' })),
        h('div', { class: 'book-grid' },
          ui.field({ name: 'deposit_amount', label: 'Deposit on signing (amount)', attrs: { inputmode: 'decimal' },
            hint: 'Charged by card when the customer signs; left empty, no deposit.' }),
          ui.field({ name: 'deposit_percent', label: 'Or deposit (% of the total)', attrs: { inputmode: 'decimal' } })),
        { name: 'require_signature', label: 'The customer accepts by signing', type: 'checkbox',
          value: quote.require_signature !== false,
          hint: 'Unticked, a partner\'s system may also accept it by API without a signature. A quote with a deposit is always signed.' },
        { name: 'note', label: 'Note to the customer', type: 'textarea' },
      ],
      onSubmit: async (values) => {
        const body = { ...values, valid_until: toIso(values.valid_until) };
        if (!body.lines?.length) delete body.lines;
        if (body.currency) body.currency = body.currency.toUpperCase();
        const sent = await api(`/admin/quotes/${quote.id}/send`, { method: 'POST', body });
        ui.toast(`Quote ${sent.number} sent: ${money(sent.total)}.`);
        app.refresh();
      },
    }));
}

async function staffQuote({ params, app }) {
  const quote = await api(`/quotes/${encodeURIComponent(params.id)}`);
  let customerName = null;
  try {
    customerName = (await api(`/admin/customers/${quote.customer_id}`)).name;
  } catch {
    customerName = quote.customer_id;
  }
  const canSend = [...TO_PRICE, 'sent'].includes(quote.status);
  return ui.page(`Quote ${quote.number}`,
    h('p', {}, h('a', { href: '/admin/quotes' }, 'All quotes')),
    factsCard(quote, customerName),
    await signatureCard(quote),
    orderCard(quote.order),
    priceCard(quote, quote.status === 'requested' ? 'Rate card suggestion' : 'Price'),
    canSend ? sendForm(quote, app) : null,
    historyCard(quote));
}

// --- asking for a quote --------------------------------------------------------------------------
async function requestQuote({ query, app }) {
  // ?order_id=<draft>: a quote for that draft (accepting it books the draft).
  let draft = null;
  if (query.order_id) {
    try {
      draft = await api(`/orders/${encodeURIComponent(query.order_id)}`);
    } catch {
      draft = null;
    }
  }
  const places = await loadPlaces();
  const editor = orderEditor({ order: draft || {}, places, prefix: 'order.' });
  const key = crypto.randomUUID();
  const formEl = ui.form({
    class: 'wide book-form',
    label: 'Request a quote',
    submit: 'Request the quote',
    fields: [
      ...editor.nodes,
      ui.card('Message',
        ui.field({ name: 'message', label: 'Anything the operator should know', type: 'textarea',
          placeholder: 'e.g. a tail lift is needed; the price should include waiting time' })),
    ],
    actions: [h('a', { href: '/quotes' }, 'Cancel')],
    onSubmit: async (values) => {
      const body = { order: editor.body(values), message: values.message };
      if (draft?.status === 'draft') body.order_id = draft.id;
      const quote = await api('/quotes', { method: 'POST', body, headers: { 'Idempotency-Key': key } });
      ui.toast(`Quote ${quote.number} requested: the operator prices it and tells you.`);
      app.navigate(`/quotes/${quote.id}`);
    },
  });
  return ui.page('Request a quote',
    h('p', { class: 'muted' }, draft
      ? `For your draft ${draft.reference}: accepting the quote books that draft.`
      : 'Describe the order: from where to where, when, and what. Fields marked * are required.'),
    formEl);
}

export const routes = [
  { path: '/quotes', title: 'Quotes', access: 'customer', nav: { label: 'Quotes', order: 40 }, render: customerList },
  { path: '/quotes/new', title: 'Request a quote', access: 'booker', render: requestQuote },
  { path: '/quotes/:id', title: 'Quote', access: 'signed-in', render: (ctx) => (isStaff() ? staffQuote(ctx) : customerQuote(ctx)) },
  { path: '/admin/quotes', title: 'Quotes', access: 'staff', nav: { label: 'Quotes', order: 30 }, render: staffList },
  { path: '/admin/quotes/:id', title: 'Quote', access: 'staff', render: staffQuote },
];
