// The recipient acting on a late or failed delivery from the tracking page: when the delivery
// has an open exception, a small form asks dispatch for another time window, leave-at
// instructions or another address (POST /api/v1/public/track/<token>/exception; the API checks
// the same rules as the portal: one request at a time, three a day, an address with street, city
// and country). The section is built here, so the page's HTML stays as it is.
const ACTIONS = { window: 'Another time window', instructions: 'Where to leave it', address: 'Another address' };
const KINDS = { late: 'Your delivery is running late.', failed_attempt: 'We could not deliver your parcel.' };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function input(name, label, attrs = {}) {
  const id = `exception-${name}`;
  const tag = attrs.type === 'textarea' ? 'textarea' : 'input';
  const { type, ...rest } = attrs;
  return el('p', {}, el('label', { for: id }, label), el('br'),
    el(tag, { id, name, ...(tag === 'input' ? { type: type || 'text' } : { rows: 3 }), ...rest }));
}

const FIELDS = {
  window: () => [input('window_start', 'From', { type: 'datetime-local', required: '' }),
    input('window_end', 'To', { type: 'datetime-local', required: '' })],
  instructions: () => [input('instructions', 'Leave it (e.g. with the neighbour at number 12)',
    { type: 'textarea', maxlength: 500, required: '' })],
  address: () => [input('line1', 'Street and number', { maxlength: 200, required: '', autocomplete: 'address-line1' }),
    input('postal_code', 'Postal code', { maxlength: 20, autocomplete: 'postal-code' }),
    input('city', 'City', { maxlength: 100, required: '', autocomplete: 'address-level2' }),
    input('country', 'Country (two letters, e.g. GB)', { maxlength: 2, required: '', autocomplete: 'country' })],
};

function bodyOf(kind, form) {
  const v = (name) => form.elements[name]?.value.trim() || null;
  const iso = (name) => (v(name) ? new Date(v(name)).toISOString() : null);
  if (kind === 'window') return { kind, window_start: iso('window_start'), window_end: iso('window_end') };
  if (kind === 'instructions') return { kind, instructions: v('instructions') };
  return { kind, address: { line1: v('line1'), postal_code: v('postal_code'), city: v('city'), country: v('country') } };
}

function askedText(r) {
  if (r.kind === 'instructions') return `leave it: ${r.instructions}`;
  if (r.kind === 'address') return `deliver to ${[r.address?.line1, r.address?.city].filter(Boolean).join(', ')}`;
  return 'another time window';
}

const ANSWERS = { requested: 'waiting for the sender\'s answer', accepted: 'accepted', declined: 'declined' };

/** Keeps the recipient's exception section in ``main`` (before ``before``) up to date. */
export function exceptionSection(base, main, before) {
  const section = el('section', { id: 'exception-section', 'aria-labelledby': 'exception-title', hidden: '' });
  main.insertBefore(section, before);
  let seen = null;

  function draw(answer) {
    const { exception, request } = answer;
    section.hidden = !exception && !request;
    const parts = [el('h2', { id: 'exception-title' }, exception ? KINDS[exception.kind] || 'A problem with your delivery' : 'Your request')];
    if (request) {
      parts.push(el('p', { class: 'eta', 'aria-live': 'polite' },
        `You asked for ${askedText(request)}: ${ANSWERS[request.status] || request.status}.`,
        request.reason ? ` ${request.reason}` : ''));
    }
    if (exception?.actions?.length) {
      const choice = el('select', { id: 'exception-kind', name: 'kind' },
        ...exception.actions.map((k) => el('option', { value: k }, ACTIONS[k])));
      const fields = el('div');
      const error = el('p', { class: 'gone', role: 'alert', hidden: '' });
      const form = el('form', { class: 'feedback', novalidate: '' },
        el('p', {}, el('label', { for: 'exception-kind' }, 'What would help?'), el('br'), choice),
        fields, error, el('button', { type: 'submit' }, 'Send to the sender'));
      const fill = () => fields.replaceChildren(...FIELDS[choice.value]());
      choice.addEventListener('change', fill);
      fill();
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        error.hidden = true;
        const button = form.querySelector('button');
        button.disabled = true;
        try {
          const response = await fetch(`${base}/exception`, {
            method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
            body: JSON.stringify(bodyOf(choice.value, form)),
          });
          const body = await response.json().catch(() => ({}));
          if (!response.ok) {
            const fieldErrors = Object.values(body.error?.details?.fields || {}).flat();
            error.textContent = [body.error?.message || 'The request could not be sent; try again.', ...fieldErrors].join(' ');
            error.hidden = false;
            return;
          }
          draw(body);
        } catch {
          error.textContent = 'The request could not be sent; check the connection and try again.';
          error.hidden = false;
        } finally {
          button.disabled = false;
        }
      });
      parts.push(form);
    }
    section.replaceChildren(...parts);
  }

  async function load() {
    const response = await fetch(`${base}/exception`, { headers: { Accept: 'application/json' } });
    if (response.ok) draw(await response.json());
  }

  /** Ask again when the view's lateness or status changes (not on every position). */
  return function follow(view) {
    const now = `${view.status}|${(view.stops || []).map((s) => `${s.status}${s.late ? 'L' : ''}`).join(',')}`;
    if (now === seen) return;
    seen = now;
    load().catch(() => {});
  };
}
