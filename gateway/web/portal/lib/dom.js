// Building the page without innerHTML: every text goes in as a text node, so nothing a
// customer typed can become markup (and the CSP forbids inline script anyway).

/** h('button', {class: 'primary', onclick: fn, 'aria-label': 'Close'}, 'text', childNode, [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string') el[key] = value;   // value, checked, disabled ...
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace everything inside ``el`` with ``children``. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

const LOCALE = navigator.language || 'en-GB';
const dateFmt = new Intl.DateTimeFormat(LOCALE, { dateStyle: 'medium' });
const dateTimeFmt = new Intl.DateTimeFormat(LOCALE, { dateStyle: 'medium', timeStyle: 'short' });
const timeFmt = new Intl.DateTimeFormat(LOCALE, { timeStyle: 'short' });

export const fmt = {
  date: (iso) => (iso ? dateFmt.format(new Date(iso.length === 10 ? iso + 'T12:00:00' : iso)) : '—'),
  dateTime: (iso) => (iso ? dateTimeFmt.format(new Date(iso)) : '—'),
  time: (iso) => (iso ? timeFmt.format(new Date(iso)) : '—'),
  /** Money as the API sends it: a decimal string and an ISO currency. */
  money(amount, currency = 'EUR') {
    if (amount === null || amount === undefined || amount === '') return '—';
    try {
      return new Intl.NumberFormat(LOCALE, { style: 'currency', currency }).format(Number(amount));
    } catch {
      return `${amount} ${currency}`;
    }
  },
  /** "in 12 min", "3 h ago" */
  relative(iso) {
    if (!iso) return '—';
    const seconds = (new Date(iso) - Date.now()) / 1000;
    const rtf = new Intl.RelativeTimeFormat(LOCALE, { numeric: 'auto' });
    const abs = Math.abs(seconds);
    if (abs < 60) return rtf.format(Math.round(seconds), 'second');
    if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
    if (abs < 86400) return rtf.format(Math.round(seconds / 3600), 'hour');
    return rtf.format(Math.round(seconds / 86400), 'day');
  },
  /** order_status -> "Order status" */
  label: (code) => (code ? String(code).charAt(0).toUpperCase() + String(code).slice(1).replaceAll('_', ' ') : ''),
};
