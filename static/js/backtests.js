// Backtest pages: equity and drawdown charts (uPlot), the comparison chart, live status and
// the compare picker. Chart data is embedded in the page with json_script.
(function () {
  "use strict";

  var PALETTE = ["#1e9e5a", "#3b6fd8", "#d9443a", "#c98a00", "#8a4fd0"];
  var TERMINAL = { done: true, failed: true };

  function dark() {
    var theme = document.documentElement.dataset.theme;
    if (theme) { return theme === "dark"; }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function readJson(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function axes(format) {
    var colour = dark() ? "#c2c7d0" : "#333";
    var grid = { stroke: dark() ? "#2a2e39" : "#eee", width: 1 };
    return [
      { stroke: colour, grid: grid, ticks: grid },
      { stroke: colour, grid: grid, ticks: grid, size: 70, values: function (u, values) { return values.map(format); } },
    ];
  }

  function number(value) { return value == null ? "–" : value.toLocaleString(undefined, { maximumFractionDigits: 2 }); }
  function percent(value) { return value == null ? "–" : value.toFixed(2) + " %"; }

  function plot(host, series, data, height, format) {
    var chart = new uPlot({
      width: Math.max(host.clientWidth, 300),
      height: height,
      scales: { x: { time: true } },
      series: [{}].concat(series),
      axes: axes(format),
      legend: { live: true },
    }, data, host);
    host.dataset.drawn = "true";
    window.addEventListener("resize", function () {
      if (document.body.contains(host)) { chart.setSize({ width: Math.max(host.clientWidth, 300), height: height }); }
    });
    return chart;
  }

  function drawBacktest() {
    var equityHost = document.getElementById("equity-chart");
    var drawdownHost = document.getElementById("drawdown-chart");
    var data = readJson("backtest-chart-data");
    if (!equityHost || !drawdownHost || !data || equityHost.dataset.drawn || typeof uPlot === "undefined") { return; }
    var times = [], equity = [], drawdown = [], peak = data.initial;
    data.equity.forEach(function (point) {
      times.push(point[0] / 1000);
      equity.push(point[1]);
      peak = Math.max(peak, point[1]);
      drawdown.push(peak > 0 ? (point[1] / peak - 1) * 100 : 0);
    });
    plot(equityHost, [{ label: "Equity", stroke: PALETTE[0], width: 1.5, value: function (u, v) { return number(v); } }], [times, equity], 300, number);
    plot(drawdownHost, [{ label: "Drawdown", stroke: "#d9443a", fill: "rgba(217,68,58,0.18)", width: 1, value: function (u, v) { return percent(v); } }],
      [times, drawdown], 180, percent);
  }

  function drawComparison() {
    var host = document.getElementById("compare-chart");
    var series = readJson("compare-chart-data");
    if (!host || !series || !series.length || host.dataset.drawn || typeof uPlot === "undefined") { return; }
    var tables = series.map(function (s) {
      return [s.points.map(function (p) { return p[0] / 1000; }), s.points.map(function (p) { return p[1]; })];
    });
    var joined = uPlot.join(tables);  // one time axis; a series has null where it has no point
    var lines = series.map(function (s, i) {
      return { label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true, value: function (u, v) { return number(v); } };
    });
    plot(host, lines, joined, 340, number);
  }

  function draw() { drawBacktest(); drawComparison(); }

  // A status that reaches done or failed (pushed over the WebSocket or polled) refreshes what
  // depends on it: the results on the backtest's page, the table on the list page.
  var finished = {};  // backtests seen done or failed: each refreshes the page once

  function remember() {
    document.querySelectorAll(".backtest-status[data-backtest]").forEach(function (element) {
      if (TERMINAL[element.dataset.status]) { finished[element.dataset.backtest] = true; }
    });
  }

  function onStatus(element) {
    var status = element.dataset.status;
    if (!TERMINAL[status] || finished[element.dataset.backtest]) { return; }
    finished[element.dataset.backtest] = true;
    var body = document.getElementById("backtest-body");
    if (body && body.dataset.backtest === element.dataset.backtest && body.dataset.status !== status) {
      body.dataset.status = status;
      htmx.trigger(body, "backtest-finished");
    }
    var row = document.getElementById("backtest-row-" + element.dataset.backtest);
    if (row) { document.body.dispatchEvent(new CustomEvent("backtests-changed", { bubbles: true })); }
  }

  function updateCompare() {
    var form = document.getElementById("compare-form");
    if (!form) { return; }
    var button = form.querySelector("[data-testid='compare-button']");
    if (!button) { return; }
    var picked = form.querySelectorAll("input[name='ids']:checked").length;
    var ok = picked >= +form.dataset.compareMin && picked <= +form.dataset.compareMax;
    button.disabled = !ok;
  }

  // The form comes back with its errors as a 400; htmx swaps only 2xx by default.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.xhr.status === 400 && target && target.id === "backtest-form-panel") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:load", function (event) {
    var element = event.detail && event.detail.elt;
    if (!element || !element.id) { return; }
    if (element.id.indexOf("backtest-status-") === 0) { onStatus(element); }
    if (element.id === "backtest-body") { draw(); }
    if (element.id === "backtest-list") { updateCompare(); }
  });
  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "ids") { updateCompare(); }
  });

  remember();
  draw();
  updateCompare();
})();
