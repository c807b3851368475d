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
