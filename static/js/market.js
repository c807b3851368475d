// Live market pages: a WebSocket per page that swaps pushed partials in place by id,
// and the candlestick chart (history from the API, scroll back for more, live updates).
(function () {
  "use strict";

  var TIMEFRAME_SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };

  function swapFragments(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    Array.prototype.forEach.call(template.content.children, function (fresh) {
      if (!fresh.id) { return; }
      var current = document.getElementById(fresh.id);
      if (current) { current.replaceWith(fresh); }
    });
  }

  function connect(path, onMessage) {
    var attempt = 0;
    var socket = null;
    function open() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + window.location.host + path);
      socket.onopen = function () { attempt = 0; };
      socket.onmessage = function (event) { onMessage(JSON.parse(event.data)); };
      socket.onclose = function () {
        attempt += 1;
        var delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
        window.setTimeout(open, delay);
      };
    }
    open();
  }

  function decimalsOf(step) {
    var text = String(step);
    return text.indexOf(".") >= 0 ? text.length - text.indexOf(".") - 1 : 0;
  }

  function toBar(row) {
    return { time: row[0] / 1000, open: +row[1], high: +row[2], low: +row[3], close: +row[4] };
  }

  function toVolume(row) {
    return { time: row[0] / 1000, value: +row[5], color: +row[4] >= +row[1] ? "rgba(30,158,90,0.35)" : "rgba(217,68,58,0.35)" };
  }

  function CandleChart(container) {
    var host = document.getElementById("price-chart");
    var status = document.getElementById("chart-status");
    var tick = container.dataset.tickSize || "0.01";
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches &&
      document.documentElement.dataset.theme !== "light" || document.documentElement.dataset.theme === "dark";
    var chart = LightweightCharts.createChart(host, {
      autoSize: true,
      // The floating logo is drawn with an inline <style> the CSP refuses; the page credits the library in text instead.
      layout: { background: { color: "transparent" }, textColor: dark ? "#c2c7d0" : "#333", attributionLogo: false },
      grid: { vertLines: { color: dark ? "#2a2e39" : "#eee" }, horzLines: { color: dark ? "#2a2e39" : "#eee" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    var candles = chart.addSeries(LightweightCharts.CandlestickSeries, {
      priceFormat: { type: "price", precision: decimalsOf(tick), minMove: +tick },
      upColor: "#1e9e5a", downColor: "#d9443a", borderVisible: false, wickUpColor: "#1e9e5a", wickDownColor: "#d9443a",
    });
    var volume = chart.addSeries(LightweightCharts.HistogramSeries, { priceScaleId: "", priceFormat: { type: "volume" } });
    volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });

    var state = { timeframe: container.dataset.timeframe, rows: [], loadingOlder: false, exhausted: false, liveMinute: null, closedVolume: 0 };

    function url(extra) { return container.dataset.candlesUrl + "&timeframe=" + state.timeframe + "&limit=500" + (extra || ""); }

    function render() {
      candles.setData(state.rows.map(toBar));
      volume.setData(state.rows.map(toVolume));
    }

    function load() {
      status.textContent = "loading " + state.timeframe + " candles…";
      state.exhausted = false;
      return fetch(url(), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (body) {
        state.rows = body.candles || [];
        render();
        chart.timeScale().fitContent();
        if (state.rows.length > 120) { chart.timeScale().setVisibleLogicalRange({ from: state.rows.length - 120, to: state.rows.length + 5 }); }
        status.textContent = state.rows.length ? "" : "No stored candles for this timeframe yet.";
        host.dataset.loaded = String(state.rows.length);
      }).catch(function () { status.textContent = "Could not load candles; retrying on the next update."; });
    }

    function loadOlder() {
      if (state.loadingOlder || state.exhausted || !state.rows.length) { return; }
      state.loadingOlder = true;
      status.textContent = "loading older candles…";
      fetch(url("&end=" + state.rows[0][0]), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (body) {
        var older = body.candles || [];
        if (!older.length) { state.exhausted = true; status.textContent = "Start of stored history."; return; }
        var range = chart.timeScale().getVisibleLogicalRange();
        state.rows = older.concat(state.rows);
        render();
        if (range) { chart.timeScale().setVisibleLogicalRange({ from: range.from + older.length, to: range.to + older.length }); }
        status.textContent = "";
        host.dataset.loaded = String(state.rows.length);
      }).finally(function () { state.loadingOlder = false; });
    }

    chart.timeScale().subscribeVisibleLogicalRangeChange(function (range) {
      if (range && range.from < 10) { loadOlder(); }
    });

    // A 1m candle update folded into the bar of the timeframe on screen.
    this.update = function (minute) {
      if (!state.rows.length) { return; }
      var seconds = TIMEFRAME_SECONDS[state.timeframe];
      var bucket = Math.floor(minute[0] / 1000 / seconds) * seconds * 1000;
      var last = state.rows[state.rows.length - 1];
      if (state.liveMinute !== null && minute[0] !== state.liveMinute.t) { state.closedVolume += state.liveMinute.v; }
      if (bucket > last[0]) {
        state.closedVolume = 0;
        last = [bucket, minute[1], minute[2], minute[3], minute[4], "0"];
        state.rows.push(last);
      } else if (bucket < last[0]) { return; }
      else if (state.liveMinute === null) { state.closedVolume = +last[5] - (minute[0] === last[0] ? +minute[5] : 0); }
      last[2] = String(Math.max(+last[2], +minute[2]));
      last[3] = String(Math.min(+last[3], +minute[3]));
      last[4] = minute[4];
      last[5] = String(state.closedVolume + +minute[5]);
      state.liveMinute = { t: minute[0], v: +minute[5] };
      candles.update(toBar(last));
      volume.update(toVolume(last));
    };

    var self = this;
    document.querySelectorAll("[data-timeframe]").forEach(function (button) {
      if (button === container) { return; }
      button.addEventListener("click", function () {
        state.timeframe = button.dataset.timeframe;
        state.liveMinute = null;
        document.querySelectorAll(".timeframes button").forEach(function (b) {
          var on = b === button;
          b.setAttribute("aria-pressed", on ? "true" : "false");
          b.classList.toggle("outline", !on);
        });
        var params = new URLSearchParams(window.location.search);
        params.set("tf", state.timeframe);
        window.history.replaceState(null, "", window.location.pathname + "?" + params.toString());
        load();
      });
    });
    load();
    return self;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var container = document.querySelector("[data-market-stream]");
    if (!container) { return; }
    var chart = document.getElementById("price-chart") && window.LightweightCharts ? new CandleChart(container) : null;
    connect(container.dataset.marketStream, function (message) {
      if (message.html) { swapFragments(message.html); }
      if (message.candle && chart) { chart.update(message.candle); }
    });
  });
})();
