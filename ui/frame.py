"""Navigation and what shows on every page."""

from __future__ import annotations

import streamlit as st

from ui.common import lang, tr


def pages():
    """The site's pages, in menu order (titles in the current language)."""
    return st.navigation([
        st.Page("ui/overview.py", title=tr("개요", "Overview"), icon="📶", default=True, url_path="overview"),
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
