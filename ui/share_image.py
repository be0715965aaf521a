"""Views ready to share: PNG images of the map, the charts and an incident, each with its caption, and the
embed snippet of a view.

The caption says what the picture shows and on what terms: the period, the filters, k (no figure from
fewer than k reporters), whether synthetic demo data is in it, and the licence (CC BY 4.0). Images are
drawn on the server with matplotlib (Agg), hexes coloured as on the web map (``ui.mapdraw``), Seoul's
district outlines from data/seoul_gu.geojson. Korean text needs a CJK font: one found on the system
(fonts-noto-cjk, Nanum ...) is used, else the caption and labels are English, so an image never shows
empty boxes in place of Hangul.
"""

from __future__ import annotations

import io
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from urllib.parse import urlencode

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

LICENCE = "CC BY 4.0"
SITE_NAME = {"ko": "끊김지도", "en": "DropMap"}
# Preferred first: a Korean sans-serif; any CJK family covers Hangul.
_FONT_HINTS = ("Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "Nanum Gothic", "Noto Sans CJK",
               "Source Han Sans", "Noto Serif CJK KR", "UnDotum", "Baekmuk")
PNG_DPI = 150
CARRIER_COLOURS = {"SKT": "#e4002b", "KT": "#00a0e9", "LGU+": "#a50034"}
# Figures (no pyplot: no global figure list, no GUI backend); the font is set per drawing under this lock,
# because matplotlib reads it from its global rcParams when text is created.
_DRAWING = threading.Lock()


# --- fonts and language ------------------------------------------------------------

@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of a font on this system that draws Hangul, or None."""
    names = sorted({f.name for f in font_manager.fontManager.ttflist})
    for hint in _FONT_HINTS:
        for name in names:
            if name.lower().startswith(hint.lower()):
                return name
    return None


def image_language(lang: str) -> str:
    """The language an image can be drawn in: Korean only with a font for it, else English."""
    return "ko" if lang == "ko" and cjk_font() else "en"


def _t(lang: str, ko: str, en: str) -> str:
    return ko if lang == "ko" else en


# --- the caption ---------------------------------------------------------------------

@dataclass(frozen=True)
class Caption:
    """What a shared image shows and on what terms; ``lines()`` is the text printed below it."""

    title: str
    period: str
    filters: tuple[str, ...]
    k: int
    synthetic: bool
    lang: str = "ko"
    url: str | None = None

    def lines(self) -> list[str]:
        lang = self.lang
        filters = ", ".join(self.filters) if self.filters else _t(lang, "없음", "none")
        lines = [
            self.title,
            _t(lang, f"기간: {self.period} (서울 시각) · 조건: {filters}",
               f"Period: {self.period} (Seoul time) · Filters: {filters}"),
            _t(lang, f"제보자 {self.k}명 미만인 수치는 숨김(k = {self.k})",
               f"Figures from fewer than {self.k} reporters are hidden (k = {self.k})"),
        ]
        if self.synthetic:
            lines.append(_t(lang, "시연용 합성 데이터 포함 — 실제 제보가 아님",
                            "Includes synthetic demo data — not real reports"))
        source = f"{SITE_NAME[lang]} · {_t(lang, '라이선스', 'Licence')} {LICENCE}"
        lines.append(source + (f" · {self.url}" if self.url else ""))
        return lines

    def text(self) -> str:
        return "\n".join(self.lines())


def caption(*, title: dict[str, str], period: str, filters: list[dict[str, str]] | list[str], k: int,
            synthetic: bool, lang: str, url: str | None = None) -> Caption:
    """A caption in the language the image can be drawn in; ``title`` and each filter given as
    {"ko": ..., "en": ...} (plain strings are used as they are)."""
    lang = image_language(lang)

    def pick(value):
        return value[lang] if isinstance(value, dict) else str(value)

    return Caption(title=pick(title), period=period, filters=tuple(pick(f) for f in filters), k=k,
                   synthetic=synthetic, lang=lang, url=url)


# --- drawing helpers -----------------------------------------------------------------

@contextmanager
def _fonts(cap: Caption):
    families = [cjk_font(), "DejaVu Sans"] if cap.lang == "ko" else ["DejaVu Sans"]
    with _DRAWING, matplotlib.rc_context({"font.family": families, "axes.unicode_minus": False}):
        yield


def _figure(width: float, height: float, cap: Caption):
    """A figure with room below the plot for the caption's lines."""
    n = len(cap.lines())
    caption_inches = 0.22 * n + 0.2
    fig = Figure(figsize=(width, height + caption_inches), dpi=PNG_DPI)
    FigureCanvasAgg(fig)
    bottom = caption_inches / (height + caption_inches)
    ax = fig.add_axes((0.08, bottom + 0.06, 0.88, 0.86 - bottom))
    for i, line in enumerate(cap.lines()):
        fig.text(0.02, (caption_inches - 0.15 - 0.22 * i) / (height + caption_inches), line,
                 fontsize=9 if i else 10, weight="bold" if i == 0 else "normal", va="top", ha="left",
                 color="#222" if i == 0 else "#444")
    return fig, ax


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=PNG_DPI)
    return out.getvalue()


