"""Explore: the per-carrier failure map by time of day.

Widgets -> geo.mapquery.MapQuery -> geo.mapview / geo.mapdetail (kept per data version and
shared, store.cache) -> ui.mapdraw (folium) and ui.map_charts. Every filter
and the map position live in the URL, so a shared link reopens this view.
"""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from core import settings
from core.cellkey import MAX_NOISE
from core.city import load_city
from core.errors import DropMapError
from core.vocab import KINDS, NETWORKS
from geo import mapdetail, mapview
from geo.mapquery import (
    ALL_HOURS,
    BRANDS,
    MEASURES,
    MODES,
    RES_CHOICES,
    MapQuery,
    MapState,
    auto_resolution,
    params_from_state,
    state_from_params,
)
from geo.privacy import min_reporters
from store import map_sql
from store.cache import RESULTS
from ui import map_charts, map_period, mapdraw
from ui import share as share_ui
from ui.common import choose, lang, plain, show_error, tr
from ui.notices import cached_demo_share

CACHE_SECONDS = settings.get_int("DROPMAP_CACHE_SECONDS")
PLAY_SECONDS = 3.0
MAP_HEIGHT = 580


# --- package calls, kept per data version and shared by every visitor and page (store.cache) ----

def _view(q: MapQuery) -> mapview.HexView:
    if q.mode == "compare":
        return RESULTS.read(mapview.compare_view, q)
    if q.all_hours:
        return RESULTS.read(mapview.level_view, q)
    # Colour classes from the whole day, so playing through the hours shows the daily rhythm.
    whole_day = RESULTS.read(mapview.level_view, q.with_changes(hours=ALL_HOURS))
    view = RESULTS.read(mapview.level_view, q, breaks=whole_day.breaks)
    return view if view.measure == whole_day.measure else RESULTS.read(mapview.level_view, q)


def _period():
    return RESULTS.read(map_sql.data_period)


def _hour_profile(q: MapQuery, measure: str):
    return RESULTS.read(mapdetail.hour_profile, q, measure)


def _day_trend(q: MapQuery, measure: str):
    return RESULTS.read(mapdetail.day_trend, q, measure)


def _worst(q: MapQuery):
    return RESULTS.read(mapview.worst_places, q, per_carrier=10)


def _detail(q: MapQuery, cell: str) -> mapdetail.CellDetail:
    return RESULTS.read(mapdetail.cell_detail, q, cell)


# --- state: URL <-> widgets -------------------------------------------------------

def _seed_widgets(state: MapState) -> None:
    """First visit (or a fresh URL): widgets start from the query string."""
    q = state.query
    seeds = {
        "explore_mode": q.mode, "explore_carrier": q.carrier or "all", "explore_brand": q.brand,
        "explore_kinds": list(q.kinds), "explore_hours": q.hours, "explore_days": q.day_type or "all",
        "explore_res": state.res_choice, "explore_measure": q.measure, "explore_tiles": state.tiles,
        "explore_dates": tuple(d for d in (q.since, q.until) if d),
        "explore_pos": (state.lat, state.lon, state.zoom), "explore_cell": state.cell,
    }
    for key, value in seeds.items():
        st.session_state.setdefault(key, value)


def _play_tick() -> None:
    """Advances the hour while playing; skipped in the script run that draws the page."""
    run = st.session_state.get("explore_run", 0)
    if st.session_state.get("explore_tick_run") != run:
        st.session_state["explore_tick_run"] = run
        return
    start = st.session_state["explore_hours"][0]
    nxt = 0 if st.session_state["explore_hours"] == ALL_HOURS else (start + 1) % 24
    st.session_state["explore_hours"] = (nxt, nxt)
    st.rerun()


def _labels() -> dict[str, dict[str, str]]:
    """Option labels in the current language, fixed when the page runs (format_func must not look it up later)."""
    return {
        "mode": {"level": tr("장애 수준", "Failure level"), "compare": tr("통신사 비교", "Compare carriers")},
        "carrier": {"all": tr("전체", "All"), **{n: map_charts.carrier_name(n, lang()) for n in NETWORKS}},
        "brand": {"all": tr("전체", "All"), "own": tr("통신사 자체", "Carrier's own"),
                  "mvno": tr("알뜰폰(MVNO, 이 망 사용)", "MVNOs on this network")},
        "kind": {k: names[lang()] for k, names in KINDS.items()},
        "days": {"all": tr("전체", "All"), "weekday": tr("평일", "Weekdays"), "weekend": tr("주말", "Weekends")},
        "res": {"auto": tr("자동 (확대 수준에 따라)", "Auto (from zoom)"), "7": "7 (~5 km²)", "8": "8 (~0.7 km²)",
                "9": "9 (~0.1 km²)"},
        "measure": {"auto": tr("자동 (가능하면 비율)", "Auto (rate when possible)"),
                    "rate": tr("장애 비율", "Failure rate"), "density": tr("장애 밀도", "Failure density")},
    }


