// The public tracking page: reads the token from the address, shows the view, then follows the
// live stream. Everything shown comes from the API, already limited to status, ETAs and location.
(function () {
  "use strict";
  var token = location.pathname.split("/").pop();
  var base = "/api/v1/public/track/" + encodeURIComponent(token);
  var LABELS = {draft: "Being prepared", submitted: "Order received", scheduled: "Scheduled",
                in_transit: "On its way", delivered: "Delivered", failed: "Delivery failed",
                cancelled: "Cancelled"};

  function text(el, value) { el.textContent = value; }
  function when(iso) {
    return iso ? new Date(iso).toLocaleString([], {weekday: "short", hour: "2-digit", minute: "2-digit"}) : "";
  }

  function render(view) {
    text(document.getElementById("status"), LABELS[view.status] || view.status);
    var list = document.getElementById("stops");
    list.replaceChildren();
    view.stops.forEach(function (stop) {
      var li = document.createElement("li");
      var what = stop.type === "pickup" ? "Collection" : "Delivery";
      var detail = stop.completed_at ? stop.status + " " + when(stop.completed_at)
        : stop.arrived_at ? "driver arrived " + when(stop.arrived_at)
        : stop.eta ? "expected " + when(stop.eta) : "not yet scheduled";
      text(li, what + ": " + detail);
      if (stop.late) { var late = document.createElement("span"); late.className = "late";
        text(late, " (running late)"); li.appendChild(late); }
      list.appendChild(li);
    });
    var box = document.getElementById("location");
    if (view.location) {
      box.hidden = false;
      var loc = view.location;
      text(document.getElementById("where"), loc.lat.toFixed(4) + ", " + loc.lng.toFixed(4) +
        (loc.precision_m ? " (within about " + Math.round(loc.precision_m) + " m)" : "") +
        ", " + when(loc.recorded_at));
      var svg = document.getElementById("map");
      svg.replaceChildren();
      var ns = "http://www.w3.org/2000/svg";
      var dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", "100"); dot.setAttribute("cy", "60");
      dot.setAttribute("r", loc.precision_m >= 1000 ? "30" : "6");
      dot.setAttribute("fill", "#1a73e8"); dot.setAttribute("fill-opacity", loc.precision_m >= 1000 ? "0.25" : "1");
      svg.appendChild(dot);
    } else {
      box.hidden = true;
    }
  }

  function gone() {
    document.getElementById("gone").hidden = false;
    text(document.getElementById("status"), "Unavailable");
  }

  fetch(base, {headers: {Accept: "application/json"}}).then(function (response) {
    if (!response.ok) { gone(); return; }
    return response.json().then(function (view) {
      render(view);
      if (!window.EventSource || ["delivered", "failed", "cancelled"].indexOf(view.status) >= 0) return;
      var stream = new EventSource(base + "/stream");
      stream.addEventListener("tracking", function (e) { render(JSON.parse(e.data)); });
      stream.addEventListener("end", function () { stream.close(); });
    });
  }).catch(gone);
})();
