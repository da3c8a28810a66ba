// Notifications: the bell in the header (unread count, live over SSE, a small panel of the latest)
// and the full feed at /notifications. A notification links to the page it is about (its
// ``link``, a portal path) and is marked read when the user opens it.
import { get, post, stream } from '../lib/api.js';
import { fmt, h, replace } from '../lib/dom.js';
import { isStaff } from '../lib/session.js';
import { errorBox, field, loading, page, toast } from '../lib/ui.js';

const CHANGED = 'portal:notifications-changed';   // the feed page tells the bell to recount

/** Only a path of this portal is followed (the API gives paths; be strict anyway). Staff open
 * invoices on their own screens (the customer's /invoices/:id is not theirs). */
function portalPath(link) {
  if (typeof link !== 'string' || !link.startsWith('/') || link.startsWith('//')) return null;
  return isStaff() && link.startsWith('/invoices/') ? `/admin${link}` : link;
}

function markRead(note) {
  if (note.read_at) return Promise.resolve();
  note.read_at = new Date().toISOString();
  return post(`/notifications/${note.id}/read`)
    .then(() => window.dispatchEvent(new CustomEvent(CHANGED)))
    .catch((error) => toast(error.message, 'error'));
}

function markAll(items) {
  // Only what the user has seen: a notification arriving meanwhile stays unread.
  const newest = items.reduce((max, n) => (n.created_at > max ? n.created_at : max), '');
  return post('/notifications/read-all', newest ? { before: newest } : {}).then((answer) => {
    items.forEach((n) => { n.read_at ??= new Date().toISOString(); });
    window.dispatchEvent(new CustomEvent(CHANGED));
    return answer;
  });
}

/** One notification as a list item: its title (a link to its page), when, and whether it is new. */
function item(note, { onOpen, withButton = false, onChange } = {}) {
  const path = portalPath(note.link);
  const li = h('li', { class: note.read_at ? 'read' : 'unread' });
  const fill = () => {
    replace(li,
      path ? h('a', { href: path, onclick: () => { markRead(note); onOpen?.(); } }, note.title) : h('span', {}, note.title),
      h('span', { class: 'notif-when' },
        note.read_at ? null : h('strong', { class: 'notif-new' }, 'New · '),
        h('time', { datetime: note.created_at, title: fmt.dateTime(note.created_at) }, fmt.relative(note.created_at)),
        note.kind ? ` · ${fmt.label(note.kind)}` : ''),
      withButton && !note.read_at ? h('span', {}, h('button', { type: 'button', class: 'link', onclick: async () => {
        await markRead(note);
        li.className = 'read';
        fill();
        onChange?.();
      } }, 'Mark read', h('span', { class: 'visually-hidden' }, `: ${note.title}`))) : null);
  };
  fill();
  return li;
}

// --- the bell ----------------------------------------------------------------------------------
let bellSeq = 0;

export function bell() {
  const panelId = `bell-panel-${++bellSeq}`;
  let unread = 0;
  let items = null;          // loaded when the panel first opens, then kept current by the stream

  const count = h('span', { class: 'bell-count', 'aria-hidden': 'true', hidden: true });
  const button = h('button', { type: 'button', class: 'bell-button', 'aria-expanded': 'false', 'aria-controls': panelId },
    'Notifications', count);
  const list = h('ul', { class: 'notif-feed' });
  const markAllButton = h('button', { type: 'button', class: 'link' }, 'Mark all read');
  const panel = h('div', { class: 'bell-panel', id: panelId, role: 'region', 'aria-label': 'Latest notifications', hidden: true },
    h('div', { class: 'bell-head' }, h('strong', {}, 'Notifications'), markAllButton),
    list,
    h('p', {}, h('a', { href: '/notifications', onclick: () => close() }, 'See all notifications')));
  const said = h('span', { class: 'visually-hidden', role: 'status' });
  const root = h('div', { class: 'bell' }, button, panel, said);

  function setCount(n) {
    unread = Math.max(0, n | 0);
    count.textContent = unread > 99 ? '99+' : String(unread);
    count.hidden = unread === 0;
    button.setAttribute('aria-label', unread ? `Notifications, ${unread} unread` : 'Notifications, none unread');
  }

  function drawList() {
    if (items === null) return replace(list, h('li', {}, loading()));
    if (!items.length) return replace(list, h('li', { class: 'empty' }, 'No notifications yet. News about your orders, quotes and invoices appears here.'));
    replace(list, items.slice(0, 8).map((n) => item(n, { onOpen: () => close() })));
  }

  async function loadItems() {
    items = null;
    drawList();
    try {
      const found = await get('/notifications', { per_page: 8 });
      items = found.items;
      setCount(found.unread);
      drawList();
    } catch (error) {
      replace(list, h('li', {}, errorBox(error)));
    }
  }

  function open() {
    panel.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    loadItems();
  }

  function close({ focus = false } = {}) {
    if (panel.hidden) return;
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (focus) button.focus();
  }

  button.addEventListener('click', () => (panel.hidden ? open() : close()));
  root.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !panel.hidden) {
      event.stopPropagation();
      close({ focus: true });
    }
  });
  const outside = (event) => {
    if (!root.contains(event.target)) close();
  };
  document.addEventListener('click', outside);
  markAllButton.addEventListener('click', async () => {
    markAllButton.disabled = true;
    try {
      const answer = await markAll(items || []);
      setCount(answer?.unread ?? 0);
      drawList();
    } catch (error) {
      toast(error.message, 'error');
    } finally {
      markAllButton.disabled = false;
    }
  });

  const recount = () => get('/notifications/unread-count').then((r) => setCount(r.unread)).catch(() => {});
  window.addEventListener(CHANGED, recount);

  setCount(0);
  recount();
  // Live: the stream opens with the count, then sends each new notification. EventSource
  // retries by itself after a dropped connection, but not after an error answer (a 503 while
  // the notify service is busy): then open it again later, waiting longer each time.
  let stop = () => {};
  let retryTimer = null;
  let delay = 5000;
  let closed = false;
  const connect = () => {
    stop = stream('/notifications/stream', {
      unread: (data) => { delay = 5000; setCount(data.unread); },
      notification: (note) => {
        if (!note || typeof note !== 'object') return;
        if (!note.read_at) setCount(unread + 1);
        if (items && !items.some((n) => n.id === note.id)) {
          items.unshift(note);
          if (!panel.hidden) drawList();
        }
        said.textContent = `New notification: ${note.title}`;
        // screens that show the same thing refresh themselves (an order's messages)
        window.dispatchEvent(new CustomEvent('portal:notification', { detail: note }));
      },
    }, {
      onerror: (event) => {
        if (closed || event.target.readyState !== EventSource.CLOSED) return;
        retryTimer = setTimeout(() => { if (!closed) { recount(); connect(); } }, delay);
        delay = Math.min(delay * 2, 120000);
      },
    });
  };
  connect();

  // The app dispatches this on sign-out: nothing of this user may keep listening.
  root.addEventListener('portal:close', () => {
    closed = true;
    clearTimeout(retryTimer);
    stop();
    document.removeEventListener('click', outside);
    window.removeEventListener(CHANGED, recount);
    close();
  }, { once: true });
  return root;
}