@lru_cache(maxsize=1)
def _district_rings() -> tuple[np.ndarray, ...]:
    from geo.places import boundaries

    rings = []
    for shape in boundaries("gu").geometry:
        for polygon in getattr(shape, "geoms", [shape]):  # a MultiPolygon's parts, or the Polygon itself
            rings.append(np.asarray(polygon.exterior.coords, dtype=float))
    return tuple(rings)


# --- the map -------------------------------------------------------------------------

def _map_png(view, cap: Caption) -> bytes:
    """The hex map of a ``geo.mapview.HexView`` as a PNG: hexes coloured as on the web map, district
    outlines, the legend, and the caption below."""
    from ui import mapdraw

    features = mapdraw.hex_features(view, cap.lang)["features"]
    fig, ax = _figure(8.0, 7.0, cap)
    polygons = [np.asarray(f["geometry"]["coordinates"][0]) for f in features]
    colours = [f["properties"]["c"] for f in features]
    if polygons:
        ax.add_collection(PolyCollection(polygons, facecolors=colours, edgecolors="#666", linewidths=0.2,
                                         alpha=0.85))
    for ring in _district_rings():
        ax.plot(ring[:, 0], ring[:, 1], color="#333", linewidth=0.6)
    allx = np.concatenate([r[:, 0] for r in _district_rings()])
    ally = np.concatenate([r[:, 1] for r in _district_rings()])
    ax.set_xlim(allx.min() - 0.01, allx.max() + 0.01)
    ax.set_ylim(ally.min() - 0.01, ally.max() + 0.01)
    ax.set_aspect(1 / np.cos(np.radians(37.55)))
    ax.set_axis_off()
    handles = [Patch(facecolor=c, edgecolor="#999", label=label) for c, label in mapdraw.class_labels(view, cap.lang)]
    ax.legend(handles=handles, title=mapdraw.measure_title(view, cap.lang), loc="lower right", fontsize=7,
              title_fontsize=8, framealpha=0.9)
    return _png(fig)


# --- charts --------------------------------------------------------------------------