def _sidebar(first: object, last: object) -> None:
    labels = _labels()
    with st.sidebar:
        st.header(tr("지도 설정", "Map settings"))
        st.radio(tr("보기", "View"), MODES, key="explore_mode", horizontal=True, format_func=labels["mode"].get)
        st.selectbox(tr("통신사 (망)", "Carrier (network)"), ["all", *NETWORKS],
                     placeholder=choose(), key="explore_carrier",
                     format_func=labels["carrier"].get)
        st.selectbox(tr("브랜드", "Brand"), BRANDS,
                     placeholder=choose(), key="explore_brand", format_func=labels["brand"].get)
        st.multiselect(tr("장애 유형", "Failure kind"), list(KINDS), key="explore_kinds",
                       format_func=labels["kind"].get, placeholder=tr("모든 유형", "All kinds"))
        st.slider(tr("시간대 (서울 시각)", "Hours of day (Seoul time)"), 0, 23, key="explore_hours")
        st.toggle(tr("▶ 24시간 재생", "▶ Play through 24 hours"), key="explore_play",
                  help=tr(f"{PLAY_SECONDS:.0f}초마다 한 시간씩 넘깁니다.",
                          f"Moves on one hour every {PLAY_SECONDS:.0f} s."))
        st.radio(tr("요일", "Days"), ["all", "weekday", "weekend"], key="explore_days", horizontal=True,
                 format_func=labels["days"].get)
        if first and last:
            st.date_input(tr("기간", "Dates"), min_value=first, max_value=last, key="explore_dates",
                          format="YYYY-MM-DD")
        st.selectbox(tr("육각형 크기 (H3 해상도)", "Hex size (H3 resolution)"), RES_CHOICES,
                     placeholder=choose(), key="explore_res",
                     format_func=labels["res"].get)
        st.selectbox(tr("측정값", "Measure"), MEASURES,
                     placeholder=choose(), key="explore_measure", format_func=labels["measure"].get)
        st.toggle(tr("배경 지도 (OpenStreetMap 서버에 요청)", "Base map (requests OpenStreetMap's servers)"),
                  key="explore_tiles")
        st.page_link("ui/methodology.py", label=tr("지도 읽는 법·방법론", "How to read the map"), icon="📐")


def _state_from_widgets() -> MapState:
    ss = st.session_state
    lat, lon, zoom = ss["explore_pos"]
    dates = tuple(ss.get("explore_dates") or ())
    res_choice = ss["explore_res"]
    query = MapQuery(
        carrier=None if ss["explore_carrier"] == "all" else ss["explore_carrier"],
        brand=ss["explore_brand"], kinds=tuple(ss["explore_kinds"]), hours=tuple(ss["explore_hours"]),
        day_type=None if ss["explore_days"] == "all" else ss["explore_days"],
        since=dates[0] if len(dates) == 2 else None, until=dates[1] if len(dates) == 2 else None,
        res=auto_resolution(zoom) if res_choice == "auto" else int(res_choice),
        measure=ss["explore_measure"], mode=ss["explore_mode"],
    )
    return MapState(query=query, res_choice=res_choice, lat=lat, lon=lon, zoom=zoom,
                    cell=ss.get("explore_cell"), tiles=ss["explore_tiles"])


def _write_url(state: MapState) -> None:
    # The address bar leaves out dates equal to the recent window (it keeps following the data), unless
    # the address came with dates: a link someone shared keeps its period.
    pinned = st.session_state.get("explore_dates_pinned")
    wanted = params_from_state(state, None if pinned else map_period.window())
    if "lang" in st.query_params:
        wanted["lang"] = st.query_params["lang"]
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


# --- rendering ---------------------------------------------------------------------

