"""Privacy thresholds that hold in every public output (map, downloads, API, feeds).

A published cell needs at least k distinct reporters (DROPMAP_MIN_REPORTERS,
default 5, never below 3). Aggregations count ``COUNT(DISTINCT source_id)``
per output cell and keep a cell only when that count reaches k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core import settings

# Columns that must never appear in a public output.
PRIVATE_COLUMNS = frozenset({"lat", "lon", "note", "reporter", "reporter_code", "ip_hash", "ip",
                             "prefix_hash", "source_id", "fingerprint", "report_id", "batch_id", "device_model_raw"})


def min_reporters() -> int:
    """k, never below the floor of 3."""
    return settings.min_reporters()



# --- differencing -----------------------------------------------------------------
# A figure hidden because it rests on fewer than k reporters must not come back as the
# difference of two figures that are shown: a total minus the shown parts, a group minus
# its other groups. Two rules, used by every table of parts (docs/SECURITY.md, "Differencing"):
# - counts_shown: a count is shown only when it is 0 or rests on k reporters of its own; a
#   rate's "failures / all" needs both the failures and the rest (all - failures) to qualify;
# - suppress: in every line of parts that adds up to a published total, the hidden parts
#   together rest on at least k reporters, else the smallest shown part is hidden too.


def counts_shown(frame, k: int):
    """Rows whose failures and other reports (reports - failures) are each 0 or from >= k reporters.

    ``frame`` has failures, reports, failure_reporters and rest_reporters (store.map_sql, ``sources=True``).
    """
    failures = frame["failures"]
    rest = frame["reports"] - failures
    return (((failures == 0) | (frame["failure_reporters"] >= k))
            & ((rest == 0) | (frame["rest_reporters"] >= k))).to_numpy(dtype=bool)


def suppress(frame, hidden, figures: dict[str, str], k: int, lines: list[list[str]]):
    """``hidden`` (a boolean mask) widened so that no hidden part is the difference of shown figures.

    ``figures`` maps each figure column to the column counting its reporters. A line is a set
    of rows that add up to a total published elsewhere (``lines`` names the columns that fix a
    line; ``[]`` is the whole frame). In each line and figure, when the hidden rows carry some
    of that figure yet none of them rests on k reporters, the smallest shown row carrying it is
    hidden as well, so the total minus the shown rows always rests on at least k reporters.
    """
    hidden = np.asarray(hidden, dtype=bool).copy()
    if not len(frame):
        return hidden
    frame = frame.reset_index(drop=True)
    # Columns and lines read once, and each pass looks only at the lines that need a part hidden:
    # a view of thousands of hexes has thousands of lines, nearly all of them settled.
    columns = [(frame[figure].to_numpy(), frame[sources].to_numpy()) for figure, sources in figures.items()]
    lines_of = []
    for keys in lines:
        codes = (frame.groupby(keys, sort=False).ngroup().fillna(-1).to_numpy(dtype=np.int64) if keys
                 else np.zeros(len(frame), dtype=np.int64))
        count = int(codes.max()) + 1  # rows with a missing key (code -1) are in no line, as in a groupby
        codes = np.where(codes >= 0, codes, count)
        lines_of.append((codes, count, pd.Series(np.arange(len(frame))).groupby(codes).indices))
    changed = True
    while changed:
        changed = False
        for codes, count, rows_of in lines_of:
            for values, counted in columns:
                pool = hidden & (values > 0)
                unsettled = ((np.bincount(codes, weights=pool, minlength=count + 1) > 0) & (
                    np.bincount(codes, weights=pool & (counted >= k), minlength=count + 1) == 0))[:count]
                for line in np.flatnonzero(unsettled):
                    rows = rows_of[line]
                    candidates = np.flatnonzero(~hidden[rows] & (values[rows] > 0))
                    if len(candidates):
                        smallest = candidates[np.lexsort((counted[rows][candidates], values[rows][candidates]))[0]]
                        hidden[rows[smallest]] = True
                        changed = True
    return hidden


def hidden_counts(frame, k: int, lines: list[list[str]] = (), *, rate: bool | None = None):
    """Rows whose counts must not be shown (a boolean mask): fewer than k reporters; for a rate's counts
    (``rate``; by default when failure_reporters is there) also ``counts_shown``; then ``suppress`` over
    ``lines``. The one rule of the map's hover, its worst-places table and the hex detail."""
    rate = "failure_reporters" in frame.columns if rate is None else rate
    hidden = np.array(frame["reporters"] < k, dtype=bool)
    figures = {"failures": "reporters"}
    if rate:
        hidden |= ~counts_shown(frame, k)
        frame = frame.assign(rest=frame["reports"] - frame["failures"])
        figures = {"failures": "failure_reporters", "rest": "rest_reporters"}
    return suppress(frame, hidden, figures, k, list(lines)) if lines else hidden
