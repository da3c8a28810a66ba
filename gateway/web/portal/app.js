// The portal's shell: loads the session, builds the header and menu for the user's role, and
// renders the screen of the current path into <main>. Screens live in screens/*.js.
import { applyBranding, brandName, loadBranding, logo } from './lib/brand.js';
import { h, replace } from './lib/dom.js';
import * as router from './lib/router.js';
import { canBook, canPay, isCustomer, isStaff, load, session, signOut } from './lib/session.js';
import { errorBox, loading, toast } from './lib/ui.js';
import { MODULES } from './screens/index.js';

const app = document.getElementById('app');
const main = h('main', { id: 'main', tabindex: '-1' });
const header = h('header', { class: 'topbar' });
let renderSeq = 0;
let teardown = [];

/** A screen registers what must stop when the user leaves it (an SSE stream, a timer, a map). */
export function onLeave(fn) {
  teardown.push(fn);
}

function allowed(route) {
  switch (route.access || 'signed-in') {
    case 'public': return true;
    case 'signed-out': return !session.user;
    case 'customer': return isCustomer();
    case 'booker': return isCustomer() && canBook();      // a customer's screens that write orders
    case 'payer': return canPay();
    case 'staff': return isStaff();
    default: return !!session.user;
  }
}

function menu() {
  const entries = router.routes()
    .filter((r) => r.nav && session.user && allowed(r) && !session.limited)
    .sort((a, b) => (a.nav.order ?? 50) - (b.nav.order ?? 50));
  const here = location.pathname;
  return h('nav', { class: 'menu', id: 'menu', 'aria-label': 'Main' },
    h('ul', {}, entries.map((r) => h('li', {},
      h('a', { href: r.path, 'aria-current': here === r.path || (r.path !== '/' && here.startsWith(r.path + '/')) ? 'page' : null }, r.nav.label)))));
}

let bell = null;

function renderHeader() {
  const toggle = h('button', { type: 'button', class: 'menu-toggle', 'aria-controls': 'menu', 'aria-expanded': 'false' }, 'Menu');
  toggle.addEventListener('click', () => {
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(open));
    header.classList.toggle('open', open);
  });
  const user = session.user;
  replace(header,
    h('a', { class: 'brand', href: '/' }, logo(), brandName(document.body.dataset.brand || 'Customer portal')),
    user ? toggle : null,
    user ? menu() : null,
    user ? h('div', { class: 'who' },
      bell,
      h('a', { href: '/profile', class: 'user' }, user.name || user.email),
      h('button', { type: 'button', class: 'link', onclick: async () => {
        await signOut();
        await start('/sign-in');
      } }, 'Sign out')) : null);
}

async function render() {
  const seq = ++renderSeq;
  teardown.splice(0).forEach((fn) => { try { fn(); } catch { /* already gone */ } });
  header.classList.remove('open');
  const found = router.match(location.pathname);
  if (!found) {
    replace(main, h('section', { class: 'page' }, h('h1', { tabindex: '-1' }, 'Page not found'),
      h('p', {}, h('a', { href: '/' }, 'Back to the start'))));
    return focusTitle();
  }
  const { route, params } = found;
  if (session.user && session.limited && route.access !== 'public' && !route.whenLimited) {
    return router.navigate('/account-setup', { replace: true });
  }
  if (!allowed(route)) {
    if (!session.user) {
      const next = location.pathname + location.search;
      return router.navigate(`/sign-in?next=${encodeURIComponent(next)}`, { replace: true });
    }
    if (route.access === 'signed-out') return router.navigate('/', { replace: true });
    replace(main, h('section', { class: 'page' }, h('h1', { tabindex: '-1' }, 'Not available'),
      h('p', {}, 'Your account cannot open this page.')));
    return focusTitle();
  }
  renderHeader();
  document.title = `${route.title || 'Portal'} · ${brandName(document.body.dataset.brand || 'Customer portal')}`;
  replace(main, loading());
  try {
    const node = await route.render({ params, query: router.query(), app: appApi });
    if (seq !== renderSeq) return;   // the user went elsewhere meanwhile
    replace(main, node);
  } catch (error) {
    if (seq !== renderSeq) return;
    replace(main, h('section', { class: 'page' }, h('h1', { tabindex: '-1' }, route.title || 'Error'), errorBox(error)));
  }
  focusTitle();
}

function focusTitle() {
  const title = main.querySelector('h1');
  (title || main).focus({ preventScroll: false });
}

/** What screens get as ``app``: navigation, re-rendering, the session, leaving hooks. */
const appApi = {
  navigate: router.navigate,
  refresh: () => render(),
  reload: () => start(location.pathname + location.search),
  /** The console's branding screen: a saved change shows at once, header included. */
  rebrand: (brand) => { applyBranding(brand); renderHeader(); },
  onLeave,
  session,
};

/** The notification bell (screens/notifications.js) lives in the header while signed in. */
async function mountBell() {
  if (bell && !session.user) {
    bell.dispatchEvent(new Event('portal:close'));
    bell = null;
  }
  if (session.user && !session.limited && !bell) {
    try {
      bell = (await import('./screens/notifications.js')).bell?.() || null;
    } catch (error) {
      console.error(error);
    }
  }
}

async function start(path) {
  await load();
  await mountBell();
  renderHeader();
  if (path) router.navigate(path, { replace: true });
  else render();
}

async function boot() {
  applyBranding(await loadBranding());
  replace(app,
    h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); } }, 'Skip to content'),
    header, main, h('div', { id: 'toasts', class: 'toasts', 'aria-live': 'polite' }));
  const loaded = await Promise.allSettled(MODULES.map((name) => import(`./screens/${name}.js`)));
  loaded.forEach((result, i) => {
    if (result.status === 'fulfilled') router.register(result.value.routes || []);
    else console.error(`screen module ${MODULES[i]} failed to load`, result.reason);
  });
  window.addEventListener('portal:signed-out', async () => {
    if (!session.user) return;
    toast('Your session has ended; sign in again.', 'error');
    await start(`/sign-in?next=${encodeURIComponent(location.pathname)}`);
  });
  // Keep an open tab's session alive (the gateway renews the cookie as it ages).
  setInterval(() => { if (session.user && document.visibilityState === 'visible') load(); }, 5 * 60 * 1000);
  await load();
  await mountBell();
  router.start(render);
}

boot();
