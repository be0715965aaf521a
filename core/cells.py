"""H3 cells as unsigned 64-bit integers, computed in bulk.

h3 4.x has no vectorised ``latlng_to_cell``; a loop over ``h3.api.basic_int``
runs at about 2.3 M cells/s here, so we index once at the finest resolution
and derive every coarser parent with integer bit operations in numpy.

An H3 cell index keeps its resolution in bits 52-55 and one 3-bit digit per
resolution below bit 45 (digit r at bits 45-3r .. 47-3r); digits finer than
the cell's resolution are all ones (7). A parent at resolution p therefore is
the child with its resolution field set to p and digits p+1..15 set to 7.

H3 children do not tile their parent exactly, so for a point near a cell edge
the res-8 cell containing it can differ from the res-8 parent of its res-10
cell. DropMap always means the parent (every finer cell rolls up into exactly
one coarser one, so counts agree across resolutions): ``latlngs_to_cells`` at
a stored resolution returns the same cell as the stored ``h3_r*`` column.
"""

from __future__ import annotations

import itertools

import h3
import numpy as np

from core.errors import InputError

# h3's compiled latlng_to_cell, without the public wrapper's per-call
# conversions: 0.5 s instead of 0.86 s per million points here. h3 is pinned
# (requirements.txt) and tests/test_cells.py compares both on random points.
_latlng_to_cell = getattr(getattr(h3, "_cy", None), "latlng_to_cell", h3.api.basic_int.latlng_to_cell)

RESOLUTIONS: tuple[int, ...] = (6, 7, 8, 9, 10)
FINEST = max(RESOLUTIONS)


def check_res(res: int) -> int:
    """``res`` if the site stores cells at that resolution, else an InputError."""
    if res not in RESOLUTIONS:
        raise InputError("res", res, f"resolution must be one of {list(RESOLUTIONS)}")
    return res


def column_for(res: int) -> str:
    """The reports column holding cells at ``res`` (an identifier from an allow-list)."""
    return f"h3_r{check_res(res)}"


def latlngs_to_cells(lat: np.ndarray, lng: np.ndarray, res: int = FINEST) -> np.ndarray:
    """H3 cells (uint64) of the points, as stored: at or above FINEST, the parent of the FINEST cell.

    Coordinates must already be valid.
    """
    lat_list = np.asarray(lat, dtype=np.float64).tolist()
    lng_list = np.asarray(lng, dtype=np.float64).tolist()
    at = max(int(res), FINEST)
    # map() with a repeated argument into np.fromiter is the fastest plain-Python
    # loop measured here (about 2 M cells/s on this 2-core machine).
    cells = map(_latlng_to_cell, lat_list, lng_list, itertools.repeat(at))
    cells = np.fromiter(cells, dtype=np.uint64, count=len(lat_list))
    return cells if at == res else cells_to_parents(cells, res)


def parent_masks(res: int) -> tuple[int, int]:
    """(keep, fill): a cell's parent at ``res`` is ``(cell & keep) | fill``.

    ``keep`` clears the resolution field and the digits finer than ``res``;
    ``fill`` writes ``res`` there and sets those digits to 7 (unused).
    """
    if not 0 <= int(res) <= 15:
        raise InputError("res", res, "H3 resolutions run from 0 to 15")
    unused_digits = (1 << (45 - 3 * res)) - 1
    keep = ((1 << 64) - 1) & ~(0xF << 52) & ~unused_digits
    return keep, (res << 52) | unused_digits


def cells_to_parents(cells: np.ndarray, res: int) -> np.ndarray:
    """Parents at ``res`` of cells that are all at a finer (or equal) resolution."""
    keep, fill = parent_masks(res)
    return (np.asarray(cells, dtype=np.uint64) & np.uint64(keep)) | np.uint64(fill)


def latlngs_to_cell_columns(lat: np.ndarray, lng: np.ndarray) -> dict[str, np.ndarray]:
    """``{"h3_r6": ..., ..., "h3_r10": ...}`` for the points, one h3 call per point."""
    finest = latlngs_to_cells(lat, lng, FINEST)
    return {column_for(r): (finest if r == FINEST else cells_to_parents(finest, r)) for r in RESOLUTIONS}


def cell_to_str(cell: int) -> str:
    """The usual hexadecimal string of a cell, e.g. ``'88283082b9fffff'``."""
    return h3.api.basic_int.int_to_str(int(cell))


def str_to_cell(text: str) -> int:
    """A cell from its hexadecimal string; InputError when it is not a valid cell."""
    try:
        cell = h3.api.basic_int.str_to_int(text.strip().lower())
    except (ValueError, TypeError, AttributeError) as e:
        raise InputError("cell", text, "not an H3 cell id (15 hex digits, e.g. 88283082b9fffff)") from e
    if not h3.api.basic_int.is_valid_cell(cell):
        raise InputError("cell", text, "not a valid H3 cell id")
    return cell
