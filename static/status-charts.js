// Draws the latency charts from the page's JSON figures; the page reads fine without it.
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("figures");
    if (!data || !window.Plotly) { return; }
    var figures = JSON.parse(data.textContent || "{}");
    document.querySelectorAll("[data-figure]").forEach(function (element) {
      var figure = figures[element.getAttribute("data-figure")];
      if (figure && figure.data && figure.data.length) {
        element.style.minHeight = "260px";
        window.Plotly.newPlot(element, figure.data, figure.layout, {displayModeBar: false, responsive: true});
      }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