def _lines_png(frame: pd.DataFrame, *, x: str, y: str, cap: Caption, group: str | None = None,
              low: str | None = None, high: str | None = None, y_title: str = "", x_format: str | None = None,
              marks: list[tuple[object, str]] = ()) -> bytes:
    """A line chart (one line per ``group``, e.g. carrier) with an optional band ``low``..``high`` and
    vertical marks [(x, label)], as a PNG with its caption."""
    fig, ax = _figure(8.0, 3.6, cap)
    groups = [(None, frame)] if group is None else list(frame.groupby(group, sort=False))
    for name, part in groups:
        colour = CARRIER_COLOURS.get(str(name), "#d62728") if name is not None else "#d62728"
        if low and high:
            band_colour = "#4c78a8" if group is None else colour
            ax.fill_between(part[x], part[low], part[high], color=band_colour, alpha=0.2, linewidth=0)
        ax.plot(part[x], part[y], color=colour, linewidth=1.6, marker="o" if len(part) <= 48 else None,
                markersize=2.5, label=None if name is None else str(name))
    top = ax.get_ylim()[1]
    for i, (at, label) in enumerate(marks):
        ax.axvline(at, color="#555", linewidth=0.8, linestyle="--")
        # Staggered: marks minutes apart (start, detected) would print over each other.
        ax.text(at, top * (1 - 0.07 * i), " " + label, fontsize=7, va="top", color="#555")
    ax.set_ylabel(y_title, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if x_format:
        from matplotlib.dates import DateFormatter

        ax.xaxis.set_major_formatter(DateFormatter(x_format))
    if group is not None:
        ax.legend(fontsize=7, loc="upper left")
    return _png(fig)


def _heatmap_png(frame: pd.DataFrame, *, rows: str, columns: str, values: str, cap: Caption,
                value_title: str = "") -> bytes:
    """A rows x columns heatmap (e.g. carrier x hour of day) as a PNG with its caption; NaN cells stay blank."""
    table = frame.pivot_table(index=rows, columns=columns, values=values, aggfunc="first")
    fig, ax = _figure(8.0, 0.5 * max(len(table), 2) + 1.0, cap)
    image = ax.imshow(table.to_numpy(dtype=float), aspect="auto", cmap="YlOrRd")
    ax.set_yticks(range(len(table)), [str(i) for i in table.index], fontsize=8)
    ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns], fontsize=7)
    bar = fig.colorbar(image, ax=ax, pad=0.01)
    bar.set_label(value_title, fontsize=8)
    return _png(fig)


def _stations_png(frame: pd.DataFrame, *, cap: Caption, colours: dict[str, str] | None = None,
                  names: dict[str, str] | None = None, x_title: str = "") -> bytes:
    """Stations top to bottom in line order, per network a dot (failure rate) and a bar (its 95 % interval);
    hidden (null) figures are not drawn."""
    colours = colours or CARRIER_COLOURS
    label = "station_en" if cap.lang == "en" and "station_en" in frame else "station"
    stops = frame.drop_duplicates("order").sort_values("order")
    row_of = {order: i for i, order in enumerate(stops["order"])}
    networks = list(dict.fromkeys(frame["network"]))
    fig, ax = _figure(8.0, max(3.0, 0.2 * len(stops) + 1.0), cap)
    step = 0.6 / max(len(networks), 1)
    for j, network in enumerate(networks):
        part = frame[(frame["network"] == network)].dropna(subset=["failure_rate"])
        y = part["order"].map(row_of).to_numpy(dtype=float) + (j - (len(networks) - 1) / 2) * step
        colour = colours.get(str(network), "#444")
        ax.hlines(y, part["rate_low"].to_numpy(dtype=float), part["rate_high"].to_numpy(dtype=float),
                  color=colour, linewidth=1.2, alpha=0.8)
        ax.plot(part["failure_rate"].to_numpy(dtype=float), y, "o", color=colour, markersize=3.5,
                label=(names or {}).get(network, str(network)))
    ax.set_yticks(range(len(stops)), [str(v) for v in stops[label]], fontsize=6 if len(stops) > 30 else 7)
    ax.set_ylim(len(stops) - 0.5, -0.5)  # the line's first station at the top
    ax.set_xlim(left=0)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel(x_title, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(networks), frameon=False)
    # Room on the left for the longest station name (a Hangul syllable about 1.7 Latin letters wide).
    longest = max((sum(1.7 if ord(ch) > 0x1100 else 1.0 for ch in str(v)) for v in stops[label]), default=0)
    left = min(0.42, max(0.1, 0.04 + 0.009 * longest))
    _, bottom, _, height = ax.get_position().bounds
    ax.set_position((left, bottom, 0.96 - left, height))
    return _png(fig)


# --- embedding -----------------------------------------------------------------------

