/* The monitoring page's chart: median interview length per enumerator (Chart.js, served by us), the too-short
   ones in red, the threshold as a line. The numbers come from the page's JSON block, the same as its table. */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var source = document.getElementById("monitoring-data");
  var canvas = document.getElementById("duration-chart");
  if (!source || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var SHORT = "#b8452e", OK = "#1f6f8b", LINE = "#1d2427";
  new Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: [
        { type: "bar", label: "Median interview (minutes)", data: data.median,
          backgroundColor: data.too_short.map(function (s) { return s ? SHORT : OK; }) },
        { type: "line", label: "Too short under (minutes)", data: data.labels.map(function () { return data.threshold; }),
          borderColor: LINE, borderDash: [6, 4], pointRadius: 0, fill: false }
      ]
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: "minutes" } } },
      plugins: { legend: { position: "bottom" } }
    }
  });
});
