// The operator's branding (GET /api/v1/branding): name, colours and logo, applied as CSS custom
// properties on :root through the CSSOM. The CSP forbids inline styles in HTML (style-src 'self'),
// not style properties set from a script of this origin. Used by the portal shell and the public
// tracking page; the console's branding screen applies a saved change at once.

const HEX = /^#[0-9a-f]{6}$/i;
const PROPS = { primary_color: '--brand', primary_text: '--brand-fg', accent_color: '--accent', accent_text: '--accent-fg' };
let current = null;

/** The branding in use, asked once per page (null when the API cannot say: defaults stay). */
export async function loadBranding() {
  if (current) return current;
  try {
    const response = await fetch('/api/v1/branding', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (response.ok) current = await response.json();
  } catch { /* offline: the stylesheet's defaults stay */ }
  return current;
}

/** Set the colours (only valid hex values reach the page) and remember ``brand`` for ``logo``. */
export function applyBranding(brand) {
  if (!brand) return;
  current = brand;
  const root = document.documentElement.style;
  for (const [key, prop] of Object.entries(PROPS)) {
    if (HEX.test(brand[key] || '')) root.setProperty(prop, brand[key]);
  }
}

/** The brand's name, or ``fallback`` before it is known. */
export const brandName = (fallback) => (current && current.name) || fallback;

/** An <img> of the logo (alt: the name, which the caller shows beside it: so alt is empty), or null. */
export function logo(className = 'brand-logo') {
  if (!current || !current.logo_url) return null;
  const img = document.createElement('img');
  img.src = current.logo_url;
  img.alt = '';
  img.className = className;
  img.decoding = 'async';
  return img;
}
