"""SQL for the abuse checks (ingest.abuse): a reporter's stored reports near a time span."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

_NEIGHBOURS = """
SELECT reporter, observed_at, lat, lon, accuracy_m, network, kind, status
FROM reports
WHERE observed_at BETWEEN ? AND ?
  AND reporter IN (SELECT unnest(?::UBIGINT[]))
ORDER BY reporter, observed_at
"""


def stored_reports_near(cur, reporters: list[int], start: datetime, end: datetime) -> pd.DataFrame:
    """Stored reports of ``reporters`` observed between ``start`` and ``end`` (UTC)."""
    if not reporters:
        return pd.DataFrame(columns=["reporter", "observed_at", "lat", "lon", "accuracy_m", "network", "kind",
                                     "status"])
    return cur.execute(_NEIGHBOURS, [start, end, [int(r) for r in reporters]]).df()
