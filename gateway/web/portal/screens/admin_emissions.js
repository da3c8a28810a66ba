// Operator console: the emission factors per vehicle type that each order's CO2e is computed
// with (GLEC Framework v3 / ISO 14083 defaults, seeded; operator admins change them or add a
// type), and any customer's CO2e per month with its CSV.
import { get, href, patch, put } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { isOperatorAdmin } from '../lib/session.js';
import { card, dialog, field, page, table, toast } from '../lib/ui.js';
import { customerNames, customerPicker } from './admin_billing.js';
import { co2e } from './emissions.js';

const UNITS = [['tkm', 'per tonne-km'], ['pkm', 'per passenger-km']];

function factorFields(f = {}) {
  return [
    f.vehicle_type ? null : { name: 'vehicle_type', label: 'Vehicle type (key, e.g. e_van)', required: true,
      attrs: { maxlength: 64, pattern: '[a-z0-9_]+' } },
    { name: 'label', label: 'Label', value: f.label, required: true, attrs: { maxlength: 120 } },
    { name: 'intensity', label: 'Intensity (g CO2e well-to-wheel)', type: 'number', value: f.intensity, required: true,
      attrs: { min: 0, step: '0.001' } },
    { name: 'unit', label: 'Unit', type: 'select', value: f.unit || 'tkm', options: UNITS },
    { name: 'default_load_kg', label: 'Load assumed when items have no weight (kg)', type: 'number',
      value: f.default_load_kg, attrs: { min: 0, step: '0.1' } },
    { name: 'source', label: 'Source of the value', type: 'textarea', value: f.source },
  ].filter(Boolean);
}

async function editFactor(f, after) {
  const values = await dialog({ title: f ? `Emission factor: ${f.label}` : 'Add a vehicle type', submit: 'Save',
    fields: factorFields(f || {}) });
  if (!values) return;
  const key = f ? f.vehicle_type : values.vehicle_type;
  const body = { label: values.label, intensity: String(values.intensity), unit: values.unit,
    default_load_kg: values.default_load_kg === undefined ? null : String(values.default_load_kg),
    source: values.source || '' };
  try {
    await put(`/admin/emission-factors/${encodeURIComponent(key)}`, body);
    toast('Emission factor saved: orders computed from now on use it.');
    after();
  } catch (error) {
    toast(error.message, 'error');
  }
}

/** The vehicle of each route not yet finished: its orders' CO2e use that vehicle type's factor. */
function routeVehicles(routes, factors) {
  const options = [['', 'Not set (the order\u2019s, else the default)'], ...factors.map((f) => [f.vehicle_type, f.label])];
  return table({
    caption: 'Routes not yet finished',
    columns: [
      { key: 'name', label: 'Route', render: (r) => `${r.name} (${fmt.date(r.day)})` },
      { key: 'driver_name', label: 'Driver', render: (r) => r.driver_name || '—' },
      { key: 'order_count', label: 'Orders', render: (r) => String(r.order_count) },
      { key: 'vehicle_type', label: 'Vehicle', render: (r) => {
        const holder = field({ name: 'vehicle_type', label: `Vehicle of ${r.name}`, type: 'select', value: r.vehicle_type || '', options });
        holder.querySelector('select').addEventListener('change', async (e) => {
          try {
            await patch(`/admin/routes/${encodeURIComponent(r.id)}`, { vehicle_type: e.target.value || null });
            toast(`Vehicle of ${r.name} saved; its orders\u2019 CO2e is recomputed.`);
          } catch (error) {
            toast(error.message, 'error');
          }
        });
        return holder;
      } },
    ],
    rows: routes,
    empty: 'No planned or started route.',
  });
}

async function emissionsScreen({ query: q, app }) {
  const customerId = q.customer_id || '';
  const [factors, customers, monthly, planned, started] = await Promise.all([
    get('/admin/emission-factors'),
    customerNames(),
    get('/emissions/monthly', customerId ? { customer_id: customerId } : {}),
    get('/admin/routes', { status: 'planned', per_page: 25 }),
    get('/admin/routes', { status: 'started', per_page: 25 }),
  ]);
  const admin = isOperatorAdmin();
  const factorsBox = h('div');
  const reload = async () => replace(factorsBox, factorTable(await get('/admin/emission-factors')));
  function factorTable(rows) {
    return table({
      caption: 'Emission intensity per vehicle type',
      columns: [
        { key: 'label', label: 'Vehicle', render: (f) => `${f.label} (${f.vehicle_type})` },
        { key: 'intensity', label: 'g CO2e', render: (f) => `${f.intensity} ${f.unit === 'pkm' ? 'per passenger-km' : 'per tonne-km'}` },
        { key: 'default_load_kg', label: 'Assumed load', render: (f) => (f.default_load_kg ? `${f.default_load_kg} kg` : '—') },
        { key: 'source', label: 'Source', render: (f) => f.source || '—' },
        admin ? { key: 'edit', label: 'Change', render: (f) => h('button', { type: 'button', class: 'link',
          'aria-label': `Change ${f.label}`, onclick: () => editFactor(f, reload) }, 'Change') } : null,
      ].filter(Boolean),
      rows,
      empty: 'No emission factors.',
    });
  }
  replace(factorsBox, factorTable(factors));
  const csvQuery = customerId ? { customer_id: customerId } : {};
  return page('CO2e',
    h('p', { class: 'muted' }, 'Each order\u2019s CO2e = tonne-km (shipment mass x distance: great-circle along its stops x 1.05, ',
      'GLEC\u2019s road default) x the intensity of its vehicle type (the route\u2019s, else the order\u2019s, else a 7.5-12 t rigid truck). ',
      'Method: GLEC Framework v3 / ISO 14083, well-to-wheel.'),
    card('Emission factors', factorsBox,
      admin ? h('p', {}, h('button', { type: 'button', onclick: () => editFactor(null, reload) }, 'Add a vehicle type')) : null),
    card('Vehicles on routes', routeVehicles([...started.items, ...planned.items], factors)),
    card('CO2e per month',
      h('div', { class: 'row filters' },
        customerPicker(customers, customerId, (id) => app.navigate(`/admin/emissions${id ? `?customer_id=${encodeURIComponent(id)}` : ''}`))),
      table({
        caption: customerId ? `CO2e per month: ${customers.get(customerId) || 'customer'}` : 'CO2e per month: every customer',
        columns: [
          { key: 'month', label: 'Month' },
          { key: 'orders', label: 'Orders', render: (m) => String(m.orders) },
          { key: 'co2e_kg', label: 'CO2e', render: (m) => co2e(m.co2e_kg) },
        ],
        rows: monthly.months,
        empty: 'No order has a CO2e figure yet.',
      }),
      h('p', {}, `Total ${co2e(monthly.total_co2e_kg)}. `, h('a', { href: href('/emissions.csv', csvQuery), download: '' }, 'Download CSV'))));
}

export const routes = [
  { path: '/admin/emissions', title: 'CO2e', access: 'staff', nav: { label: 'CO2e', order: 75 }, render: emissionsScreen },
];
