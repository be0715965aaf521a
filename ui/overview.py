"""The front door: each carrier's state now, its last 24 hours against the usual band, any incident,
the failure map at its default view, one "report" action; the database's counts further down.

Widgets -> outages.home (state, hours, incidents), geo.mapview + ui.mapdraw (the map) -> render.
The map and chart libraries (folium, altair, and scipy behind the detector and the map's statistics:
about 2 s on a cold start) are imported where they are used, so the states show before they load.
"""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd
import streamlit as st

from core import settings
from core.city import load_city
from core.errors import DropMapError
from core.vocab import KINDS, NETWORK_NAMES, NETWORKS
from geo.privacy import min_reporters
from outages import home
from outages.public import STATUS_NAMES, area_text, title_text
from store.aggregate_sql import data_version
from store.summary import counts_by_network_kind, overview
from ui.common import lang, plain, read, show_error, tr
from ui.notices import cached_demo_share

CACHE_SECONDS = settings.get_int("DROPMAP_CACHE_SECONDS")
MAP_HEIGHT = 480
STATE_ICONS = {"normal": "🟢", "recovering": "🛠️", "suspected": "🟠", "ongoing": "🔴"}
SEEN, BAND = "#d62728", "#4c78a8"
# On a phone the legend would hide half the city: drawn smaller in the corner.
_NARROW_LEGEND = ("<style>@media (max-width: 520px) {.dm-legend {transform: scale(0.62); "
                  "transform-origin: bottom right;}}</style>")


def _lang_params() -> dict:
    return {"lang": "en"} if lang() == "en" else {}


# --- cached package calls (the database path is part of every key) -------------------

@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _day_series(end, db: str) -> pd.DataFrame:
    return read(home.day_series, end)


@st.cache_data(show_spinner=False, max_entries=4)
def _totals(version: tuple) -> tuple[dict, pd.DataFrame]:
    """The database's counts (a scan of every report), kept until the data change: ``version`` is
    store.aggregate_sql.data_version, which moves with every stored batch and moderation action."""
    return read(overview), read(counts_by_network_kind)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _map_html(language: str, db: str) -> tuple[str, object, object] | None:
    """The explore page's default view (its recent window), drawn the same way (no tiles), with the
    window's first and last day; None when no hex can be shown."""
    import folium

    from geo import mapview
    from geo.mapquery import state_from_params
    from store.cache import RESULTS
    from store.map_sql import data_period
    from ui import map_period, mapdraw

    state, _ = state_from_params({})
    first, last = read(data_period)
    if first is None:
        return None
    since, until = map_period.recent(first, last)  # as the map page opens
    # The map page's opening view, kept once for both pages (store.cache).
    view = RESULTS.read(mapview.level_view, state.query.with_changes(since=since, until=until))
    if view.frame.empty:
        return None
    m = mapdraw.build_map(view, lang=language, center=(state.lat, state.lon), zoom=state.zoom,
                          synthetic=cached_demo_share(db) > 0)
    # The whole city in whatever width the visitor has (a phone gets a smaller zoom, not a cut-out).
    box = load_city().city_bbox
    m.options.update(zoom_snap=0.25)
    m.fit_bounds([[box.lat_min, box.lon_min], [box.lat_max, box.lon_max]], padding=(4, 4))
    m.get_root().header.add_child(folium.Element(_NARROW_LEGEND))
    return mapdraw.map_html(m), since, until


# --- sections --------------------------------------------------------------------------

def _state_text(status: str) -> str:
    if status == "normal":
        return tr("정상", "Normal")
    return plain(STATUS_NAMES[status][lang()])


