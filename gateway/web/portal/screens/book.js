// The webbooker: a new order (POST /orders, as a draft or submitted at once) and the edit of a
// draft (PATCH /orders/{id}). Input names are the API's field paths ('stops.0.address.city',
// 'items.1.length_cm') so that a 422 lands next to the field it is about. The order editor is
// exported: the quote request (screens/quotes.js) describes its order with the same fields.
import { api } from '../lib/api.js';
import { $$, h } from '../lib/dom.js';
import { session, siteOptions } from '../lib/session.js';
import * as ui from '../lib/ui.js';

const KINDS = [['delivery', 'Delivery'], ['booking', 'Booking (pickup at a set time)'], ['rental', 'Rental']];
const STOP_TYPES = [['pickup', 'Pickup'], ['dropoff', 'Delivery (drop-off)']];
const DIMENSIONS = [['weight_kg', 'Weight (kg)', '0.001'], ['length_cm', 'Length (cm)', '0.1'],
  ['width_cm', 'Width (cm)', '0.1'], ['height_cm', 'Height (cm)', '0.1']];
const MIN_STOPS = 2;   // a pickup and a delivery

/** ISO from the API -> the value of a datetime-local input, in the browser's time zone. */
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value means the user's local time; the API would read it as UTC. */
function toIso(local) {
  if (!local) return local;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
}

/** The customer's saved places (the address book), or [] when it cannot be read. */
export async function loadPlaces() {
  try {
    const page = await api('/places', { query: { per_page: 200 } });
    return page.items || [];
  } catch {
    return [];
  }
}

/** Rewrite 'stops.3.address.city' to 'stops.2.address.city' after a stop above was removed. */
function renumber(container, list, prefix) {
  const pattern = new RegExp(`^${prefix.replaceAll('.', '\\.')}${list}\\.\\d+\\.`);
  $$(':scope > fieldset', container).forEach((set, index) => {
    set.querySelectorAll('[name]').forEach((el) => {
      el.name = el.name.replace(pattern, `${prefix}${list}.${index}.`);
    });
    set.dataset.index = String(index);
    const legend = set.querySelector('legend');
    if (legend) legend.firstChild.textContent = `${list === 'stops' ? 'Stop' : 'Item'} ${index + 1}`;
  });
}

function grid(...children) {
  return h('div', { class: 'book-grid' }, ...children);
}

/**
 * The order's fields: kind, reference, kind-specific times, stops and items.
 * Returns {nodes, body(values)}: the nodes to put in a ui.form, and the function that turns
 * the form's nested values into the API's order (local times as ISO with their offset).
 * prefix: '' for POST /orders, 'order.' for a quote request.
 */
