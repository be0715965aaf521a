"""Kinds of weak places in the demo city's ground truth: footprints of 7 hexes, single hexes, or both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h3
import numpy as np
import pytest

from core.cells import latlngs_to_cells
from core.errors import InputError
from core.vocab import NETWORKS
from ingest.demo import DemoOptions
from ingest.demo_city import cell_centres, is_in_seoul
from ingest.demo_personas import PERSONAS, route_cells
from ingest.demo_truth import (
    BASE_RATE,
    FOOTPRINT_JITTER,
    SUBTLE_MULTIPLIER_RANGES,
    VARIATION_RANGE,
    WEAK_MULTIPLIER_RANGE,
    true_failure_rates,
)
from store.db import connect

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [20211025, 7, 11]
KT_PERSONA = next(p for p in PERSONAS if p.weak_zones)


def _ring(cell) -> set[int]:
    return set(h3.api.basic_int.grid_ring(int(cell), 1))


def _rate(truth, network: str, cells) -> np.ndarray:
    return truth.rates[network][np.searchsorted(truth.cells, np.asarray(cells, dtype=np.uint64))]


def _of_kind(truth, network: str, kind: str) -> np.ndarray:
    return truth.weak[network][truth.kinds[network] == kind]


def test_the_default_city_is_mixed_and_strong():
    assert (DemoOptions().weak, DemoOptions().subtle) == ("mixed", False)
    default, mixed = true_failure_rates(20211025), true_failure_rates(20211025, "mixed", False)
    for network in NETWORKS:
        np.testing.assert_array_equal(default.rates[network], mixed.rates[network])
        assert {"cluster", "isolated"} <= set(default.kinds[network].tolist())


@pytest.mark.parametrize("subtle", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
def test_clustered_footprints_are_seven_neighbouring_hexes_at_one_level(seed, subtle):
    truth = true_failure_rates(seed, "clustered", subtle)
    for network in NETWORKS:
        weak = set(truth.weak[network].tolist())
        ordinary = np.delete(truth.rates[network], np.searchsorted(truth.cells, truth.weak[network]))
        # KT trades one footprint for the 7 single station hexes of its persona's weak zones.
        assert len(truth.footprints[network]) == (2 if network == KT_PERSONA.network else 3)
        assert len(_of_kind(truth, network, "cluster")) == 7 * len(truth.footprints[network])
        for centre in truth.footprints[network]:
            hexes = [int(c) for c in h3.api.basic_int.grid_disk(int(centre), 1)]
            assert len(hexes) == 7 and set(hexes) <= set(_of_kind(truth, network, "cluster").tolist())
            assert all(len(_ring(c) & set(hexes)) >= 3 for c in hexes)  # one patch, not 7 scattered hexes
            assert is_in_seoul(*cell_centres(np.array(hexes, dtype=np.uint64))).all()
            rates = _rate(truth, network, hexes)
            assert rates.max() / rates.min() <= (1 + FOOTPRINT_JITTER) / (1 - FOOTPRINT_JITTER)  # one level
            assert rates.min() > ordinary.max()  # above every hex that is not weak
            # nothing weak touches the footprint from outside
            assert not (set().union(*(_ring(c) for c in hexes)) - set(hexes)) & weak


@pytest.mark.parametrize("weak", ["isolated", "mixed"])
@pytest.mark.parametrize("seed", SEEDS)
def test_single_weak_hexes_have_no_weak_neighbour(seed, weak):
    truth = true_failure_rates(seed, weak)
    for network in NETWORKS:
        all_weak = set(truth.weak[network].tolist())
        zones = set(_of_kind(truth, network, "persona").tolist())
        for cell in _of_kind(truth, network, "isolated"):
            assert not _ring(cell) & all_weak
        # A persona's weak zones are stations of one route, so they may lie next to each other; only there.
        for cell in zones:
            assert _ring(cell) & all_weak <= zones


@pytest.mark.parametrize(("weak", "layout"), [
    ("clustered", {"cluster": 21}),
    ("isolated", {"isolated": 20}),
    ("mixed", {"cluster": 14, "isolated": 6}),
])
def test_each_kind_of_city_has_its_layout(weak, layout):
    truth = true_failure_rates(20211025, weak)
    for network in NETWORKS:
        counts = {k: int((truth.kinds[network] == k).sum()) for k in set(truth.kinds[network].tolist())}
        if network == KT_PERSONA.network:  # 7 single persona zones take the place of a footprint (or 7 hexes)
            expected = {"clustered": {"cluster": 14, "persona": 7}, "isolated": {"isolated": 13, "persona": 7},
                        "mixed": {"cluster": 7, "isolated": 6, "persona": 7}}[weak]
            assert counts == expected
        else:
            assert counts == layout
    shared = set.intersection(*(set(truth.weak[n].tolist()) for n in NETWORKS))
    assert len(shared) == (7 if weak == "clustered" else 3)  # one shared footprint, or 3 shared single hexes


@pytest.mark.parametrize("weak", ["clustered", "isolated", "mixed"])
@pytest.mark.parametrize("subtle", [False, True])
def test_multipliers_stay_in_their_ranges(weak, subtle):
    ranges = SUBTLE_MULTIPLIER_RANGES if subtle else dict.fromkeys(("cluster", "isolated"), WEAK_MULTIPLIER_RANGE)
    ranges = {**ranges, "persona": WEAK_MULTIPLIER_RANGE}  # the dossier stories need strong zones
    for seed in SEEDS:
        truth = true_failure_rates(seed, weak, subtle)
        for network in NETWORKS:
            multipliers = _rate(truth, network, truth.weak[network]) / BASE_RATE
            for kind, (low, high) in ranges.items():
                mine = multipliers[truth.kinds[network] == kind]
                assert ((mine >= low - 1e-9) & (mine <= high + 1e-9)).all(), (kind, mine)
            ordinary = np.delete(truth.rates[network], np.searchsorted(truth.cells, truth.weak[network]))
            assert ordinary.max() <= VARIATION_RANGE[1] * BASE_RATE + 1e-12
    if subtle:  # the measurement city is really subtle: nothing but persona zones above 3x
        strong_ones = [(_rate(truth, n, truth.weak[n]) / BASE_RATE)[truth.kinds[n] != "persona"].max()
                       for n in NETWORKS]
        assert max(strong_ones) <= SUBTLE_MULTIPLIER_RANGES["isolated"][1] + 1e-9


@pytest.mark.parametrize("weak", ["clustered", "isolated", "mixed"])
@pytest.mark.parametrize("subtle", [False, True])
def test_persona_weak_zones_keep_their_story_in_every_city(weak, subtle):
    truth = true_failure_rates(20211025, weak, subtle)
    zones = truth.zones[KT_PERSONA.code]
    assert len(zones) == KT_PERSONA.weak_zones == 7
    assert set(zones.tolist()) == set(_of_kind(truth, KT_PERSONA.network, "persona").tolist())
    assert (_rate(truth, KT_PERSONA.network, zones) >= WEAK_MULTIPLIER_RANGE[0] * BASE_RATE).all()
    for other in (n for n in NETWORKS if n != KT_PERSONA.network):
        assert (_rate(truth, other, zones) <= VARIATION_RANGE[1] * BASE_RATE).sum() >= len(zones) - 1


@pytest.mark.parametrize("weak", ["clustered", "isolated", "mixed"])
@pytest.mark.parametrize("seed", SEEDS)
def test_the_phone_persona_network_is_no_worse_where_he_reports_in_every_city(seed, weak):
    """His answer is "phone": his network must be no worse than the others in his places, whatever the city."""
    persona = next(p for p in PERSONAS if p.answer == "phone")
    truth = true_failure_rates(seed, weak, True)
    ends = latlngs_to_cells(np.array([persona.home[0], persona.work[0]]),
                            np.array([persona.home[1], persona.work[1]]), 8)
    places = np.unique(np.concatenate([route_cells(persona), ends]))
    mine = _rate(truth, persona.network, places)
    assert (mine <= np.min([_rate(truth, n, places) for n in NETWORKS if n != persona.network], axis=0)).all()
    assert not set(places.tolist()) & set().union(*(set(truth.weak[n].tolist()) for n in NETWORKS))


@pytest.mark.parametrize("weak", ["clustered", "isolated", "mixed"])
def test_the_twenty_weakest_are_weak_hexes(weak):
    for subtle in (False, True):
        truth = true_failure_rates(7, weak, subtle)
        for network in NETWORKS:
            top = truth.cells[np.argsort(truth.rates[network])[::-1][:20]]
            assert set(top.tolist()) <= set(truth.weak[network].tolist())


def test_an_unknown_kind_is_refused():
    with pytest.raises(InputError) as info:
        true_failure_rates(1, "scattered")
    assert info.value.field == "weak"


def test_the_cli_flags_reach_the_stored_truth(tmp_path):
    db = tmp_path / "weak.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "ingest", "demo", "--db", str(db), "--reports", "300", "--seed", "5",
         "--weak", "clustered", "--subtle"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["weak"]["kind"] == "clustered" and summary["weak"]["subtle"] is True
    assert summary["weak"]["multipliers"]["cluster"] == list(SUBTLE_MULTIPLIER_RANGES["cluster"])
    assert summary["weak"]["hexes_per_network"]["SKT"] == {"cluster": 21}
    truth = true_failure_rates(5, "clustered", True)
    con = connect(db, read_only=True)
    try:
        stored = con.execute("SELECT network, h3_r8, failure_rate FROM demo_truth ORDER BY network, h3_r8").df()
        kinds = con.execute("SELECT network, weak_kind, count(*), count(DISTINCT footprint) FROM demo_weak_hexes"
                            " GROUP BY ALL ORDER BY ALL").fetchall()
    finally:
        con.close()
    expected = truth.frame().sort_values(["network", "h3_r8"]).reset_index(drop=True)
    np.testing.assert_array_equal(stored["h3_r8"].to_numpy(np.uint64), expected["h3_r8"].to_numpy(np.uint64))
    np.testing.assert_allclose(stored["failure_rate"], expected["failure_rate"])
    assert kinds == [("KT", "cluster", 14, 2), ("KT", "persona", 7, 0), ("LGU+", "cluster", 21, 3),
                     ("SKT", "cluster", 21, 3)]
