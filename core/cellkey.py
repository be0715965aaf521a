"""Cell-key perturbation: small, fixed noise on published counts, so that two overlapping
queries no longer subtract to an exact count of fewer than k people (docs/SECURITY.md,
"Differencing"; the method statistical offices use for flexible table builders).

Every report carries a record key: the high 32 bits of its ``source_id``, a keyed hash
(site secret) of its reporter or network, so nobody outside the site can compute it. A
published row's cell key is the sum of the record keys of the reports behind it, modulo
2^32. Its noise is read from the cell key, so:

- the same reports always give the same figure: asking again, paging, or another query
  that holds exactly the same reports adds nothing (no averaging of repeated draws);
- two rows with different reports get unrelated noise: weeks 1-2 minus week 1 is week 2's
  count plus an unknown -4..+4, not week 2's count.

A figure ``n`` (0, or from at least k reporters, as the k rules already require) becomes
``n + p`` with ``p`` uniform on -h..h, h = min(MAX_NOISE, n - k): the mean is unchanged,
the change is at most MAX_NOISE, a shown figure never drops below k, and zero stays zero.
A count and the people behind it share a cell key, and ``n + p`` rises with ``n`` for a fixed
key, so the people never come out more than the reports.
"""

from __future__ import annotations

import numpy as np

MAX_NOISE = 2
KEY_MODULUS = 2**32


def record_key_sql(source_column: str) -> str:
    """A report's record key in SQL (``source_column`` is a UBIGINT keyed hash)."""
    return f"({source_column} >> 32)::BIGINT"


def cell_key_sql(weighted_sum: str) -> str:
    """A cell key in SQL from the sum of record keys (times reports per source)."""
    return f"(coalesce({weighted_sum}, 0) % {KEY_MODULUS})::BIGINT"


def perturbed_sql(figure: str, key: str, k: str = "$k") -> str:
    """``figure`` with the noise its cell ``key`` gives, in SQL (``figure`` and ``key`` are expressions)."""
    h = f"greatest(0, least({MAX_NOISE}, {figure} - {k}))"
    return f"({figure} + floor({key} * (2 * {h} + 1) / {KEY_MODULUS})::BIGINT - {h})"


def perturbed(figure, key, k: int):
    """The same in numpy (or for one number): the reference the SQL is tested against."""
    figure, key = np.asarray(figure, dtype=np.int64), np.asarray(key, dtype=np.int64)
    h = np.clip(figure - k, 0, MAX_NOISE)
    return figure + np.floor(key * (2 * h + 1) / KEY_MODULUS).astype(np.int64) - h


def with_noise(frame, keys: dict[str, str], k: int):
    """A copy of ``frame`` with each figure column perturbed by its key column (``keys``: figure ->
    key column); the key columns are dropped."""
    out = frame.copy()
    for figure, key in keys.items():
        out[figure] = perturbed(out[figure].to_numpy(), out[key].to_numpy(), k)
    return out.drop(columns=sorted(set(keys.values())))
