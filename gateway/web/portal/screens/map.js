// The live tracking map (Leaflet), used by the order page and by the public tracking page
// (/t/<token>), so it imports nothing from the portal shell: plain DOM only.
//
//   const map = trackingMap(container, {tilesUrl, attribution});
//   map.update({status, stops: [{lat, lng, label, type, status, eta, late}], location});
//   map.destroy();
//
// Tiles are optional (there may be no tile server, or no internet): the stops, the route line
// and the driver are vector layers, so the map is useful on a plain background too. Next to the
// map a sentence says the same in words, so the map is never the only source of the information.

const LEAFLET_JS = '/assets/vendor/leaflet/leaflet.js';
const FINAL = ['delivered', 'failed', 'cancelled'];
const OPEN_STOP = ['pending', 'arrived'];
let leafletLoading = null;

/** Leaflet is a UMD script setting window.L: add it once (same origin, so the CSP allows it). */
export function loadLeaflet() {
  if (window.L) return Promise.resolve(window.L);
  leafletLoading ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = LEAFLET_JS;
    script.async = true;
    script.addEventListener('load', () => (window.L ? resolve(window.L) : reject(new Error('Leaflet did not load'))));
    script.addEventListener('error', () => {
      leafletLoading = null;   // let a later map try again
      reject(new Error('Leaflet could not be loaded'));
    });
    document.head.append(script);
  });
  return leafletLoading;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

const timeFmt = new Intl.DateTimeFormat(navigator.language || 'en-GB', { timeStyle: 'short' });
const time = (iso) => (iso ? timeFmt.format(new Date(iso)) : '');

/** Great-circle distance in metres. */
export function distanceM(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(s));
}

function km(metres) {
  return metres < 950 ? `${Math.max(50, Math.round(metres / 50) * 50)} m` : `${(metres / 1000).toFixed(1)} km`;
}

const hasPoint = (p) => p && Number.isFinite(p.lat) && Number.isFinite(p.lng);

/** The sentence next to the map: where the driver is, relative to the next stop, and its ETA. */
export function describe(view) {
  if (!view) return 'Loading the tracking information…';
  const stops = view.stops || [];
  const nextIndex = stops.findIndex((s) => OPEN_STOP.includes(s.status));
  const next = nextIndex >= 0 ? stops[nextIndex] : null;
  const name = next ? (next.label || `stop ${nextIndex + 1}`) : '';
  const eta = next && next.eta ? `, ETA ${time(next.eta)}${next.late ? ' (running late)' : ''}` : '';
  if (FINAL.includes(view.status)) return `The order is ${String(view.status).replaceAll('_', ' ')}: there is no driver to show.`;
  if (view.status !== 'in_transit') return 'The driver is shown here once the order is on its way.';
  const loc = view.location;
  if (!hasPoint(loc)) {
    return `The driver's location is not shared right now.${next && next.eta ? ` Next: ${name}${eta}.` : ''}`;
  }
  const approximate = (loc.precision_m || 0) >= 1000;
  const where = approximate ? `Driver within about ${km(loc.precision_m)} of the centre of the shaded area` : 'Driver';
  const updated = loc.recorded_at ? ` Position from ${time(loc.recorded_at)}.` : '';
  if (next && next.status === 'arrived') return `The driver has arrived at ${name}.${updated}`;
  if (next && hasPoint(next)) return `${where}, about ${km(distanceM(loc, next))} from ${name}${eta}.${updated}`;
  if (next) return `${where}, on the way to ${name}${eta}.${updated}`;
  return `${where} shown on the map.${updated}`;
}

/**
 * Put a map and its text alternative into ``container``; returns {update(view), destroy()}.
 * options: tilesUrl ({z}/{x}/{y} template, may be empty), attribution, label (the map's name).
 */
