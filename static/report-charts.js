// Draws the SLA report page's charts from the page's JSON data island
// (<script type="application/json" id="report-charts">, which the browser never executes,
// so the CSP's script-src 'self' holds): {daily: figure, burn: figure}, each figure a
// plotly {data, layout} made by reports/charts.py. The page's tables read fine without it.
(function () {
  "use strict";

  function draw() {
    var island = document.getElementById("report-charts");
    if (!island || !window.Plotly) { return; }
    var figures = JSON.parse(island.textContent);
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      var figure = figures[element.getAttribute("data-chart")];
      if (!figure) { return; }
      window.Plotly.newPlot(element, figure.data, figure.layout,
                            {displayModeBar: false, responsive: true});
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
