// Operator staff: dispatch (the unassigned orders scheduled onto a driver's route for a day, the
// day's routes with their stops, starting a route) and the inbox of customers' conversations.
import { ApiError, del, get, post } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { setQuery } from '../lib/router.js';
import { action, badge, card, errorBox, field, form, loading, page, pager, table, toast } from '../lib/ui.js';
import { conversationView } from './orders.js';

const PER_PAGE = 50;
const today = () => {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};

function windowText(o) {
  if (!o.window_start) return 'Any time';
  return `${fmt.dateTime(o.window_start)}${o.window_end ? ` – ${fmt.time(o.window_end)}` : ''}`;
}

/** A 409 of scheduling lists each order that cannot go: say which and why. */
function conflictText(error) {
  const lines = [];
  const walk = (value) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      if (value.message) lines.push(`${value.reference || value.order_id || value.id || ''} ${value.message}`.trim());
      else Object.values(value).forEach(walk);
    }
  };
  walk(error.details);
  return lines.length ? `${error.message} ${lines.join('; ')}` : error.message;
}

async function dispatchPage({ query, app }) {
  const day = query.day || today();
  const upage = Math.max(1, Number(query.upage) || 1);
  const [unassigned, routes, drivers, depots, customers] = await Promise.all([
    get('/admin/orders', { unassigned: true, sort: 'created_at', per_page: PER_PAGE, page: upage }),
    get('/admin/routes', { day, per_page: 200 }),
    get('/admin/drivers').catch(() => []),
    get('/admin/depots').catch(() => []),
    get('/admin/customers', { per_page: 200 }).catch(() => ({ items: [] })),
  ]);
  // A route's orders carry the customer's id only: name them from the customers list.
  const names = new Map(customers.items.map((c) => [c.id, c.name]));
  const activeDrivers = drivers.filter((d) => d.is_active);
  const planned = routes.items.filter((r) => r.status === 'planned');
  const selected = new Set();

  const dayForm = form({
    label: 'Choose the day', class: 'wide day-form', submit: 'Show day',
    fields: [{ name: 'day', label: 'Day', type: 'date', value: day, required: true }],
    onSubmit: async (v) => {
      setQuery({ day: v.day || '' });
      app.refresh();
    },
  });

  // --- unassigned orders
  const count = h('span', { class: 'muted', 'aria-live': 'polite' }, 'No orders selected');
  const updateCount = () => { count.textContent = selected.size ? `${selected.size} selected` : 'No orders selected'; };
  const unassignedTable = table({
    caption: `Unassigned orders (${unassigned.total})`,
    columns: [
      { key: '_select', label: 'Select', render: (o) => h('input', { type: 'checkbox', class: 'select-order', 'aria-label': `Select order ${o.reference}`,
        onchange: (e) => { if (e.target.checked) selected.add(o.id); else selected.delete(o.id); updateCount(); } }) },
      { key: 'reference', label: 'Reference', render: (o) => h('a', { href: `/orders/${o.id}` }, o.reference) },
      { key: 'customer_name', label: 'Customer', render: (o) => o.customer_name || '—' },
      { key: 'dropoff', label: 'Delivery address', render: (o) => o.dropoff || '—' },
      { key: 'window', label: 'Time window', render: windowText },
      { key: 'packages', label: 'Packages', render: (o) => String(o.packages ?? '—') },
      { key: 'created_at', label: 'Submitted', render: (o) => fmt.dateTime(o.created_at) },
    ],
    rows: unassigned.items,
    empty: 'No submitted orders are waiting for a route.',
  });

  // --- schedule onto a route
  const NEW = '__new__';
  const routeField = field({ name: 'route_id', label: 'Route', type: 'select', value: planned[0]?.id || NEW,
    options: [...planned.map((r) => [r.id, `${r.name} · ${r.driver_name || 'no driver'} (${r.order_count} orders)`]), [NEW, 'New route…']] });
  const newRoute = h('fieldset', { class: 'new-route' }, h('legend', {}, `New route for ${fmt.date(day)}`),
    field({ name: 'name', label: 'Route name', value: `Route ${fmt.date(day)}` }),
    field({ name: 'driver_id', label: 'Driver', type: 'select',
      options: [['', 'No driver yet'], ...activeDrivers.map((d) => [d.id, d.name])] }),
    field({ name: 'depot_id', label: 'Depot', type: 'select',
      options: [['', 'No depot'], ...depots.map((d) => [d.id, d.name])], value: depots[0]?.id || '' }));
  const routeSelect = routeField.querySelector('select');
  const syncNew = () => { newRoute.hidden = routeSelect.value !== NEW; newRoute.disabled = newRoute.hidden; };
  routeSelect.addEventListener('change', syncNew);
  syncNew();

  const scheduleForm = form({
    label: 'Schedule the selected orders', submit: 'Schedule',
    fields: [routeField, newRoute],
    onSubmit: async (v) => {
      const ids = unassigned.items.filter((o) => selected.has(o.id)).map((o) => o.id);   // in list order
      if (!ids.length) throw new ApiError(422, { error: { message: 'Select the orders to schedule first (tick them in the list).' } });
      let routeId = v.route_id;
      if (routeId === NEW) {
        const created = await post('/admin/routes', { name: v.name || `Route ${day}`, day,
          driver_id: v.driver_id || null, depot_id: v.depot_id || null });
        routeId = created.id;
      }
      try {
        const route = await post(`/admin/routes/${routeId}/orders`, { order_ids: ids });
        toast(`${ids.length} order${ids.length === 1 ? '' : 's'} scheduled on ${route.name}.`);
      } catch (error) {
        if (error.status === 409) throw new ApiError(409, { error: { message: conflictText(error) } });
        throw error;
      }
      app.refresh();
    },
  });

  // --- the day's routes
  const open = routes.items.filter((r) => r.status !== 'finished');
  const finished = routes.items.filter((r) => r.status === 'finished');
  const routesList = routes.items.length ? h('div', { class: 'route-list' },
    open.length ? open.map((r) => routeBlock(r, app, names)) : h('p', { class: 'empty' }, 'Every route of this day is finished.'),
    finished.length ? h('details', { class: 'finished-routes' }, h('summary', {}, `Finished routes (${finished.length})`),
      h('div', { class: 'route-list' }, finished.map((r) => routeBlock(r, app, names)))) : null)
    : h('p', { class: 'empty' }, `No routes on ${fmt.date(day)}. Select orders above and schedule them on a new route.`);

  return page('Dispatch',
    card('Day', dayForm),
    card('Unassigned orders',
      // The form first: with many waiting orders the list is long.
      unassigned.items.length ? h('div', { class: 'schedule-box' }, h('h3', {}, 'Schedule the selected orders onto a route'), scheduleForm) : null,
      unassigned.items.length ? h('div', { class: 'row bulk-bar' }, count,
        h('button', { type: 'button', class: 'link', onclick: (e) => {
          e.target.closest('.card').querySelectorAll('input.select-order').forEach((box) => { box.checked = true; });
          unassigned.items.forEach((o) => selected.add(o.id));
          updateCount();
        } }, 'Select all on this page')) : null,
      unassignedTable,
      pager({ page: upage, perPage: PER_PAGE, total: unassigned.total, onPage: (n) => {
        setQuery({ day: query.day, upage: n > 1 ? n : '' });
        app.refresh();
      } })),
    card(`Routes on ${fmt.date(day)}`, routesList));
}

