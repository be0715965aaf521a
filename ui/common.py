"""What every page shares: language, the database connection, errors shown kindly."""

from __future__ import annotations

import streamlit as st

from core import settings
from core.errors import DropMapError
from core.network import visitor_address
from core.text import html_literal, markdown_literal

LANGS = ("ko", "en")
# Session key of the reporter code: set by the report page, read by upload and "My reports".
REPORTER_CODE = "reporter_code"


def lang() -> str:
    """The interface language: ?lang=en in the URL, else Korean."""
    value = st.query_params.get("lang", "ko")
    return value if value in LANGS else "ko"


def tr(ko: str, en: str) -> str:
    """The text in the current language."""
    return en if lang() == "en" else ko


def choose() -> str:
    """The placeholder of an empty select box (Streamlit's own is English: "Choose options")."""
    return tr("선택하세요", "Choose options")


@st.cache_resource(show_spinner=False)
def _connection(path: str):
    from store.db import shared_connection

    return shared_connection(path)


def connection():
    """The process-wide connection itself, for writers that share loads (ingest.submit)."""
    return _connection(str(settings.db_path()))


def cursor():
    """A fresh cursor on the process-wide connection, for ``with cursor() as cur:`` (which closes it).
    Pages read through ``read``; tests/test_page_cursors.py fails on a bare ``cursor()`` in a page."""
    return connection().cursor()


def read(fn, *args, **kwargs):
    """``fn(cur, *args, **kwargs)`` on its own cursor, closed afterwards and stopped after DROPMAP_QUERY_MS
    (store.read.run_read; a store.read.QueryTimeout is a StoreError, shown by ``show_error``). Every page
    query whose cost a URL or a widget shapes goes through it, as the API's reads do."""
    from store.read import run_read

    return run_read(lambda cur: fn(cur, *args, **kwargs))


def client_ip() -> str | None:
    """The visitor's address, for rate limits (X-Forwarded-For only behind trusted proxies)."""
    return visitor_address(st.context.ip_address, st.context.headers)


def plain(text: object) -> str:
    """User-controlled text (URL values, file names, notes, error values) for any Streamlit call that
    renders Markdown (st.markdown, warning, error, info, caption, success, labels): shown as typed,
    never as an image, a link, HTML, a colour directive or LaTeX. The one helper for it (core.text)."""
    return markdown_literal(text)


def show_error(error: DropMapError) -> None:
    """An error with its fix, never a traceback; its text may carry a value from a URL or a file."""
    st.error(plain(str(error)), icon="⚠️")


def escape(text: object) -> str:
    """Untrusted text made safe for HTML (folium popups, st.markdown with HTML)."""
    return html_literal(text)
