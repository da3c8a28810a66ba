// Operator console, branding: the operator's display name, colours, email footer and logo, shown
// on the portal, the tracking pages, every email and the invoice and statement PDFs. Staff see
// them; an operator admin changes them. A colour too light to read on white is refused by the API
// with a darker shade that passes; the message lands next to the field.
import { api, ApiError, get, patch } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { isOperatorAdmin } from '../lib/session.js';
import { action, card, facts, form, page, toast } from '../lib/ui.js';

const FIELDS = [
  { name: 'display_name', label: 'Display name', hint: 'Shown in the portal header, on tracking pages, emails and PDFs. Empty: the platform default.', attrs: { maxlength: 120 } },
  { name: 'primary_color', label: 'Primary colour', hint: 'Hex, e.g. #1f4e79. Links and the header: needs 4.5:1 contrast with white.', placeholder: '#1f4e79', attrs: { maxlength: 7, pattern: '#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?' } },
  { name: 'accent_color', label: 'Accent colour', hint: 'Hex. Markers and the header rule: needs 3:1 contrast with white. Empty: the primary colour.', placeholder: '#d9480f', attrs: { maxlength: 7 } },
  { name: 'email_footer', label: 'Email footer line', type: 'textarea', rows: 2, hint: 'One line at the foot of every email (e.g. the company registration).', attrs: { maxlength: 300 } },
];

/** The colours as they will look: swatches with their text colour (set through the CSSOM). */
function preview(brand) {
  const swatch = (label, bg, fg) => {
    const el = h('span', { class: 'brand-swatch' }, `${label} ${bg}`);
    el.style.setProperty('background', bg);
    el.style.setProperty('color', fg);
    return el;
  };
  const logo = brand.logo_url ? h('img', { src: brand.logo_url, alt: `Logo of ${brand.name}`, class: 'brand-preview-logo' }) : h('p', { class: 'muted' }, 'No logo: the name stands alone.');
  return h('div', { class: 'brand-preview' }, logo,
    h('p', {}, swatch('Primary', brand.primary_color, brand.primary_text), ' ', swatch('Accent', brand.accent_color, brand.accent_text)));
}

async function brandingScreen({ app }) {
  const current = await get('/admin/branding');
  const shown = h('div', {}, preview(current));
  const applied = (brand) => {
    replace(shown, preview(brand));
    app.rebrand?.(brand);
  };
  if (!isOperatorAdmin()) {
    return page('Branding', card('In use', h('p', { class: 'muted admin-note' }, 'Only an operator admin can change these.'), shown,
      facts([['Display name', current.name], ['Primary colour', current.primary_color], ['Accent colour', current.accent_color],
        ['Email footer', current.email_footer || '—']])));
  }
  const settings = form({
    label: 'Branding', submit: 'Save branding',
    fields: FIELDS.map((f) => ({ ...f, value: current.settings[f.name] ?? '' })),
    onSubmit: async (vals) => {
      // An emptied field goes back to the default: send it as null.
      const body = Object.fromEntries(FIELDS.map((f) => [f.name, vals[f.name] ?? null]));
      applied(await patch('/admin/branding', body));
      toast('Branding saved.');
    },
  });
  const upload = form({
    label: 'Logo', submit: 'Upload logo',
    fields: [{ name: 'file', label: 'Logo file', type: 'file', required: true, attrs: { accept: 'image/png,image/jpeg,image/svg+xml' },
      hint: 'PNG, JPEG or SVG, at most 512 KB. An SVG with scripts or links to other files is refused.' }],
    onSubmit: async (vals, formEl) => {
      if (!vals.file) throw new ApiError(422, { error: { message: 'Choose the logo file.', details: { fields: { file: ['Choose a PNG, JPEG or SVG file.'] } } } });
      const data = new FormData();
      data.append('file', vals.file);
      app.rebrand?.(await api('/admin/branding/logo', { method: 'PUT', form: data }));
      formEl.reset();
      toast('Logo uploaded.');
      app.refresh();
    },
    actions: current.logo_url ? [action('Remove logo', async () => {
      app.rebrand?.(await api('/admin/branding/logo', { method: 'DELETE' }));
      toast('Logo removed.');
      app.refresh();
    }, { confirmText: 'Remove the logo? The name will stand alone.' })] : [],
  });
  return page('Branding',
    card('In use', h('p', { class: 'muted' }, 'The portal, tracking pages, emails and PDFs show these. Empty fields use the platform defaults.'), shown),
    card('Name, colours and footer', settings),
    card('Logo', upload));
}

export const routes = [
  { path: '/admin/branding', title: 'Branding', access: 'staff', nav: { label: 'Branding', order: 86 }, render: brandingScreen },
];
