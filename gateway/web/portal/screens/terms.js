// The operator's terms. A customer's admin is asked, on the home page, to read and sign the
// current version (the sign dialog, lib/sign_dialog.js); everyone at the customer can read the
// terms and the signed copy. In the operator console staff see each version and who signed it;
// an operator admin publishes new terms (a PDF upload), which every customer is then asked to sign.
import { api, ApiError, get, href } from '../lib/api.js';
import { fmt, h } from '../lib/dom.js';
import { isCustomerAdmin, isOperatorAdmin } from '../lib/session.js';
import { signDialog } from '../lib/sign_dialog.js';
import * as ui from '../lib/ui.js';

/** Read and sign the current terms; true when signed. A 409 (replaced meanwhile) is shown and thrown. */
async function signTerms(current) {
  const body = await signDialog({
    title: 'Sign the terms',
    intro: `The operator's terms, version ${current.version}: your company accepts them with your signature.`,
    documentUrl: href('/terms/document.pdf'),
    documentLabel: 'Read the terms (PDF)',
    sha256: current.sha256,
    agree: 'I have read these terms and accept them for my company with my electronic signature.',
    submit: 'Sign the terms',
  });
  if (!body) return false;
  await api('/terms/sign', { method: 'POST', body });
  return true;
}

/**
 * The home page's banner: shown to a customer's admin while the current terms are unsigned
 * (nothing otherwise, and nothing when the terms cannot be read: the rest of the page matters more).
 */
export function termsBanner(app) {
  const slot = h('div', { class: 'terms-banner-slot', id: 'terms' });     // emails link to /#terms
  if (!isCustomerAdmin()) return slot;
  get('/terms').then((terms) => {
    if (!terms.must_sign) return;
    slot.append(h('section', { class: 'banner warning', role: 'region', 'aria-label': 'Terms to sign' },
      h('p', {}, h('strong', {}, 'Please sign the operator\'s terms. '),
        `Version ${terms.current.version} of the terms (published ${fmt.date(terms.current.uploaded_at)}) has not been signed for your company yet.`),
      h('p', { class: 'actions' }, ui.action('Read and sign', async () => {
        try {
          if (!(await signTerms(terms.current))) return;
        } catch (error) {
          if (error.status === 409) app.refresh();     // replaced meanwhile: show the new version
          throw error;
        }
        ui.toast('The terms are signed for your company.');
        app.refresh();
      }, { class: 'primary' }))));
  }).catch(() => {});
  return slot;
}

// --- the operator console ------------------------------------------------------------------------
function versionsTable(overview) {
  return ui.table({
    caption: 'Versions of the terms',
    columns: [
      { label: 'Version', render: (v) => String(v.version) },
      { label: 'Published', render: (v) => fmt.dateTime(v.uploaded_at) },
      { label: 'Pages', render: (v) => String(v.pages) },
      { label: 'Signed by', render: (v) => `${v.signatures} of ${overview.customers} customers` },
      { label: 'SHA-256', render: (v) => h('code', { class: 'hash' }, v.sha256.slice(0, 16) + '…') },
    ],
    rows: overview.versions,
    empty: 'No terms published yet.',
  });
}

function signaturesTable(found) {
  return ui.table({
    caption: 'Signatures',
    columns: [
      { label: 'Customer', render: (s) => s.customer_name || s.customer_id },
      { label: 'Version', render: (s) => String(s.version) },
      { label: 'Signed by', render: (s) => s.full_name },
      { label: 'Signed at', render: (s) => fmt.dateTime(s.signed_at) },
      { label: 'From', render: (s) => [s.origin_network, s.user_agent].filter(Boolean).join(' · ') || '—' },
      { label: 'Signed copy', render: (s) => h('a', { href: href('/terms/signed.pdf', { customer_id: s.customer_id, version: s.version, download: 1 }) }, 'PDF') },
    ],
    rows: found.items,
    empty: 'No customer has signed yet.',
  });
}

async function adminTermsScreen({ app }) {
  const [overview, signed] = await Promise.all([get('/admin/terms'), get('/admin/terms/signatures', { per_page: 100 })]);
  const current = overview.current;
  const upload = isOperatorAdmin() ? ui.form({
    label: 'Publish new terms', submit: 'Publish',
    fields: [{ name: 'file', label: 'Terms (PDF)', type: 'file', required: true, attrs: { accept: 'application/pdf' },
      hint: 'A PDF of at most 10 MB. It becomes the current version: every customer\'s administrator is asked to sign it.' }],
    onSubmit: async (vals, formEl) => {
      if (!vals.file) throw new ApiError(422, { error: { message: 'Choose the PDF.', details: { fields: { file: ['Choose a PDF file.'] } } } });
      const data = new FormData();
      data.append('file', vals.file);
      const saved = await api('/admin/terms', { method: 'PUT', form: data });
      formEl.reset();
      ui.toast(`Terms version ${saved.current.version} published.`);
      app.refresh();
    },
  }) : h('p', { class: 'muted admin-note' }, 'Only an operator admin can publish terms.');
  return ui.page('Terms',
    ui.card('Current terms', current
      ? ui.facts([
        ['Version', String(current.version)],
        ['Published', fmt.dateTime(current.uploaded_at)],
        ['Document SHA-256', h('code', { class: 'hash' }, current.sha256)],
        ['Read', h('a', { href: href('/terms/document.pdf'), target: '_blank', rel: 'noopener' }, 'The terms (PDF)')],
      ])
      : h('p', { class: 'muted' }, 'No terms published yet.'), upload),
    ui.card('Versions', versionsTable(overview)),
    ui.card('Who signed', signaturesTable(signed)));
}

export const routes = [
  { path: '/admin/terms', title: 'Terms', access: 'staff', nav: { label: 'Terms', order: 87 }, render: adminTermsScreen },
];
