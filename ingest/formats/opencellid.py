"""OpenCelliD measurement upload CSV: one serving-cell measurement per row.

Columns (Tower Collector CsvUploadFormatter, Network Survey OpenCelliDCsvFormatter):
lat,lon,mcc,mnc,sid,lac,tac,nid,cellid,bid,psc,pci,signal,ta,measured_at,rating,speed,direction,act,devn
``signal`` is the ASU level when the phone gave one, else dBm; ``rating`` is the
GPS accuracy in metres; CDMA rows carry their cell in ``bid``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import UnreadableFileError
from ingest.formats._common import has_asu, has_cell, has_dbm, header_of, outcome, plmn, tech, text

_SIGNATURE = {"lat", "lon", "mcc", "mnc", "cellid", "signal", "measured_at", "act"}
# The OpenCelliD/MLS *cell database* (towers, not measurements) starts like this.
_TOWER_DB = ["radio", "mcc", "net", "area", "cell"]


def sniff(header_line: str) -> bool:
    header = header_of(header_line)
    if header[:5] == _TOWER_DB:
        raise UnreadableFileError(
            "this is an OpenCelliD/MLS cell-tower database (towers, not measurements); "
            "upload the phone's measurement export instead"
        )
    return _SIGNATURE <= set(header)


def to_fields(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Field-named raw rows, one per measurement, and their record numbers in the file."""
    signal = text(table, "signal")
    cell = text(table, "cellid").fillna(text(table, "bid"))
    frame = pd.DataFrame({
        "lat": text(table, "lat"),
        "lon": text(table, "lon"),
        "accuracy_m": text(table, "rating"),
        "observed_at": text(table, "measured_at"),
        "carrier": plmn(text(table, "mcc"), text(table, "mnc")),
        "tech": tech(text(table, "act")),
        "kind": outcome(has_cell(cell), has_dbm(signal) | has_asu(signal), table.index),
        "device_model": text(table, "devn"),
    })
    return frame, np.arange(1, len(table) + 1)
