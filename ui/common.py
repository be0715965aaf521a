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


def guess_limit_text(retry_after: int, *, new_code_hint: bool = False) -> str:
    """What a visitor is told when their network has tried too many codes the site did not issue
    (ingest.codes.GUESS_SCOPE): only old-form codes wait; issued codes always work."""
    minutes = max(1, -(-int(retry_after) // 60))  # whole minutes, rounded up (a number: safe as Markdown)
    hint = tr(" 코드 칸을 비우면 새 코드로 보낼 수 있습니다.", " Leave the code empty to send with a new code.") \
        if new_code_hint else ""
    return tr(
        f"이 네트워크(같은 와이파이나 통신사 주소 대역)에서 이 사이트가 발급하지 않은 코드가 한 시간 안에 너무 많이 "
        f"시도되어, 예전 형식의 코드는 {minutes}분 뒤에 다시 쓸 수 있습니다. 사이트가 발급한 코드"
        f"(XXXX-XXXX-XXXX-XXXX)는 언제든 쓸 수 있습니다.{hint}",
        f"Too many codes this site did not issue were tried from this network (the same Wi-Fi or carrier "
        f"address block) in the last hour: old-form codes work again in {minutes} minutes. Codes the site "
        f"issued (XXXX-XXXX-XXXX-XXXX) always work.{hint}",
    )
