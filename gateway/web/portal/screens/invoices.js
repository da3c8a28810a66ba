// The customer's billing: account summary, invoices (and paying them by card), payments,
// statements. The invoice view is shared with the operator's screens (admin_billing.js).
//
// Card payments: the card goes to the payment provider, never to our API. The provider's
// browser side turns the card into a token and only that token (``payment_method``) is sent to
// POST /invoices/{id}/payments. The configured provider is the built-in test processor, whose
// "browser side" is `testProvider` below (it knows the processor's test cards only).
import { ApiError, api, del, get, href, post, put } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { setQuery } from '../lib/router.js';
import { canPay, isCustomerAdmin } from '../lib/session.js';
import { action, badge, card, errorBox, facts, field, form, pager, page, table, toast } from '../lib/ui.js';

const PER_PAGE = 25;

/** {amount, currency} -> "€12.50" */
export const money = (m) => (m ? fmt.money(m.amount, m.currency) : '—');
const hasOutstanding = (inv) => Number(inv.outstanding?.amount || 0) > 0;

/** Status badge with "overdue" said in words too (never by colour only). */
export function invoiceStatus(inv) {
  return inv.overdue && inv.status !== 'overdue'
    ? h('span', { class: 'row' }, badge(inv.status), badge('overdue'))
    : badge(inv.status);
}

/** Links of a filter: anchors (the router keeps them in the page), the current one marked. */
export function filterTabs(label, tabs, current, link) {
  return h('nav', { class: 'billing-tabs', 'aria-label': label },
    h('ul', {}, tabs.map(([value, text]) => h('li', {},
      h('a', { href: link(value), 'aria-current': value === current ? 'true' : null }, text)))));
}

const query = (obj) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
};

/**
 * A dialog holding a form that stays open until onSubmit succeeds, so API errors land next to
 * their fields (ui.dialog closes first). Resolves with onSubmit's answer, or null if cancelled.
 */