function routeBlock(route, app, names) {
  const stops = table({
    caption: `Stops of ${route.name}`,
    columns: [
      { key: 'n', label: '#', render: (o) => String(route.orders.indexOf(o) + 1) },
      { key: 'reference', label: 'Order', render: (o) => h('a', { href: `/orders/${o.id}` }, o.reference) },
      { key: 'customer_name', label: 'Customer', render: (o) => o.customer_name || names.get(o.customer_id) || '—' },
      { key: 'dropoff', label: 'Delivery address', render: (o) => o.dropoff || '—' },
      { key: 'window', label: 'Time window', render: windowText },
      { key: 'status', label: 'Status', render: (o) => badge(o.status) },
      { key: 'actions', label: 'Actions', render: (o) => (o.status === 'scheduled' ? action('Remove', async () => {
        await del(`/admin/routes/${route.id}/orders/${o.id}`);
        toast(`${o.reference} is unassigned again.`);
        app.refresh();
      }, { confirmText: `Take ${o.reference} off ${route.name}? It goes back to the unassigned orders.` }) : '—') },
    ],
    rows: route.orders || [],
    empty: 'No orders on this route yet.',
  });
  return h('section', { class: 'route' },
    h('h3', {}, route.name),
    h('p', { class: 'row' }, badge(route.status),
      h('span', {}, `Driver: ${route.driver_name || 'none yet'}`),
      h('span', { class: 'muted' }, `${route.order_count} order${route.order_count === 1 ? '' : 's'}`),
      route.started_at ? h('span', { class: 'muted' }, `Started ${fmt.time(route.started_at)}`) : null,
      route.finished_at ? h('span', { class: 'muted' }, `Finished ${fmt.time(route.finished_at)}`) : null),
    route.status === 'planned' && route.order_count > 0 ? h('div', { class: 'actions' }, action('Start route', async () => {
      await post(`/admin/routes/${route.id}/start`);
      toast(`${route.name} started: its orders are in transit.`);
      app.refresh();
    }, { class: 'primary', confirmText: `Start ${route.name}? Its orders go in transit and their customers are told.` })) : null,
    stops);
}

