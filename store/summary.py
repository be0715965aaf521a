"""Small read-only summaries of the store (counts, period covered)."""

from __future__ import annotations

import pandas as pd

from store.filters import PUBLIC_STATUS


def demo_share(cur) -> float:
    """Fraction of stored reports that are synthetic (source='demo')."""
    total, demo = cur.execute(
        "SELECT count(*), count(*) FILTER (WHERE source = 'demo') FROM reports"
    ).fetchone()
    return demo / total if total else 0.0


def overview(cur) -> dict:
    """Totals, period covered (UTC), failures vs. 'all good' samples, distinct reporters."""
    row = cur.execute(
        """
        SELECT count(*) FILTER (WHERE kind <> 'ok'), count(*) FILTER (WHERE kind = 'ok'),
               min(observed_at), max(observed_at), count(DISTINCT reporter),
               count(*) FILTER (WHERE status <> 'ok'), count(*) FILTER (WHERE source = 'demo')
        FROM reports
        """
    ).fetchone()
    keys = ("failures", "samples", "first", "last", "reporters", "flagged", "demo")
    return dict(zip(keys, row, strict=True))


def counts_by_network_kind(cur) -> pd.DataFrame:
    """Unflagged failure reports per host network and kind (private: totals only, no places)."""
    return cur.execute(
        f"""
        SELECT network, kind, count(*) AS reports
        FROM reports WHERE {PUBLIC_STATUS} AND kind <> 'ok'
        GROUP BY ALL ORDER BY network, kind
        """
    ).df()
