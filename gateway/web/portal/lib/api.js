// The portal talks to the public API (/api/v1) and nothing else: what a screen does, a partner
// can do. The browser is signed in with an HttpOnly session cookie; every write carries the
// session's CSRF token (kept in memory only, never in storage).

export const BASE = '/api/v1';
let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `The request failed (${status}).`);
    this.status = status;
    this.code = error.code || 'error';
    this.details = error.details || {};
  }

  /** Field messages flattened to dotted names: {"stops.0.address.city": "Missing data ..."} */
  get fields() {
    const out = {};
    const walk = (value, prefix) => {
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out[prefix] = value.join(' ');
      else if (value && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) walk(v, prefix ? `${prefix}.${k}` : k);
      } else if (typeof value === 'string') out[prefix] = value;
    };
    walk(this.details.fields || {}, '');
    return out;
  }
}

function url(path, query) {
  const u = new URL(path.startsWith('/') && !path.startsWith(BASE) ? BASE + path : path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === '') continue;
    for (const one of Array.isArray(v) ? v : [v]) u.searchParams.append(k, one);
  }
  return u.pathname + u.search;
}

/**
 * api('/orders', {query: {status: 'draft'}}) -> parsed JSON (null for 204).
 * Options: method, body (JSON), form (FormData, for uploads), query, headers, raw (the Response).
 * Throws ApiError; a 401 also tells the app the session is gone ('portal:signed-out').
 */
export async function api(path, { method = 'GET', body, form, query, headers = {}, raw = false } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin' };
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) init.headers['X-CSRF-Token'] = csrfToken;
  if (form) init.body = form;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch {
    throw new ApiError(0, { error: { code: 'offline', message: 'The portal cannot be reached; check your connection and retry.' } });
  }
  if (raw && response.ok) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && !path.startsWith('/auth/')) window.dispatchEvent(new CustomEvent('portal:signed-out'));
    throw error;
  }
  return data;
}

export const get = (path, query) => api(path, { query });
export const post = (path, body, opts = {}) => api(path, { method: 'POST', body, ...opts });
export const patch = (path, body) => api(path, { method: 'PATCH', body });
export const put = (path, body) => api(path, { method: 'PUT', body });
export const del = (path) => api(path, { method: 'DELETE' });

/** The URL of a GET that the browser opens itself (a PDF, a CSV): the cookie signs it in. */
export const href = (path, query) => url(path, query);

/**
 * A Server-Sent Events stream of the API: stream('/orders/1/stream', {tracking: (data) => ...}).
 * The browser reconnects by itself (with Last-Event-ID); returns a function that closes it.
 */
export function stream(path, handlers, { onerror } = {}) {
  const source = new EventSource(url(path), { withCredentials: true });
  for (const [event, handler] of Object.entries(handlers)) {
    source.addEventListener(event, (e) => {
      let data = e.data;
      try {
        data = JSON.parse(e.data);
      } catch {
        /* plain text */
      }
      handler(data, e);
    });
  }
  if (onerror) source.onerror = onerror;
  return () => source.close();
}
