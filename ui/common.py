"""What every page shares: language, the database connection, errors shown kindly."""

from __future__ import annotations

import streamlit as st

from core import settings
from core.errors import DropMapError, InputError
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
    return _connection(settings.store_location())


def cursor():
    """A fresh cursor on the process-wide connection, for ``with cursor() as cur:`` (which closes it).
    Pages read through ``read``; tests/test_page_cursors.py fails on a bare ``cursor()`` in a page."""
    from store.db import cursor as store_cursor

    return store_cursor(connection())


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


def wait_minutes(retry_after: int) -> int:
    """A Retry-After in whole minutes, rounded up (a number: safe in Markdown)."""
    return max(1, -(-int(retry_after) // 60))


def refused_code_text(error: Exception, *, empty_box: bool = True) -> str | None:
    """The page's words for a refused reporter code, or None for any other error: not a code this site
    issued (InputError on reporter_code), or this network has tried too many such codes this hour
    (ingest.codes.GUESS_SCOPE: old-form codes wait, issued codes always work). ``empty_box``: the page
    has a code box, and leaving it empty sends with a new code."""
    from ingest.abuse import RateLimitedError
    from ingest.codes import GUESS_SCOPE

    hint = tr(" 코드 칸을 비우면 새 코드로 보낼 수 있습니다.", " Leave the code box empty to send with a new code.") \
        if empty_box else ""
    if isinstance(error, RateLimitedError) and error.scope == GUESS_SCOPE:
        minutes = wait_minutes(error.retry_after)
        return tr(
            f"이 네트워크(같은 와이파이나 통신사 주소 대역)에서 이 사이트가 발급하지 않은 코드가 한 시간 안에 너무 "
            f"많이 시도되어, 예전 형식의 코드는 {minutes}분 뒤에 다시 쓸 수 있습니다. 사이트가 발급한 코드"
            f"(XXXX-XXXX-XXXX-XXXX)는 언제든 쓸 수 있습니다.",
            f"Too many codes this site did not issue were tried from this network (the same Wi-Fi or carrier "
            f"address block) in the last hour: old-form codes work again in {minutes} minutes. Codes the site "
            f"issued (XXXX-XXXX-XXXX-XXXX) always work.") + hint
    if isinstance(error, InputError) and error.field == "reporter_code":
        return tr("이 사이트가 발급한 코드가 아닙니다. 아무것도 저장하지 않았습니다.",
                  "This is not a code this site issued. Nothing was stored.") + hint
    return None