def _caption(view: mapview.HexView, q: MapQuery) -> str:
    carrier = plain(map_charts.carrier_name(q.carrier, lang())) if q.carrier else tr("모든 통신사", "all carriers")
    h0, h1 = q.hours
    hours = tr("하루 전체", "all day") if q.all_hours else tr(
        f"{h0:02d}시" if h0 == h1 else f"{h0:02d}–{h1:02d}시", f"{h0:02d}:00–{h1:02d}:59")
    what = plain(mapdraw.measure_title(view, lang()))
    unit = plain(mapdraw.unit_label(view.measure, lang()))
    return tr(
        f"**{what}** — {carrier}, {hours}. 단위: {unit}. "
        f"육각형 해상도 {view.res:,}. 제보자 {view.k:,}명 미만인 육각형은 그리지 않습니다. "
        f"적은 사람을 가려내지 못하도록 건수는 최대 ±{MAX_NOISE:,}만큼 고정된 잡음을 더해 보여 줍니다.",
        f"**{what}** — {carrier}, {hours}. Unit: {unit}. "
        f"Hex resolution {view.res:,}. Hexes with fewer than {view.k:,} reporters are not drawn. "
        f"Counts carry a fixed noise of at most ±{MAX_NOISE:,}, so that no view can single out a few people.",
    )


def _notes(view: mapview.HexView) -> None:
    if "no_samples" in view.notes:
        st.info(tr("이 보기에는 '정상' 표본이 부족해 비율 대신 밀도(면적·시간당 제보 수)를 보여 줍니다.",
                   "Too few 'all good' samples in this view: showing density (reports per area and hour), "
                   "not rates."), icon="ℹ️")
    if "coarsened" in view.notes:
        st.info(tr("육각형이 너무 많아 더 큰 육각형으로 묶었습니다.", "Too many hexes: drawn at a coarser resolution."))
    if view.frame.empty:
        st.warning(tr("이 조건에서 공개할 수 있는 육각형이 없습니다. 통신사·시간대·기간을 넓혀 보세요.",
                      "No hex can be shown for these filters. Widen the carrier, hours or dates."))


def _render_map(view: mapview.HexView, state: MapState, db: str) -> None:
    center = load_city().center
    base = mapdraw.base_map(lang=lang(), center=center, zoom=load_city().zoom, tiles=state.tiles)
    # The hexes travel as a feature group: a filter change swaps them without reloading the map.
    layer = mapdraw.hex_layer(view, lang=lang(), synthetic=cached_demo_share(db) > 0)
    out = st_folium(base, key="explore_map", height=MAP_HEIGHT, use_container_width=True,
                    feature_group_to_add=layer, returned_objects=["last_object_clicked", "zoom", "center"],
                    center=(state.lat, state.lon), zoom=state.zoom) or {}
    if out.get("center") and out.get("zoom"):
        zoom = min(max(int(out["zoom"]), mapdraw.MIN_ZOOM), mapdraw.MAX_ZOOM)
        pos = (round(out["center"]["lat"], 4), round(out["center"]["lng"], 4), zoom)
        if pos != st.session_state["explore_pos"]:
            st.session_state["explore_pos"] = pos
            if state.res_choice == "auto" and auto_resolution(pos[2]) != view.res:
                st.rerun()
    clicked = out.get("last_object_clicked")
    if clicked:
        cell = mapview.cell_at(clicked["lat"], clicked["lng"], view.res)
        if cell != st.session_state.get("explore_cell") and cell in set(view.frame["cell_id"]):
            st.session_state["explore_cell"] = cell


def _place_line(place: dict) -> str:
    def name(area):
        return plain((area.name_en if lang() == "en" else area.name_ko) if area else "–")

    return (f"**{name(place['gu'])} {name(place['dong'])}** · {tr('가까운 역', 'nearest station')}: "
            f"{plain(place['station'].name)} ({place['station_m']:.0f} m)")


