// The tracking page wears the operator's branding: its logo and name in the bar at the top and
// its colours as CSS custom properties (lib/brand.js; the page's CSP allows no inline style).
import { applyBranding, brandName, loadBranding, logo } from '/assets/lib/brand.js';

const brand = await loadBranding();
if (brand) {
  applyBranding(brand);
  const bar = document.getElementById('brand-bar');
  const name = document.createElement('span');
  name.id = 'brand-name';
  name.textContent = brandName(document.body.dataset.brand || '');
  bar.replaceChildren(...[logo('brand-logo'), name].filter(Boolean));
  document.title = `Track your delivery · ${brand.name}`;
}
