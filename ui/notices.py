"""Notices shown on every page: synthetic data present; outages (outages package)."""

from __future__ import annotations

import streamlit as st

from core import settings
from core.errors import DropMapError
from store.summary import demo_share
from ui.common import read, show_error, tr


@st.cache_data(ttl=settings.get_int("DROPMAP_CACHE_SECONDS"), show_spinner=False)
def cached_demo_share(db: str) -> float:
    """Cached per database for the map's cache time: a full count on every rerun costs ~0.2 s at 10 M rows."""
    return read(demo_share)


def render() -> None:
    from ui import outage_banner

    outage_banner.render()
    try:
        share = cached_demo_share(settings.store_location())
    except DropMapError as e:
        show_error(e)
        return
    if share > 0:
        st.info(tr(
            f"이 사이트의 데이터 중 {share:.0%}는 시연용 합성 데이터입니다(실제 제보가 아님).",
            f"{share:.0%} of this site's data is synthetic demo data (not real reports).",
        ), icon="🧪")
