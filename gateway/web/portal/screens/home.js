// The start page: what needs the user now, one card per subject. Each card asks its own API and
// shows its own error, so one service being down never blanks the page.
import { get } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { canBook, isCustomer, isCustomerAdmin, isStaff, session } from '../lib/session.js';
import { badge, card, errorBox, loading, page } from '../lib/ui.js';
import { monthlyEmissions } from './emissions.js';
import { askedText, KIND_TEXT } from './exceptions.js';
import { termsBanner } from './terms.js';

const SHOWN = 5;
const ACTIVE = ['submitted', 'scheduled', 'in_transit'];

/**
 * A card that fills itself: ``load()`` answers {count, what, items: [Node], links: [Node], empty}.
 * ``count`` with ``what`` is the headline ("3 active orders").
 */
function dashCard(title, load) {
  const body = h('div', { class: 'dash-body', 'aria-live': 'polite', 'aria-busy': 'true' }, loading());
  const section = card(title, body);
  section.classList.add('dash-card');
  load().then(({ count, what, items = [], links = [], empty, extra }) => {
    replace(body,
      h('p', { class: 'dash-count' }, h('span', { class: 'stat' }, String(count)), ' ', what),
      extra || null,
      items.length ? h('ul', { class: 'dash-list' }, items.map((item) => h('li', {}, item))) : h('p', { class: 'empty' }, empty),
      links.length ? h('p', { class: 'dash-links' }, links.flatMap((link, i) => (i ? [' · ', link] : [link]))) : null);
  }).catch((error) => {
    replace(body, errorBox(error), h('p', {}, h('button', { type: 'button', class: 'link', onclick: () => section.replaceWith(dashCard(title, load)) }, 'Try again')));
  }).finally(() => body.removeAttribute('aria-busy'));
  return section;
}

const plural = (n, one, many) => (n === 1 ? one : many);
const link = (path, text) => h('a', { href: path }, text);

// --- customers ---------------------------------------------------------------------------------
async function activeOrders() {
  // each row carries its next stop's ETA (tracking tells orders): no call per order
  const found = await get('/orders', { status: ACTIVE, per_page: SHOWN, sort: 'window_start' });
  return {
    count: found.total,
    what: plural(found.total, 'order on its way or planned', 'orders on their way or planned'),
    items: found.items.map((o) => h('span', { class: 'dash-item' },
      link(`/orders/${o.id}`, o.reference || 'Order'), ' ', badge(o.status),
      h('span', { class: 'muted' }, ' ', [o.recipient, o.city].filter(Boolean).join(', ')),
      o.eta ? h('span', { class: 'dash-eta' }, ` ETA ${fmt.dateTime(o.eta)}`,
        o.late ? h('strong', { class: 'dash-late' }, ' (running late)') : null) : null)),
    empty: 'Nothing on its way. Book a delivery to get started.',
    links: [link('/orders', 'All orders'), link('/orders/new', 'Book a delivery')],
  };
}

async function deliveryProblems() {
  // late or failed stops you can act on (a new window, leave-at instructions, another address)
  const found = await get('/delivery-exceptions', { status: 'open', per_page: SHOWN });
  return {
    count: found.total,
    what: plural(found.total, 'delivery needs your attention', 'deliveries need your attention'),
    items: found.items.map((e) => h('span', {}, link(`/orders/${e.order_id}#delivery-problems`, e.reference || 'Order'),
      ' ', h('strong', { class: 'dash-late' }, KIND_TEXT[e.kind] || e.kind),
      h('span', { class: 'muted' }, e.actions.length ? ' — choose what dispatch should do' : ` — asked: ${askedText(e.request)}`))),
    empty: 'No late or failed deliveries.',
    links: [link('/orders?status=in_transit', 'Orders on their way')],
  };
}

