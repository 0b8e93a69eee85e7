/* The charts of the review pages, drawn with Chart.js (static/vendor/chartjs, served by this server: no internet
   needed). Each chart is a <canvas data-chart="ID"> with its description in <script type="application/json"
   id="ID"> (made by server/charts.py from the same numbers as the JSON API) and the same numbers in a table beside
   it, so the page reads without this script. Chart.js sets styles through the DOM, which the
   Content-Security-Policy allows; nothing here writes a style attribute or inline script. */
"use strict";
(function () {
  var css = getComputedStyle(document.documentElement);
  function colour(name, fallback) { return (css.getPropertyValue(name) || "").trim() || fallback; }
  var CATEGORY = {happy: colour("--happy", "#3c8d40"), average: colour("--average", "#c9a227"),
                  sad: colour("--sad", "#b8452e"), "not ranked": colour("--unrated", "#9aa5a9")};
  var PALETTE = ["#1f6f8b", "#d9822b", "#6a4c93", "#2a9d8f", "#8d6e63", "#e76f51", "#457b9d", "#9c6644"];
  var MUTED = colour("--unrated", "#9aa5a9");

  function seriesColour(dataset, index) {
    return CATEGORY[dataset.key] || PALETTE[index % PALETTE.length];
  }

  function config(spec) {
    var horizontal = spec.kind === "stacked-share" || !!spec.horizontal;
    var stacked = spec.kind === "stacked-share" || spec.kind === "stacked";
    var highlight = spec.highlight || null;
    var smallN = spec.small_n || [];
    var datasets = spec.datasets.map(function (d, i) {
      var fill = seriesColour(d, i);
      if (highlight) {   // one series: highlighted bars in the sad colour, the others muted
        fill = d.data.map(function (_v, j) { return highlight.indexOf(j) >= 0 ? CATEGORY.sad : MUTED; });
      } else if (smallN.length) {   // shares of fewer than 5 households: drawn lighter, as the tables grey them
        var base = fill;
        fill = d.data.map(function (_v, j) { return smallN.indexOf(j) >= 0 ? base + "66" : base; });
      }
      return {label: d.label, data: d.data, backgroundColor: fill, borderWidth: 0, counts: d.counts || null,
              legendColour: seriesColour(d, i)};
    });
    var valueAxis = {stacked: stacked, beginAtZero: true, title: {display: !!spec.unit, text: spec.unit || ""},
                     ticks: {precision: spec.kind === "stacked-share" || (spec.unit || "").charAt(0) === "%" ? 1 : 0}};
    if (spec.kind === "stacked-share") { valueAxis.max = 100; }
    var labelAxis = {stacked: stacked, ticks: {autoSkip: false}};
    var scales = horizontal ? {x: valueAxis, y: labelAxis} : {x: labelAxis, y: valueAxis};
    return {
      type: "bar",
      data: {labels: spec.labels, datasets: datasets},
      options: {
        indexAxis: horizontal ? "y" : "x", responsive: true, maintainAspectRatio: false, animation: false,
        scales: scales,
        plugins: {
          legend: {display: !highlight, position: "bottom", labels: {generateLabels: function (chart) {
            var items = Chart.defaults.plugins.legend.labels.generateLabels(chart);
            items.forEach(function (item) {   // the series' own colour, not its first (maybe lighter) bar's
              item.fillStyle = chart.data.datasets[item.datasetIndex].legendColour;
            });
            return items;
          }}},
          tooltip: {callbacks: {label: function (item) {
            var d = item.dataset, text = d.label + ": " + item.formattedValue;
            if (spec.kind === "stacked-share") { text += "%"; }
            if (d.counts) { text += " (" + d.counts[item.dataIndex] + " households)"; }
            return text;
          }}}
        }
      }
    };
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof Chart === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    var box = canvas.parentElement;
    if (spec.kind === "stacked-share" || spec.horizontal) {   // a bar's height per label, so long lists stay readable
      var lines = Array.isArray(spec.labels[0]) ? spec.labels[0].length : 1;
      box.style.height = Math.max(160, 80 + (20 + 14 * lines) * spec.labels.length) + "px";
    }
    new Chart(canvas, config(spec));
    canvas.dataset.drawn = "yes";
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  });
})();
