// Operator staff: the recipients' feedback (a rating 1-5 and a comment, given on the public
// tracking page once an order was delivered), filtered by customer, driver and rating, with the
// average rating per customer and per driver under the same filters.
import { get } from '../lib/api.js';
import { fmt, h } from '../lib/dom.js';
import { card, facts, field, page, pager, table } from '../lib/ui.js';
import { customerNames, customerPicker } from './admin_billing.js';

const PER_PAGE = 25;
const RATINGS = [['', 'Any rating'], ['1', '1 · Poor'], ['2', '2 · Fair'], ['3', '3 · Good'], ['4', '4 · Very good'],
  ['5', '5 · Excellent']];

const qs = (obj) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
};

/** id -> name of every driver (the list falls back to "Driver" without them). */
async function driverNames() {
  const drivers = await get('/admin/drivers').catch(() => []);
  return new Map(drivers.map((d) => [d.id, d.name]));
}

/** A select that filters the list; ``onChange`` gets the chosen value. */
function picker(name, label, options, current, onChange) {
  const holder = field({ name, label, type: 'select', value: current, options });
  holder.classList.add('customer-picker');
  holder.querySelector('select').addEventListener('change', (e) => onChange(e.target.value));
  return holder;
}

const average = (a) => (a.average === null ? '—' : `${a.average.toFixed(2)} / 5`);

function averagesTable(title, rows, names, fallback) {
  return h('div', {}, h('h3', {}, title), table({
    columns: [
      { key: 'id', label: fallback, render: (a) => names.get(a.id) || fallback },
      { key: 'average', label: 'Average rating', render: average },
      { key: 'count', label: 'Ratings', render: (a) => String(a.count) },
    ],
    rows,
    empty: 'No ratings here yet.',
  }));
}

async function feedbackScreen({ query: q, app }) {
  const filters = { customer_id: q.customer_id || '', driver_id: q.driver_id || '', rating: q.rating || '' };
  const pageNo = Math.max(1, Number(q.page) || 1);
  const [customers, drivers, list, averages] = await Promise.all([
    customerNames(),
    driverNames(),
    get('/admin/feedback', { ...filters, page: pageNo, per_page: PER_PAGE }),
    get('/admin/feedback/averages', filters),
  ]);
  const link = (changes) => `/admin/feedback${qs({ ...filters, page: undefined, ...changes })}`;
  const driverOptions = [['', 'All drivers'], ...[...drivers.entries()].sort((a, b) => a[1].localeCompare(b[1]))];

  return page('Recipient feedback',
    h('div', { class: 'row filters' },
      customerPicker(customers, filters.customer_id, (id) => app.navigate(link({ customer_id: id }))),
      picker('driver_id', 'Driver', driverOptions, filters.driver_id, (id) => app.navigate(link({ driver_id: id }))),
      picker('rating', 'Rating', RATINGS, filters.rating, (r) => app.navigate(link({ rating: r })))),
    card('Averages',
      facts([['Overall', `${average(averages.overall)} (${averages.overall.count} ${averages.overall.count === 1 ? 'rating' : 'ratings'})`]]),
      h('div', { class: 'grid two' },
        averagesTable('Per customer', averages.by_customer, customers, 'Customer'),
        averagesTable('Per driver', averages.by_driver, drivers, 'Driver'))),
    card('All feedback',
      table({
        caption: 'Feedback, newest first',
        columns: [
          { key: 'created_at', label: 'Given', render: (f) => fmt.dateTime(f.created_at) },
          { key: 'order', label: 'Order', render: (f) => h('a', { href: `/orders/${f.order_id}` }, f.order_reference || 'Order') },
          { key: 'customer', label: 'Customer', render: (f) => customers.get(f.customer_id) || 'Customer' },
          { key: 'driver', label: 'Driver', render: (f) => (f.driver_id ? drivers.get(f.driver_id) || 'Driver' : '—') },
          { key: 'rating', label: 'Rating', render: (f) => `${f.rating} / 5` },
          { key: 'comment', label: 'Comment', render: (f) => f.comment || '—' },
        ],
        rows: list.items,
        empty: 'No feedback matches these filters.',
      }),
      pager({ page: list.page, perPage: list.per_page, total: list.total, onPage: (p) => app.navigate(link({ page: p })) })));
}

export const routes = [
  { path: '/admin/feedback', title: 'Recipient feedback', access: 'staff', nav: { label: 'Feedback', order: 65 }, render: feedbackScreen },
];