def view_url(base_url: str, path: str, params: dict[str, str]) -> str:
    """The permanent URL of a view: the page's path and its query parameters."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}" + (f"?{query}" if query else "")


def embed_snippet(url: str, *, title: str, height: int = 600) -> str:
    """An iframe for a newsroom's article: the view's URL with ``embed=true`` (Streamlit's chrome-less mode)."""
    joiner = "&" if "?" in url else "?"
    src = f"{url}{joiner}embed=true"
    return (f'<iframe src="{escape(src, quote=True)}" title="{escape(title, quote=True)}" width="100%" '
            f'height="{int(height)}" style="border:0" loading="lazy"></iframe>')


def map_png(view, cap: Caption) -> bytes:
    """The hex map of a ``geo.mapview.HexView`` as a PNG: hexes coloured as on the web map, district
    outlines, the legend, and the caption below."""
    with _fonts(cap):
        return _map_png(view, cap)


def lines_png(frame: pd.DataFrame, *, cap: Caption, **how) -> bytes:
    """A line chart as a PNG with its caption (see ``_lines_png`` for ``how``: x, y, group, low, high,
    y_title, x_format, marks)."""
    with _fonts(cap):
        return _lines_png(frame, cap=cap, **how)


def heatmap_png(frame: pd.DataFrame, *, cap: Caption, **how) -> bytes:
    """A heatmap as a PNG with its caption (``how``: rows, columns, values, value_title)."""
    with _fonts(cap):
        return _heatmap_png(frame, cap=cap, **how)


def stations_png(frame: pd.DataFrame, *, cap: Caption, **how) -> bytes:
    """A subway line's stations (a ``geo.stations.LineView`` frame) as a PNG with its caption (``how``:
    colours {network: "#rrggbb"}, names {network: label}, x_title)."""
    with _fonts(cap):
        return _stations_png(frame, cap=cap, **how)


# --- captions of the map page's views ------------------------------------------------

def _both(ko: str, en: str) -> dict[str, str]:
    return {"ko": ko, "en": en}


def map_filters(q) -> list[dict[str, str]]:
    """The filters of a ``geo.mapquery.MapQuery`` in words, Korean and English."""
    from core.vocab import KINDS, NETWORK_NAMES

    carrier = NETWORK_NAMES[q.carrier] if q.carrier else _both("전체", "all")
    out = [_both(f"통신사: {carrier['ko']}", f"carrier: {carrier['en']}")]
    if q.mode == "compare":
        out.append(_both("보기: 통신사 비교", "view: compare carriers"))
    if q.brand != "all":
        out.append(_both("브랜드: 알뜰폰" if q.brand == "mvno" else "브랜드: 통신사 자체",
                         "brand: MVNOs" if q.brand == "mvno" else "brand: carrier's own"))
    if q.kinds:
        out.append(_both("유형: " + "·".join(KINDS.get(k, {}).get("ko", k) for k in q.kinds),
                         "kinds: " + ", ".join(KINDS.get(k, {}).get("en", k) for k in q.kinds)))
    h0, h1 = q.hours
    if (h0, h1) == (0, 23):
        out.append(_both("시간대: 하루 전체", "hours: all day"))
    else:
        out.append(_both(f"시간대: {h0:02d}–{h1:02d}시", f"hours: {h0:02d}:00–{h1:02d}:59"))
    if q.day_type:
        out.append(_both("요일: 평일" if q.day_type == "weekday" else "요일: 주말",
                         "days: weekdays" if q.day_type == "weekday" else "days: weekends"))
    out.append(_both(f"H3 해상도 {q.res}", f"H3 resolution {q.res}"))
    return out


def period_text(since, until, first, last) -> str:
    """'2021-09-27 – 2021-10-31': the chosen dates, else the data's first and last day."""
    start, stop = since or first, until or last
    return f"{start:%Y-%m-%d} – {stop:%Y-%m-%d}" if start and stop else "–"


def map_caption(view, q, *, first, last, k: int, synthetic: bool, lang: str, url: str | None = None) -> Caption:
    """The caption of a map view: what is measured, the period, the filters, k, synthetic, licence."""
    from ui import mapdraw

    title = {code: mapdraw.measure_title(view, code) for code in ("ko", "en")}
    return caption(title=title, period=period_text(q.since, q.until, first, last), filters=map_filters(q), k=k,
                   synthetic=synthetic, lang=lang, url=url)


def hidden_as_gaps(frame: pd.DataFrame, column: str = "value") -> pd.DataFrame:
    """A chart frame whose hidden rows (fewer than k reporters) carry no value: gaps in the image."""
    out = frame.copy()
    if "hidden" in out:
        out.loc[out["hidden"].astype(bool), column] = np.nan
        for band in ("low", "high"):
            if band in out:
                out.loc[out["hidden"].astype(bool), band] = np.nan
    return out