// --- the full feed -----------------------------------------------------------------------------
const PER_PAGE = 20;

async function renderFeed({ query }) {
  let onlyUnread = query.unread === 'true';
  let pageNo = 1;
  let items = [];
  let total = 0;
  const list = h('ul', { class: 'notif-feed' });
  const status = h('p', { class: 'muted', role: 'status' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const markAllButton = h('button', { type: 'button' }, 'Mark all read');
  const filter = field({ name: 'unread', label: 'Only unread', type: 'checkbox', value: onlyUnread });
  const holder = h('div', {}, loading());

  async function load(append) {
    const found = await get('/notifications', { page: pageNo, per_page: PER_PAGE, unread: onlyUnread ? true : undefined });
    total = found.total;
    items = append ? items.concat(found.items) : found.items;
    if (!append) replace(list);
    found.items.forEach((n) => list.append(item(n, { withButton: true, onChange: summarise })));
    more.hidden = items.length >= total;
    summarise(found.unread);
    replace(holder, items.length ? list
      : h('p', { class: 'empty' }, onlyUnread ? 'No unread notifications: you are up to date.'
        : 'No notifications yet. Updates about your orders, quotes, invoices and messages will appear here.'));
  }

  let lastUnread = 0;
  function summarise(unread) {
    if (typeof unread === 'number') lastUnread = unread;
    else lastUnread = Math.max(0, lastUnread - 1);
    status.textContent = `Showing ${items.length} of ${total}. ${lastUnread} unread in all.`;
  }

  filter.querySelector('input').addEventListener('change', async (event) => {
    onlyUnread = event.target.checked;
    pageNo = 1;
    history.replaceState(null, '', onlyUnread ? '/notifications?unread=true' : '/notifications');
    try {
      await load(false);
    } catch (error) {
      replace(holder, errorBox(error));
    }
  });
  more.addEventListener('click', async () => {
    more.disabled = true;
    pageNo += 1;
    const firstNew = items.length;
    try {
      await load(true);
      // Keyboard users continue where the new ones start.
      list.children[firstNew]?.querySelector('a, button')?.focus();
    } catch (error) {
      pageNo -= 1;
      toast(error.message, 'error');
    } finally {
      more.disabled = false;
    }
  });
  markAllButton.addEventListener('click', async () => {
    markAllButton.disabled = true;
    try {
      await markAll(items);
      toast('All notifications are marked read.');
      pageNo = 1;
      await load(false);
    } catch (error) {
      toast(error.message, 'error');
    } finally {
      markAllButton.disabled = false;
    }
  });

  try {
    await load(false);
  } catch (error) {
    replace(holder, errorBox(error));
  }
  return page('Notifications',
    h('div', { class: 'row feed-tools' }, filter, markAllButton, h('a', { href: '/profile#preferences' }, 'Choose what you are told about')),
    status, holder, more);
}

export const routes = [
  { path: '/notifications', title: 'Notifications', access: 'signed-in', render: renderFeed },
];