// --- the operator's inbox -------------------------------------------------------------------------
async function inboxPage({ query, app }) {
  const status = query.status || 'open';   // 'all' shows both
  const about = query.about || '';
  const pageNo = Math.max(1, Number(query.page) || 1);
  const [list, customers] = await Promise.all([
    get('/conversations', { status: status === 'all' ? undefined : status, about: about || undefined, page: pageNo, per_page: 50 }),
    get('/admin/customers', { per_page: 200 }).catch(() => ({ items: [] })),
  ]);
  const names = new Map(customers.items.map((c) => [c.id, c.name]));
  const current = query.id || '';

  const filterForm = form({
    label: 'Filter conversations', class: 'wide', submit: 'Show',
    fields: [
      { name: 'status', label: 'Status', type: 'select', value: status, options: [['open', 'Open'], ['closed', 'Closed'], ['all', 'All']] },
      { name: 'about', label: 'About', type: 'select', value: about, options: [['', 'Orders and support'], ['order', 'Orders'], ['support', 'Support questions']] },
    ],
    onSubmit: async (v) => {
      setQuery({ status: v.status || 'open', about: v.about || '' });
      app.refresh();
    },
  });

  const linkTo = (id) => {
    const params = new URLSearchParams(location.search);
    params.set('id', id);
    return `${location.pathname}?${params}`;
  };
  const listNode = list.items.length ? h('ul', { class: 'conversation-list' }, list.items.map((c) => h('li', {},
    h('a', { href: linkTo(c.id), 'aria-current': c.id === current ? 'true' : null },
      h('span', { class: 'subject' }, c.subject),
      h('span', { class: 'row' },
        h('span', {}, names.get(c.customer_id) || 'Customer'),
        badge(c.status),
        h('span', { class: 'muted' }, `${c.message_count} message${c.message_count === 1 ? '' : 's'} · ${fmt.relative(c.last_message_at)}`))))))
    : h('p', { class: 'empty' }, status === 'open' ? 'No open conversations: customers\' questions appear here.' : 'No conversations match.');

  const detail = h('div', {});
  if (current) {
    replace(detail, loading());
    get(`/conversations/${encodeURIComponent(current)}`).then((c) => {
      replace(detail, conversationView(c, { app, staff: true, asCard: true }),
        h('p', { class: 'muted' }, `Customer: ${names.get(c.customer_id) || c.customer_id}`));
    }).catch((error) => replace(detail, errorBox(error)));
  } else {
    replace(detail, card('Conversation', h('p', { class: 'empty' }, 'Choose a conversation from the list to read it and reply.')));
  }

  const pages = list.total > list.per_page ? h('nav', { class: 'pager', 'aria-label': 'Pages' },
    pageNo > 1 ? h('a', { href: `${location.pathname}?${new URLSearchParams({ ...query, page: pageNo - 1 })}` }, 'Previous') : null,
    h('span', {}, `Page ${pageNo} of ${Math.ceil(list.total / list.per_page)}`),
    pageNo * list.per_page < list.total ? h('a', { href: `${location.pathname}?${new URLSearchParams({ ...query, page: pageNo + 1 })}` }, 'Next') : null) : null;

  return page('Conversations',
    card('Filter', filterForm),
    h('div', { class: 'inbox' },
      card(`Inbox (${list.total})`, listNode, pages),
      detail));
}

export const routes = [
  { path: '/admin/dispatch', title: 'Dispatch', access: 'staff', nav: { label: 'Dispatch', order: 20 }, render: dispatchPage },
  { path: '/admin/conversations', title: 'Conversations', access: 'staff', nav: { label: 'Conversations', order: 60 }, render: inboxPage },
];
