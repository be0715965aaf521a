"""Small offline Leaflet maps for the report page (tap to pick a place) and "My reports".

Leaflet comes from the site itself (/app/static/vendor/leaflet, see the
Makefile); there are no base tiles, so the map shows Seoul's district outlines
and names from data/seoul_gu.geojson and fetches nothing from anyone else.
"""

from __future__ import annotations

import json
from functools import lru_cache

import folium
import shapely
from branca.element import MacroElement
from folium.template import Template as FoliumTemplate
from jinja2 import Template

from core.settings import DATA_DIR
from geo.places import stations
from ui.common import escape
from ui.mapdraw import IconImagePath

LEAFLET_JS = "/app/static/vendor/leaflet/leaflet.js"
LEAFLET_CSS = "/app/static/vendor/leaflet/leaflet.css"
SELECTED_COLOUR = "#d62728"


@lru_cache(maxsize=1)
def _districts() -> tuple[dict, tuple[tuple[str, float, float], ...]]:
    """The district outlines (GeoJSON) and one label point per district."""
    doc = json.loads((DATA_DIR / "seoul_gu.geojson").read_text(encoding="utf-8"))
    labels = []
    for feature in doc["features"]:
        point = shapely.geometry.shape(feature["geometry"]).representative_point()
        labels.append((feature["properties"]["SIG_KOR_NM"], point.y, point.x))
    return doc, tuple(labels)


class LocateButton(MacroElement):
    """A map button that asks the browser for its position and "taps" the map there.

    The tap goes through Leaflet's click event, so st_folium reports it like a
    finger's tap. Browsers allow this only on https or localhost, and only
    after the person agrees; otherwise the button says it could not.
    """

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function () {
      var map = {{ this._parent.get_name() }};
      var Locate = L.Control.extend({
        options: {position: 'topleft'},
        onAdd: function () {
          var button = L.DomUtil.create('button', 'dropmap-locate');
          button.type = 'button';
          button.textContent = {{ this.label|tojson }};
          button.style.cssText = 'background:#fff;border:2px solid rgba(0,0,0,.3);border-radius:4px;' +
                                 'padding:4px 8px;font-size:14px;cursor:pointer;';
          L.DomEvent.disableClickPropagation(button);
          L.DomEvent.on(button, 'click', function () {
            if (!navigator.geolocation) { button.textContent = {{ this.failed|tojson }}; return; }
            button.textContent = {{ this.waiting|tojson }};
            navigator.geolocation.getCurrentPosition(function (pos) {
              var here = L.latLng(pos.coords.latitude, pos.coords.longitude);
              map.setView(here, 16);
              map.fire('click', {latlng: here});
              button.textContent = {{ this.label|tojson }};
            }, function () { button.textContent = {{ this.failed|tojson }}; },
            {enableHighAccuracy: true, timeout: 10000, maximumAge: 60000});
          });
          return button;
        }
      });
      new Locate().addTo(map);
    })();
    {% endmacro %}
    """)

    def __init__(self, label: str, waiting: str, failed: str) -> None:
        super().__init__()
        self._name = "LocateButton"
        self.label, self.waiting, self.failed = label, waiting, failed


def offline_map(center: tuple[float, float], zoom: int) -> folium.Map:
    """A Leaflet map served locally, with district outlines and names and no tiles."""
    m = folium.Map(location=list(center), zoom_start=zoom, tiles=None, control_scale=True,
                   min_zoom=9, max_zoom=18)
    # Only Leaflet, from this site: folium's defaults pull jQuery, Bootstrap and more from CDNs.
    m.default_js = [("leaflet", LEAFLET_JS)]
    m.default_css = [("leaflet_css", LEAFLET_CSS)]
    m.add_child(IconImagePath())
    doc, labels = _districts()
    folium.GeoJson(doc, name="districts", interactive=False, style_function=lambda _: {
        "color": "#555", "weight": 1, "fillColor": "#f2efe9", "fillOpacity": 0.6,
    }).add_to(m)
    for name, lat, lon in labels:
        folium.Marker([lat, lon], interactive=False, icon=folium.DivIcon(
            html=f'<div style="font-size:11px;color:#333;white-space:nowrap;transform:translate(-50%,-50%)">'
                 f'{escape(name)}</div>', icon_size=(0, 0))).add_to(m)
    return m


def picker_map(center: tuple[float, float], zoom: int, *, label: str, waiting: str, failed: str) -> folium.Map:
    """The report page's map: tap to choose, or the locate button."""
    m = offline_map(center, zoom)
    # Subway stations as small dots: without base tiles they are the landmarks when zoomed in.
    for station in stations():
        folium.CircleMarker([station.lat, station.lon], radius=2, color="#1f4e99", weight=0, fill=True,
                            fill_opacity=0.6, tooltip=escape(station.name)).add_to(m)
    m.add_child(LocateButton(label, waiting, failed))
    return m


def selected_layer(lat: float | None, lon: float | None, tooltip: str) -> folium.FeatureGroup:
    """The chosen point, drawn without redrawing the map (st_folium's feature_group_to_add)."""
    group = folium.FeatureGroup(name="selected")
    if lat is not None and lon is not None:
        folium.CircleMarker([lat, lon], radius=9, color=SELECTED_COLOUR, fill=True, fill_opacity=0.8,
                            tooltip=escape(tooltip)).add_to(group)
    return group


class PlainPopup(folium.Popup):
    """A popup whose content is set as a string: folium's own wraps it in jQuery's ``$(...)``, and these
    maps load Leaflet only, so the first popup stopped the map's script (the map never showed)."""

    _template = FoliumTemplate("""
        var {{ this.get_name() }} = L.popup({{ this.options|tojavascript }});
        {% for name, element in this.html._children.items() %}
            {{ this.get_name() }}.setContent({{ element.render(**kwargs)|tojson }});
        {% endfor %}
        {{ this._parent.get_name() }}.bindPopup({{ this.get_name() }});
    """)


def reports_map(points: list[dict], center: tuple[float, float], zoom: int) -> folium.Map:
    """The reporter's own reports as dots; ``points`` carry lat, lon, colour and popup text (escaped here)."""
    m = offline_map(center, zoom)
    for p in points:
        folium.CircleMarker([p["lat"], p["lon"]], radius=6, color=p.get("colour", SELECTED_COLOUR), fill=True,
                            fill_opacity=0.7, popup=PlainPopup(escape(p["popup"]), max_width=240)).add_to(m)
    if points:
        lats = [p["lat"] for p in points]
        lons = [p["lon"] for p in points]
        m.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]], padding=(20, 20), max_zoom=15)
    return m
