"""Tower Collector CSV export: one row per cell seen; neighbouring cells are skipped.

Columns (zamojski/TowerCollector CsvExportFormatter, see ../shared/data/formats):
mcc,mnc,lac,cell_id,short_cell_id,rnc,psc,asu,dbm,ta,lat,lon,accuracy,speed,
bearing,altitude,measured_at,net_type,neighboring,discovered_at,device,rsrp,rsrq,...
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.formats._common import has_asu, has_cell, has_dbm, header_of, outcome, plmn, tech, text

_SIGNATURE = {"mcc", "mnc", "lac", "cell_id", "measured_at", "net_type", "neighboring"}


def sniff(header_line: str) -> bool:
    return _SIGNATURE <= set(header_of(header_line))


def to_fields(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Field-named raw rows of the serving-cell rows, and their record numbers in the file."""
    rows = np.arange(1, len(table) + 1)
    serving = ~text(table, "neighboring").str.lower().isin(["true", "1"]).fillna(False).to_numpy(dtype=bool)
    t = table[serving].reset_index(drop=True)
    signal = has_dbm(text(t, "dbm"), text(t, "rsrp"), text(t, "ss_rsrp"), text(t, "rscp")) | has_asu(text(t, "asu"))
    frame = pd.DataFrame({
        "lat": text(t, "lat"),
        "lon": text(t, "lon"),
        "accuracy_m": text(t, "accuracy"),
        "observed_at": text(t, "measured_at"),
        "carrier": plmn(text(t, "mcc"), text(t, "mnc")),
        "tech": tech(text(t, "net_type")),
        "kind": outcome(has_cell(text(t, "cell_id")), signal, t.index),
        "device_model": text(t, "device"),
    })
    return frame, rows[serving]
