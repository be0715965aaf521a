"""Reading what a test's site or API stored, after releasing the process-wide connection."""

from __future__ import annotations

import pandas as pd

from store.db import close_shared, connect


def stored_reports(db_path, columns: str = "*", order_by: str = "received_at") -> pd.DataFrame:
    """The reports table (``columns`` and ``order_by`` are the test's own literals, never user input)."""
    close_shared()
    con = connect(db_path)  # read-write: the page may not have created the file yet
    try:
        return con.execute(f"SELECT {columns} FROM reports ORDER BY {order_by}").df()
    finally:
        con.close()
