// Who is signed in, for the screens: session.user (GET /me), session.customer (GET /customer,
// customers only), and the role tests. Filled by the app before the first screen renders.
import { api, setCsrf } from './api.js';

export const session = { user: null, customer: null, limited: null, expiresIn: 0 };

export const isStaff = () => ['operator_admin', 'dispatcher'].includes(session.user?.role);
export const isCustomer = () => ['customer_admin', 'customer_booker', 'customer_viewer'].includes(session.user?.role);
export const isCustomerAdmin = () => session.user?.role === 'customer_admin';
// Viewers read only (the API refuses their writes): screens hide what they could not do.
export const isViewer = () => session.user?.role === 'customer_viewer';
/** May place and change orders (and imports, quotes, messages): staff, admins and bookers. */
export const canBook = () => !!session.user && !isViewer();
/** May pay, and manage saved cards and auto-pay: the customer's admins only (not bookers). */
export const canPay = () => isCustomerAdmin();
/** The customer's sites (cost centres) as [code, "code – name"] options, only the user's own
 * when it is limited to some; [] when the customer keeps none. */
export const siteOptions = () => (session.customer?.sites || [])
  .filter((s) => !session.user?.sites || session.user.sites.includes(s.code))
  .map((s) => [s.code, `${s.code} – ${s.name}`]);
export const isOperatorAdmin = () => session.user?.role === 'operator_admin';

/** Ask the gateway whether this browser has a session; fill ``session``. */
export async function load() {
  try {
    const state = await api('/auth/session');
    if (!state.signed_in) throw new Error('signed out');
    setCsrf(state.csrf_token);
    session.limited = state.limited || null;
    session.expiresIn = state.expires_in;
    session.user = await api('/me');
    session.customer = null;
    if (isCustomer() && !session.limited) {
      try {
        session.customer = await api('/customer');
      } catch {
        session.customer = null;
      }
    }
  } catch {
    session.user = null;
    session.customer = null;
    session.limited = null;
    setCsrf(null);
  }
  return session;
}

/**
 * Sign in: {email, password, otp} or {access_token} (what accepting an invite, claiming an
 * account or signing up answer) becomes this browser's session cookie.
 */
export async function signIn(body) {
  const state = await api('/auth/session', { method: 'POST', body });
  setCsrf(state.csrf_token);
  return load();
}

export async function signOut() {
  try {
    await api('/auth/session', { method: 'DELETE' });
  } catch {
    // the session had ended already (a password or two-factor change ends it): signed out anyway
  } finally {
    session.user = null;
    session.customer = null;
    setCsrf(null);
  }
}