export function trackingMap(container, { tilesUrl = '', attribution = '', label = 'Map of the stops and the driver' } = {}) {
  const mapEl = el('div', 'map');
  mapEl.setAttribute('role', 'region');
  mapEl.setAttribute('aria-label', label);
  const text = el('p', 'map-text', describe(null));
  const note = el('p', 'map-note muted');
  note.hidden = true;
  container.append(mapEl, text, note);

  let L = null;
  let map = null;
  let layers = null;
  let view = null;
  let fitted = false;
  let gone = false;
  let observer = null;

  function points(v) {
    const out = (v.stops || []).filter(hasPoint).map((s) => [s.lat, s.lng]);
    if (hasPoint(v.location)) out.push([v.location.lat, v.location.lng]);
    return out;
  }

  function fit(v) {
    const pts = points(v);
    if (!pts.length || !mapEl.clientWidth) return;
    const bounds = L.latLngBounds(pts);
    // The driver's area (approximate sharing) must fit whole, and one point needs some room.
    if (hasPoint(v.location)) bounds.extend(L.latLng(v.location.lat, v.location.lng).toBounds(Math.max(v.location.precision_m || 0, 300) * 2.2));
    map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
    fitted = true;
  }

  function stopIcon(stop, index) {
    const done = !OPEN_STOP.includes(stop.status);
    const pin = el('span', `map-pin map-pin-${stop.type === 'pickup' ? 'pickup' : 'dropoff'}${done ? ' map-pin-done' : ''}`,
      String(index + 1));
    return L.divIcon({ html: pin, className: 'map-pin-holder', iconSize: [26, 26], iconAnchor: [13, 13] });
  }

  function draw() {
    if (!map || !view) return;
    // Nothing to place (no coordinates, no driver): the sentence alone says it, no empty map.
    mapEl.hidden = points(view).length === 0;
    layers.clearLayers();
    const stops = (view.stops || []).map((s, i) => ({ ...s, index: i })).filter(hasPoint);
    if (stops.length > 1) {
      L.polyline(stops.map((s) => [s.lat, s.lng]), { color: '#0b5cad', weight: 4, opacity: 0.7, dashArray: '8 6', interactive: false })
        .addTo(layers);
    }
    for (const stop of stops) {
      L.marker([stop.lat, stop.lng], { icon: stopIcon(stop, stop.index), keyboard: false, interactive: false,
        title: stop.label || `Stop ${stop.index + 1}` }).addTo(layers);
    }
    const loc = view.status === 'in_transit' ? view.location : null;
    if (hasPoint(loc)) {
      if ((loc.precision_m || 0) >= 1000) {
        // Approximate sharing: only the area, never a point that looks exact.
        L.circle([loc.lat, loc.lng], { radius: loc.precision_m, color: '#9a6700', weight: 2, fillOpacity: 0.2, interactive: false })
          .addTo(layers);
        const area = L.divIcon({ html: el('span', 'map-driver map-driver-area', 'Driver nearby'), className: 'map-driver-holder',
          iconSize: [96, 24], iconAnchor: [48, 12] });
        L.marker([loc.lat, loc.lng], { icon: area, keyboard: false, interactive: false, zIndexOffset: 1000, title: 'Driver somewhere in this area' })
          .addTo(layers);
      } else {
        if (loc.precision_m) {
          L.circle([loc.lat, loc.lng], { radius: loc.precision_m, color: '#1a7f37', weight: 1, fillOpacity: 0.1, interactive: false })
            .addTo(layers);
        }
        const icon = L.divIcon({ html: el('span', 'map-driver', 'Driver'), className: 'map-driver-holder',
          iconSize: [56, 24], iconAnchor: [28, 12] });
        L.marker([loc.lat, loc.lng], { icon, keyboard: false, interactive: false, zIndexOffset: 1000, title: 'Driver' })
          .addTo(layers);
      }
      // Keep the driver in sight without undoing the user's own zoom each update.
      // With no stop on the map (the public page), follow the driver.
      if (fitted && (!stops.length || !map.getBounds().contains([loc.lat, loc.lng]))) map.panTo([loc.lat, loc.lng]);
    }
    if (!fitted) fit(view);
  }

  loadLeaflet().then((leaflet) => {
    if (gone) return;
    L = leaflet;
    map = L.map(mapEl, { scrollWheelZoom: false, attributionControl: true, zoomSnap: 0.5 });
    map.attributionControl.setPrefix(false);
    map.setView([51.5, 0], 5);
    if (tilesUrl) {
      const tiles = L.tileLayer(tilesUrl, { attribution: attribution || '', maxZoom: 19 });
      let failures = 0;
      tiles.on('tileerror', () => {
        if (++failures === 4) {
          note.textContent = 'The map background could not be loaded; the stops and the driver are still shown.';
          note.hidden = false;
        }
      });
      tiles.addTo(map);
    } else if (attribution) {
      map.attributionControl.addAttribution(attribution);
    }
    layers = L.layerGroup().addTo(map);
    // The container may not be in the page (or sized) yet: fit once it has a size.
    observer = new ResizeObserver(() => {
      if (!map || !mapEl.clientWidth) return;
      map.invalidateSize();
      if (!fitted && view) fit(view);
    });
    observer.observe(mapEl);
    draw();
  }).catch(() => {
    if (gone) return;
    mapEl.hidden = true;
    note.textContent = 'The map could not be loaded; the text above says where the driver is.';
    note.hidden = false;
  });

  return {
    update(next) {
      view = next;
      text.textContent = describe(next);
      draw();
    },
    destroy() {
      gone = true;
      observer?.disconnect();
      map?.remove();
      map = null;
    },
  };
}
