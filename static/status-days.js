// The 90-day bars of a component are one tab stop (today's bar, tabindex=0 in the page):
// the arrow keys, Home and End move focus along the days, so a keyboard reaches every day's
// words without tabbing through 720 bars (only the days shown: 30 on a narrow screen).
// Without this script the days still read (their words are in the page) and show on hover.
(function () {
  "use strict";
  var MOVES = {ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1};

  function target(days, index, key) {
    if (key === "Home") { return 0; }
    if (key === "End") { return days.length - 1; }
    if (!(key in MOVES)) { return -1; }
    return Math.min(days.length - 1, Math.max(0, index + MOVES[key]));
  }

  function rove(list) {
    var days = Array.prototype.slice.call(list.children);
    days.forEach(function (day) {
      if (!day.hasAttribute("tabindex")) { day.setAttribute("tabindex", "-1"); }
    });
    list.addEventListener("keydown", function (event) {
      // On a narrow screen status.css shows only the last 30 days: walk the shown ones.
      var shown = days.filter(function (day) { return day.offsetParent !== null; });
      var index = shown.indexOf(event.target);
      var next = index < 0 ? -1 : target(shown, index, event.key);
      if (next < 0) { return; }
      event.preventDefault();
      shown[index].setAttribute("tabindex", "-1");
      shown[next].setAttribute("tabindex", "0");
      shown[next].focus();
    });
  }

  function load() { document.querySelectorAll("ol.bars").forEach(rove); }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", load); } else { load(); }
})();
