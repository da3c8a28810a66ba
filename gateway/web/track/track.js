// The public tracking page (/t/<token>): no sign-in, not the portal. It reads the token from the
// address, shows the status, the ETAs and the map, then follows the live stream (or polls when
// the browser has no EventSource). Everything shown comes from the API, already limited to
// status, ETAs and location under the customer's sharing level. Once delivered, the page asks
// the recipient for a rating (1-5) and an optional comment (one feedback per order; the link that
// gave it may change it for a few minutes).
import { trackingMap } from '/assets/screens/map.js';
import { exceptionSection } from './exception.js';

const token = location.pathname.split('/').pop();
const base = `/api/v1/public/track/${encodeURIComponent(token)}`;
const LABELS = { draft: 'Being prepared', submitted: 'Order received', scheduled: 'Scheduled',
  in_transit: 'On its way', delivered: 'Delivered', failed: 'Delivery failed', cancelled: 'Cancelled' };
const FINAL = ['delivered', 'failed', 'cancelled'];
const $ = (id) => document.getElementById(id);
// a late or failed delivery: what the recipient may ask the sender (exception.js)
const followException = exceptionSection(base, $('feedback-section').parentNode, $('feedback-section'));
let map = null;

function when(iso) {
  return iso ? new Date(iso).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' }) : '';
}

function render(view) {
  $('status').textContent = LABELS[view.status] || view.status;
  const stops = view.stops || [];
  $('stops-section').hidden = stops.length === 0;
  const list = $('stops');
  list.replaceChildren(...stops.map((stop) => {
    const li = document.createElement('li');
    const what = stop.type === 'pickup' ? 'Collection' : 'Delivery';
    const detail = stop.completed_at ? `${stop.status} ${when(stop.completed_at)}`
      : stop.arrived_at ? `driver arrived ${when(stop.arrived_at)}`
        : stop.eta ? `expected ${when(stop.eta)}` : 'not yet scheduled';
    li.textContent = `${what}: ${detail}`;
    if (stop.late) {
      const late = document.createElement('span');
      late.className = 'late';
      late.textContent = ' (running late)';
      li.append(late);
    }
    return li;
  }));
  // The next open stop's ETA, in words at the top.
  const next = stops.find((s) => (s.status === 'pending' || s.status === 'arrived') && s.eta);
  $('eta').hidden = !next || FINAL.includes(view.status);
  if (next) {
    const what = next.type === 'pickup' ? 'collection' : 'delivery';
    $('eta').textContent = next.status === 'arrived' ? `The driver has arrived for the ${what}.`
      : `Expected ${what}: ${when(next.eta)}${next.late ? ' (running late)' : ''}`;
  }
  // The map while the order moves; its text says when the location is not shared.
  const moving = view.status === 'in_transit';
  $('location').hidden = !moving;
  if (moving && !map) {
    map = trackingMap($('map-holder'), { tilesUrl: document.body.dataset.tiles || '',
      attribution: document.body.dataset.tilesAttribution || '', label: "Map of the driver's position" });
  }
  // The public view has no stop coordinates: the map shows the driver (or its area) only.
  map?.update({ status: view.status, location: view.location,
    stops: stops.map((s, i) => ({ ...s, label: `${s.type === 'pickup' ? 'the collection' : 'the delivery'} (stop ${i + 1})` })) });
}

// --- feedback, once delivered ---------------------------------------------------------------------
let feedbackAsked = false;

function showFeedback(answer) {
  const form = $('feedback-form');
  const done = $('feedback-done');
  $('feedback-section').hidden = answer.state === 'not_delivered';
  form.hidden = !['open', 'editable'].includes(answer.state);
  const given = answer.feedback;
  if (given) {
    form.querySelector(`input[name="rating"][value="${given.rating}"]`).checked = true;
    $('feedback-comment').value = given.comment || '';
  }
  done.hidden = !given && answer.state !== 'given';
  if (given) {
    const until = given.editable_until ? ` You can change it until ${when(given.editable_until)}.` : '';
    done.textContent = `Thank you: you rated this delivery ${given.rating} out of 5.${until}`;
  } else if (answer.state === 'given') {
    done.textContent = 'Thank you: feedback on this delivery was already given.';
  }
  $('feedback-send').textContent = answer.state === 'editable' ? 'Change feedback' : 'Send feedback';
}

async function loadFeedback() {
  const response = await fetch(`${base}/feedback`, { headers: { Accept: 'application/json' } });
  if (response.ok) showFeedback(await response.json());
}

function askFeedback(view) {
  if (view.status !== 'delivered' || feedbackAsked) return;
  feedbackAsked = true;
  loadFeedback().catch(() => {});
}

async function sendFeedback(event) {
  event.preventDefault();
  const form = $('feedback-form');
  const error = $('feedback-error');
  const rating = form.querySelector('input[name="rating"]:checked');
  error.hidden = true;
  if (!rating) {
    error.textContent = 'Choose a rating from 1 to 5.';
    error.hidden = false;
    form.querySelector('input[name="rating"]').focus();
    return;
  }
  const button = $('feedback-send');
  button.disabled = true;
  try {
    const response = await fetch(`${base}/feedback`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ rating: Number(rating.value), comment: $('feedback-comment').value.trim() || null }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      showFeedback(body);
    } else if (response.status === 409) {
      await loadFeedback();
    } else {
      error.textContent = body.error?.message || 'The feedback could not be sent; try again.';
      error.hidden = false;
    }
  } catch {
    error.textContent = 'The feedback could not be sent; check the connection and try again.';
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

$('feedback-form').addEventListener('submit', sendFeedback);

function gone() {
  $('gone').hidden = false;
  $('live').hidden = true;
  $('status').textContent = 'Unavailable';
  $('location').hidden = true;
  $('stops-section').hidden = true;
  $('feedback-section').hidden = true;
  $('exception-section').hidden = true;
  map?.destroy();
  map = null;
}

function finished(view) {
  if (FINAL.includes(view.status)) $('live').textContent = 'This delivery is finished.';
  return FINAL.includes(view.status);
}

async function fetchView() {
  const response = await fetch(base, { headers: { Accept: 'application/json' } });
  if (!response.ok) {
    gone();
    return null;
  }
  const view = await response.json();
  render(view);
  askFeedback(view);
  followException(view);
  return view;
}

function poll() {
  // Browsers without EventSource (or a stream that keeps failing): ask again every 20 s.
  const timer = setInterval(async () => {
    const view = await fetchView().catch(() => null);
    if (!view || finished(view)) clearInterval(timer);
  }, 20000);
}

async function start() {
  let view;
  try {
    view = await fetchView();
  } catch {
    gone();
    return;
  }
  if (!view || finished(view)) return;
  if (!window.EventSource) {
    poll();
    return;
  }
  const source = new EventSource(`${base}/stream`);
  let failures = 0;
  source.addEventListener('tracking', (e) => {
    failures = 0;
    const next = JSON.parse(e.data);
    render(next);
    askFeedback(next);
    followException(next);
    if (finished(next)) source.close();
  });
  source.addEventListener('end', () => {
    source.close();
    fetchView().then((v) => v && finished(v)).catch(() => {});
  });
  source.addEventListener('error', () => {
    // EventSource reconnects by itself; after repeated failures, check whether the link died.
    if (++failures >= 3) {
      source.close();
      fetchView().then((v) => { if (v && !finished(v)) poll(); }).catch(gone);
    }
  });
}

start();
