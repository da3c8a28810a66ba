// Delivery exceptions (a stop that will be late, or whose attempt failed): the order page's card
// and the home screen's list, each exception with what may be asked of dispatch now (a new time
// window, leave-at instructions, a changed address). The recipient's side is on the tracking page
// (gateway/web/track/track.js).
import { get, post } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { badge, dialog, errorBox, table, toast } from '../lib/ui.js';
import { canBook } from '../lib/session.js';

export const KIND_TEXT = { late: 'Running late', failed_attempt: 'Delivery attempt failed' };
const ACTION_TEXT = { window: 'New time window', instructions: 'Leave-at instructions', address: 'Changed address' };

// The fields each action asks (the API checks them again: window order, 500 characters, an
// address with street, city and country like the web booker's).
const FIELDS = {
  window: [
    { name: 'window_start', label: 'New window from', type: 'datetime-local', required: true },
    { name: 'window_end', label: 'New window to', type: 'datetime-local', required: true },
  ],
  instructions: [
    { name: 'instructions', label: 'Where to leave it', type: 'textarea', required: true, attrs: { maxlength: 500 },
      hint: 'Up to 500 characters, e.g. "with the neighbour at number 12".' },
  ],
  address: [
    { name: 'line1', label: 'Street and number', required: true, autocomplete: 'address-line1', attrs: { maxlength: 200 } },
    { name: 'line2', label: 'Address line 2', autocomplete: 'address-line2', attrs: { maxlength: 200 } },
    { name: 'postal_code', label: 'Postal code', autocomplete: 'postal-code', attrs: { maxlength: 20 } },
    { name: 'city', label: 'City', required: true, autocomplete: 'address-level2', attrs: { maxlength: 100 } },
    { name: 'country', label: 'Country (two letters, e.g. GB)', required: true, autocomplete: 'country',
      attrs: { maxlength: 2, pattern: '[A-Za-z]{2}' } },
  ],
};

/** The request body for an action from the dialog's values. */
export function changeBody(kind, values) {
  const iso = (v) => (v ? new Date(v).toISOString() : null);
  if (kind === 'window') return { kind, window_start: iso(values.window_start), window_end: iso(values.window_end) };
  if (kind === 'instructions') return { kind, instructions: values.instructions };
  const address = {};
  for (const key of ['line1', 'line2', 'postal_code', 'city', 'country']) if (values[key]) address[key] = values[key];
  return { kind, address };
}

/** What a request asks, in words. */
export function askedText(r) {
  if (!r) return '—';
  if (r.kind === 'instructions') return `Leave at: ${r.instructions}`;
  if (r.kind === 'address') return `Deliver to: ${[r.address?.line1, r.address?.postal_code, r.address?.city, r.address?.country].filter(Boolean).join(', ')}`;
  return `Window ${fmt.dateTime(r.window_start)} – ${fmt.dateTime(r.window_end)}`;
}

async function ask(exception, kind, onDone) {
  const values = await dialog({ title: ACTION_TEXT[kind], submit: 'Send to dispatch', fields: FIELDS[kind],
    text: 'Dispatch accepts or declines; you are told either way.' });
  if (!values) return;
  try {
    await post(`/delivery-exceptions/${encodeURIComponent(exception.id)}/requests`, changeBody(kind, values));
    toast('Request sent to dispatch.');
    onDone();
  } catch (error) {
    const fields = error.fields ? Object.values(error.fields).flat() : [];
    toast(fields.length ? `${error.message} ${fields.join(' ')}` : error.message, 'error');
  }
}

function actionsOf(exception, onDone) {
  if (!exception.actions?.length || !canBook()) return exception.request ? h('span', {}, badge(exception.request.status)) : '—';
  return h('span', { class: 'actions' }, exception.actions.map((kind) =>
    h('button', { type: 'button', onclick: () => ask(exception, kind, onDone) }, ACTION_TEXT[kind])));
}

/** A table of exceptions (``args``: status, order_id) redrawn after each request. */
export async function exceptionsTable(box, args, { withOrder = false, empty = 'No delivery problems.' } = {}) {
  const draw = async () => {
    try {
      const found = await get('/delivery-exceptions', { per_page: 20, ...args });
      replace(box, table({
        columns: [
          withOrder ? { key: 'reference', label: 'Order', render: (e) => h('a', { href: `/orders/${e.order_id}` }, e.reference || 'Order') } : null,
          { key: 'kind', label: 'Problem', render: (e) => KIND_TEXT[e.kind] || fmt.label(e.kind) },
          { key: 'created_at', label: 'Since', render: (e) => fmt.dateTime(e.created_at) },
          { key: 'request', label: 'Asked', render: (e) => askedText(e.request) },
          { key: 'actions', label: 'Ask dispatch for', render: (e) => actionsOf(e, draw) },
        ].filter(Boolean),
        rows: found.items, empty,
      }));
      return found;
    } catch (error) {
      replace(box, errorBox(error));
      return null;
    }
  };
  return draw();
}
