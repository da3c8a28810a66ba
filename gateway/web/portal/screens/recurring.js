// Recurring orders: the customer's schedules that book one of their orders again (every
// weekday, some days of the week, every N days), as drafts or submitted; pause, resume, edit and
// delete them. A schedule is saved from an order ("Repeat on a schedule" on the order page).
import { del, get, patch, post } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { query } from '../lib/router.js';
import { action, badge, card, field, form, loading, page, pager, table, toast } from '../lib/ui.js';
import { canBook } from '../lib/session.js';

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const FREQUENCIES = [['weekdays', 'Every weekday (Monday to Friday)'], ['weekly', 'On chosen days of the week'],
  ['every_n_days', 'Every N days']];
const today = () => new Date().toISOString().slice(0, 10);

/** "Every Monday and Thursday", "Every weekday", "Every 3 days". */
export function patternText(s) {
  if (s.frequency === 'weekdays') return 'Every weekday';
  if (s.frequency === 'weekly') {
    const names = (s.weekdays || []).map((d) => DAYS[d]);
    return `Every ${names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names[0] || '—'}`;
  }
  return s.interval_days === 1 ? 'Every day' : `Every ${s.interval_days} days`;
}

/** The schedule's fields; ``s`` fills them when editing. */
function scheduleFields(s = {}) {
  const days = h('fieldset', { class: 'field weekdays' }, h('legend', {}, 'Days of the week (when "on chosen days")'),
    DAYS.map((name, n) => field({ name: `day${n}`, label: name, type: 'checkbox', value: (s.weekdays || []).includes(n) })));
  return [
    field({ name: 'name', label: 'Name', value: s.name, hint: 'For your list, e.g. "Monday shop delivery".' }),
    field({ name: 'frequency', label: 'Repeat', type: 'select', options: FREQUENCIES, value: s.frequency || 'weekdays', required: true }),
    days,
    field({ name: 'interval_days', label: 'Every how many days (when "every N days")', type: 'number',
      value: s.interval_days, attrs: { min: 1, max: 366 } }),
    field({ name: 'starts_on', label: 'Starts on', type: 'date', value: s.starts_on || today(), required: true }),
    field({ name: 'ends_on', label: 'Ends on (optional)', type: 'date', value: s.ends_on }),
    field({ name: 'time_of_day', label: 'First time of the day', type: 'time', value: s.time_of_day,
      hint: 'The pickup or first window starts then; the order\'s other times keep their distance. Empty: as in the order.' }),
    field({ name: 'submit', label: 'Submit each order at once (otherwise a draft to check and submit)', type: 'checkbox', value: s.submit }),
  ];
}

/** The form's values in the API's shape: the day checkboxes become ``weekdays``. */
function toBody(v) {
  const body = { ...v, weekdays: DAYS.map((_, n) => n).filter((n) => v[`day${n}`]) };
  DAYS.forEach((_, n) => delete body[`day${n}`]);
  if (body.frequency !== 'every_n_days') delete body.interval_days;
  return body;
}

async function recurringList() {
  const box = h('div', {}, loading());
  let current = 1;
  async function draw(pageNo = current) {
    current = pageNo;
    const found = await get('/recurring-orders', { page: pageNo, per_page: 25 });
    replace(box,
      table({
        caption: 'Your recurring orders',
        empty: 'No recurring orders yet. Open an order and choose "Repeat on a schedule".',
        rows: found.items,
        columns: [
          { label: 'Name', render: (s) => h('a', { href: `/recurring-orders/${s.id}` }, s.name) },
          { label: 'Repeats', render: (s) => `${patternText(s)} at ${s.time_of_day}` },
          { label: 'Delivers to', render: (s) => s.dropoff || '—' },
          { label: 'Creates', render: (s) => (s.submit ? 'Submitted orders' : 'Drafts') },
          { label: 'Next', render: (s) => (s.paused ? badge('paused') : s.next_on ? fmt.date(s.next_on) : 'Ended') },
          { label: 'Last problem', render: (s) => s.last_error || '—' },
          { label: 'Actions', render: (s) => !canBook() ? '—' : h('div', { class: 'actions' },
            action(s.paused ? 'Resume' : 'Pause', async () => {
              await patch(`/recurring-orders/${s.id}`, { paused: !s.paused });
              toast(s.paused ? 'Resumed: it books again from today.' : 'Paused.');
              await draw();
            }),
            action('Delete', async () => {
              await del(`/recurring-orders/${s.id}`);
              toast('Recurring order deleted; the orders it made stay.');
              await draw();
            }, { class: 'danger', confirmText: 'Delete this recurring order? Orders it already made stay.' })) },
        ],
      }),
      pager({ page: found.page, perPage: found.per_page, total: found.total, onPage: draw }));
  }
  await draw(1);
  return page('Recurring orders', card(null, h('p', { class: 'muted' },
    'Orders booked for you on a schedule, a day ahead. Pause one while you do not need it.')), box,
  h('p', {}, h('a', { href: '/orders' }, 'Choose an order to repeat')));
}

async function newRecurring({ app }) {
  const orderId = query().order;
  if (!orderId) return page('New recurring order', h('p', {}, 'Open one of your orders and choose "Repeat on a schedule".'));
  const order = await get(`/orders/${encodeURIComponent(orderId)}`);
  return page(`Repeat ${order.reference} on a schedule`,
    card(null, h('p', {}, 'Its stops, contacts and items are booked again on each day of the schedule.')),
    form({
      label: 'Recurring order', submit: 'Save schedule', fields: scheduleFields({ name: `Again: ${order.reference}` }),
      onSubmit: async (v) => {
        const made = await post('/recurring-orders', { ...toBody(v), order_id: order.id });
        toast(made.next_on ? `Saved; the first order is for ${fmt.date(made.next_on)}.` : 'Saved.');
        app.navigate('/recurring-orders');
      },
    }));
}

async function editRecurring({ params, app }) {
  const base = `/recurring-orders/${encodeURIComponent(params.id)}`;
  const s = await get(base);
  return page(s.name,
    card(null, h('p', {}, `${patternText(s)} at ${s.time_of_day}. `, s.paused ? badge('paused') : `Next: ${s.next_on ? fmt.date(s.next_on) : 'ended'}.`),
      s.order_id ? h('p', {}, h('a', { href: `/orders/${s.order_id}` }, 'The order it repeats')) : null),
    form({
      label: 'Edit recurring order', submit: 'Save changes', fields: scheduleFields(s),
      onSubmit: async (v) => {
        const body = toBody(v);
        if (!body.ends_on) body.ends_on = null;
        await patch(base, body);
        toast('Saved.');
        app.navigate('/recurring-orders');
      },
    }));
}

export const routes = [
  { path: '/recurring-orders', title: 'Recurring orders', access: 'customer', nav: { label: 'Recurring orders', order: 12 }, render: recurringList },
  { path: '/recurring-orders/new', title: 'New recurring order', access: 'booker', render: newRecurring },
  { path: '/recurring-orders/:id', title: 'Recurring order', access: 'customer', render: editRecurring },
];
