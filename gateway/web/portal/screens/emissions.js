// CO2e by the GLEC Framework v3 / ISO 14083 method: the block on the order page and the home
// card (this month, the last months, the CSV of the year). Not a screen of its own.
import { get, href } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { facts } from '../lib/ui.js';

const LOCALE = document.documentElement.lang || undefined;
const ROUNDED = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });
const UNIT = { tkm: 'tonne-km', pkm: 'passenger-km' };

/** "12.3 kg CO2e" from the API's decimal string. */
export const co2e = (kg) => `${ROUNDED.format(Number(kg))} kg CO2e`;

/** The order page's block: the figure and how it was computed. */
export function orderEmissions(order) {
  const e = order.emissions;
  if (!e) {
    return h('p', { class: 'muted emissions' }, order.status === 'draft'
      ? 'CO2e: computed once the order is submitted.'
      : 'CO2e: not computed (the stops have no coordinates, or the order is cancelled).');
  }
  const activity = e.unit === 'pkm' ? `${ROUNDED.format(Number(e.passenger_km))} passenger-km`
    : `${ROUNDED.format(Number(e.tonne_km))} tonne-km (${ROUNDED.format(Number(e.mass_t))} t${e.load_source === 'default' ? ', assumed' : ''})`;
  return h('div', { class: 'emissions' },
    h('h3', {}, 'CO2e'),
    facts([
      ['Emissions', co2e(order.co2e_kg)],
      ['Distance', `${ROUNDED.format(Number(e.distance_km))} km (${e.distance_source})`],
      ['Activity', activity],
      ['Vehicle', e.vehicle_type],
      ['Intensity', `${e.intensity_g_per_unit} g CO2e per ${UNIT[e.unit] || e.unit}`],
      ['Source', e.factor_source],
      ['Method', e.method],
    ]));
}

/** The home card's loader (see home.js dashCard): this month's kg, the months of this year. */
export async function monthlyEmissions() {
  const today = new Date();
  const year = today.getFullYear();
  const from = `${year}-01-01`;
  const to = `${year}-12-31`;
  const found = await get('/emissions/monthly', { from, to });
  const thisMonth = `${year}-${String(today.getMonth() + 1).padStart(2, '0')}`;
  const current = found.months.find((m) => m.month === thisMonth);
  return {
    count: ROUNDED.format(Number(current ? current.co2e_kg : 0)),
    what: 'kg CO2e this month',
    extra: h('p', { class: 'muted' }, `${co2e(found.total_co2e_kg)} in ${year} (well-to-wheel, GLEC / ISO 14083).`),
    items: found.months.slice(-4).reverse().map((m) => h('span', {}, `${m.month}: ${co2e(m.co2e_kg)}`,
      h('span', { class: 'muted' }, ` (${m.orders} ${m.orders === 1 ? 'order' : 'orders'})`))),
    empty: 'No order of this year has a CO2e figure yet.',
    links: [h('a', { href: href('/emissions.csv', { from, to }), download: '' }, `CSV of ${year}`)],
  };
}
