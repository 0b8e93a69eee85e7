/* The map of households' GPS points, drawn with Leaflet (static/vendor/leaflet, served by this server). Offline by
   default: no tiles, only the points on plain coordinates with a scale and each hamlet's name under its points. With a tile server configured by the administrator (PPA_MAP_TILES) its tiles are drawn underneath.
   The points come from <script type="application/json" id="map-data">; the table beside the map holds them too. */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("household-map");
  var source = document.getElementById("map-data");
  if (!box || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  if (!data.points.length) { return; }
  var css = getComputedStyle(document.documentElement);
  function colour(name, fallback) { return (css.getPropertyValue(name) || "").trim() || fallback; }
  var fill = {happy: colour("--happy", "#3c8d40"), average: colour("--average", "#c9a227"),
              sad: colour("--sad", "#b8452e")};
  var tiles = box.dataset.tiles || "";
  function escaped(text) {   // Leaflet reads an attribution as HTML: the configured credit line is plain text
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  var map = L.map(box, {attributionControl: !!tiles, zoomSnap: 0.25});
  if (tiles) {
    L.tileLayer(tiles, {maxZoom: 19, attribution: escaped(box.dataset.tilesAttribution || "")}).addTo(map);
  }
  var bounds = [];
  data.points.forEach(function (p) {
    L.circleMarker([p.lat, p.lon], {radius: 7, weight: 1, color: "#1d2427", fillOpacity: 0.9,
                                    fillColor: fill[p.category] || colour("--unrated", "#9aa5a9")})
      .bindTooltip(document.createTextNode(p.hh_id + " · " + p.category))   // a text node: never read as HTML
      .addTo(map);
    bounds.push([p.lat, p.lon]);
  });
  data.hamlets.forEach(function (h) {
    L.tooltip({permanent: true, direction: "bottom", className: "hamlet-label", offset: [0, 10]})
      .setLatLng([h.lat, h.lon]).setContent(document.createTextNode(h.label)).addTo(map);
  });
  L.control.scale({imperial: false}).addTo(map);
  map.fitBounds(bounds, {padding: [40, 40], maxZoom: 17});
  box.dataset.points = String(data.points.length);
});
