// Draws the latency charts from the region's latency.json (status/charts.py says its shape):
// one shared time axis, p50 and p95 per location, null where a location has no rollup.
// The page reads fine without it.
(function () {
  "use strict";
  var DASH = {p50: "solid", p95: "dot"};
  var LAYOUT = {height: 260, margin: {l: 50, r: 10, t: 40, b: 40},
                yaxis: {title: {text: "ms"}, rangemode: "tozero"},
                xaxis: {type: "date"}, legend: {orientation: "h"}};

  function axis(document) {
    var times = [];
    for (var i = 0; i < document.points; i++) {
      times.push(new Date((document.start + i * document.step) * 1000).toISOString());
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

  function draw(document_) {
    var times = axis(document_);
    document.querySelectorAll("[data-figure^='latency-']").forEach(function (element) {
      var component = element.getAttribute("data-figure").slice("latency-".length);
      var locations = (document_.components || {})[component];
      if (!locations || !Object.keys(locations).length) { return; }
      var layout = Object.assign({}, LAYOUT,
                                 {title: {text: component + " latency, last 24 h (ms)"}});
      element.style.minHeight = "260px";
      window.Plotly.newPlot(element, traces(locations, times), layout,
                            {displayModeBar: false, responsive: true});
    });
  }

  function load() {
    var source = document.querySelector("[data-latency]");
    if (!source || !window.Plotly || !window.fetch) { return; }
    fetch(source.getAttribute("data-latency"), {headers: {Accept: "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { draw(data); } })
      .catch(function () { /* no charts: the page's states and bars still read */ });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", load); } else { load(); }
})();