def _sparkline(frame: pd.DataFrame):
    import altair as alt

    frame = frame.assign(time=frame["time"].dt.tz_localize(None))
    x = alt.X("time:T", title=None, axis=alt.Axis(format="%H시" if lang() == "ko" else "%H:00", tickCount=4,
                                                 grid=False, labelFontSize=10))
    y_title = tr("제보자/시간", "per hour")  # the chart is short: a longer title is cut (the caption says whose)
    band = alt.Chart(frame).mark_area(opacity=0.25, color=BAND).encode(
        x=x, y=alt.Y("low:Q", title=y_title, axis=alt.Axis(tickCount=3, titleFontSize=10, labelFontSize=10)),
        y2="high:Q")
    usual = alt.Chart(frame).mark_line(strokeDash=[4, 3], color=BAND, strokeWidth=1).encode(x=x, y="usual:Q")
    seen = alt.Chart(frame).mark_line(color=SEEN, strokeWidth=2, point=alt.OverlayMarkDef(size=12, color=SEEN)).encode(
        x=x, y="reporters:Q",
        tooltip=[alt.Tooltip("time:T", format="%m-%d %H:00", title=tr("시각", "Time")),
                 alt.Tooltip("reporters:Q", title=tr("제보자", "Reporters")),
                 alt.Tooltip("usual:Q", title=tr("평소", "Usual"), format=".1f")])
    return (band + usual + seen).properties(height=90)


def _state_badge(network: str, status: str) -> str:
    colour = "green" if status == "normal" else "orange" if status == "recovering" else "red"
    name = plain(NETWORK_NAMES[network][lang()])
    icon = plain(STATE_ICONS[status])
    return f"**{name}** {icon} :{colour}[**{_state_text(status)}**]"


def _states() -> dict[str, str] | None:
    """Each carrier's state now, in one line at the top (on a phone all three fit the first screen)."""
    try:
        states = read(home.carrier_states)
    except DropMapError as e:
        show_error(e)
        return None
    st.subheader(tr("지금 통신사 상태", "Carriers right now"))
    with st.container(key="home_states"):
        st.markdown(" · ".join(_state_badge(n, states[n]) for n in NETWORKS))
    return states


def _carriers(db: str, states: dict[str, str], end) -> None:
    st.markdown("#### " + tr("최근 24시간: 제보자 수와 평소 범위", "The last 24 hours: reporters and the usual band"))
    # The states first; the 24-hour lines fill in below each one.
    cards = {}
    for col, network in zip(st.columns(len(NETWORKS)), NETWORKS, strict=True):
        cards[network] = col.container(border=True, key=f"home_carrier_{network.replace('+', 'plus')}")
        cards[network].markdown(_state_badge(network, states[network]))
    if end is None:
        return
    try:
        series = _day_series(end, db)
    except DropMapError as e:
        show_error(e)
        return
    for network, card in cards.items():
        card.altair_chart(_sparkline(series[series["network"] == network]), width="stretch")
    local = end.astimezone(load_city().tz)
    st.caption(tr(
        f"빨간 선: 시간당 제보자 수(한 사람은 한 시간에 한 번), 파란 띠: 평소 범위(98%), 점선: 평소. "
        f"{local:%Y-%m-%d %H:%M}까지 24시간(서울 시각). 제보자 {min_reporters()}명 미만인 시간은 "
        f"숫자를 숨깁니다.",
        f"Red: reporters per hour (a person counts once an hour); blue band: the usual range (98%); dashed: "
        f"usual. 24 hours up to {local:%Y-%m-%d %H:%M} (Seoul time). Hours with fewer than "
        f"{min_reporters()} reporters show no number.",
    ))


def _incidents() -> None:
    try:
        is_open, found = read(home.incidents_to_show)
    except DropMapError as e:
        show_error(e)
        return
    if not found:
        st.caption(tr("감지된 통신 장애가 없습니다.", "No outage has been detected."))
        return
    st.subheader(tr("진행 중인 장애", "Open incidents") if is_open else tr("최근 장애", "Latest incident"))
    for row, areas in found:
        link = f"/outages?incident={quote(str(row['incident_id']))}" + ("&lang=en" if lang() == "en" else "")
        with st.container(border=True, key=f"home_incident_{row['incident_id']}"):
            st.markdown(f"**{plain(title_text(row, areas, lang()))}**")
            names = plain(area_text(row, areas, lang()))
            st.write(tr(f"지역: {names} · 제보자 {row['reporters']:,}명 · "
                        f"상태: {plain(STATUS_NAMES[row['status']]['ko'])}",
                        f"Area: {names} · {row['reporters']:,} reporters · status: "
                        f"{plain(STATUS_NAMES[row['status']]['en'])}"))
            if row["synthetic"]:
                st.caption(tr("시연용 합성 데이터에서 감지(실제 장애가 아님)",
                              "Detected in synthetic demo data (not a real outage)"))
            st.markdown(f"[{tr('자세히 보기', 'Details')}]({link})")