export function orderEditor({ order = {}, places = [], prefix = '' } = {}) {
  const p = (name) => `${prefix}${name}`;
  const requireDims = !!session.customer?.require_dimensions;

  const kindField = ui.field({ name: p('kind'), label: 'Kind of order', type: 'select', options: KINDS, value: order.kind || 'delivery' });
  const bookingSet = h('fieldset', { class: 'book-kind' }, h('legend', {}, 'Booking'),
    grid(
      ui.field({ name: p('pickup_at'), label: 'Pickup time', type: 'datetime-local', required: true, value: toLocalInput(order.pickup_at) }),
      ui.field({ name: p('passengers'), label: 'Passengers', type: 'number', value: order.passengers, attrs: { min: 1, max: 500 } }),
      ui.field({ name: p('vehicle_type'), label: 'Vehicle type', value: order.vehicle_type, placeholder: 'e.g. van, minibus' })));
  const rentalSet = h('fieldset', { class: 'book-kind' }, h('legend', {}, 'Rental'),
    grid(
      ui.field({ name: p('rental_start'), label: 'Rental start', type: 'date', required: true, value: order.rental_start }),
      ui.field({ name: p('rental_end'), label: 'Rental end', type: 'date', value: order.rental_end })));

  // Only the chosen kind's extra fields are shown and sent (a disabled input is not sent).
  const showKind = () => {
    const kind = kindField.querySelector('select').value;
    for (const [set, wanted] of [[bookingSet, 'booking'], [rentalSet, 'rental']]) {
      set.hidden = kind !== wanted;
      set.querySelectorAll('input, select, textarea').forEach((el) => (el.disabled = kind !== wanted));
    }
  };
  kindField.querySelector('select').addEventListener('change', showKind);

  // The site (cost centre) it is booked for, when the company keeps sites (a quote request's
  // too: the booking it becomes keeps it): a user limited to some sites picks one of its own, and must.
  const mine = session.user?.sites;
  const sites = siteOptions().filter(([code]) => !mine || mine.includes(code));
  const siteField = sites.length ? ui.field({ name: p('site'), label: 'Site', type: 'select', required: !!mine, value: order.site || '',
    options: mine ? [['', 'Choose a site'], ...sites] : [['', 'No site'], ...sites], hint: 'The site or cost centre this order is booked for.' }) : null;
  const general = ui.card('Order',
    grid(kindField,
      ui.field({ name: p('reference'), label: 'Your reference', value: order.reference, hint: 'Left empty, the portal gives the order one.', attrs: { maxlength: 64 } }),
      siteField),
    bookingSet, rentalSet,
    ui.field({ name: p('notes'), label: 'Notes for the operator', type: 'textarea', value: order.notes }));

  // --- stops -------------------------------------------------------------------------------
  const stopList = h('div', { class: 'book-list' });
  const addStopButton = h('button', { type: 'button' }, 'Add stop');
  const syncStops = () => {
    renumber(stopList, 'stops', prefix);
    const count = stopList.children.length;
    $$('.remove-stop', stopList).forEach((b) => (b.hidden = count <= MIN_STOPS));
  };

  function stopSet(stop = {}) {
    const set = h('fieldset', { class: 'book-stop' });
    const n = stopList.children.length;
    const name = (field) => p(`stops.${n}.${field}`);
    const address = stop.address || {};
    const contact = stop.contact || {};
    // Coordinates already on a stop (an edited draft) are kept until its address changes.
    const coords = stop.lat != null && stop.lng != null
      ? [h('input', { type: 'hidden', name: name('lat'), value: String(stop.lat) }),
        h('input', { type: 'hidden', name: name('lng'), value: String(stop.lng) })]
      : [];
    const typeField = ui.field({ name: name('type'), label: 'Type', type: 'select', options: STOP_TYPES, value: stop.type || 'dropoff' });
    const placeField = places.length
      ? ui.field({ name: name('place_id'), label: 'Saved place', type: 'select', value: stop.place_id || '',
        options: [['', 'None (type the address)'], ...places.map((pl) => [pl.id, `${pl.name} (${fmt1(pl.address)})`])],
        hint: 'Fills the address and contact from your address book.' })
      : null;
    const addressFields = [
      ui.field({ name: name('address.line1'), label: 'Street and number', value: address.line1, autocomplete: 'off', required: true }),
      ui.field({ name: name('address.line2'), label: 'Address line 2', value: address.line2 }),
      ui.field({ name: name('address.unit'), label: 'Unit', value: address.unit }),
      ui.field({ name: name('address.postal_code'), label: 'Postal code', value: address.postal_code }),
      ui.field({ name: name('address.city'), label: 'City', value: address.city }),
      ui.field({ name: name('address.state'), label: 'State or region', value: address.state }),
      ui.field({ name: name('address.country'), label: 'Country', value: address.country, placeholder: 'e.g. DE',
        hint: 'Two-letter code.', attrs: { maxlength: 2, autocapitalize: 'characters' } }),
    ];
    const windowFields = [
      ui.field({ name: name('window_start'), label: 'Time window from', type: 'datetime-local', value: toLocalInput(stop.window_start) }),
      ui.field({ name: name('window_end'), label: 'Time window until', type: 'datetime-local', value: toLocalInput(stop.window_end) }),
    ];
    const contactFields = [
      ui.field({ name: name('contact.name'), label: 'Contact name', value: contact.name, autocomplete: 'off' }),
      ui.field({ name: name('contact.phone'), label: 'Contact phone', type: 'tel', value: contact.phone, autocomplete: 'off' }),
      ui.field({ name: name('contact.email'), label: 'Contact email', type: 'email', value: contact.email, autocomplete: 'off' }),
    ];
    const remove = h('button', { type: 'button', class: 'danger remove-stop' }, 'Remove stop');
    const save = h('button', { type: 'button' }, 'Save to address book');
    save.addEventListener('click', () => saveAsPlace(set, typeField.querySelector('select').value));
    remove.addEventListener('click', () => {
      set.remove();
      syncStops();
      addStopButton.focus();
    });
    set.append(
      h('legend', {}, `Stop ${n + 1}`),
      coords,
      grid(typeField, placeField),
      h('h3', {}, 'Address'), grid(...addressFields),
      h('h3', {}, 'Time window'), grid(...windowFields),
      h('h3', {}, 'Contact'), grid(...contactFields),
      ui.field({ name: name('notes'), label: 'Notes for the driver', type: 'textarea', rows: 2, value: stop.notes }),
      h('div', { class: 'actions' }, save, remove));
    set.addEventListener('input', (event) => {
      if (event.target.name?.includes('.address.')) coords.forEach((el) => el.remove());
    });
    placeField?.querySelector('select').addEventListener('change', (event) => {
      const chosen = places.find((pl) => pl.id === event.target.value);
      if (!chosen) return;
      coords.forEach((el) => el.remove());
      // Show what the saved place holds; what is typed here wins over the saved values.
      for (const [key, value] of Object.entries(chosen.address || {})) {
        const input = set.querySelector(`[name$=".address.${key}"]`);
        if (input) input.value = value ?? '';
      }
      for (const [key, value] of Object.entries(chosen.contact || {})) {
        const input = set.querySelector(`[name$=".contact.${key}"]`);
        if (input) input.value = value ?? '';
      }
      const typeSelect = typeField.querySelector('select');
      if (chosen.kind === 'pickup') typeSelect.value = 'pickup';
    });
    return set;
  }

  addStopButton.addEventListener('click', () => {
    const set = stopSet({ type: 'dropoff' });
    stopList.append(set);
    syncStops();
    set.querySelector('select, input:not([type=hidden])')?.focus();
  });
  const stops = order.stops?.length ? order.stops : [{ type: 'pickup' }, { type: 'dropoff' }];
  stops.forEach((stop) => stopList.append(stopSet(stop)));
  syncStops();

  // --- items -------------------------------------------------------------------------------
  const itemList = h('div', { class: 'book-list' });
  const addItemButton = h('button', { type: 'button' }, 'Add item');

  function itemSet(item = {}) {
    const n = itemList.children.length;
    const name = (field) => p(`items.${n}.${field}`);
    const set = h('fieldset', { class: 'book-item' });
    const remove = h('button', { type: 'button', class: 'danger' }, 'Remove item');
    remove.addEventListener('click', () => {
      set.remove();
      renumber(itemList, 'items', prefix);
      addItemButton.focus();
    });
    set.append(
      h('legend', {}, `Item ${n + 1}`),
      grid(
        ui.field({ name: name('description'), label: 'What', value: item.description, required: true, placeholder: 'e.g. Pallet of tiles' }),
        ui.field({ name: name('quantity'), label: 'Quantity', type: 'number', value: item.quantity ?? 1, attrs: { min: 1, step: 1 } }),
        DIMENSIONS.map(([field, label, step]) => ui.field({
          name: name(field), label, type: 'number', value: item[field], required: requireDims, attrs: { min: 0, step, inputmode: 'decimal' } }))),
      h('div', { class: 'actions' }, remove));
    return set;
  }

  addItemButton.addEventListener('click', () => {
    const set = itemSet();
    itemList.append(set);
    set.querySelector('input')?.focus();
  });
  const items = order.items?.length ? order.items : [{ quantity: 1 }];
  items.forEach((item) => itemList.append(itemSet(item)));

  const nodes = [
    general,
    ui.card('Stops', h('p', { class: 'muted' }, 'Where to collect and where to deliver, in the order of the route.'),
      stopList, h('div', { class: 'actions' }, addStopButton)),
    ui.card('Items',
      requireDims ? h('p', { class: 'muted' }, 'Your account needs the weight and the dimensions of every item.') : null,
      itemList, h('div', { class: 'actions' }, addItemButton)),
  ];
  showKind();

  /** The form's nested values -> the order the API takes. */
  function body(values, { forPatch = false } = {}) {
    const data = { ...((prefix ? values[prefix.slice(0, -1)] : values) || {}) };
    if (data.pickup_at) data.pickup_at = toIso(data.pickup_at);
    data.stops = (data.stops || []).filter(Boolean).map((stop) => ({
      ...stop,
      window_start: toIso(stop.window_start),
      window_end: toIso(stop.window_end),
      address: stop.address || {},
      contact: stop.contact || {},
    }));
    data.items = (data.items || []).filter(Boolean);
    if (forPatch) {
      // A PATCH keeps what is not sent: a field emptied here must be sent as null to clear it.
      for (const key of ['notes', 'pickup_at', 'passengers', 'vehicle_type', 'rental_start', 'rental_end', ...(siteField ? ['site'] : [])]) {
        if (!(key in data)) data[key] = null;
      }
    }
    return data;
  }

  return { nodes, body };
}

