"""CSV that spreadsheets open safely: no cell can start a formula (=, +, -, @, tab, CR)."""

from __future__ import annotations

import pandas as pd

from core.files import FORMULA_STARTS


def neutralise(value):
    """Text that a spreadsheet would read as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells are neutralised (numbers stay numbers)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark, so Excel shows Korean text correctly.

    Rows end in CRLF (RFC 4180), so a cell holding a lone CR (a note typed on an old Mac, pasted
    text) is quoted too, instead of splitting its row in two.
    """
    return safe_frame(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
