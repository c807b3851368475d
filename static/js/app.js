// Live connection status in the header, driven by the htmx ws extension's events.
(function () {
  "use strict";
  var labels = { connecting: "connecting…", connected: "connected", reconnecting: "reconnecting…", disconnected: "disconnected" };

  function setStatus(state) {
    var badge = document.getElementById("ws-status");
    if (!badge) { return; }
    badge.dataset.state = state;
    badge.className = "ws-status ws-" + state;
    badge.textContent = labels[state];
  }

  document.addEventListener("htmx:wsConnecting", function () {
    var badge = document.getElementById("ws-status");
    setStatus(badge && badge.dataset.state === "connecting" ? "connecting" : "reconnecting");
  });
  document.addEventListener("htmx:wsOpen", function () { setStatus("connected"); });
  document.addEventListener("htmx:wsClose", function () { setStatus("reconnecting"); });
  document.addEventListener("htmx:wsError", function () { setStatus("reconnecting"); });
  window.addEventListener("offline", function () { setStatus("disconnected"); });
})();

// A pushed #live-signal names events (orders-changed, positions-changed, ...); tables that
// listen with hx-trigger="orders-changed from:body" reload themselves.
// detail.target is the element the swap replaced (the previous signal, or the empty placeholder
// in base.html), so the events are read from the one now in the page.
document.addEventListener("htmx:oobAfterSwap", function (event) {
  var target = event.detail && event.detail.target;
  if (!target || target.id !== "live-signal") { return; }
  var signal = document.getElementById("live-signal") || target;
  (signal.dataset.events || "").split(" ").forEach(function (name) {
    if (name) { document.body.dispatchEvent(new CustomEvent(name, { bubbles: true })); }
  });
});
