"""H3 cells as UBIGINT: golden cells, parents by bit operations, allow-listed columns."""

from __future__ import annotations

import h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cells import (
    RESOLUTIONS,
    cell_to_str,
    cells_to_parents,
    column_for,
    latlngs_to_cell_columns,
    latlngs_to_cells,
    parent_masks,
    str_to_cell,
)
from core.errors import InputError

# Pinned literals, computed once with h3 4.5 (the issue quotes City Hall at res 8).
# Each coarser cell is the parent of the res-10 cell (see core/cells.py).
GOLDEN = {
    "Seoul City Hall": (37.5665, 126.978, ["8630e1d8fffffff", "8730e1d8cffffff", "8830e1d8c1fffff",
                                           "8930e1d8c0bffff", "8a30e1d8c0b7fff"]),
    "Gangnam station": (37.4979, 127.0276, ["8630e1ca7ffffff", "8730e1ca2ffffff", "8830e1ca2bfffff",
                                            "8930e1ca2bbffff", "8a30e1ca2b97fff"]),
    "Gimpo airport": (37.5587, 126.7945, ["8630e0ae7ffffff", "8730e0ae1ffffff", "8830e0ae1bfffff",
                                          "8930e0ae1bbffff", "8a30e0ae1ba7fff"]),
}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_cells_at_every_resolution(name):
    lat, lon, expected = GOLDEN[name]
    columns = latlngs_to_cell_columns(np.array([lat]), np.array([lon]))
    assert [cell_to_str(columns[f"h3_r{res}"][0]) for res in RESOLUTIONS] == expected


def test_city_hall_res8_is_the_issue_literal():
    assert cell_to_str(latlngs_to_cells(np.array([37.5665]), np.array([126.978]), 8)[0]) == "8830e1d8c1fffff"


def test_cells_are_unsigned_64_bit():
    cells = latlngs_to_cells(np.array([37.5665, 37.4979]), np.array([126.978, 127.0276]))
    assert cells.dtype == np.uint64
    assert all(h3.is_valid_cell(cell_to_str(c)) for c in cells)


def test_plain_lists_are_accepted():
    assert latlngs_to_cells([37.5665], [126.978], 8).tolist() == [h3.str_to_int("8830e1d8c1fffff")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-89.9, 89.9), st.floats(-179.9, 179.9)), min_size=1, max_size=40))
def test_parents_match_h3_everywhere(points):
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    finest = latlngs_to_cells(lat, lon, 10)
    expected_finest = [h3.latlng_to_cell(a, b, 10) for a, b in points]
    assert [cell_to_str(c) for c in finest] == expected_finest
    for res in range(0, 11):
        parents = cells_to_parents(finest, res)
        assert [cell_to_str(p) for p in parents] == [h3.cell_to_parent(c, res) for c in expected_finest]


def test_parents_of_random_seoul_points_match_h3():
    rng = np.random.default_rng(20211025)
    lat = rng.uniform(37.40, 37.72, 2000)
    lon = rng.uniform(126.74, 127.21, 2000)
    columns = latlngs_to_cell_columns(lat, lon)
    finest = [h3.latlng_to_cell(a, b, 10) for a, b in zip(lat, lon, strict=True)]
    for res in RESOLUTIONS:
        expected = [h3.cell_to_parent(c, res) for c in finest]
        assert [cell_to_str(c) for c in columns[f"h3_r{res}"]] == expected
        # The same cells as the stored columns, whichever function a caller uses.
        assert latlngs_to_cells(lat, lon, res).tolist() == columns[f"h3_r{res}"].tolist()


def test_parent_can_differ_from_the_cell_containing_the_point():
    """Why DropMap says 'parent': H3 children do not tile their parent exactly."""
    rng = np.random.default_rng(7)
    lat = rng.uniform(37.40, 37.72, 5000)
    lon = rng.uniform(126.74, 127.21, 5000)
    stored = latlngs_to_cells(lat, lon, 6)
    direct = np.array([h3.str_to_int(h3.latlng_to_cell(a, b, 6)) for a, b in zip(lat, lon, strict=True)],
                      dtype=np.uint64)
    differ = stored != direct
    assert 0 < differ.sum() < 0.2 * len(lat)


def test_parent_masks_are_one_and_and_one_or():
    cell = h3.str_to_int("8a30e1d8c0b7fff")
    for res in range(0, 11):
        keep, fill = parent_masks(res)
        assert h3.int_to_str((cell & keep) | fill) == h3.cell_to_parent("8a30e1d8c0b7fff", res)


@pytest.mark.parametrize("res", [-1, 16, 99])
def test_parent_masks_refuse_impossible_resolutions(res):
    with pytest.raises(InputError):
        parent_masks(res)


@pytest.mark.parametrize("res", RESOLUTIONS)
def test_column_for_stored_resolutions(res):
    assert column_for(res) == f"h3_r{res}"


@pytest.mark.parametrize("res", [5, 11, 0, "8; DROP TABLE reports", None])
def test_column_for_refuses_anything_else(res):
    with pytest.raises(InputError):
        column_for(res)


@pytest.mark.parametrize("text", ["8830e1d8c1fffff", " 8830E1D8C1FFFFF ", "8a30e1d8c0b7fff"])
def test_str_to_cell_good(text):
    assert cell_to_str(str_to_cell(text)) == text.strip().lower()


@pytest.mark.parametrize("text", ["", "hello", "8830e1d8c1ffff", "ffffffffffffffff", "0", "8830e1d8c1fffff'--"])
def test_str_to_cell_bad(text):
    with pytest.raises(InputError) as e:
        str_to_cell(text)
    assert e.value.field == "cell"
