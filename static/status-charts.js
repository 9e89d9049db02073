// The latency charts of a region page, one click away: each component's chart sits in a
// closed <details class="latency">. The first one opened loads plotly.js (served by us: the
// CSP allows scripts from 'self' only) and the region's latency.json (status/charts.py says
// its shape), then draws that component: one shared time axis, p50 and p95 per location,
// null where a location has no rollup. The page reads fine without it.
(function () {
  "use strict";
  var DASH = {p50: "solid", p95: "dot"};
  var PLOTLY = "/static/plotly.min.js";
  var loading = null;

  function dark() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function layout(component) {
    var ink = dark() ? "#e6edf3" : "#1f2328";
    var grid = dark() ? "#30363d" : "#d0d7de";
    return {height: 260, margin: {l: 50, r: 10, t: 40, b: 40},
            title: {text: component + " latency, last 24 h (ms)"},
            paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
            font: {color: ink},
            yaxis: {title: {text: "ms"}, rangemode: "tozero", gridcolor: grid},
            xaxis: {type: "date", gridcolor: grid}, legend: {orientation: "h"}};
  }

  function axis(document_) {
    var times = [];
    for (var i = 0; i < document_.points; i++) {
      times.push(new Date((document_.start + i * document_.step) * 1000).toISOString());
    }
    return times;
  }

  function traces(locations, times) {
    var data = [];
    Object.keys(locations).sort().forEach(function (location) {
      ["p50", "p95"].forEach(function (name) {
        data.push({type: "scatter", mode: "lines", name: location + " " + name, x: times,
                   y: locations[location][name], line: {dash: DASH[name]}});
      });
    });
    return data;
  }

  function plotly() {
    if (window.Plotly) { return Promise.resolve(window.Plotly); }
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = PLOTLY;
      script.onload = function () { resolve(window.Plotly); };
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function data(url) {
    return fetch(url, {headers: {Accept: "application/json"}}).then(function (response) {
      if (!response.ok) { throw new Error("latency.json: " + response.status); }
      return response.json();
    });
  }

  function load(url) {
    if (!loading) {
      loading = Promise.all([plotly(), data(url)]);
      loading.catch(function () { loading = null; });  // a later opening tries again
    }
    return loading;
  }

  function say(details, words) {
    var note = details.querySelector(".chart-note");
    if (note) { note.textContent = words; }
  }

  function draw(details, Plotly, document_) {
    var element = details.querySelector("[data-figure^='latency-']");
    if (!element || element.getAttribute("data-drawn")) { return; }
    var component = element.getAttribute("data-figure").slice("latency-".length);
    var locations = (document_.components || {})[component];
    if (!locations || !Object.keys(locations).length) {
      say(details, "No latency measured for " + component + " in the last 24 hours.");
      return;
    }
    element.setAttribute("data-drawn", "true");
    element.style.minHeight = "260px";
    Plotly.newPlot(element, traces(locations, axis(document_)), layout(component),
                   {displayModeBar: false, responsive: true});
    var note = details.querySelector(".chart-note");
    if (note) { note.hidden = true; }
  }

  function opened(details, url) {
    if (!details.open) { return; }
    load(url).then(function (loaded) { draw(details, loaded[0], loaded[1]); })
      .catch(function () { say(details, "The latency chart could not be loaded; try again."); });
  }

  function start() {
    var source = document.querySelector("[data-latency]");
    if (!source || !window.fetch || !window.Promise) { return; }
    var url = source.getAttribute("data-latency");
    document.querySelectorAll("details.latency").forEach(function (details) {
      details.addEventListener("toggle", function () { opened(details, url); });
      opened(details, url);  // opened before the script ran
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
