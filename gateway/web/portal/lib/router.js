// Path routing (the emails link to /orders/<id>, /invoices/<id> ...; the gateway answers every
// portal path with the same page). A screen module exports ``routes``:
//   {path: '/orders/:id', title: 'Order', render: async ({params, query, app}) => Node,
//    access: 'customer' | 'booker' (a customer's user that may write orders: not a viewer) |
//            'payer' (a customer admin) | 'staff' | 'signed-in' | 'public' | 'signed-out',
//    nav: {label: 'Orders', order: 20}}    // nav: listed in the menu (for its access)

const table = [];

export function register(routes) {
  for (const route of routes) {
    const names = [];
    const pattern = route.path.replace(/:[a-z_]+/gi, (m) => {
      names.push(m.slice(1));
      return '([^/]+)';
    });
    table.push({ ...route, regex: new RegExp(`^${pattern}/?$`), names });
  }
}

export function routes() {
  return table;
}

export function match(pathname) {
  for (const route of table) {
    const m = route.regex.exec(pathname);
    if (m) {
      const params = {};
      route.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1])));
      return { route, params };
    }
  }
  return null;
}

let onChange = () => {};

export function start(handler) {
  onChange = handler;
  window.addEventListener('popstate', () => onChange());
  // Same-origin links inside the portal change the screen without a page load.
  document.addEventListener('click', (event) => {
    const a = event.target.closest('a[href]');
    if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    if (a.target || a.hasAttribute('download')) return;
    const to = new URL(a.href, location.href);
    if (to.origin !== location.origin || /^\/(api|t|unsubscribe|assets|healthz|readyz)\//.test(to.pathname + '/')) return;
    event.preventDefault();
    navigate(to.pathname + to.search + to.hash);
  });
  onChange();
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  onChange();
}

/** The current query string as an object; setQuery keeps a screen's filters in the URL. */
export function query() {
  return Object.fromEntries(new URLSearchParams(location.search));
}

export function setQuery(values) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== '') params.set(k, v);
  const search = params.toString();
  history.replaceState(null, '', location.pathname + (search ? `?${search}` : ''));
}