def _map(db: str) -> None:
    st.subheader(tr("장애 지도", "Failure map"))
    try:
        drawn = _map_html(lang(), db)
    except DropMapError as e:
        show_error(e)
        return
    if drawn is None:
        st.caption(tr("아직 공개할 수 있는 육각형이 없습니다.", "No hex can be shown yet."))
        return
    html, since, until = drawn
    st.iframe(html, height=MAP_HEIGHT)
    st.caption(tr(f"기간: {since:%Y-%m-%d} ~ {until:%Y-%m-%d} — 최근 13주, 지도 페이지를 처음 열 때와 같은 보기.",
                  f"Period: {since:%Y-%m-%d} ~ {until:%Y-%m-%d} — the latest 13 weeks, as the map page opens."))
    st.page_link("ui/explore.py", icon="🗺️", query_params=_lang_params(),
                 label=tr("지도 크게 보기 — 통신사·시간대별", "Open the full map — by carrier and hour"))


def _counts(info: dict, table: pd.DataFrame) -> None:
    st.subheader(tr("모은 제보", "What the database holds"))
    tz = load_city().tz
    cols = st.columns(4)
    cols[0].metric(tr("장애 제보", "Failure reports"), f"{info['failures']:,}")
    cols[1].metric(tr("'정상' 표본", "'All good' samples"), f"{info['samples']:,}")
    cols[2].metric(tr("제보자(익명)", "Reporters (anonymous)"), f"{info['reporters']:,}")
    cols[3].metric(tr("검토 대상(비공개)", "Flagged (hidden)"), f"{info['flagged']:,}")
    first, last = info["first"].astimezone(tz), info["last"].astimezone(tz)
    st.write(tr(f"기간: {first:%Y-%m-%d %H:%M} ~ {last:%Y-%m-%d %H:%M} (서울 시각)",
                f"Period: {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} (Seoul time)"))
    if not table.empty:
        table = table.copy()
        table["network"] = table["network"].map(lambda n: NETWORK_NAMES[n][lang()])
        table["kind"] = table["kind"].map(lambda k: KINDS.get(k, {}).get(lang(), k))
        pivot = table.pivot_table(index="kind", columns="network", values="reports", fill_value=0, aggfunc="sum")
        pivot.index.name = tr("장애 유형", "Failure kind")
        pivot.columns.name = tr("통신사", "Carrier")
        st.markdown("**" + tr("통신사·장애 유형별 제보 수", "Reports by carrier and failure kind") + "**")
        st.dataframe(pivot, width="stretch", key="overview_table",
                     column_config={c: st.column_config.NumberColumn(format="localized") for c in pivot.columns})


def main() -> None:
    st.title(tr("끊김지도", "DropMap"))
    st.caption(tr(
        "서울 이동통신 장애 지도 — 내 폰 문제일까, 통신사 문제일까? 시민 제보로 통신사별 상태와 장애 지역을 봅니다.",
        "Mobile-network failures in Seoul — is it my phone or the carrier? Residents' reports show each carrier's "
        "state and where it fails.",
    ))
    states = _states()
    if st.button(tr("📣 제보하기", "📣 Report a failure"), type="primary", width="stretch", key="home_report"):
        st.switch_page("ui/report.py", query_params=_lang_params())
    try:
        end = read(home.data_now)
        version = read(data_version)
    except DropMapError as e:
        show_error(e)
        return
    info, table = _totals(version)
    if end is None:  # no failure report: maybe nothing at all
        if not info["failures"] and not info["samples"]:
            st.warning(tr("아직 데이터가 없습니다. `make run`은 처음 실행할 때 시연용 데이터를 만듭니다.",
                          "No data yet. `make run` builds the demo data on first run."))
            st.stop()
    db = settings.store_location()
    if states is not None:
        _carriers(db, states, end)
    _incidents()
    _map(db)
    # The full counts (a scan of every report, kept until the data change) come last.
    _counts(info, table)


main()
