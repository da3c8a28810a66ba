// Every screen module of the portal; each exports ``routes`` (see lib/router.js). The order here
// is the order of the menu entries of equal ``nav.order``.
export const MODULES = [
  // 'book' before 'orders': /orders/new must not be read as the order "new".
  'auth', 'home', 'book', 'orders', 'recurring', 'imports', 'quotes', 'invoices', 'rentals',
  'notifications', 'profile', 'admin_customers', 'admin_dispatch', 'admin_billing', 'admin_feedback',
  'admin_branding', 'admin_emissions', 'terms',
];
