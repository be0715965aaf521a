"""The map page's period: the recent window it opens on, the dates in its address, and the line under
the map that names them (geo.mapquery.recent_window, store.map_sql.last_busy_day)."""

from __future__ import annotations

import streamlit as st

from core.errors import InputError
from geo.mapquery import MapQuery, recent_window
from geo.privacy import min_reporters
from store import map_sql
from store.aggregate_sql import data_version
from ui.common import read, tr


@st.cache_data(show_spinner=False, max_entries=4)
def _busy_day(k: int, version: tuple):
    """Kept until the data change (``version``: store.aggregate_sql.data_version, which names the store
    too): when the latest weeks are not busy, finding the last busy week scans the whole history."""
    return read(map_sql.last_busy_day, k)


def recent(first, last) -> tuple:
    """The recent window the map opens on, for the map page and the home page's map alike."""
    return recent_window(first, _busy_day(min_reporters(), read(data_version)) or last)


def window() -> tuple | None:
    """The recent window of this run (set by main once the data's period is known)."""
    return st.session_state.get("explore_window")


def set_dates(dates: tuple) -> None:
    st.session_state["explore_dates"] = dates
    st.session_state["explore_dates_pinned"] = dates != window()


def period_note(q: MapQuery, first, last, recent: tuple) -> None:
    """Which weeks the map shows, and the other period one click away."""
    dates = (q.since or first, q.until or last)
    shown = f"{dates[0]:%Y-%m-%d} ~ {dates[1]:%Y-%m-%d}"
    whole = (first, last)
    if dates == tuple(recent) and tuple(recent) != whole:
        k = min_reporters()
        later = tr(" 그 뒤의 제보는 너무 적어 그릴 수 없습니다.", " Later reports are too few to draw.") \
            if recent[1] < last else ""
        st.caption(tr(f"기간: {shown} — 제보자 {k}명 이상이 제보한 마지막 주까지 최근 13주.{later} "
                      f"전체 기록: {first:%Y-%m-%d} ~ {last:%Y-%m-%d}.",
                      f"Period: {shown} — the latest 13 weeks, up to the last week with reports from {k} or "
                      f"more people.{later} The whole record: {first:%Y-%m-%d} ~ {last:%Y-%m-%d}."))
        st.button(tr("전체 기간 보기", "Show the whole period"), key="explore_whole_period",
                  on_click=set_dates, args=(whole,))
    elif dates == whole:
        st.caption(tr(f"기간: {shown} — 자료 전체.", f"Period: {shown} — all the data."))
        if tuple(recent) != whole:
            st.button(tr("최근 13주로", "Back to the latest 13 weeks"), key="explore_recent_period",
                      on_click=set_dates, args=(tuple(recent),))
    else:
        st.caption(tr(f"기간: {shown} (고른 날짜).", f"Period: {shown} (dates chosen)."))
        st.button(tr("최근 13주로", "Back to the latest 13 weeks"), key="explore_recent_period",
                  on_click=set_dates, args=(tuple(recent),))


def seed_dates(q: MapQuery, first, last) -> tuple:
    """The recent window of this run; the date box starts on it when the address names no dates, and
    dates outside the data's period are brought inside (the box allows only days with data)."""
    window_now = st.session_state["explore_window"] = recent(first, last)
    dates = tuple(st.session_state.get("explore_dates") or ())
    if "explore_dates_pinned" not in st.session_state and len(dates) == 1:  # the address names one end only
        dates = (dates[0], last) if q.since else (first, dates[0])  # q: the address as read (bad values dropped)
        st.session_state["explore_dates"] = dates
    st.session_state.setdefault("explore_dates_pinned", len(dates) == 2)  # the first run: from the address
    if not dates:
        st.session_state["explore_dates"] = window_now
    elif dates[-1] < first or dates[0] > last or dates[0] > dates[-1]:  # no day with data: the window, and say so
        asked = " ~ ".join(f"{d:%Y-%m-%d}" if d else "…" for d in (q.since, q.until))
        st.session_state["explore_dates"] = window_now
        st.session_state["explore_dates_pinned"] = False
        st.session_state["explore_no_data_dates"] = InputError(
            "since/until", asked,
            f"no data in these dates (the data run from {first:%Y-%m-%d} to {last:%Y-%m-%d}); "
            "showing the latest 13 weeks")
    elif any(d < first or d > last for d in dates):
        st.session_state["explore_dates"] = tuple(min(max(d, first), last) for d in dates)
    return window_now
