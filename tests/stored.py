"""The process-wide connection in tests: opening a page or the API over it, reading what they stored, releasing it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from store.db import close_shared, connect

UI = Path(__file__).resolve().parent.parent / "ui"


def stored_reports(db_path, columns: str = "*", order_by: str = "received_at") -> pd.DataFrame:
    """The reports table (``columns`` and ``order_by`` are the test's own literals, never user input)."""
    close_shared()
    con = connect(db_path)  # read-write: the page may not have created the file yet
    try:
        return con.execute(f"SELECT {columns} FROM reports ORDER BY {order_by}").df()
    finally:
        con.close()


@contextmanager
def page_run(name: str) -> Iterator:
    """``ui/<name>`` run once in AppTest (no exception); the shared connection is released afterwards."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(UI / name), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    try:
        yield at
    finally:
        close_shared()


@contextmanager
def route_client(routes) -> Iterator:
    """A test client for these HTTP routes; the shared connection is released afterwards."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    try:
        with TestClient(Starlette(routes=routes)) as client:
            yield client
    finally:
        close_shared()


def issued_code() -> str:
    """A reporter code as the site issues it (ingest.codes: it carries the site's keyed MAC)."""
    from ingest.codes import mint_code

    return mint_code()
