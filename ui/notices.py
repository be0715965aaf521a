"""Notices shown on every page: synthetic data present; outages (outages package)."""

from __future__ import annotations

import streamlit as st

from store.summary import demo_share
from ui.common import cursor, tr


def render() -> None:
    from ui import outage_banner

    outage_banner.render()
    share = demo_share(cursor())
    if share > 0:
        st.info(tr(
            f"이 사이트의 데이터 중 {share:.0%}는 시연용 합성 데이터입니다(실제 제보가 아님).",
            f"{share:.0%} of this site's data is synthetic demo data (not real reports).",
        ), icon="🧪")