/** Keep a stop's address and contact in the address book (POST /places) for the next orders. */
async function saveAsPlace(set, stopType) {
  const read = (group) => Object.fromEntries([...set.querySelectorAll(`[name*=".${group}."]`)]
    .filter((el) => el.value).map((el) => [el.name.split('.').pop(), el.value]));
  const address = read('address');
  if (!address.line1) {
    ui.toast('Type the street and number first, then save the place.', 'error');
    return;
  }
  const values = await ui.dialog({
    title: 'Save to address book', submit: 'Save place',
    text: `${fmt1(address)}: saved places are offered in every new order and in spreadsheets (the Place column).`,
    fields: [
      { name: 'name', label: 'Name of the place', required: true, value: address.line1, attrs: { maxlength: 120 } },
      { name: 'kind', label: 'Used as', type: 'select', value: stopType === 'pickup' ? 'pickup' : 'recipient',
        options: [['pickup', 'Pickup site'], ['recipient', 'Recipient']] },
    ],
  });
  if (!values) return;
  try {
    const place = await api('/places', { method: 'POST', body: { name: values.name, kind: values.kind, address, contact: read('contact') } });
    ui.toast(`Saved "${place.name}" to your address book.`);
  } catch (error) {
    ui.toast(error.fields?.name || error.message, 'error');
  }
}

