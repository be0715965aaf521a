"""Tower Collector CSV export (one row per cell; neighbours flagged)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.formats._common import header_of, outcome, plmn, tech, text

_SIGNATURE = {"mcc", "mnc", "lac", "cell_id", "measured_at", "net_type", "neighboring"}


def sniff(header_line: str) -> bool:
    return _SIGNATURE <= set(header_of(header_line))


def to_fields(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    rows = np.arange(1, len(table) + 1)
    serving = ~text(table, "neighboring").str.lower().isin(["true", "1"]).fillna(False).to_numpy()
    t = table[serving].reset_index(drop=True)
    frame = pd.DataFrame({
        "lat": text(t, "lat"),
        "lon": text(t, "lon"),
        "accuracy_m": text(t, "accuracy"),
        "observed_at": text(t, "measured_at"),
        "carrier": plmn(text(t, "mcc"), text(t, "mnc")),
        "tech": tech(text(t, "net_type")),
        "kind": outcome(text(t, "cell_id"), text(t, "dbm"), text(t, "rsrp"), text(t, "ss_rsrp"), text(t, "rscp")),
        "device_model": text(t, "device"),
    })
    return frame, rows[serving]
