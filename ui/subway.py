"""Subway lines: each carrier's failure rate at the stations of lines 1-9, at rush hour or all day.

Widgets (line, carrier, hours) <-> the URL (?line=2&carrier=KT&hours=rush) -> geo.stations.line_view
(its counts cached per data version) -> a strip of stations in track order, a chart with intervals,
the worst stretches and a table. Every figure shown rests on at least k distinct reporters.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core import settings
from core.errors import DropMapError, InputError
from core.vocab import NETWORKS
from geo import stations
from ui import map_charts
from ui import share as share_ui
from ui.common import choose, escape, lang, plain, read, show_error, tr
from ui.notices import cached_demo_share

# The lines' own colours (Seoul Metro signage), for the strip.
LINE_COLOURS = {"1": "#0052A4", "2": "#00A84D", "3": "#EF7C1C", "4": "#00A5DE", "5": "#996CAC", "6": "#CD7C2F",
                "7": "#747F00", "8": "#E6186C", "9": "#BDB092"}
DEFAULTS = {"line": "2", "carrier": "all", "hours": "rush"}
# The window shown beside the chosen one ("rush hours beside the rest of the day").
BESIDE = {"rush": "rest", "7-9": "rest", "18-20": "rest", "rest": "rush", "all": "rush"}


def _seed_from_url() -> list[InputError]:
    problems = []
    parsers = {"line": stations.parse_line, "carrier": lambda v: stations.parse_carrier(v) or "all",
               "hours": stations.parse_hours}
    for name, parse in parsers.items():
        raw = st.query_params.get(name)
        value = DEFAULTS[name]
        if raw:
            try:
                value = parse(raw)
            except InputError as e:
                problems.append(e)
        st.session_state.setdefault(f"subway_{name}", value)
    return problems


def _write_url() -> None:
    wanted = {name: st.session_state[f"subway_{name}"] for name in DEFAULTS}
    if "lang" in st.query_params:
        wanted["lang"] = st.query_params["lang"]
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def _name(row) -> str:
    return row.station_en if lang() == "en" else row.station


def _pct(value) -> str:
    return "–" if pd.isna(value) else f"{value:.1%}"


def _strip(view: stations.LineView) -> str:
    """The line as a horizontal strip of stations (HTML; every name escaped), one rate per network."""
    chips = []
    for order, group in view.frame.groupby("order", sort=True):
        first = group.iloc[0]
        lines = "".join(
            f"<div class='dm-rate' data-network='{escape(r.network)}'>"
            f"<span style='color:{map_charts.CARRIER_COLOURS.get(r.network, '#444')}'>●</span> "
            f"{escape(map_charts.carrier_name(r.network, lang()))} <b>{escape(_pct(r.failure_rate))}</b>"
            + (f" <small>({escape(_pct(r.rate_low))}–{escape(_pct(r.rate_high))})</small>"
               if not pd.isna(r.failure_rate) else "") + "</div>"
            for r in group.itertuples())
        branch = f"<div class='dm-branch'>{escape(first.branch)}</div>" if first.branch else ""
        chips.append(f"<div class='dm-st' data-order='{int(order)}'><div class='dm-name'>"
                     f"{escape(_name(first))}</div>{branch}{lines}</div>")
    style = ("<style>.dm-strip{display:flex;overflow-x:auto;gap:6px;padding:4px 0 10px}"
             f".dm-st{{flex:0 0 auto;min-width:8.5em;border-top:4px solid {LINE_COLOURS[view.line]};padding:4px 6px;"
             "background:rgba(128,128,128,.08);border-radius:4px;font-size:.8rem;line-height:1.35}"
             ".dm-name{font-weight:700;font-size:.9rem}.dm-branch{color:#888;font-size:.7rem}</style>")
    return (f"{style}<div class='dm-strip' data-line='{escape(view.line)}' data-window='{escape(view.window)}' "
            f"data-stations='{view.frame['order'].nunique()}'>{''.join(chips)}</div>")


def _chart(view: stations.LineView, beside: stations.LineView) -> alt.Chart:
    """Stations top to bottom in line order: a point and its 95 % interval per network, a grey tick
    for the window shown beside it."""
    frame = view.frame.copy()
    frame["name"] = [_name(r) for r in frame.itertuples()]
    frame["carrier"] = [map_charts.carrier_name(n, lang()) for n in frame["network"]]
    frame["beside"] = beside.frame["failure_rate"].to_numpy()
    order = list(dict.fromkeys(frame["name"]))
    shown = frame.dropna(subset=["failure_rate"])
    y = alt.Y("name:N", sort=order, title=None)
    offset = alt.YOffset("carrier:N", sort=[map_charts.carrier_name(n, lang()) for n in NETWORKS])
    colour = alt.Color("carrier:N", scale=map_charts._carrier_scale(lang()), title=tr("통신사", "carrier"),
                       legend=alt.Legend(orient="top"))
    title = tr("장애 비율 (95% 구간)", "failure rate (95% interval)")
    tooltip = [alt.Tooltip("name:N", title=tr("역", "station")),
               alt.Tooltip("carrier:N", title=tr("통신사", "carrier")),
               alt.Tooltip("failure_rate:Q", title=tr("장애 비율", "failure rate"), format=".1%"),
               alt.Tooltip("rate_low:Q", title=tr("하한", "low"), format=".1%"),
               alt.Tooltip("rate_high:Q", title=tr("상한", "high"), format=".1%"),
               alt.Tooltip("beside:Q", title=_window_label(beside.window), format=".1%"),
               alt.Tooltip("reporters:Q", title=tr("제보자", "reporters"))]
    base = alt.Chart(shown).encode(y=y, yOffset=offset, color=colour, tooltip=tooltip)
    rules = base.mark_rule().encode(x=alt.X("rate_low:Q", title=title, axis=alt.Axis(format="%")), x2="rate_high:Q")
    points = base.mark_point(filled=True, size=40).encode(x="failure_rate:Q")
    ticks = alt.Chart(shown.dropna(subset=["beside"])).mark_tick(color="#999", thickness=1, size=10).encode(
        y=y, yOffset=offset, x="beside:Q")
    # The height is the whole chart's (legend and axis too): at least 24 px a station, 12 px a figure,
    # so that one carrier's line of 18 stations is not squeezed into a few pixels a row.
    per_station = max(24, 12 * frame["network"].nunique())
    height = max(200, 110 + per_station * len(order))
    return (rules + points + ticks).properties(height=height, width="container")


def _window_label(window: str) -> str:
    ko, en, _ = stations.WINDOWS[window]
    return tr(ko, en)


def _stretches(view: stations.LineView) -> None:
    st.subheader(tr("가장 나쁜 구간", "Worst stretches"))
    st.caption(tr(f"95% 구간의 하한이 이 노선 역들의 중앙값보다 높은 역이 {stations.MIN_STRETCH:,}개 이상 이어진 곳.",
                  f"{stations.MIN_STRETCH:,} or more stations in a row whose 95% interval lies wholly above the "
                  "line's median station."))
    if not view.stretches:
        st.write(tr("이 조건에서는 그런 구간이 없습니다.", "No such stretch for this choice."))
        return
    names = {s.station: (s.station_en if lang() == "en" else s.station) for s in stations.line_order()[view.line]}
    lines = []
    for s in view.stretches:
        carrier = map_charts.carrier_name(s.network, lang())
        path = " → ".join(names[n] for n in s.stations)
        median = view.medians.get(s.network, float("nan"))
        lines.append(f"- **{plain(carrier)}**: {plain(path)} — "
                     + tr(f"평균 {s.mean_rate:.1%} (노선 중앙값 {median:.1%})",
                          f"mean {s.mean_rate:.1%} (line median {median:.1%})"))
    st.markdown("\n".join(lines))


def _table(view: stations.LineView, beside: stations.LineView) -> pd.DataFrame:
    frame = view.frame
    return pd.DataFrame({
        tr("순서", "order"): frame["order"],
        tr("역", "station"): [_name(r) for r in frame.itertuples()],
        tr("지선", "branch"): frame["branch"],
        tr("통신사", "carrier"): [map_charts.carrier_name(n, lang()) for n in frame["network"]],
        tr("장애 비율", "failure rate"): [_pct(v) for v in frame["failure_rate"]],
        tr("95% 구간", "95% interval"): ["–" if pd.isna(lo) else f"{lo:.1%}–{hi:.1%}"
                                       for lo, hi in zip(frame["rate_low"], frame["rate_high"], strict=True)],
        _window_label(beside.window): [_pct(v) for v in beside.frame["failure_rate"]],
        tr("제보자", "reporters"): pd.array([None if n < 0 else int(n) for n in frame["reporters"]], dtype="Int64"),
    })


st.title(tr("지하철 노선", "Subway lines"))
problems = _seed_from_url()
for problem in problems:  # as on the map page: the value is ignored, said in the page's language first
    st.warning(tr("주소의 값 하나를 무시하고 기본값을 씁니다: ", "Ignored one value in the address (default used): ")
               + plain(str(problem)), icon="⚠️")

labels = {"all": tr("전체", "All"), **{n: map_charts.carrier_name(n, lang()) for n in NETWORKS}}
c1, c2 = st.columns([1, 2])
c1.selectbox(tr("노선", "Line"), stations.LINES, key="subway_line", format_func=lambda v: tr(f"{v}호선", f"Line {v}"),
             placeholder=choose())
c2.radio(tr("통신사 (망)", "Carrier (network)"), ["all", *NETWORKS], key="subway_carrier", horizontal=True,
         format_func=labels.get)
st.radio(tr("시간대", "Hours"), list(stations.WINDOWS), key="subway_hours", horizontal=True, format_func=_window_label)
_write_url()

line, hours = st.session_state["subway_line"], st.session_state["subway_hours"]
carrier = None if st.session_state["subway_carrier"] == "all" else st.session_state["subway_carrier"]
try:
    with st.spinner(tr("역별 제보를 세는 중…", "Counting reports near each station…")):
        view = read(stations.line_view, line, carrier=carrier, window=hours)
        beside = read(stations.line_view, line, carrier=carrier, window=BESIDE[hours])
except DropMapError as e:
    show_error(e)
    st.stop()

rated = int(view.frame["failure_rate"].notna().sum())
st.caption(tr(
    f"**{plain(line)}호선 · {plain(_window_label(hours))}** — "
    f"역 반경 {stations.RADIUS_M:.0f} m 안의 제보로 계산한 장애 비율"
    f"(장애 ÷ (장애 + '정상' 표본))을 지도와 같은 방식으로 보정하고 95% 구간과 함께 보여 줍니다. "
    f"제보자 {view.k:,}명 미만인 수치는 숨깁니다(–). 역 {view.frame['order'].nunique():,}개, 공개된 비율 {rated:,}개. "
    f"회색 눈금: {plain(_window_label(BESIDE[hours]))}.",
    f"**Line {plain(line)} · {plain(_window_label(hours))}** — "
    f"failure rate (failures ÷ (failures + 'all good' samples)) "
    f"from reports within {stations.RADIUS_M:.0f} m of each station, shrunk as on the map, with 95% intervals. "
    f"Figures from fewer than {view.k:,} reporters are hidden (–). {view.frame['order'].nunique():,} stations, "
    f"{rated:,} rates shown. Grey ticks: {plain(_window_label(BESIDE[hours]))}.",
))
st.markdown(_strip(view), unsafe_allow_html=True)  # md-trusted: _strip html-escapes every value
_stretches(view)
st.subheader(tr("역별 장애 비율", "Failure rate by station"))
if rated:
    st.altair_chart(_chart(view, beside), use_container_width=True)
    share_ui.offer_stations(view, line=line, carrier=carrier, hours=hours, k=view.k,
                            synthetic=cached_demo_share(settings.store_location()) > 0, lang=lang())
st.dataframe(_table(view, beside), hide_index=True, use_container_width=True)
st.caption(tr("영문 역명은 로마자 표기법으로 옮긴 것입니다. 노선 순서: data/subway_line_order.csv "
              "(서울교통공사·국가철도공단, 공공데이터포털). 방법: 방법론 페이지와 docs/METHODOLOGY.md.",
              "English station names are romanised (Revised Romanization). Line order: data/subway_line_order.csv "
              "(Seoul Metro / KR, data.go.kr). Method: the Methodology page and docs/METHODOLOGY.md."))
st.page_link("ui/methodology.py", label=tr("방법론", "Methodology"), icon="📐")
