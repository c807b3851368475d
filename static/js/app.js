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

// A form with data-confirm asks before it submits (a plain form or an htmx one).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.dataset ? form.dataset.confirm : "";
  if (question && !window.confirm(question)) { event.preventDefault(); event.stopImmediatePropagation(); }
}, true);

// A form with data-signal-on-success="orders-changed" announces that event on the body after
// its own request succeeded, so tables listening for it reload.
document.addEventListener("htmx:afterRequest", function (event) {
  var element = event.detail && event.detail.elt;
  var name = element && element.dataset ? element.dataset.signalOnSuccess : "";
  if (name && event.detail.successful) { document.body.dispatchEvent(new CustomEvent(name, { bubbles: true })); }
});

// Pushes go to every open page of a user, and most pages show only some of the pushed pieces
// (an order row on a page without the orders table). Pieces with no place on this page are
// dropped before htmx swaps the rest, instead of being reported as missing targets.
htmx.defineExtension("present-only", {
  transformResponse: function (text, xhr) {
    if (xhr) { return text; }  // an answer to this page's own request: swapped as asked
    var template = document.createElement("template");
    template.innerHTML = text;
    Array.from(template.content.children).forEach(function (piece) {
      var swap = piece.getAttribute("hx-swap-oob") || "true";
      var colon = swap.indexOf(":");
      var selector = colon >= 0 ? swap.slice(colon + 1) : (piece.id ? "#" + CSS.escape(piece.id) : "");
      if (selector && !document.querySelector(selector)) { piece.remove(); }
    });
    return template.innerHTML;
  },
});