export function formDialog({ title, text, fields, submit = 'Save', onSubmit }) {
  return new Promise((resolve) => {
    let result = null;
    const dlg = h('dialog', { class: 'dialog', 'aria-label': title });
    const f = form({
      fields, submit,
      onSubmit: async (vals, formEl) => {
        result = await onSubmit(vals, formEl);
        dlg.close();
      },
      actions: [h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel')],
    });
    dlg.append(h('h2', {}, title), text ? h('p', {}, text) : null, f);
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/**
 * Idempotency-Keys for a write that moves money: a new key for each attempt, the same one again
 * only to retry an attempt whose outcome is unknown (no answer) with the same body, so that a
 * retry never does it twice. keys.for(body) before sending; keys.failed(error) when it throws.
 */
export function attempts() {
  let last = null;
  return {
    for(body) {
      const text = JSON.stringify(body);
      if (!(last && last.unknown && last.text === text)) last = { key: crypto.randomUUID(), text, unknown: false };
      else last.unknown = false;
      return last.key;
    },
    failed(error) {
      // No answer, or a failure that does not say the request was refused: it may have happened.
      if (last) last.unknown = error instanceof ApiError && (error.status === 0 || (error.status >= 500 && !error.details?.payment));
    },
  };
}

// --- the test processor's browser side --------------------------------------------------------
// The processor's published test cards (the same numbers Stripe documents) and the token each
// becomes. A real provider's script would do this at the provider; here nothing leaves the page.
export const TEST_CARDS = [
  ['4242 4242 4242 4242', 'tok_visa', 'Visa: succeeds'],
  ['5555 5555 5555 4444', 'tok_mastercard', 'Mastercard: succeeds'],
  ['3782 822463 10005', 'tok_amex', 'American Express: succeeds'],
  ['4000 0027 6000 3184', 'tok_threeDSecureRequired', 'Visa: asks for 3-D Secure'],
  ['4000 0000 0000 0002', 'tok_chargeDeclined', 'Declined'],
  ['4000 0000 0000 9995', 'tok_insufficientFunds', 'Declined: insufficient funds'],
  ['4000 0000 0000 0069', 'tok_expiredCard', 'Declined: expired card'],
  ['4000 0000 0000 0127', 'tok_incorrectCvc', 'Declined: incorrect CVC'],
];
const TOKENS = new Map(TEST_CARDS.map(([number, token]) => [number.replace(/\D/g, ''), token]));

function luhn(digits) {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/** Check the card like a provider's form does and answer its token, or throw field errors. */
export function tokenize({ name, number, exp, cvc }) {
  const errors = {};
  const digits = String(number || '').replace(/[\s-]/g, '');
  if (!String(name || '').trim()) errors.card_name = 'Enter the name as it is on the card.';
  if (!/^\d{13,19}$/.test(digits) || !luhn(digits)) errors.card_number = 'This card number is not valid.';
  else if (!TOKENS.has(digits)) errors.card_number = 'The test payment provider takes only its test cards (see "Test cards").';
  const m = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(exp || '');
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 12) errors.card_exp = 'Enter the expiry as MM/YY.';
  else {
    const year = Number(m[2].length === 2 ? `20${m[2]}` : m[2]);
    const now = new Date();
    if (year < now.getFullYear() || (year === now.getFullYear() && Number(m[1]) < now.getMonth() + 1)) {
      errors.card_exp = 'This card has expired.';
    }
  }
  const amex = digits.startsWith('34') || digits.startsWith('37');
  if (!(amex ? /^\d{4}$/ : /^\d{3}$/).test(String(cvc || '').trim())) {
    errors.card_cvc = amex ? 'Enter the 4 digits on the front of the card.' : 'Enter the 3 digits on the back of the card.';
  }
  if (Object.keys(errors).length) {
    throw new ApiError(422, { error: { code: 'card_invalid', message: 'Check the card details.', details: { fields: errors } } });
  }
  return TOKENS.get(digits);
}

// --- paying an invoice ------------------------------------------------------------------------
const DECLINES = {
  card_declined: 'The card was declined.',
  insufficient_funds: 'The card has insufficient funds.',
  expired_card: 'The card has expired.',
  incorrect_cvc: "The card's security code (CVC) is incorrect.",
  authentication_failed: 'The 3-D Secure check was not passed.',
};

/** The 3-D Secure step of the test processor: resolves 'pass', 'fail' or null (closed). */
function challenge(payment) {
  return new Promise((resolve) => {
    let answer = null;
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': 'tds-title' },
      h('h2', { id: 'tds-title' }, 'Confirm the payment with your bank'),
      h('p', {}, `Your bank asks you to confirm the payment of ${money(payment.amount)} (3-D Secure).`),
      h('p', { class: 'muted' }, 'Test payment provider: choose the outcome of the check.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', onclick: () => { answer = 'pass'; dlg.close(); } }, 'Complete authentication'),
        h('button', { type: 'button', class: 'danger', onclick: () => { answer = 'fail'; dlg.close(); } }, 'Fail authentication'),
        h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel')));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(answer); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** Answer a payment's 3-D Secure check; returns the payment as it stands after. */
export async function completeAction(payment) {
  const answer = await challenge(payment);
  if (!answer) return null;
  return api(`/payments/${payment.id}/confirm`, { method: 'POST', body: { challenge_response: answer } });
}

/** Ask again until a slow ("processing") payment is settled, for about half a minute. */
async function settle(payment, { alive }) {
  for (let i = 0; i < 15 && payment.status === 'processing' && alive(); i++) {
    await new Promise((r) => setTimeout(r, 2000));
    payment = await get(`/payments/${payment.id}`);
  }
  return payment;
}

/** The processor's test cards, as a note under a card form. */
function testCardsNote() {
  return h('details', { class: 'test-cards' },
    h('summary', {}, 'Test cards'),
    h('p', { class: 'muted' }, 'Use any future expiry date, any name and any CVC (4 digits for American Express).'),
    table({
      columns: [
        { key: 'number', label: 'Card number' },
        { key: 'what', label: 'Outcome' },
      ],
      rows: TEST_CARDS.map(([number, , what]) => ({ number, what })),
    }));
}

/** The customer's saved cards (none if they cannot be read: the form then asks for a card). */
export async function savedCards() {
  try {
    return (await get('/payment-methods')).items;
  } catch {
    return [];
  }
}

export const cardLabel = (m) => `${m.label}${m.expiry ? `, expires ${m.expiry}` : ''}${m.is_default ? ' (default)' : ''}`;

/**
 * The card part of a payment form: a saved card when there are any, or a new card's fields
 * with "Save this card". Returns {nodes, choice(vals, formEl)}: choice answers the body's card
 * part ({saved_method_id} or {payment_method, save_card}) or throws field errors.
 */
function cardChoice(saved) {
  const newCard = h('fieldset', { class: 'new-card' }, h('legend', {}, 'New card'),
    field({ name: 'card_name', label: 'Name on card', required: true, autocomplete: 'cc-name' }),
    field({ name: 'card_number', label: 'Card number', required: true, autocomplete: 'cc-number',
      attrs: { inputmode: 'numeric', maxlength: 23 } }),
    h('div', { class: 'card-row' },
      field({ name: 'card_exp', label: 'Expiry (MM/YY)', required: true, autocomplete: 'cc-exp', placeholder: 'MM/YY',
        attrs: { inputmode: 'numeric', maxlength: 7 } }),
      field({ name: 'card_cvc', label: 'CVC', required: true, autocomplete: 'cc-csc', attrs: { inputmode: 'numeric', maxlength: 4 } })),
    field({ name: 'save_card', label: 'Save this card for later payments and auto-pay', type: 'checkbox',
      hint: 'Only the payment provider\'s reference, the brand, the last 4 digits and the expiry are kept.' }));
  const pick = saved.length ? field({ name: 'saved_method_id', label: 'Card', type: 'select',
    options: [...saved.map((m) => [m.id, cardLabel(m)]), ['', 'A new card']],
    value: (saved.find((m) => m.is_default) || saved[0]).id }) : null;
  const showNew = () => {
    const useNew = !pick || !pick.querySelector('select').value;
    newCard.hidden = !useNew;
    // hidden fields are neither required nor sent
    newCard.querySelectorAll('input').forEach((el) => { el.disabled = !useNew; });
  };
  pick?.querySelector('select').addEventListener('change', showNew);
  showNew();
  return {
    nodes: [pick, newCard].filter(Boolean),
    choice(vals, formEl) {
      if (vals.saved_method_id) return { saved_method_id: vals.saved_method_id };
      try {
        const token = tokenize({ name: vals.card_name, number: vals.card_number, exp: vals.card_exp, cvc: vals.card_cvc });
        return { payment_method: token, save_card: !!vals.save_card };
      } finally {
        // The card's details are done with once tokenised (or refused): keep none of them.
        for (const n of ['card_number', 'card_exp', 'card_cvc']) formEl.elements[n].value = '';
      }
    },
  };
}

/**
 * Send a payment (one invoice, or several: their answer names the payment to confirm in
 * ``payment_id``) and see it through 3-D Secure and a slow processor. onDone(message, kind)
 * when it succeeded or waits; a decline throws (the form shows it).
 */
async function carryOut(send, { onDone, alive }) {
  let payment;
  try {
    payment = await send();
  } catch (error) {
    throw explain(error);
  }
  const id = payment.payment_id || payment.id;
  if (payment.status === 'requires_action') {
    let answered;
    try {
      answered = await completeAction({ id, amount: payment.amount });
    } catch (error) {
      throw explain(error);
    }
    if (!answered) {
      onDone('The payment waits for your bank\'s 3-D Secure check: nothing is charged until you complete it with "Complete the check" under "Payments in progress".', 'warn');
      return;
    }
    payment = { ...answered, amount: payment.amount };
  }
  if (payment.status === 'processing' || payment.status === 'pending') payment = await settle({ ...payment, id }, { alive });
  if (payment.status === 'succeeded') {
    onDone(`Payment received: ${money(payment.amount)}${payment.card ? ` by ${payment.card.brand} ending ${payment.card.last4}` : ''}. Thank you.`);
  } else if (payment.status === 'failed') {
    throw new ApiError(402, { error: { message: `Payment declined: ${payment.failure_message || DECLINES[payment.failure_code] || 'the card was declined.'}` } });
  } else {
    onDone('The card processor is still confirming the payment; it shows here once settled.');
  }
}

/**
 * The card form for one invoice. onDone(message) after a successful (or settling) payment;
 * declines and failures stay in the form's alert.
 */
function payForm(inv, saved, { onDone, alive }) {
  const keys = attempts();   // one Idempotency-Key per attempt (see attempts)
  const cards = cardChoice(saved);
  const f = form({
    label: 'Pay by card',
    submit: 'Pay by card',
    fields: [
      { name: 'amount', label: `Amount to pay (${inv.currency})`, type: 'text', required: true,
        value: inv.outstanding.amount, attrs: { inputmode: 'decimal' },
        hint: `Outstanding: ${money(inv.outstanding)}. You may pay part of it.` },
      ...cards.nodes,
    ],
    onSubmit: async (vals, formEl) => {
      const body = { amount: String(formEl.elements.amount.value).trim().replace(',', '.'), ...cards.choice(vals, formEl) };
      vals = null;
      await carryOut(() => api(`/invoices/${inv.id}/payments`, { method: 'POST', body, headers: { 'Idempotency-Key': keys.for(body) } })
        .catch((error) => { keys.failed(error); throw error; }), { onDone, alive });
    },
  });
  return h('div', {}, f, testCardsNote());
}

/** Pay the invoices ticked in the list: one charge for their total. */
function paySeveral(chosen, saved, { onDone, alive }) {
  const keys = attempts();
  const currency = chosen[0].currency;
  const total = chosen.reduce((sum, i) => sum + Math.round(Number(i.outstanding.amount) * 100), 0);
  const amount = { amount: (total / 100).toFixed(2), currency };
  const cards = cardChoice(saved);
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': 'pay-several-title' });
    const f = form({
      label: 'Pay the selected invoices',
      submit: `Pay ${money(amount)}`,
      fields: cards.nodes,
      onSubmit: async (vals, formEl) => {
        const body = { invoice_ids: chosen.map((i) => i.id), amount: amount.amount, ...cards.choice(vals, formEl) };
        await carryOut(() => api('/payments', { method: 'POST', body, headers: { 'Idempotency-Key': keys.for(body) } })
          .catch((error) => { keys.failed(error); throw error; }), { onDone: (msg, kind) => { dlg.close(); onDone(msg, kind); }, alive });
      },
      actions: [h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel')],
    });
    dlg.append(h('h2', { id: 'pay-several-title' }, `Pay ${chosen.length} invoice${chosen.length === 1 ? '' : 's'}`),
      h('p', {}, `${chosen.map((i) => `${i.number} (${money(i.outstanding)})`).join(', ')}: ${money(amount)} in one card payment. If the card is declined, none of them is paid.`),
      h('p', { class: 'muted' }, 'Your card details go to the payment provider only; we never see or keep them.'),
      f, testCardsNote());
    dlg.addEventListener('close', () => { dlg.remove(); resolve(); });
    document.body.append(dlg);
    dlg.showModal();
    dlg.querySelector('select, input')?.focus();
  });
}

/** An API error of paying, in words a customer can act on. */
function explain(error) {
  if (!(error instanceof ApiError)) return error;
  if (error.status === 402) {
    const code = error.details?.decline_code;
    error.message = `Payment declined: ${error.message || DECLINES[code] || 'the card was declined.'} Nothing was charged; try another card.`;
  } else if (error.status === 503 && error.details?.payment) {
    error.message = `${error.message} (Payment not made.)`;
  } else if (error.status === 0 || error.status >= 500) {
    error.message = 'We could not get an answer about the payment. Submit again with the same card: it is never charged twice.';
  }
  return error;
}

// --- the invoice view (customer and operator) --------------------------------------------------
function paymentRows(payments) {
  return table({
    caption: null,
    columns: [
      { label: 'Received', render: (p) => fmt.dateTime(p.received_at) },
      { label: 'Method', render: (p) => fmt.label(p.method) },
      { label: 'Reference', render: (p) => p.reference || '—' },
      { label: 'Amount', render: (p) => money(p.amount) },
      { label: 'Refunded', render: (p) => (Number(p.refunded?.amount) > 0 ? money(p.refunded) : '—') },
      { label: 'Status', render: (p) => badge(p.status) },
    ],
    rows: payments,
    empty: 'No payments yet.',
  });
}

/**
 * The whole invoice: facts, lines, taxes, payments, credit notes. ``actions`` (nodes) go in the
 * toolbar after the PDF links; ``extra`` (nodes) after the payments.
 */
export function invoiceBody(inv, { actions = [], top = [], extra = [], customerName } = {}) {
  const pdf = href(`/invoices/${inv.id}/pdf`, { download: 1 });
  return [
    h('div', { class: 'row invoice-toolbar' },
      invoiceStatus(inv),
      h('a', { class: 'button-link', href: pdf, download: `${inv.number}.pdf` }, 'Download PDF'),
      h('a', { class: 'button-link', href: href(`/invoices/${inv.id}/pdf`), target: '_blank', rel: 'noopener' }, 'Print'),
      actions),
    top,
    h('div', { class: 'grid two' },
      card('Details', facts([
        customerName !== undefined ? ['Customer', customerName] : null,
        ['Invoice number', inv.number],
        ['Issued', fmt.date(inv.issued_at)],
        ['Due date', h('span', {}, fmt.date(inv.due_date), inv.overdue ? ' (overdue)' : '')],
        ['Status', fmt.label(inv.status)],
        inv.order_reference || inv.order_id ? ['Order', inv.order_id
          ? h('a', { href: `/orders/${inv.order_id}` }, inv.order_reference || 'View order') : inv.order_reference] : null,
        ['Terms', inv.terms],
        inv.notes ? ['Notes', inv.notes] : null,
      ])),
      card('Amounts', facts([
        ['Net', money(inv.net)],
        ['Tax', money(inv.tax)],
        ['Total', h('strong', {}, money(inv.total))],
        ['Paid', money(inv.paid)],
        Number(inv.credited?.amount) > 0 ? ['Credited', money(inv.credited)] : null,
        Number(inv.refunded?.amount) > 0 ? ['Refunded', money(inv.refunded)] : null,
        ['Outstanding', h('strong', {}, money(inv.outstanding))],
      ]))),
    card('Lines', table({
      columns: [
        { label: 'Description', render: (l) => l.description },
        { label: 'Quantity', render: (l) => `${Number(l.quantity)}${l.unit && l.unit !== 'unit' ? ` ${l.unit}` : ''}` },
        { label: 'Unit price', render: (l) => money(l.unit_price) },
        { label: 'Tax rate', render: (l) => `${Number(l.tax_rate)} %` },
        { label: 'Net', render: (l) => money(l.net) },
        { label: 'Tax', render: (l) => money(l.tax) },
        { label: 'Total', render: (l) => money(l.total) },
      ],
      rows: inv.lines, empty: 'This invoice has no lines.',
    })),
    card('Taxes', table({
      columns: [
        { label: 'Rate', render: (t) => `${Number(t.rate)} %` },
        { label: 'Net', render: (t) => money(t.net) },
        { label: 'Tax', render: (t) => money(t.tax) },
      ],
      rows: inv.taxes, empty: 'No tax on this invoice.',
    })),
    card('Payments made', paymentRows(inv.payments)),
    inv.credit_notes?.length ? card('Credit notes', table({
      columns: [
        { label: 'Number', render: (c) => c.number },
        { label: 'Issued', render: (c) => fmt.date(c.issued_at) },
        { label: 'Amount', render: (c) => money(c.amount) },
        { label: 'Reason', render: (c) => c.reason },
      ],
      rows: inv.credit_notes,
    })) : null,
    extra,
  ];
}

/** Payments of this invoice that wait for the customer (3-D Secure) or for the processor. */
async function waiting(inv, refresh) {
  if (!hasOutstanding(inv)) return null;
  let found;
  try {
    found = await get('/payments', { invoice_id: inv.id, status: ['requires_action', 'processing'], per_page: 20 });
  } catch {
    return null;
  }
  if (!found.items.length) return null;
  return card('Payments in progress', table({
    columns: [
      { label: 'Started', render: (p) => fmt.dateTime(p.created_at) },
      { label: 'Amount', render: (p) => money(p.amount) },
      { label: 'Status', render: (p) => badge(p.status) },
      { label: 'Action', render: (p) => (p.status === 'requires_action'
        ? h('button', { type: 'button', onclick: async () => {
          try {
            const done = await completeAction(p);
            if (done) refresh(done.status === 'succeeded' ? `Payment received: ${money(done.amount)}. Thank you.` : null);
          } catch (error) {
            toast(explain(error).message, 'error');
            refresh();
          }
        } }, 'Complete the check')
        : 'The processor is confirming it.') },
    ],
    rows: found.items,
  }));
}

async function invoiceDetail({ params, app }) {
  const holder = h('div', {});
  let alive = true;
  app.onLeave(() => { alive = false; });
  const show = async (flash, kind) => {
    const [inv, saved] = await Promise.all([get(`/invoices/${params.id}`), savedCards()]);
    const payCard = h('section', { class: 'card', id: 'pay', hidden: true, 'aria-labelledby': 'pay-title' });
    // Paying is the admin's (and its integrations'): bookers and viewers read invoices only.
    const payButton = hasOutstanding(inv) && canPay()
      ? h('button', { type: 'button', class: 'primary', 'aria-controls': 'pay', 'aria-expanded': 'false', onclick: () => {
        const open = payCard.hidden;
        payCard.hidden = !open;
        payButton.setAttribute('aria-expanded', String(open));
        if (open) payCard.querySelector('input')?.focus();
      } }, 'Pay now')
      : null;
    replace(payCard, h('h2', { id: 'pay-title' }, 'Pay by card'),
      h('p', { class: 'muted' }, 'Your card details go to the payment provider only; we never see or keep them.'),
      payForm(inv, saved, { alive: () => alive, onDone: (msg, kind) => show(msg, kind).catch((e) => toast(e.message, 'error')) }));
    const progress = await waiting(inv, (msg) => show(msg).catch((e) => toast(e.message, 'error')));
    const notice = flash ? h('div', { class: kind === 'warn' ? 'notice-warn' : 'notice-ok', role: 'status', tabindex: '-1' }, flash) : null;
    replace(holder, page(`Invoice ${inv.number}`,
      h('p', {}, h('a', { href: '/invoices' }, '← All invoices')),
      notice,
      invoiceBody(inv, { actions: [payButton], top: [progress, payCard] })));
    if (notice) notice.focus();
  };
  await show();
  return holder;
}

// --- the list -----------------------------------------------------------------------------------
const CUSTOMER_TABS = [['open', 'Open'], ['overdue', 'Overdue'], ['paid', 'Paid'], ['all', 'All']];

function summaryCard(s) {
  if (!s) return null;
  return h('section', { class: 'card', 'aria-labelledby': 'summary-title' },
    h('h2', { id: 'summary-title' }, 'Account summary'),
    h('div', { class: 'grid three billing-stats' },
      h('div', {}, h('p', { class: 'muted' }, 'Current balance'), h('p', { class: 'stat' }, money(s.current_balance)),
        h('p', { class: 'muted' }, `${s.open_invoices} open invoice${s.open_invoices === 1 ? '' : 's'}`)),
      h('div', {}, h('p', { class: 'muted' }, 'Overdue'),
        h('p', { class: ['stat', Number(s.overdue.amount) > 0 ? 'bad' : null] }, money(s.overdue)),
        h('p', { class: 'muted' }, `${s.overdue_invoices} overdue invoice${s.overdue_invoices === 1 ? '' : 's'}`)),
      h('div', {}, h('p', { class: 'muted' }, 'Last payment'),
        h('p', { class: 'stat' }, s.last_payment ? money(s.last_payment.amount) : 'None yet'),
        s.last_payment ? h('p', { class: 'muted' }, fmt.date(s.last_payment.date), ' · ',
          h('a', { href: `/invoices/${s.last_payment.invoice_id}` }, 'View invoice')) : null)),
    Number(s.credit_balance?.amount) > 0
      ? h('p', {}, `Account credit: ${money(s.credit_balance)}, used automatically on your next invoices.`) : null);
}

export function invoiceColumns(link, extra = []) {
  return [
    { label: 'Invoice', sort: 'number', render: (i) => h('a', { href: link(i) }, i.number) },
    ...extra,
    { label: 'Issued', sort: 'issued_at', render: (i) => fmt.date(i.issued_at) },
    { label: 'Due', sort: 'due_date', render: (i) => fmt.date(i.due_date) },
    { label: 'Order', render: (i) => i.order_reference || '—' },
    { label: 'Status', render: invoiceStatus },
    { label: 'Total', sort: 'total', render: (i) => money(i.total) },
    { label: 'Outstanding', sort: 'outstanding', render: (i) => money(i.outstanding) },
  ];
}

/** A tick box per invoice that still owes something, labelled with its number. */
function selectColumn(selected, onChange) {
  return {
    label: 'Select',
    render: (i) => (hasOutstanding(i)
      ? h('input', { type: 'checkbox', 'aria-label': `Select invoice ${i.number}`, checked: selected.has(i.id),
        onchange: (e) => { if (e.target.checked) selected.set(i.id, i); else selected.delete(i.id); onChange(); } })
      : ''),
  };
}

async function invoiceList({ query: q, app }) {
  const status = q.status || 'open';
  const pageNo = Number(q.page) || 1;
  const sort = q.sort || (status === 'paid' || status === 'all' ? '-issued_at' : 'due_date');
  const [summary, list] = await Promise.all([
    get('/account/summary').catch(() => null),
    get('/invoices', { status: status === 'all' ? undefined : status, page: pageNo, per_page: PER_PAGE, sort }),
  ]);
  const go = (changes) => app.navigate(`/invoices${query({ status, sort: q.sort, page: pageNo, ...changes })}`);
  const empty = {
    open: 'Nothing to pay: you have no open invoices.',
    overdue: 'Nothing is overdue.',
    paid: 'No paid invoices yet.',
    all: 'No invoices yet: they appear here once the operator bills an order.',
  }[status] || 'No invoices here.';
  // Ticking open invoices and "Pay selected" pays them with one card payment.
  const selected = new Map();
  const payable = canPay() ? list.items.filter(hasOutstanding) : [];
  const chosenNote = h('span', { class: 'muted', 'aria-live': 'polite' });
  const paySelected = h('button', { type: 'button', class: 'primary', disabled: true }, 'Pay selected');
  const onChange = () => {
    const chosen = [...selected.values()];
    paySelected.disabled = chosen.length === 0;
    const sum = chosen.reduce((t, i) => t + Math.round(Number(i.outstanding.amount) * 100), 0);
    chosenNote.textContent = chosen.length
      ? `${chosen.length} selected: ${money({ amount: (sum / 100).toFixed(2), currency: chosen[0].currency })}` : '';
  };
  paySelected.addEventListener('click', async () => {
    const chosen = [...selected.values()];
    if (new Set(chosen.map((i) => i.currency)).size > 1) {
      toast('Select invoices of one currency to pay them together.', 'error');
      return;
    }
    let done = null;
    await paySeveral(chosen, await savedCards(), { alive: () => true, onDone: (msg, kind) => { done = [msg, kind]; } });
    if (done) {
      toast(done[0], done[1] === 'warn' ? 'error' : 'ok');
      app.navigate(`/invoices${query({ status, sort: q.sort, page: pageNo })}`, { replace: true });
    }
  });
  const columns = invoiceColumns((i) => `/invoices/${i.id}`);
  return page('Invoices',
    summaryCard(summary),
    h('p', { class: 'row' }, h('a', { href: '/payments' }, 'Payment history'), ' · ', h('a', { href: '/statements' }, 'Statements'),
      canPay() ? ' · ' : null, canPay() ? h('a', { href: '/payment-methods' }, 'Saved cards and auto-pay') : null),
    card('Your invoices',
      filterTabs('Invoice status', CUSTOMER_TABS, status, (v) => `/invoices${query({ status: v })}`),
      payable.length ? h('div', { class: 'row' }, paySelected, chosenNote) : null,
      table({ columns: payable.length ? [selectColumn(selected, onChange), ...columns] : columns, rows: list.items, empty, sorted: sort,
        onSort: (s) => go({ sort: s, page: 1 }) }),
      pager({ page: list.page, perPage: list.per_page, total: list.total, onPage: (p) => go({ page: p }) })));
}

// --- saved cards and auto-pay ----------------------------------------------------------------------
async function paymentMethods({ app }) {
  const [saved, auto] = await Promise.all([get('/payment-methods'), get('/autopay')]);
  const admin = isCustomerAdmin();
  const again = (msg) => { if (msg) toast(msg); app.navigate('/payment-methods', { replace: true }); };
  const cards = card('Saved cards',
    h('p', { class: 'muted' }, 'Tick "Save this card" when you pay to keep a card here. Only the payment provider\'s reference, the brand, the last 4 digits and the expiry are kept.'),
    table({
      columns: [
        { label: 'Card', render: (m) => m.label },
        { label: 'Expires', render: (m) => m.expiry || '—' },
        { label: 'Default', render: (m) => (m.is_default ? 'Yes' : 'No') },
        ...(admin ? [{ label: 'Actions', render: (m) => h('div', { class: 'row' },
          m.is_default ? null : action('Make default', async () => {
            await post(`/payment-methods/${m.id}/default`, {});
            again(`${m.label} is now the default card.`);
          }),
          action('Delete', async () => {
            await del(`/payment-methods/${m.id}`);
            again(`${m.label} was deleted.`);
          }, { class: 'danger', confirmText: `Delete ${m.label}? It can no longer be used to pay.` })) }] : []),
      ],
      rows: saved.items,
      empty: 'No saved cards yet.',
    }));
  const status = auto.enabled
    ? `On: each invoice is charged to ${auto.payment_method?.label || 'your card'} when it is issued (after any account credit).`
    : 'Off: you pay each invoice yourself.';
  const autoForm = admin && saved.items.length ? form({
    label: 'Auto-pay',
    submit: 'Save auto-pay',
    fields: [
      { name: 'enabled', label: 'Charge new invoices to a saved card when they are issued', type: 'checkbox', value: auto.enabled },
      { name: 'payment_method_id', label: 'Card to charge', type: 'select', options: saved.items.map((m) => [m.id, cardLabel(m)]),
        value: auto.payment_method?.id || (saved.items.find((m) => m.is_default) || saved.items[0]).id },
    ],
    onSubmit: async (vals) => {
      const done = await put('/autopay', { enabled: !!vals.enabled, payment_method_id: vals.payment_method_id });
      again(done.enabled ? 'Auto-pay is on.' : 'Auto-pay is off.');
    },
  }) : h('p', { class: 'muted' }, admin ? 'Save a card first to turn auto-pay on.' : 'Your account admins choose auto-pay.');
  const failures = auto.recent_failures.length ? h('div', { role: 'status' },
    h('h3', {}, 'Auto-pay charges that failed'),
    table({
      columns: [
        { label: 'When', render: (f) => fmt.dateTime(f.at) },
        { label: 'Invoice', render: (f) => h('a', { href: `/invoices/${f.invoice_id}` }, 'View invoice') },
        { label: 'Amount', render: (f) => money(f.amount) },
        { label: 'Why', render: (f) => f.failure_message || DECLINES[f.failure_code] || fmt.label(f.failure_code || 'failed') },
      ],
      rows: auto.recent_failures,
    }),
    h('p', { class: 'muted' }, 'These invoices stay open: pay them from the invoice list.')) : null;
  return page('Saved cards and auto-pay',
    h('p', {}, h('a', { href: '/invoices' }, '← Invoices')),
    cards,
    card('Auto-pay', h('p', {}, status), autoForm, failures));
}

// --- payments -----------------------------------------------------------------------------------
async function paymentList({ query: q, app }) {
  const pageNo = Number(q.page) || 1;
  const list = await get('/payments', { page: pageNo, per_page: PER_PAGE });
  // The invoice numbers, for the links (payments carry only the invoice's id).
  const numbers = new Map();
  try {
    const ids = new Set(list.items.map((p) => p.invoice_id));
    if (ids.size) (await get('/invoices', { per_page: 200 })).items.forEach((i) => ids.has(i.id) && numbers.set(i.id, i.number));
  } catch { /* links then say "View invoice" */ }
  return page('Payments',
    h('p', {}, h('a', { href: '/invoices' }, '← Invoices')),
    card('Payment history', table({
      columns: [
        { label: 'Date', render: (p) => fmt.dateTime(p.received_at || p.created_at) },
        { label: 'Invoice', render: (p) => h('a', { href: `/invoices/${p.invoice_id}` }, numbers.get(p.invoice_id) || 'View invoice') },
        { label: 'Method', render: (p) => (p.card ? `${fmt.label(p.card.brand)} ending ${p.card.last4}` : fmt.label(p.method)) },
        { label: 'Reference', render: (p) => p.reference || '—' },
        { label: 'Amount', render: (p) => money(p.amount) },
        { label: 'Status', render: (p) => h('span', {}, badge(p.status),
          p.failure_message ? h('span', { class: 'muted' }, ` ${p.failure_message}`) : null) },
      ],
      rows: list.items,
      empty: 'No payments yet. Pay an open invoice from the Invoices page.',
    }),
    pager({ page: list.page, perPage: list.per_page, total: list.total, onPage: (p) => app.navigate(`/payments?page=${p}`) })));
}

// --- statements ---------------------------------------------------------------------------------
const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

/** The statement view (shared with the operator's, who passes customer_id). */
export function statementView(st, range) {
  return [
    h('div', { class: 'row' },
      // (no ?download=1 here: /statements.pdf refuses it with a 422; the download attribute saves it)
      h('a', { class: 'button-link', href: href('/statements.pdf', { from: range.from, to: range.to, customer_id: range.customer_id }), download: `statement-${range.from}-${range.to}.pdf` }, 'Download PDF'),
      h('a', { class: 'button-link', href: href('/statements.csv', { from: range.from, to: range.to, customer_id: range.customer_id }), download: `statement-${range.from}-${range.to}.csv` }, 'Download CSV')),
    h('div', { class: 'grid three billing-stats' },
      h('div', { class: 'card' }, h('p', { class: 'muted' }, `Opening balance on ${fmt.date(st.from)}`), h('p', { class: 'stat' }, money(st.opening_balance))),
      h('div', { class: 'card' }, h('p', { class: 'muted' }, 'Invoiced / paid'),
        h('p', {}, `Invoiced ${money(st.totals?.invoiced)}`), h('p', {}, `Paid ${money(st.totals?.paid)}`),
        Number(st.totals?.credited?.amount) > 0 ? h('p', {}, `Credited ${money(st.totals.credited)}`) : null,
        Number(st.totals?.refunded?.amount) > 0 ? h('p', {}, `Refunded ${money(st.totals.refunded)}`) : null,
        Number(st.totals?.account_credit?.amount) > 0 ? h('p', {}, `Account credit given ${money(st.totals.account_credit)}`) : null,
        Number(st.totals?.credit_used?.amount) > 0 ? h('p', {}, `Account credit used ${money(st.totals.credit_used)}`) : null),
      h('div', { class: 'card' }, h('p', { class: 'muted' }, `Closing balance on ${fmt.date(st.to)}`), h('p', { class: 'stat' }, money(st.closing_balance)))),
    card(`Statement ${fmt.date(st.from)} – ${fmt.date(st.to)}`, table({
      columns: [
        { label: 'Date', render: (e) => fmt.date(e.date) },
        { label: 'Type', render: (e) => fmt.label(e.kind) },
        { label: 'Reference', render: (e) => (e.invoice_id && range.link
          ? h('a', { href: range.link(e.invoice_id) }, e.reference) : e.reference) },
        { label: 'Description', render: (e) => e.description },
        { label: 'Debit', render: (e) => money(e.debit) },
        { label: 'Credit', render: (e) => money(e.credit) },
        { label: 'Balance', render: (e) => money(e.balance) },
      ],
      rows: st.entries,
      empty: 'Nothing happened on the account in this period; choose other dates.',
    })),
  ];
}

export function periodForm(q, onPick, extraFields = []) {
  const today = new Date();
  const from = q.from || iso(new Date(today.getFullYear(), today.getMonth(), 1));
  const to = q.to || iso(today);
  return {
    from, to,
    node: form({
      label: 'Statement period', class: 'period-form', submit: 'View statement',
      fields: [...extraFields,
        { name: 'from', label: 'From', type: 'date', required: true, value: from },
        { name: 'to', label: 'To', type: 'date', required: true, value: to }],
      onSubmit: async (vals) => {
        if (!vals.from || !vals.to) throw new ApiError(422, { error: { message: 'Choose both dates.', details: { fields: {
          ...(vals.from ? {} : { from: 'Choose the first day.' }), ...(vals.to ? {} : { to: 'Choose the last day.' }) } } } });
        if (vals.from > vals.to) throw new ApiError(422, { error: { message: 'The period ends before it starts.', details: { fields: { to: 'Choose a day on or after "From".' } } } });
        onPick(vals);
      },
    }),
  };
}

async function statements({ query: q, app }) {
  const period = periodForm(q, (vals) => app.navigate(`/statements${query({ from: vals.from, to: vals.to })}`));
  const range = { from: period.from, to: period.to };
  let body;
  try {
    body = statementView(await get('/statements', range), { ...range, link: (id) => `/invoices/${id}` });
  } catch (error) {
    body = errorBox(error);
  }
  setQuery(range);
  return page('Statements',
    card('Period', period.node),
    body);
}

export const routes = [
  { path: '/invoices', title: 'Invoices', access: 'customer', nav: { label: 'Invoices', order: 50 }, render: invoiceList },
  { path: '/invoices/:id', title: 'Invoice', access: 'customer', render: invoiceDetail },
  { path: '/payments', title: 'Payments', access: 'customer', render: paymentList },
  { path: '/payment-methods', title: 'Saved cards and auto-pay', access: 'payer', render: paymentMethods },
  { path: '/statements', title: 'Statements', access: 'customer', nav: { label: 'Statements', order: 55 }, render: statements },
];
