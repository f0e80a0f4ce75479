// Maps of the console, drawn with the vendored Leaflet (static/leaflet/) on Japan's outline
// (static/japan.geojson, Natural Earth): no tile server, nothing fetched from outside.
// A <div class="map" data-features="GeoJSON"> is a map; labels are set as text, never HTML
// (entity names are attacker text).
"use strict";
const JAPAN_BOUNDS = [[24.0, 122.5], [45.8, 146.0]];

async function drawMap(div) {
  const map = L.map(div, { zoomSnap: 0.5, preferCanvas: false });
  map.attributionControl.setPrefix("Leaflet");
  map.attributionControl.addAttribution("Outline: Natural Earth (public domain)");
  map.fitBounds(JAPAN_BOUNDS);
  const outline = await (await fetch("/console/static/japan.geojson")).json();
  L.geoJSON(outline, {
    interactive: false,
    style: { color: "#8894a8", weight: 1, fillColor: "#dfe5ec", fillOpacity: 1 },
  }).addTo(map);
  const features = JSON.parse(div.dataset.features || '{"type":"FeatureCollection","features":[]}');
  const layer = L.geoJSON(features, {
    pointToLayer: (feature, latlng) =>
      L.circleMarker(latlng, { radius: 5 }),
    style: (feature) => (feature.geometry.type === "Point"
      ? { color: "#a31515", weight: 1, fillOpacity: 0.8 }
      : { color: "#1f5fbf", weight: 2, fillOpacity: 0.15 }),
    onEachFeature: (feature, drawn) => {
      const label = document.createElement("span");
      label.textContent = (feature.properties && feature.properties.label) || "";
      drawn.bindTooltip(label);
    },
  }).addTo(map);
  if (layer.getLayers().length > 0) {
    map.fitBounds(layer.getBounds(), { maxZoom: 12, padding: [20, 20] });
  }
  div.dataset.drawn = String(layer.getLayers().length);
  div.dataset.ready = "yes";
}

document.querySelectorAll("div.map").forEach((div) => {
  drawMap(div).catch((error) => {
    div.dataset.ready = "error";
    div.textContent = "The map could not be drawn: " + error;
  });
});
