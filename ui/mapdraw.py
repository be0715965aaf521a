"""The folium map: hex layer, legend, district outlines and names, Leaflet served by the site.

Nothing here loads from a third party: Leaflet comes from the site's own
static folder (``make setup`` puts it there), folium's other CDN assets
(jQuery, Bootstrap, Font Awesome) are dropped because plain Leaflet draws
GeoJSON, tooltips and div icons, and base-map tiles are off unless asked for.
The map stays readable without tiles: district outlines and names are drawn
from data/seoul_gu.geojson.

Every text that reaches the map's HTML goes through ``html.escape`` here,
because folium's tooltips and div icons insert it with ``innerHTML``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape

import folium
import h3
import numpy as np
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from core.city import load_city
from geo.mapview import DENSITY, GREY, RATE, RATIO, HexView
from geo.places import boundaries

LEAFLET_JS = "/app/static/vendor/leaflet/leaflet.js"
LEAFLET_CSS = "/app/static/vendor/leaflet/leaflet.css"
# Leaflet guesses its marker images' folder from leaflet.css; when the guess falls back to the
# stylesheet's URL it drops the slash ("/app/static/vendor/leafletmarker-icon.png", a 404).
# folium creates every marker with the default icon before giving it its own, so it is always asked for.
LEAFLET_IMAGES = "/app/static/vendor/leaflet/images/"

# Sequential (failure level, low -> high) and diverging (carrier vs others) palettes,
# ColorBrewer YlOrRd-6 and RdBu-5 (colour-blind safe), with a neutral grey.
LEVEL_COLOURS = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
RATIO_COLOURS = ("#2166ac", "#92c5de", "#f0f0f0", "#f4a582", "#b2182b")
GREY_COLOUR = "#bdbdbd"
MIN_ZOOM, MAX_ZOOM = 8, 17  # the whole metropolitan area .. a few streets (geo.mapquery accepts 8-18)
CANVAS_ABOVE = 3000  # hexes; bigger views are drawn on a canvas instead of one SVG path per hex
_COORD_DIGITS = 4  # ~10 m: plenty for a 170 m hex (res 9), and keeps the HTML small

_STYLE = """
<style>
.dm-gu-label {background: none; border: none; white-space: nowrap; pointer-events: none;}
.dm-gu-label div {transform: translate(-50%, -50%); font: 600 12px/1.2 sans-serif; color: #333;
  text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff;}
.dm-legend {background: rgba(255,255,255,0.9); padding: 6px 8px; border-radius: 4px; font: 11px/1.3 sans-serif;
  box-shadow: 0 1px 4px rgba(0,0,0,0.3); max-width: 230px;}
