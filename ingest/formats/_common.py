"""Helpers shared by the logger formats."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Logger technology names -> our tech vocabulary. GSM and CDMA no longer run in
# Korea; a row naming them is kept with tech 'unknown'.
LOGGER_TECH = {"NR": "5G", "LTE": "LTE", "UMTS": "3G", "WCDMA": "3G", "HSPA": "3G", "GSM": "unknown",
               "CDMA": "unknown", "": "unknown"}


def header_of(line: str) -> list[str]:
    return [c.strip().strip('"').lower() for c in line.replace("\t", ",").replace(";", ",").split(",")]


def text(table: pd.DataFrame, name: str) -> pd.Series:
    if name in table.columns:
        return table[name].astype("string").str.strip()
    return pd.Series(pd.NA, index=table.index, dtype="string")


def plmn(mcc: pd.Series, mnc: pd.Series) -> pd.Series:
    """'450' + '5' -> '450-05' (MNCs are two digits in Korea)."""
    return mcc.fillna("") + "-" + mnc.fillna("").str.zfill(2)


def has_signal(*columns: pd.Series) -> np.ndarray:
    """True where any column holds a real reading (not empty, not the loggers' 'no value' markers)."""
    found = np.zeros(len(columns[0]), dtype=bool)
    for col in columns:
        value = pd.to_numeric(col, errors="coerce")
        found |= (value.notna() & (value < 0) & (value > -160)).to_numpy()
    return found


def has_cell(cell_id: pd.Series) -> np.ndarray:
    value = pd.to_numeric(cell_id, errors="coerce")
    return (value.notna() & (value > 0) & (value != 2147483647)).to_numpy()


def outcome(cell_id: pd.Series, *signals: pd.Series) -> pd.Series:
    """'ok' where a serving cell with a signal was logged, else 'no_service'."""
    ok = has_cell(cell_id) & has_signal(*signals)
    return pd.Series(np.where(ok, "ok", "no_service"), index=cell_id.index)


def tech(values: pd.Series) -> pd.Series:
    upper = values.fillna("").str.upper()
    return upper.map(lambda v: LOGGER_TECH.get(v, v))