def _render_detail(q: MapQuery, cell: str, db: str) -> None:
    try:
        detail = _detail(q, cell)
    except DropMapError as e:  # a bad cell, or a read stopped at its time limit: said, not a traceback
        show_error(e)
        return
    head, clear = st.columns([5, 1])
    head.subheader(tr("선택한 육각형", "Selected hex"))
    if clear.button(tr("선택 해제", "Clear selection"), key="explore_clear_cell"):
        st.session_state["explore_cell"] = None
        st.rerun()
    if not detail.published:
        st.info(tr(f"이 육각형은 이 조건에서 제보자가 {min_reporters()}명 미만이라 공개하지 않습니다.",
                   f"Fewer than {min_reporters()} reporters in this hex for these filters: not shown."))
        return
    st.markdown(_place_line(detail.place))
    st.caption(f"H3 {plain(cell)} · res {detail.res:,} · {tr('제보자', 'reporters')} {detail.reporters:,} · "
               + tr("통신사 필터와 관계없이 모든 통신사를 나란히 보여 줍니다.", "All carriers side by side, whatever "
                    "the carrier filter."))
    left, right = st.columns(2)
    with left:
        st.dataframe(map_charts.carriers_table(detail.carriers, lang()), hide_index=True,
                     key="explore_detail_carriers")
        if not detail.kinds.empty:
            st.altair_chart(map_charts.kinds_chart(detail.kinds, lang()), width="stretch")
        st.caption(tr(f"많이 보고된 단말기 (제보자 {min_reporters()}명 이상인 기종만)",
                      f"Device models most reported (only models named by {min_reporters()}+ reporters)"))
        if detail.devices.empty:
            st.caption(tr("— 해당하는 기종이 없습니다.", "— no model qualifies."))
        else:
            devices = detail.devices.rename(columns={
                "device_model": tr("기종", "Model"), "failures": tr("장애", "Failures"),
                "reporters": tr("제보자", "Reporters")})
            st.dataframe(devices, hide_index=True, key="explore_detail_devices")
    with right:
        st.caption(tr("24시간 장애 비율 (통신사별, 95% 구간; 제보자가 부족한 시간은 빠짐)",
                      "Failure rate over 24 hours per carrier (95% band; hours with too few reporters left out)"))
        st.altair_chart(map_charts.trend_chart(detail.hours, "rate", lang(), x="hour"), width="stretch")
        first, last = _period()
        share_ui.offer_hex_hours(detail.hours, cell=cell, q=q, params=params_from_state(_state_from_widgets()),
                                 first=first, last=last, synthetic=cached_demo_share(db) > 0, k=min_reporters(),
                                 lang=lang())


PANELS = ("hours", "days", "worst")


def _render_below(view: mapview.HexView, q: MapQuery, db: str) -> None:
    """One of three panels; only the chosen one is computed (each is a scan of every report)."""
    measure = view.ratio_of if view.measure == mapview.RATIO else view.measure
    names = {"hours": tr("시간대 × 통신사", "Hour × carrier"), "days": tr("일별 추이", "Daily trend"),
             "worst": tr("취약 지역 순위", "Worst places")}
    st.session_state.setdefault("explore_panel", "hours")
    panel = st.segmented_control(tr("지도 아래", "Below the map"), PANELS, key="explore_panel",
                                 format_func=names.get, label_visibility="collapsed") or "hours"
    # Cache keys hold only what each panel depends on, so other filter changes reuse them.
    if panel == "hours":
        st.caption(tr("하루 전체, 통신사별 (선택한 통신사·시간과 관계없이 모든 시간·통신사).",
                      "Whole day, every carrier (whatever carrier and hours are chosen above)."))
        # The image's caption names the filters of the query drawn, not those of the map above.
        drawn = q.with_changes(carrier=None, hours=ALL_HOURS, res=8, mode="level")
        profile = _hour_profile(drawn, measure)
        st.altair_chart(map_charts.hour_heatmap(profile, measure, lang()), width="stretch")
        _share_chart(profile, "hours", measure, drawn, db)
    elif panel == "days":
        drawn = q.with_changes(carrier=None, res=8, mode="level")
        trend = _day_trend(drawn, measure)
        st.altair_chart(map_charts.trend_chart(trend, measure, lang()), width="stretch")
        _share_chart(trend, "days", measure, drawn, db)
    else:
        worst, worst_measure = _worst(q.with_changes(mode="level"))
        st.caption(tr("통신사별로 소표본 보정값이 가장 높은 육각형 10곳 (판단 보류 육각형 제외).",
                      "Per carrier, the 10 hexes with the highest shrunk estimate (hexes too thin to rate left out)."))
        if worst.empty:
            st.info(tr("순위를 매길 육각형이 없습니다.", "No hex to rank."))
        else:
            st.dataframe(map_charts.worst_table(worst, worst_measure, lang()), hide_index=True, key="explore_worst")


