"""Helpers shared by the logger formats (see ingest/formats/__init__.py for the rule)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Logger technology names -> our tech vocabulary. GSM and CDMA no longer run in
# Korea; a row naming them is kept with tech 'unknown'.
LOGGER_TECH = {"NR": "5G", "LTE": "LTE", "UMTS": "3G", "WCDMA": "3G", "HSPA": "3G", "GSM": "unknown",
               "CDMA": "unknown", "": "unknown"}

# Values loggers write for "not known": Android's CellInfo.UNAVAILABLE (Integer.MAX_VALUE)
# and its 64-bit twin for NR cell ids.
_UNKNOWN = (2**31 - 1, 2**63 - 1)


def header_of(line: str) -> list[str]:
    return [c.strip().strip('"').lower() for c in line.replace("\t", ",").replace(";", ",").split(",")]


def text(table: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` (matched without case) as stripped text; all missing when the file lacks it."""
    for column in table.columns:
        if str(column).strip().lower() == name:
            return table[column].astype("string").str.strip()
    return pd.Series(pd.NA, index=table.index, dtype="string")


def plmn(mcc: pd.Series, mnc: pd.Series) -> pd.Series:
    """'450' + '5' -> '450-05' (MNCs are two digits in Korea); missing when either part is."""
    joined = mcc + "-" + mnc.str.zfill(2)
    return joined.where(mcc.notna() & mnc.notna() & (mcc != "") & (mnc != ""))


def _numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column, errors="coerce")


def has_dbm(*columns: pd.Series) -> np.ndarray:
    """True where any column holds a signal level in dBm (-160 .. -1)."""
    found = np.zeros(len(columns[0]), dtype=bool)
    for col in columns:
        value = _numbers(col)
        found |= ((value < 0) & (value > -160)).fillna(False).to_numpy(dtype=bool)
    return found


def has_asu(column: pd.Series) -> np.ndarray:
    """True where the column holds an ASU level (0 .. 97; 99 and larger mean unknown)."""
    value = _numbers(column)
    return ((value >= 0) & (value <= 97)).fillna(False).to_numpy(dtype=bool)


def has_cell(cell_id: pd.Series) -> np.ndarray:
    value = _numbers(cell_id)
    return ((value > 0) & ~value.isin(_UNKNOWN)).fillna(False).to_numpy(dtype=bool)


def outcome(serving_cell: np.ndarray, signal: np.ndarray, index: pd.Index) -> pd.Series:
    """'ok' where a serving cell with a signal was logged, else 'no_service'."""
    return pd.Series(np.where(serving_cell & signal, "ok", "no_service"), index=index)


def tech(values: pd.Series) -> pd.Series:
    upper = values.fillna("").str.upper()
    return upper.map(lambda v: LOGGER_TECH.get(v, v))
