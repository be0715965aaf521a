"""Navigation and what shows on every page."""

from __future__ import annotations

import streamlit as st

from ui.common import lang, tr


def pages():
    """The site's pages, in menu order (titles in the current language)."""
    return st.navigation([
        st.Page("ui/overview.py", title=tr("개요", "Overview"), icon="📶", default=True),
        st.Page("ui/report.py", title=tr("장애 제보", "Report a failure"), icon="📣", url_path="report"),
        st.Page("ui/my_reports.py", title=tr("내 제보", "My reports"), icon="🔑", url_path="my_reports"),
        st.Page("ui/upload.py", title=tr("파일 올리기", "Upload a file"), icon="📤", url_path="upload"),
        st.Page("ui/explore.py", title=tr("장애 지도", "Failure map"), icon="🗺️", url_path="explore"),
        st.Page("ui/subway.py", title=tr("지하철 노선", "Subway lines"), icon="🚇", url_path="subway"),
        st.Page("ui/outages.py", title=tr("통신 장애 감지", "Outages"), icon="🚨", url_path="outages"),
        st.Page("ui/downloads.py", title=tr("열린 데이터", "Open data"), icon="⬇️", url_path="downloads"),
        st.Page("ui/methodology.py", title=tr("방법론", "Methodology"), icon="📐", url_path="methodology"),
        st.Page("ui/moderation.py", title=tr("운영자 검토", "Moderation"), url_path="moderation", visibility="hidden"),
    ])


def sidebar() -> None:
    with st.sidebar:
        choice = st.radio("언어 / Language", ["한국어", "English"], index=0 if lang() == "ko" else 1,
                          horizontal=True, key="lang_choice")
        wanted = "en" if choice == "English" else "ko"
        if wanted != lang():
            st.query_params["lang"] = wanted
            st.rerun()


def banner() -> None:
    """The outage banner (from the outages package) and the synthetic-data notice."""
    from ui import notices

    notices.render()