async function drafts() {
  const found = await get('/orders', { status: 'draft', per_page: SHOWN, sort: '-updated_at' });
  return {
    count: found.total,
    what: plural(found.total, 'draft waiting to be submitted', 'drafts waiting to be submitted'),
    items: found.items.map((o) => h('span', {}, link(`/orders/${o.id}`, o.reference || 'Draft'),
      h('span', { class: 'muted' }, ` changed ${fmt.relative(o.updated_at)}`))),
    empty: 'No drafts. Imported or saved orders wait here until you submit them.',
    links: [link('/orders?status=draft', 'All drafts'), canBook() ? link('/imports', 'Imports') : null].filter(Boolean),
  };
}

// Bookers' orders above the company's approval limit, for its admins to approve or decline.
async function approvals() {
  const found = await get('/orders', { status: 'pending_approval', per_page: SHOWN, sort: 'created_at' });
  return {
    count: found.total,
    what: plural(found.total, 'order waiting for your approval', 'orders waiting for your approval'),
    items: found.items.map((o) => h('span', {}, link(`/orders/${o.id}`, o.reference || 'Order'),
      o.price_total ? ` ${fmt.money(o.price_total.amount, o.price_total.currency)}` : '',
      h('span', { class: 'muted' }, ` booked ${fmt.relative(o.created_at)}`))),
    empty: 'No order waits for your approval.',
    links: [link('/orders?status=pending_approval', 'All orders waiting for approval')],
  };
}

async function quotes() {
  const found = await get('/quotes', { status: 'sent', per_page: SHOWN, sort: 'valid_until' });
  return {
    count: found.total,
    what: plural(found.total, 'quote waiting for your answer', 'quotes waiting for your answer'),
    items: found.items.map((q) => h('span', {}, link(`/quotes/${q.id}`, q.number || 'Quote'),
      q.total ? ` ${fmt.money(q.total.amount, q.total.currency)}` : '',
      q.valid_until ? h('span', { class: 'muted' }, ` valid until ${fmt.date(q.valid_until)}`) : null)),
    empty: 'No quote waits for an answer.',
    links: [link('/quotes', 'All quotes')],
  };
}

async function invoices() {
  const [summary, open] = await Promise.all([
    get('/account/summary'),
    get('/invoices', { status: 'open', per_page: SHOWN, sort: 'due_date' }),
  ]);
  const overdue = summary.overdue_invoices || 0;
  return {
    count: summary.open_invoices ?? open.total,
    what: plural(summary.open_invoices ?? open.total, 'unpaid invoice', 'unpaid invoices'),
    extra: h('p', { class: overdue ? 'dash-alert' : 'muted' },
      overdue ? `${overdue} overdue (${fmt.money(summary.overdue.amount, summary.overdue.currency)}). ` : 'Nothing overdue. ',
      `Balance ${fmt.money(summary.current_balance.amount, summary.current_balance.currency)}.`),
    items: open.items.map((inv) => h('span', {}, link(`/invoices/${inv.id}`, inv.number || 'Invoice'), ' ',
      fmt.money(inv.outstanding.amount, inv.outstanding.currency), ' ',
      inv.overdue ? badge('overdue') : h('span', { class: 'muted' }, `due ${fmt.date(inv.due_date)}`))),
    empty: 'All invoices are paid.',
    links: [link('/invoices', 'All invoices')],
  };
}

async function notifications() {
  const found = await get('/notifications', { unread: true, per_page: SHOWN });
  return {
    count: found.unread,
    what: plural(found.unread, 'unread notification', 'unread notifications'),
    items: found.items.map((n) => h('span', {}, n.link ? link(n.link, n.title) : n.title,
      h('span', { class: 'muted' }, ` ${fmt.relative(n.created_at)}`))),
    empty: 'You are up to date.',
    links: [link('/notifications', 'All notifications')],
  };
}

// --- operator staff ------------------------------------------------------------------------------
async function unassigned() {
  const found = await get('/admin/orders', { unassigned: true, per_page: SHOWN, sort: 'created_at' });
  return {
    count: found.total,
    what: plural(found.total, 'order not on a route yet', 'orders not on a route yet'),
    items: found.items.map((o) => h('span', {}, link(`/orders/${o.id}`, o.reference || 'Order'),
      h('span', { class: 'muted' }, ` ${[o.customer_name, o.city].filter(Boolean).join(', ')}`,
        o.window_start ? `, from ${fmt.dateTime(o.window_start)}` : ''))),
    empty: 'Every submitted order is on a route.',
    links: [link('/admin/dispatch', 'Open dispatch')],
  };
}

