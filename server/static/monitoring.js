/* The monitoring page's chart: median interview length per enumerator (Chart.js, served by us), the too-short
   ones in red, the threshold as a dashed line across the whole chart. The numbers come from the page's JSON block,
   the same as its table. */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var source = document.getElementById("monitoring-data");
  var canvas = document.getElementById("duration-chart");
  if (!source || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var SHORT = "#b8452e", OK = "#1f6f8b", LINE = "#1d2427";
  // the threshold dataset holds the number (legend, data); this draws it edge to edge, whatever the bar count
  var thresholdLine = {
    id: "thresholdLine",
    afterDatasetsDraw: function (chart) {
      var y = chart.scales.y.getPixelForValue(data.threshold), area = chart.chartArea, ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = LINE;
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(area.left, y);
      ctx.lineTo(area.right, y);
      ctx.stroke();
      ctx.restore();
    }
  };
  new Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: [
        { type: "bar", label: "Median interview (minutes)", data: data.median,
          backgroundColor: data.too_short.map(function (s) { return s ? SHORT : OK; }) },
        { type: "line", label: "Too short under " + data.threshold + " minutes",
          data: data.labels.map(function () { return data.threshold; }),
          borderColor: LINE, borderDash: [6, 4], showLine: false, pointRadius: 0, pointHitRadius: 0 }
      ]
    },
    plugins: [thresholdLine],
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, suggestedMax: data.threshold * 1.2, title: { display: true, text: "minutes" } } },
      plugins: { legend: { position: "bottom" } }
    }
  });
});