.dm-legend b {display: block; margin-bottom: 2px;}
.dm-legend i {display: inline-block; width: 14px; height: 12px; margin-right: 6px; vertical-align: -1px;
  border: 1px solid #999;}
.dm-legend small {display: block; color: #555; margin-top: 4px;}
.dm-tip th {text-align: left; padding-right: 8px; font-weight: 600;}
/* On a phone a hover wider than half the map would leave it: the text wraps instead. */
@media (max-width: 480px) {.leaflet-tooltip {white-space: normal; width: 200px; font-size: 11px;}
  .dm-tip th, .dm-tip td {vertical-align: top;} .dm-tip td {overflow-wrap: anywhere;}}
.leaflet-container {background: #f7f7f4;}
</style>
"""


class IconImagePath(MacroElement):
    """Sets ``L.Icon.Default.imagePath`` to the site's Leaflet images, before any marker is made."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        L.Icon.Default.imagePath = {{ this.path|tojson }};
        {% endmacro %}
    """)

    def __init__(self, path: str = LEAFLET_IMAGES):
        super().__init__()
        self._name = "IconImagePath"
        self.path = path


def _t(lang: str, ko: str, en: str) -> str:
    return en if lang == "en" else ko


# --- numbers as text -------------------------------------------------------------

def format_value(value: float, measure: str) -> str:
    """A rate as a percentage, a density or a ratio with three significant digits."""
    if value is None or not np.isfinite(value):
        return "–"
    if measure == RATE:
        return f"{value * 100:.1f}%" if value >= 0.001 else f"{value * 100:.2f}%"
    if measure == RATIO:
        return f"{value:.2f}"
    return f"{value:.3g}"


def unit_label(measure: str, lang: str) -> str:
    return {
        RATE: _t(lang, "장애 ÷ 전체 제보(장애+정상)", "failures ÷ all reports (failures + all-good)"),
        DENSITY: _t(lang, "장애 제보 건수 / km² / 시간", "failure reports per km² per hour"),
        RATIO: _t(lang, "배 (1 = 다른 통신사와 같음)", "times (1 = same as the other carriers)"),
    }[measure]


def measure_title(view: HexView, lang: str) -> str:
    if view.measure == RATIO:
        kind = _t(lang, "상대위험도", "relative risk") if view.ratio_of == RATE else \
            _t(lang, "장애 비중 비", "share ratio")
        return _t(lang, f"{view.focus} 대 다른 통신사 ({kind})", f"{view.focus} vs other carriers ({kind})")
    if view.measure == RATE:
        return _t(lang, "장애 비율 (소표본 보정)", "Failure rate (small counts shrunk)")
    return _t(lang, "장애 밀도 (소표본 보정)", "Failure density (small counts shrunk)")


_RATIO_NAMES = (
    ("훨씬 나음 (0.5배 이하, 유의)", "much better (≤ 0.5×, clear)"),
    ("나음 (95% 구간 < 1)", "better (95% interval < 1)"),
    ("뚜렷한 차이 없음", "no clear difference"),
    ("나쁨 (95% 구간 > 1)", "worse (95% interval > 1)"),
    ("훨씬 나쁨 (2배 이상, 유의)", "much worse (≥ 2×, clear)"),
)


def class_labels(view: HexView, lang: str) -> list[tuple[str, str]]:
    """(colour, label) per legend row, lowest class first, grey last when used."""
    if view.measure == RATIO:
        return [(c, _t(lang, ko, en)) for c, (ko, en) in zip(RATIO_COLOURS, _RATIO_NAMES, strict=True)]
    b = [format_value(x, view.measure) for x in view.breaks]
    if not b:
        labels = [_t(lang, "모든 육각형", "all hexes")]
    else:
        labels = [f"< {b[0]}"] + [f"{lo} – {hi}" for lo, hi in zip(b, b[1:], strict=False)] + [f"≥ {b[-1]}"]
    rows = list(zip(LEVEL_COLOURS[-len(labels):], labels, strict=True))
    if view.measure == RATE:
        rows.append((GREY_COLOUR, _t(lang, "판단 보류 (제보가 적음)", "too few reports to rate")))
    return rows


def hex_colour(view: HexView, cls: int) -> str:
    if view.measure == RATIO:
        return RATIO_COLOURS[int(cls)]
    if cls == GREY:
        return GREY_COLOUR
    palette = LEVEL_COLOURS[-(len(view.breaks) + 1):]  # fewer classes take the darker end
    return palette[min(int(cls), len(palette) - 1)]


# --- tooltips ---------------------------------------------------------------------
# Each hex carries a few short, pre-formatted fields; the labels travel once in
# the tooltip template. Korean text inside JSON costs 6 bytes a character, so
# this keeps a full res-9 city of ~6,000 hexes near 3 MB.

def tooltip_fields(view: HexView, lang: str) -> tuple[list[str], list[str]]:
    """(property names, labels) of the hover table; labels are escaped here."""
    if view.measure == RATIO:
        names = ["gu", "cell", "own", "others", "v", "note"]
        labels = [_t(lang, "구", "district"), "H3", escape(view.focus or ""), _t(lang, "다른 통신사", "others"),
                  _t(lang, "비 (95% 구간)", "ratio (95% interval)"), ""]
    else:
        names = ["gu", "cell", "v", "n", "note"]
        rate = view.measure == RATE
        value = _t(lang, "장애 비율", "failure rate") if rate else _t(lang, "장애 밀도", "failure density")
        count = _t(lang, "장애 / 전체", "failures / all") if rate else _t(lang, "장애 제보", "failures")
        labels = [_t(lang, "구", "district"), "H3", f"{value} (95%)", count, ""]
    return names, [escape(label) for label in labels]


def _intervals(estimate, low, high, measure: str) -> list[str]:
    return [f"{format_value(v, measure)} ({format_value(lo, measure)}–{format_value(hi, measure)})"
            for v, lo, hi in zip(estimate, low, high, strict=True)]


def tooltip_columns(view: HexView, lang: str) -> dict[str, list[str]]:
    """The hover values of every hex, column by column, formatted and HTML-escaped."""
    f, m = view.frame, view.measure
    gu_names = f["gu_en"] if lang == "en" else f["gu_ko"]
    outside = _t(lang, "서울 밖", "outside Seoul")
    safe = {name: escape(name or outside) for name in set(gu_names)}  # few distinct names
    out = {"gu": [safe[g] for g in gu_names], "cell": [escape(c) for c in f["cell_id"]],
           "v": _intervals(f["estimate"], f["low"], f["high"], m)}
    failures = f["failures"].astype("int64").astype(str)
    # Counts (and observed rates, counts in disguise) only where they rest on k reporters (geo.mapview).
    shown = f["counts_shown"].to_numpy(dtype=bool) if "counts_shown" in f.columns else np.ones(len(f), dtype=bool)

    def _only_shown(values) -> list[str]:
        return [v if ok else "–" for v, ok in zip(values, shown, strict=True)]

    # The estimate and its interval too: counts under k carry no noise, so with the prior (fitted from
    # the hexes whose counts are shown) an estimate decodes to its exact small counts. Only the colour
    # class (one of six bands) stays (docs/SECURITY.md, "Estimates of hexes whose counts are hidden").
    out["v"] = _only_shown(out["v"])
    breaks = tuple(getattr(view, "breaks", ()) or ())
    if m != RATIO and breaks:
        # In words, the band its colour already says (the legend's row): nothing the map does not show.
        bands = [label for _, label in class_labels(view, lang)[:len(breaks) + 1]]
        band = _t(lang, "색 구간 {}", "colour band {}")
        out["v"] = [v if ok or c == GREY else escape(band.format(bands[int(c)]))
                    for v, ok, c in zip(out["v"], shown, f["cls"], strict=True)]

    if m == RATIO:
        if view.ratio_of == RATE:
            out["own"] = _only_shown([format_value(x, RATE) for x in f["observed"]])
            out["others"] = _only_shown([format_value(x, RATE) for x in f["observed_others"]])
        else:
            out["own"] = _only_shown(list(failures))
            out["others"] = _only_shown(list(f["failures_others"].astype("int64").astype(str)))
        verdicts = [escape(_t(lang, *names)) for names in _RATIO_NAMES]
        out["note"] = [verdicts[int(c)] for c in f["cls"]]
    elif m == RATE:
        out["n"] = _only_shown(list(failures + " / " + f["reports"].astype("int64").astype(str)))
        grey = escape(_t(lang, "제보가 적어 판단 보류", "too few reports to rate"))
        k = getattr(view, "k", None) or "k"
        few = escape(_t(lang, f"건수 뒤 제보자 {k}명 미만: 색만 표시",
                        f"fewer than {k} people behind the counts: colour only"))
        out["note"] = [grey if c == GREY else ("" if ok else few) for c, ok in zip(f["cls"], shown, strict=True)]
    else:
        out["n"] = list(failures)
        out["note"] = [""] * len(f)
    return out


# --- layers -----------------------------------------------------------------------

_POLYGONS: dict[int, list] = {}  # cell -> rings; a cell's shape never changes


def cell_polygon(cell: int) -> list[list[list[float]]]:
    """GeoJSON polygon rings ([lon, lat], closed) of an H3 cell.

    Rounded to 4 decimals (~10 m): neighbours share vertices, so they round
    alike and no gap opens between hexes.
    """
    cell = int(cell)
    rings = _POLYGONS.get(cell)
    if rings is None:
        ring = [[round(lng, _COORD_DIGITS), round(lat, _COORD_DIGITS)]
                for lat, lng in h3.api.basic_int.cell_to_boundary(cell)]
        rings = _POLYGONS[cell] = [ring + [ring[0]]]
    return rings


def hex_features(view: HexView, lang: str) -> dict:
    """The published hexes as one GeoJSON FeatureCollection: colour ``c`` and hover fields per feature."""
    columns = tooltip_columns(view, lang)
    colours = [hex_colour(view, c) for c in view.frame["cls"]]
    names = list(columns)
    features = [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": cell_polygon(cell)},
         "properties": {"c": colour, **dict(zip(names, values, strict=True))}}
        for cell, colour, *values in zip(view.frame["cell"], colours, *columns.values(), strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


class _RawScript(Element):
    """Script text placed in the page verbatim.

    branca turns every rendered script into a new Jinja template; for a map's
    megabytes of GeoJSON that costs ~0.2 s per MB and would also evaluate any
    '{{' in the data. This element is never parsed as a template.
    """

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


class _HexCells(MacroElement):
    """The hexes as one ``L.geoJson`` call: colour, hover table and outline highlight.

    The data is serialised once with ``json.dumps`` (UTF-8, '<' as \\u003c so
    no text can close the script tag); every value and label in it was already
    HTML-escaped by ``tooltip_values`` / ``tooltip_fields``.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJson({{ this.data_js }}, {
            {%- if this.canvas %}
            renderer: L.canvas({padding: 0.5}),
            {%- endif %}
            style: function (f) {
                return {fillColor: f.properties.c, color: '#666', weight: 0.4, fillOpacity: 0.72};
            },
            onEachFeature: function (f, layer) {
                var fields = {{ this.fields_js }};
                layer.bindTooltip(function () {
                    var rows = fields.map(function (fl) {
                        var v = f.properties[fl[0]];
                        return v ? '<tr><th>' + fl[1] + '</th><td>' + v + '</td></tr>' : '';
                    });
                    return '<table class="dm-tip">' + rows.join('') + '</table>';
                }, {sticky: true, direction: 'auto'});  // 'auto': to the left on the map's right half (phones)
                layer.on('mouseover', function () {
                    layer.setStyle({weight: 2.5, color: '#222'});
                    layer.bringToFront();
                });
                layer.on('mouseout', function () { layer.setStyle({weight: 0.4, color: '#666'}); });
            }
        }).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, data: dict, fields: list[tuple[str, str]]):
        super().__init__()
        self._name = "HexCells"
        # Thousands of SVG paths make the browser slow to draw and to pan; one canvas is quicker.
        self.canvas = len(data["features"]) > CANVAS_ABOVE
        self.data_js = _json_for_script(data)
        self.fields_js = _json_for_script([list(f) for f in fields])

    def render(self, **kwargs) -> None:
        script = self._template.module.__dict__["script"]
        self.get_root().script.add_child(_RawScript(str(script(self, kwargs))), name=self.get_name())


def _json_for_script(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


@lru_cache(maxsize=1)
def district_shapes() -> tuple[dict, tuple[tuple[str, str, float, float], ...]]:
    """District outlines (simplified, ~30 m) and (ko, en, lat, lon) label points."""
    features, labels = [], []
    for gu in boundaries("gu").itertuples():
        shape = gu.geometry.simplify(0.0003, preserve_topology=True)
        geometry = json.loads(shapely.to_geojson(shapely.set_precision(shape, 1e-5)))
        features.append({"type": "Feature", "geometry": geometry, "properties": {
            "style": {"color": "#444", "weight": 1.3, "fill": False, "opacity": 0.8}}})
        point = shape.representative_point()
        labels.append((gu.SIG_KOR_NM, gu.SIG_ENG_NM, point.y, point.x))
    return {"type": "FeatureCollection", "features": features}, tuple(labels)


class _Legend(MacroElement):
    """A Leaflet control in the map's corner holding pre-escaped legend HTML.

    It lives in the hex layer's feature group, which streamlit-folium swaps on
    every filter change without reloading the map; the previous legend is
    removed first so exactly one stays.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        if (window.dmLegend) { window.dmLegend.remove(); }
        window.dmLegend = L.control({position: 'bottomright'});
        window.dmLegend.onAdd = function () {
            var div = L.DomUtil.create('div', 'dm-legend');
            div.innerHTML = {{ this.html|tojson }};
            return div;
        };
        window.dmLegend.addTo({{ this._parent._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, html_text: str):
        super().__init__()
        self._name = "Legend"
        self.html = html_text


def legend_html(view: HexView, lang: str, *, synthetic: bool) -> str:
    rows = "".join(f"<div><i style=\"background:{c}\"></i>{escape(label)}</div>"
                   for c, label in class_labels(view, lang))
    notes = [escape(unit_label(view.measure, lang))]
    if view.measure != RATIO:
        notes.append(escape(_t(lang, "색 구간: 보정값의 5분위, 맨 위는 상위 2.5%",
                               "classes: quintiles of the shrunk values, the top one the highest 2.5%")))
    notes.append(escape(_t(lang, f"제보자 {view.k}명 미만 육각형 {view.hidden}개는 표시하지 않음",
                           f"{view.hidden} hexes with fewer than {view.k} reporters not drawn")))
    if synthetic:
        notes.append("<b>" + escape(_t(lang, "시연용 합성 데이터 포함", "includes synthetic demo data")) + "</b>")
    return f"<b>{escape(measure_title(view, lang))}</b>{rows}<small>{'<br>'.join(notes)}</small>"


def offline_map(center: tuple[float, float], zoom: int, *, tiles: bool = False) -> folium.Map:
    """A folium map loading only the site's own Leaflet; OpenStreetMap tiles only when asked for."""
    m = folium.Map(location=list(center), zoom_start=zoom, tiles=None, control_scale=True, prefer_canvas=False)
    # folium passes min/max zoom to its tile layer only; without tiles they must be map options.
    # Panning stays within a degree of the city, so a shared URL always shows it.
    box = load_city().city_bbox
    bounds = [[round(box.lat_min - 1, 4), round(box.lon_min - 1, 4)],
              [round(box.lat_max + 1, 4), round(box.lon_max + 1, 4)]]
    m.options.update(min_zoom=MIN_ZOOM, max_zoom=MAX_ZOOM, max_bounds=bounds)
    # Instance attributes: folium's class defaults (CDN URLs) stay untouched for other maps.
    m.default_js = [("leaflet", LEAFLET_JS)]
    m.default_css = [("leaflet_css", LEAFLET_CSS)]
    m.add_child(IconImagePath())
    if tiles:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap").add_to(m)
    m.get_root().header.add_child(folium.Element(_STYLE))
    return m


def base_map(*, lang: str, center: tuple[float, float], zoom: int, tiles: bool = False) -> folium.Map:
    """The map without data: district outlines (above the hexes) and names, optional tiles."""
    m = offline_map(center, zoom, tiles=tiles)
    # Outlines in their own pane above the hexes (overlayPane is 400), letting the pointer through.
    folium.map.CustomPane("districts", z_index=450, pointer_events=False).add_to(m)
    outlines, labels = district_shapes()
    folium.GeoJson(outlines, name="districts", interactive=False, pane="districts").add_to(m)
    for ko, en, lat, lon in labels:
        folium.Marker([lat, lon], interactive=False, keyboard=False, icon=folium.DivIcon(
            html=f"<div>{escape(en if lang == 'en' else ko)}</div>", class_name="dm-gu-label",
            icon_size=(0, 0))).add_to(m)
    return m


def hex_layer(view: HexView, *, lang: str, synthetic: bool = False) -> folium.FeatureGroup:
    """The view's hexes (coloured, with hover values) and its legend, as one swappable feature group."""
    group = folium.FeatureGroup(name="hexes", control=False)
    fields, labels = tooltip_fields(view, lang)
    group.add_child(_HexCells(hex_features(view, lang), list(zip(fields, labels, strict=True))))
    group.add_child(_Legend(legend_html(view, lang, synthetic=synthetic)))
    return group


def build_map(view: HexView, *, lang: str, center: tuple[float, float], zoom: int,
              tiles: bool = False, synthetic: bool = False) -> folium.Map:
    """The whole map of one view as one folium map (for a standalone page, tests and benchmarks)."""
    m = base_map(lang=lang, center=center, zoom=zoom, tiles=tiles)
    hex_layer(view, lang=lang, synthetic=synthetic).add_to(m)
    return m


def map_html(m: folium.Map) -> str:
    """The map as one standalone HTML page (what a browser receives, for size checks)."""
    return m.get_root().render()