async function quotesToPrice() {
  const found = await get('/quotes', { status: ['requested', 'changes_requested'], per_page: SHOWN, sort: 'created_at' });
  return {
    count: found.total,
    what: plural(found.total, 'quote to price', 'quotes to price'),
    items: found.items.map((q) => h('span', {}, link(`/admin/quotes/${q.id}`, q.number || 'Quote'), ' ', badge(q.status),
      h('span', { class: 'muted' }, ` asked ${fmt.relative(q.created_at)}`))),
    empty: 'No quote request waits.',
    links: [link('/admin/quotes', 'Open quotes')],
  };
}

async function overdueInvoices() {
  const found = await get('/invoices', { status: 'overdue', per_page: SHOWN, sort: 'due_date' });
  return {
    count: found.total,
    what: plural(found.total, 'overdue invoice', 'overdue invoices'),
    items: found.items.map((inv) => h('span', {}, link(`/admin/invoices/${inv.id}`, inv.number || 'Invoice'), ' ',
      fmt.money(inv.outstanding.amount, inv.outstanding.currency),
      h('span', { class: 'muted' }, ` due ${fmt.date(inv.due_date)}`))),
    empty: 'No invoice is overdue.',
    links: [link('/admin/invoices', 'Open invoices')],
  };
}

async function callOffs() {
  const found = await get('/admin/rentals/call-offs', { status: 'requested', per_page: SHOWN });
  return {
    count: found.total,
    what: plural(found.total, 'call-off request waiting', 'call-off requests waiting'),
    items: found.items.map((c) => h('span', {}, `Off rent ${fmt.date(c.off_on)}`,
      h('span', { class: 'muted' }, ` asked ${fmt.relative(c.created_at)}`))),
    empty: 'No call-off request waits.',
    links: [link('/admin/rentals', 'Open rentals')],
  };
}

async function reschedules() {
  const found = await get('/admin/reschedule-requests', { status: 'requested', per_page: SHOWN });
  return {
    count: found.total,
    what: plural(found.total, 'reschedule request waiting', 'reschedule requests waiting'),
    items: found.items.map((r) => h('span', {}, link(`/orders/${r.order_id}`, 'Order'),
      ` ${askedText(r)}`, h('span', { class: 'muted' }, ` asked ${fmt.relative(r.created_at)}`))),
    empty: 'No reschedule request waits.',
    links: [link('/admin/dispatch', 'Open dispatch')],
  };
}

async function render({ app }) {
  const name = (session.user.name || '').split(' ')[0];
  const greeting = name ? `Hello, ${name}` : 'Welcome';
  if (isStaff()) {
    return page(greeting,
      h('p', { class: 'muted' }, 'What waits for the team now.'),
      h('div', { class: 'grid three dash' },
        dashCard('Orders to dispatch', unassigned),
        dashCard('Quotes to price', quotesToPrice),
        dashCard('Overdue invoices', overdueInvoices),
        dashCard('Call-off requests', callOffs),
        dashCard('Reschedule requests', reschedules),
        dashCard('Notifications', notifications)));
  }
  if (isCustomer()) {
    return page(greeting,
      session.customer ? h('p', { class: 'muted' }, session.customer.name) : null,
      termsBanner(app),
      h('div', { class: 'grid three dash' },
        dashCard('Active orders', activeOrders),
        dashCard('Delivery problems', deliveryProblems),
        dashCard('Drafts', drafts),
        isCustomerAdmin() ? dashCard('Waiting for approval', approvals) : null,
        dashCard('Quotes', quotes),
        dashCard('Invoices', invoices),
        dashCard('CO2e', monthlyEmissions),
        dashCard('Notifications', notifications)));
  }
  return page(greeting, dashCard('Notifications', notifications));
}

export const routes = [
  { path: '/', title: 'Home', access: 'signed-in', nav: { label: 'Home', order: 0 }, render },
];
