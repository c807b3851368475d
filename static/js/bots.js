// The bot's equity curve (uPlot); a pushed #bot-status-<id> carries the newest point.
(function () {
  "use strict";
  var host = document.getElementById("equity-chart");
  var source = document.getElementById("bot-equity-data");
  if (!host || !source || typeof uPlot === "undefined") { return; }
  var points = JSON.parse(source.textContent) || [];
  var data = [points.map(function (p) { return p[0]; }), points.map(function (p) { return p[1]; })];
  var dark = document.documentElement.dataset.theme === "dark" || (!document.documentElement.dataset.theme && window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  var colour = dark ? "#c2c7d0" : "#333", grid = { stroke: dark ? "#2a2e39" : "#eee", width: 1 };
  function fmt(v) { return v == null ? "–" : v.toLocaleString(undefined, { maximumFractionDigits: 2 }); }
  var chart = new uPlot({
    width: Math.max(host.clientWidth, 300), height: 260, scales: { x: { time: true } },
    series: [{}, { label: "Equity", stroke: "#1e9e5a", width: 1.5, value: function (u, v) { return fmt(v); } }],
    axes: [{ stroke: colour, grid: grid, ticks: grid }, { stroke: colour, grid: grid, ticks: grid, size: 70, values: function (u, vs) { return vs.map(fmt); } }],
  }, data, host);
  host.dataset.drawn = "true";
  window.addEventListener("resize", function () { chart.setSize({ width: Math.max(host.clientWidth, 300), height: 260 }); });
  document.addEventListener("htmx:oobAfterSwap", function () {
    var status = document.querySelector("[id^='bot-status-']");
    if (!status || !status.dataset.equity || !status.dataset.time) { return; }
    var t = Number(status.dataset.time), v = Number(status.dataset.equity);
    var xs = data[0];
    if (xs.length && xs[xs.length - 1] >= t) { return; }
    data[0].push(t); data[1].push(v);
    chart.setData(data);
  });
})();