function fmt1(address = {}) {
  return [address.line1, address.postal_code, address.city].filter(Boolean).join(', ') || 'no address';
}

/** The buttons "Submit order" (the form's default) and "Save as draft": which one was used. */
function bookForm({ editor, onSave }) {
  let mode = 'submit';
  const draftButton = h('button', { type: 'submit', onclick: () => (mode = 'draft') }, 'Save as draft');
  const formEl = ui.form({
    class: 'wide book-form',
    label: 'Order',
    fields: editor.nodes,
    submit: 'Submit order',
    actions: [draftButton, h('a', { href: '/orders', class: 'book-cancel' }, 'Cancel')],
    onSubmit: async (values) => {
      // Both buttons wait while one runs, so a double click makes one request.
      draftButton.disabled = true;
      try {
        await onSave(values, mode);
      } finally {
        draftButton.disabled = false;
        mode = 'submit';
      }
    },
  });
  formEl.querySelector('button.primary').addEventListener('click', () => (mode = 'submit'));
  return formEl;
}

async function newOrder({ app }) {
  const places = await loadPlaces();
  const editor = orderEditor({ places });
  // One key per form instance: a repeated click returns the first order instead of a second.
  const key = crypto.randomUUID();
  const formEl = bookForm({
    editor,
    onSave: async (values, mode) => {
      const body = { ...editor.body(values), submit: mode === 'submit' };
      const order = await api('/orders', { method: 'POST', body, headers: { 'Idempotency-Key': key } });
      ui.toast(savedText(order, mode));
      app.navigate(`/orders/${order.id}`);
    },
  });
  return ui.page('New order',
    h('p', { class: 'muted' }, 'Fields marked * are required. ',
      'Many orders at once? ', h('a', { href: '/imports' }, 'Import a spreadsheet'), '.'),
    formEl);
}

/** What saving said: above the company's approval limit, a submitted order waits for an admin. */
function savedText(order, mode) {
  if (mode !== 'submit') return `Draft ${order.reference} saved.`;
  return order.status === 'pending_approval'
    ? `Order ${order.reference} waits for an administrator's approval (it is above your company's approval limit).`
    : `Order ${order.reference} submitted.`;
}

async function editOrder({ params, app }) {
  const [order, places] = await Promise.all([api(`/orders/${encodeURIComponent(params.id)}`), loadPlaces()]);
  if (order.status !== 'draft') {
    return ui.page(`Order ${order.reference}`,
      h('p', {}, 'Only drafts can be changed; this order is ', ui.badge(order.status), '.'),
      h('p', {}, h('a', { href: `/orders/${order.id}` }, 'Back to the order')));
  }
  const editor = orderEditor({ order, places });
  const formEl = bookForm({
    editor,
    onSave: async (values, mode) => {
      await api(`/orders/${order.id}`, { method: 'PATCH', body: editor.body(values, { forPatch: true }) });
      const done = mode === 'submit' ? await api(`/orders/${order.id}/submit`, { method: 'POST' }) : order;
      ui.toast(savedText(done, mode));
      app.navigate(`/orders/${order.id}`);
    },
  });
  formEl.querySelector('.book-cancel').setAttribute('href', `/orders/${order.id}`);
  return ui.page(`Edit draft ${order.reference}`, formEl);
}

export const routes = [
  { path: '/orders/new', title: 'New order', access: 'booker', nav: { label: 'New order', order: 15 }, render: newOrder },
  { path: '/orders/:id/edit', title: 'Edit draft', access: 'booker', render: editOrder },
];
