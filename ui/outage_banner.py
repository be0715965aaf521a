"""The outage banner shown on every page while an incident is suspected, ongoing or recovering."""

from __future__ import annotations

from urllib.parse import quote

import streamlit as st

from core.errors import DropMapError
from outages.public import banner_text, open_with_areas
from ui.common import lang, plain, read, show_error, tr


def incident_link(incident_id: str) -> str:
    """Relative link to the incident's page, keeping the language."""
    return f"/outages?incident={quote(incident_id, safe='')}" + ("&lang=en" if lang() == "en" else "")


def render() -> None:
    try:
        incidents = read(open_with_areas)
    except DropMapError as e:
        show_error(e)
        return
    for row, areas in incidents:
        text = plain(banner_text(row, areas, lang()))
        if row["synthetic"]:
            text += tr(" · 시연용 합성 데이터", " · synthetic demo data")
        link = f"[{tr('자세히 보기', 'Details')}]({incident_link(row['incident_id'])})"
        if row["status"] == "recovering":
            st.warning(f"{text} — {link}", icon="🛠️")
        else:
            st.error(f"**{text}** — {link}", icon="🚨")