def _share_chart(frame, chart: str, measure: str, q: MapQuery, db: str) -> None:
    first, last = _period()
    share_ui.offer_chart(frame, chart=chart, measure=measure, q=q, params=params_from_state(_state_from_widgets()),
                         first=first, last=last,
                         synthetic=cached_demo_share(db) > 0, k=min_reporters(), lang=lang())


_FILTERS = ("explore_mode", "explore_carrier", "explore_brand", "explore_kinds", "explore_hours", "explore_days",
            "explore_dates", "explore_res", "explore_measure")


def _ignored_values_warning(problems: list) -> None:
    """Say which values of the address were ignored, and keep saying it while the visitor looks at that view:
    the page writes the cleaned address back and the map reports its position, so the next runs no longer
    see the bad values. A change of filter ends it."""
    filters = tuple(repr(st.session_state.get(key)) for key in _FILTERS)
    if problems:
        st.session_state["explore_ignored"] = ([str(p) for p in problems], filters)
    kept, seen_with = st.session_state.get("explore_ignored", ([], None))
    if seen_with != filters:
        st.session_state.pop("explore_ignored", None)
        return
    for problem in kept:
        st.warning(tr("주소의 값 하나를 무시했습니다: ", "Ignored one value in the address: ") + plain(problem))


def main() -> None:
    st.title(tr("장애 지도", "Failure map"))
    db = settings.store_location()
    state, problems = state_from_params(st.query_params.to_dict())
    _seed_widgets(state)
    try:
        first, last = _period()
        if first is not None:
            window = map_period.seed_dates(state.query, first, last)  # before the warning notes its filters
    except DropMapError as e:  # the store is busy or held: said, not a traceback
        show_error(e)
        return
    if "explore_no_data_dates" in st.session_state:
        problems = [*problems, st.session_state.pop("explore_no_data_dates")]
    _ignored_values_warning(problems)
    st.session_state["explore_run"] = st.session_state.get("explore_run", 0) + 1
    if first is None:
        st.warning(tr("아직 데이터가 없습니다.", "No data yet."))
        return
    _sidebar(first, last)
    try:
        state = _state_from_widgets()
        view = _view(state.query)
    except DropMapError as e:
        show_error(e)
        return
    st.markdown(_caption(view, state.query))
    _notes(view)
    _render_map(view, state, db)
    map_period.period_note(state.query, first, last, window)
    # Shared links always carry their dates: they reopen what their image shows.
    share_ui.offer_map(view, state.query, params=params_from_state(state), first=first, last=last,
                       synthetic=cached_demo_share(db) > 0, k=min_reporters(), lang=lang())
    if st.session_state.get("explore_cell"):
        _render_detail(state.query, st.session_state["explore_cell"], db)
    else:
        st.caption(tr("육각형에 마우스를 올리면 수치가, 누르면 통신사별 수치·24시간 변화·장애 유형·단말기·위치 이름이 "
                      "지도 아래에 나옵니다.",
                      "Hover a hex for its numbers; click it for numbers per carrier, the 24-hour profile, failure "
                      "kinds, devices and place names below the map."))
    _write_url(_state_from_widgets())
    if st.session_state.get("explore_play"):
        st.caption(tr("재생 중에는 아래 차트와 순위를 멈춥니다.", "Charts and rankings below pause while playing."))
    else:
        try:
            _render_below(view, state.query, db)
        except DropMapError as e:  # a chart's read stopped at its time limit: said, the map stays
            show_error(e)
    if st.session_state.get("explore_play"):
        st.fragment(run_every=PLAY_SECONDS)(_play_tick)()
    st.caption(tr(f"지도는 계산한 뒤 {CACHE_SECONDS}초 동안 그대로 보여 주고, 그 뒤 새 제보가 있으면 다시 "
                  f"계산합니다(그동안은 앞의 지도). 새 제보가 있는데 {3 * CACHE_SECONDS:d}초보다 오래된 지도는 "
                  "보여 주지 않습니다.",
                  f"A map is shown as computed for {CACHE_SECONDS} s; after that, if reports have arrived, it is "
                  f"computed again (the previous one is shown meanwhile). A map more than {3 * CACHE_SECONDS:d} s old "
                  "is never shown once newer reports exist."))


main()
