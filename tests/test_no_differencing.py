"""No figure from fewer than k people, shown directly or as a difference of figures a page publishes.

Each test draws a small random dataset (hypothesis) and random filters, collects every count a
page or query family publishes together with the set of "atoms" it adds up (e.g. the reports of
one carrier at one hour of one kind), and checks with linear algebra that no set of atoms resting
on 1..k-1 people can be derived from them: its indicator is not in the span of the published
ones. That covers a figure shown directly, a total minus the shown parts, a group against the
whole, two adjacent filters and any longer chain of sums and differences of the same family.
See docs/SECURITY.md, "Differencing".
"""

from __future__ import annotations

import tempfile
from datetime import date
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

K = 3  # the floor; small data reaches both sides of it
CITY_HALL = (37.5663, 126.9779)  # res-8 hex 8830e1d8c1fffff
HALL_HEX = "8830e1d8c1fffff"
# Every example builds a small database: no shrinking (it would take minutes); the failing
# example is printed as drawn.
PROFILE = settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def small_k(monkeypatch):
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", str(K))


# --- the check ---------------------------------------------------------------------------------

def derivable_small_sets(published: list[frozenset], people: dict, k: int, known: list[frozenset] = ()) -> list:
    """Sets of atoms from 1..k-1 people whose total follows from the published totals.

    ``published``: the atom sets behind the figures shown; ``people``: atom -> the people behind it;
    ``known``: atom sets the asker knows anyway (their own reports).
    """
    atoms = sorted(people, key=repr)
    index = {a: i for i, a in enumerate(atoms)}

    def vector(atom_set) -> np.ndarray:
        v = np.zeros(len(atoms))
        for atom in atom_set:
            if atom in index:
                v[index[atom]] = 1
        return v

    rows = [vector(s) for s in [*published, *known] if any(a in index for a in s)]
    if not rows:
        return []
    matrix = np.array(rows)
    rank = np.linalg.matrix_rank(matrix)
    victims = [a for a in atoms if people[a]]
    bad = []
    for size in range(1, k):
        for subset in combinations(victims, size):
            who = set().union(*(people[a] for a in subset))
            if 0 < len(who) < k and np.linalg.matrix_rank(np.vstack([matrix, vector(subset)])) == rank:
                bad.append(subset)
    return bad


# --- data --------------------------------------------------------------------------------------

def _connect(tmp: str):
    from store.db import connect

    return connect(Path(tmp) / "t.duckdb")


def _load(con, rows: list[dict]) -> None:
    from ingest.loader import Origin, load_frame

    if rows:
        result = load_frame(con, pd.DataFrame(rows), Origin(source="web"))
        assert result.rejected == 0, result.errors[:3]


def _report(code: str, network: str, kind: str, hour: int, day: int, *, model=None, place=CITY_HALL) -> dict:
    return {"lat": place[0], "lon": place[1], "carrier": network, "kind": kind, "device_model": model,
            "observed_at": f"2021-10-{day:02d}T{hour:02d}:10:00+09:00", "reporter_code": code}


# A dataset: for each atom, which people (0..5 per carrier, shared across atoms) reported there
# and how often each (1..2 reports, on different days so none is a duplicate).
def _people(max_size=4):
    return st.dictionaries(st.integers(0, 5), st.integers(1, 2), max_size=max_size)


def _rows_of(atoms: dict, person, *, model_of=lambda atom: None) -> list[dict]:
    rows, day = [], {}
    for atom, who in atoms.items():
        network, hour, kind = atom[0], atom[1], atom[2]
        for person_id, times in who.items():
            code = person(atom, person_id)
            for _ in range(times):
                day[code] = day.get(code, 0) + 1
                rows.append(_report(code, network, kind, hour, day[code], model=model_of(atom)))
    return rows


# --- the map: hover counts, carriers side by side, the hex detail -----------------------------

MAP_ATOMS = [(n, h, kind) for n in ("KT", "SKT") for h in (8, 18) for kind in ("dropped_call", "no_data", "ok")]


@PROFILE
@given(data=st.fixed_dictionaries({atom: _people() for atom in MAP_ATOMS}),
       hours=st.sampled_from([None, (8,), (18,)]), measure=st.sampled_from(["rate", "density"]),
       kinds=st.sampled_from([(), ("dropped_call",)]))
def test_map_and_hex_detail_never_show_a_count_of_fewer_than_k(data, hours, measure, kinds):
    from geo.mapquery import MapQuery
    from store.db import close_shared

    rows = _rows_of(data, lambda atom, i: f"P{atom[0]}{i:02d}")
    with tempfile.TemporaryDirectory() as tmp:
        con = _connect(tmp)
        try:
            _load(con, rows)
            truth = con.execute("SELECT network, local_hour::INT AS hour, kind, reporter FROM reports "
                                "WHERE status = 'ok'").df()
            people = {atom: set() for atom in MAP_ATOMS}
            for r in truth.itertuples():
                people[(r.network, r.hour, r.kind)].add(r.reporter)
            published = _map_family(con.cursor(), MapQuery(hours=_hours(hours), measure=measure, kinds=kinds),
                                    hours, kinds)
        finally:
            con.close()
            close_shared()
    note(f"the whole example: data={data!r}, hours={hours}, measure={measure}, kinds={kinds}")  # uncut
    assert derivable_small_sets(published, people, K) == []


def _hours(hours):
    return (0, 23) if hours is None else (hours[0], hours[0])


def _atoms(networks=("KT", "SKT"), hours=None, kinds=None, ok=False) -> frozenset:
    counted = [k for k in ("dropped_call", "no_data") if not kinds or k in kinds]
    return frozenset((n, h, kind) for n in networks for h in (hours or (8, 18))
                     for kind in counted + (["ok"] if ok else []))


def _map_family(cur, q, hours, kinds) -> list[frozenset]:
    """The atom sets of every count the map and the hex detail show for this view and its carriers."""
    from geo import mapview

    published = []
    for carrier in (None, "KT", "SKT"):
        view = mapview.level_view(cur, q.with_changes(carrier=carrier))
        nets = (carrier,) if carrier else ("KT", "SKT")
        for row in view.frame.itertuples():
            if not row.counts_shown:
                continue
            published.append(_atoms(nets, hours, kinds))  # failures
            if view.measure == mapview.RATE:
                published.append(_atoms(nets, hours, None, ok=True))  # all reports
    estimates, measure = mapview.carrier_estimates(cur, q)
    for row in estimates.itertuples():
        if row.counts_shown:
            published.append(_atoms((row.network,), hours, kinds))
            if measure == mapview.RATE:
                published.append(_atoms((row.network,), hours, None, ok=True))
    return published + _detail_family(cur, q, hours, kinds)


def _detail_family(cur, q, hours, kinds) -> list[frozenset]:
    """The atom sets of every count the hex detail shows: carriers, carrier x hour, carrier x kind."""
    from geo import mapdetail

    published = []
    detail = mapdetail.cell_detail(cur, q, HALL_HEX)
    if detail.published:
        for row in detail.carriers.itertuples():
            if not row.hidden:
                published += [_atoms((row.network,), hours, kinds), _atoms((row.network,), hours, None, ok=True)]
        for row in detail.hours.itertuples():
            if not row.hidden:
                published += [_atoms((row.network,), (row.hour,), kinds),
                              _atoms((row.network,), (row.hour,), None, ok=True)]
        for row in detail.kinds.itertuples():
            published.append(frozenset((row.network, h, row.kind) for h in (hours or (8, 18))))
    return published


# --- My reports: phone groups whatever model the asker names -----------------------------------

EVIDENCE_ATOMS = [(n, m, kind) for n in ("KT", "SKT", "LGU+") for m in ("a", "b", "")
                  for kind in ("dropped_call", "ok")]
ASKERS = {f"ASKR-{i:04d}-ZZZZ": model for i, model in enumerate(["A", "B", "Zeta", None])}  # all on LG U+


@PROFILE
@given(data=st.fixed_dictionaries({atom: _people(3) for atom in EVIDENCE_ATOMS}))
def test_my_reports_groups_are_the_same_figures_whoever_asks(data):
    """Codes on LG U+ that name each model, a model nobody has, or none: all the groups they are shown,
    together, never give a count of fewer than k other people.

    Each code asks alone (its report is removed before the next one asks): codes that pad each
    other's groups up to k are Sybils, which the source rules deal with (docs/SECURITY.md).
    """
    from evidence import compare_nearby, my_reports
    from evidence.mine import model_key, reporter_of
    from store.db import close_shared

    rows = []
    for (network, model, kind), who in data.items():
        for person_id, times in who.items():
            for day in range(times):
                rows.append(_report(f"P{network[:2]}{model or 'N'}{person_id:02d}XXXX", network, kind, 18, day + 1,
                                    model=model.upper() or None))
    with tempfile.TemporaryDirectory() as tmp:
        con = _connect(tmp)
        try:
            _load(con, rows)
            people = {atom: set() for atom in EVIDENCE_ATOMS}
            stored = con.execute("SELECT network, coalesce(device_model, '') AS device_model, kind, reporter "
                                 "FROM reports WHERE status = 'ok'").df()
            for r in stored.itertuples():
                people[(r.network, model_key(r.device_model), r.kind)].add(r.reporter)
            published = []
            for code, model in ASKERS.items():
                _load(con, [_report(code, "LGU+", "dropped_call", 18, 10, model=model)])
                comparison = compare_nearby(con, code, my_reports(con, code), k=K)
                con.execute("DELETE FROM reports WHERE reporter = ?", [reporter_of(code)])
                if comparison is not None:
                    published += _evidence_sets(comparison, model_key(model))
        finally:
            con.close()
            close_shared()
    note(f"the whole example: data={data!r}")  # uncut
    assert derivable_small_sets(published, people, K) == []


def _evidence_sets(comparison, model: str) -> list[frozenset]:
    """The atom sets behind each line My reports shows one asker (failures, 'all good' samples)."""
    def atoms(networks, models, kind) -> frozenset:
        return frozenset((n, m, kind) for n in networks for m in models)

    every = ("a", "b", "", "zeta")
    out = []
    for name in comparison.networks:
        out += [atoms([name], every, "dropped_call"), atoms([name], every, "ok")]
    for row in comparison.by_bucket.itertuples():
        out += [atoms([row.network], every, "dropped_call"), atoms([row.network], every, "ok")]
    mine, others = comparison.network, [n for n in comparison.networks if n != comparison.network]
    groups = {g: line for g, line in comparison.groups.items() if line.reporters >= comparison.k}
    used = comparison.model_networks  # said beside the group: the asker knows which carriers it sums
    for kind in ("dropped_call", "ok"):
        if "network_all_models" in groups:
            out.append(atoms([mine], every, kind))
        if "others_all_models" in groups:
            out.append(atoms(others, every, kind))
        if "same_setup" in groups:
            out.append(atoms([mine], [model], kind))
        if "network_other_models" in groups:
            out.append(atoms([mine], [m for m in every if m != model], kind))
        if "model_other_networks" in groups:
            out.append(atoms(used, [model], kind))
        if "baseline" in groups:
            out.append(atoms(others, every, kind) - atoms(used, [model], kind))
    return out


# --- the outage page and the status API ------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=st.lists(st.integers(0, 4), min_size=1, max_size=14))
def test_outage_timeline_never_shows_a_stretch_of_fewer_than_k(counts):
    """Bins of reporters per minute, merged: no published point nor difference of points is under k."""
    from outages.details import merge_small_bins

    spans = merge_small_bins(counts, K)
    assert [i for first, last, _ in spans for i in range(first, last + 1)] == list(range(len(counts)))
    for first, last, total in spans:
        assert total is None or total == sum(counts[first:last + 1])
        assert total is None or total == 0 or total >= K
    # one person per first report in a bin (a person counts once an hour: bins are disjoint people)
    people, n = {}, 0
    for i, c in enumerate(counts):
        people[i] = set(range(n, n + c))
        n += c
    published = [frozenset(range(first, last + 1)) for first, last, total in spans if total is not None]
    assert derivable_small_sets(published, people, K) == []


KINDS = ("dropped_call", "call_setup_failure", "no_service", "no_data")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(who=st.fixed_dictionaries({kind: st.sets(st.integers(0, 7), max_size=5) for kind in KINDS}),
       lang=st.sampled_from(["ko", "en"]))
def test_outage_kinds_never_leave_a_small_rest(monkeypatch, who, lang):
    """The kinds table with its pooled rest, and the incident's total of reports, leave no small kind."""
    from outages import details
    from store import outages_sql

    reports = {kind: 2 * len(people) + 1 for kind, people in who.items() if people}
    table = pd.DataFrame({"kind": list(reports), "reports": list(reports.values()),
                          "reporters": [len(who[kind]) for kind in reports]})
    monkeypatch.setattr(outages_sql, "kinds_in", lambda cur, **kw: table.sort_values("reports", ascending=False))
    now = pd.Timestamp("2021-10-25T03:00:00Z").to_pydatetime()
    row = {"network": "KT", "scope": "city", "onset_at": now, "ended_at": None, "as_of": now}
    shown = details.kinds(None, row, [], lang)
    names = {KINDS_TEXT[lang][kind]: kind for kind in KINDS}
    everyone = set().union(*who.values())
    # the incident's reports, published beside the table when its reporters are k (outages.public.people)
    published = [frozenset(reports)] if len(everyone) >= K else []
    named = {names[k] for k in shown["kind"] if k in names}
    for r in shown.itertuples():
        if r.kind in names:
            published.append(frozenset({names[r.kind]}))
        elif r.reports is not None and not pd.isna(r.reports):
            published.append(frozenset(reports) - named)
    people = {kind: who[kind] for kind in reports}
    assert derivable_small_sets(published, people, K) == []


def _kind_names():
    from core.vocab import KINDS as NAMES

    return {lang: {kind: NAMES[kind][lang] for kind in KINDS} for lang in ("ko", "en")}


KINDS_TEXT = _kind_names()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recent=st.integers(0, 8), peak=st.integers(0, 8), reporters=st.integers(0, 8), observed=st.integers(0, 8),
       usual=st.floats(0.1, 5))
def test_outage_counts_of_people_are_zero_or_at_least_k(recent, peak, reporters, observed, usual):
    """The status API's incident: last 15 minutes, peak, districts, total: 0, at least k, or null."""
    from outages.public import banner_text, public_incident

    t = pd.Timestamp("2021-10-25T02:16:00Z").to_pydatetime()
    row = {"incident_id": "KT-1", "network": "KT", "status": "ongoing", "confirmed": True, "scope": "districts",
           "onset_at": t, "detected_at": t, "ended_at": None, "resolved_at": None, "as_of": t, "peak_at": t,
           "peak_ratio": 3.0, "peak_reporters": peak, "recent_reporters": recent, "recent_expected": usual,
           "reporters": reporters, "reports": 3 * reporters, "synthetic": False}
    out = public_incident(row, [], [{"sig_cd": "11110", "reporters": reporters, "observed": observed,
                                     "expected": usual}])
    for value in (out["last_15min"]["reporters"], out["peak"]["reporters_15min"], out["reporters"],
                  out["districts"][0]["reporters"], out["districts"][0]["first_reports"]):
        assert value is None or value == 0 or value >= K
    if out["last_15min"]["reporters"] is None:  # the ratio and the usual number would give it back
        assert out["last_15min"]["ratio"] is None
    if out["reporters"] is None:
        assert out["reports"] is None
    if 0 < recent < K:
        assert f" {recent} reporters" not in banner_text(row, [], "en")


# --- exports (files and /api/v1/hexes) -------------------------------------------------------

EXPORT_ATOMS = [(n, kind) for n in ("KT", "SKT") for kind in ("dropped_call", "no_data", "no_service", "ok")]


@PROFILE
@given(data=st.fixed_dictionaries({atom: _people() for atom in EXPORT_ATOMS}))
def test_exports_never_show_a_count_of_fewer_than_k(data):
    """One hex, one hour, a whole past week: the all-failures row, the kind rows, the samples."""
    from geo.aggregate import ExportQuery, build
    from store.db import close_shared

    rows = []
    for (network, kind), who in data.items():
        for person_id, times in who.items():
            for day in range(times):
                rows.append(_report(f"P{network}{person_id:02d}XXXX", network, kind, 18, 18 + day))
    with tempfile.TemporaryDirectory() as tmp:
        con = _connect(tmp)
        try:
            _load(con, rows)
            people = {atom: set() for atom in EXPORT_ATOMS}
            for r in con.execute("SELECT network, kind, reporter FROM reports WHERE status = 'ok'").fetchall():
                people[(r[0], r[1])].add(r[2])
            cur = con.cursor()
            frame = build(cur, ExportQuery(res=8, by="hour"), today=date(2021, 11, 1)).frame()
        finally:
            con.close()
            close_shared()
    published = []
    for r in frame.itertuples():
        failures = frozenset((r.network, k) for k in KINDS[:1] + ("no_data", "no_service"))
        ok = frozenset({(r.network, "ok")})
        if pd.notna(r.reports):
            published.append(failures if r.kind == "all_failures" else frozenset({(r.network, r.kind)}))
        if pd.notna(r.ok_samples):
            published.append(ok)
        if pd.notna(r.observations):
            published.append(failures | ok)
    assert derivable_small_sets(published, people, K) == []


# A town hypothesis found (the map test above, hours all, rate, all kinds): the hex detail's
# carrier x hour table hid ('KT', 18) for its few "all good" reporters, but its lines were only
# per carrier and per hour, while the hex's whole total is on the map too: that total minus the
# other parts gave ('KT', 18, 'ok') from 2 people. The whole table is now a line as well.
FOUND_MAP_TOWN = {
    ("KT", 18, "dropped_call"): {4: 1, 2: 1, 3: 2, 5: 1}, ("KT", 8, "no_data"): {0: 2, 1: 2},
    ("SKT", 8, "ok"): {1: 1, 0: 1, 4: 1}, ("SKT", 8, "no_data"): {1: 1}, ("SKT", 18, "ok"): {},
    ("KT", 18, "ok"): {2: 1, 1: 1}, ("KT", 18, "no_data"): {},
    ("KT", 8, "dropped_call"): {4: 1, 0: 2, 1: 1, 5: 2}, ("SKT", 18, "dropped_call"): {5: 1, 4: 1, 3: 2, 0: 1},
    ("KT", 8, "ok"): {}, ("SKT", 8, "dropped_call"): {0: 2, 2: 1}, ("SKT", 18, "no_data"): {},
}


def test_the_town_hypothesis_found_keeps_its_small_group_hidden(monkeypatch):
    import test_no_differencing as this

    monkeypatch.setattr(this, "note", lambda *args, **kwargs: None)
    test_map_and_hex_detail_never_show_a_count_of_fewer_than_k.hypothesis.inner_test(
        data=FOUND_MAP_TOWN, hours=None, measure="rate", kinds=())


# A second town it found: at 18 h SKT has no "all good" sample, so SKT's own map falls back to a
# density, while KT's failures (2 people) sit beside its samples (5 people). The density kept the
# counts read for a rate, whose "reporters" of KT are everyone behind its reports, so KT's failures
# looked publishable, SKT's were shown, and the all-carrier total (a rate) minus SKT's gave KT's.
# A density now counts every carrier of the frame again over failures alone when any has samples.
FOUND_DENSITY_TOWN = {atom: {} for atom in MAP_ATOMS} | {
    ("KT", 18, "dropped_call"): {0: 1, 2: 1}, ("KT", 18, "ok"): {0: 1, 3: 2, 1: 2, 4: 2},
    ("SKT", 18, "no_data"): {1: 2, 2: 1, 5: 2}, ("KT", 18, "no_data"): {2: 1},
    ("KT", 8, "dropped_call"): {0: 1, 2: 1}, ("KT", 8, "ok"): {5: 1, 1: 2, 3: 2, 4: 1}, ("KT", 8, "no_data"): {4: 2},
    ("SKT", 8, "dropped_call"): {3: 1, 1: 2, 0: 2, 5: 1}, ("SKT", 18, "dropped_call"): {2: 1, 0: 1},
    ("SKT", 8, "ok"): {1: 2, 3: 1, 5: 2, 2: 1},
}


def test_a_carrier_drawn_as_a_density_keeps_its_neighbours_small_group_hidden(monkeypatch):
    import test_no_differencing as this

    monkeypatch.setattr(this, "note", lambda *args, **kwargs: None)
    test_map_and_hex_detail_never_show_a_count_of_fewer_than_k.hypothesis.inner_test(
        data=FOUND_DENSITY_TOWN, hours=(18,), measure="rate", kinds=())


# Counts that read alike (the My reports test above): ('KT', 'a') and ('SKT', 'a') each hold 3
# failures and 3 "all good" samples, but KT's samples come from 2 people, so only SKT's part is
# used. A reader who cannot tell which carrier "same model, other carriers" sums might take KT's;
# the group now names its carriers, and the test takes the ones named.
TWIN_COUNTS = {atom: {} for atom in EVIDENCE_ATOMS} | {
    ("KT", "a", "dropped_call"): {0: 1, 1: 1, 2: 1}, ("KT", "a", "ok"): {0: 2, 1: 1},
    ("SKT", "a", "dropped_call"): {0: 1, 1: 1, 2: 1}, ("SKT", "a", "ok"): {0: 1, 1: 1, 2: 1},
    ("KT", "b", "dropped_call"): {0: 1, 1: 1, 2: 1}, ("KT", "b", "ok"): {0: 1, 1: 1, 2: 1},
    ("KT", "", "dropped_call"): {0: 1, 1: 1, 2: 1, 3: 1}, ("KT", "", "ok"): {0: 1, 1: 1, 2: 1, 3: 1},
    ("SKT", "", "dropped_call"): {0: 1, 1: 1, 2: 1}, ("SKT", "", "ok"): {0: 1, 1: 1, 2: 1},
    ("LGU+", "", "dropped_call"): {0: 1, 1: 1, 2: 1}, ("LGU+", "", "ok"): {0: 1, 1: 1, 2: 1},
}


def test_counts_that_read_alike_keep_their_small_group_hidden(monkeypatch):
    import test_no_differencing as this

    monkeypatch.setattr(this, "note", lambda *args, **kwargs: None)
    test_my_reports_groups_are_the_same_figures_whoever_asks.hypothesis.inner_test(data=TWIN_COUNTS)


def test_same_model_other_carriers_names_the_carriers_it_sums():
    from evidence.compare import Line, phone_groups

    parts = pd.DataFrame([
        # network, model_key, failures, ok_samples, reporters, failure_reporters, ok_reporters
        ("KT", "a", 3, 3, 3, 3, 2), ("KT", "b", 3, 3, 3, 3, 3), ("KT", "", 4, 4, 4, 4, 4),
        ("SKT", "a", 3, 3, 3, 3, 3), ("SKT", "", 3, 3, 3, 3, 3),
        ("LGU+", "", 3, 3, 3, 3, 3),
    ], columns=["network", "model_key", "failures", "ok_samples", "reporters", "failure_reporters",
                "ok_reporters"])
    networks = {"KT": Line(10, 10, 10, 10), "SKT": Line(6, 6, 6, 6), "LGU+": Line(3, 3, 3, 3)}
    groups, summed = phone_groups(parts, networks, "LGU+", "a", K)
    assert summed == ("SKT",)  # KT's part rests on 2 people's samples: not used, not named
    assert (groups["model_other_networks"].failures, groups["model_other_networks"].ok_samples) == (3, 3)
    assert phone_groups(parts, networks, "LGU+", "", K) == ({"others_all_models": Line(16, 16, 16, 16),
                                                            "network_all_models": Line(3, 3, 3, 3)}, ())


def test_equal_parts_are_hidden_the_same_whatever_the_row_order():
    """Two of a carrier's parts tie (3 'all good' samples from 3 people each, as the noise can make
    them): which one is hidden beside the small part must not follow the order the rows came in,
    which differed between askers and let two askers see one part each (a CI run of the test above)."""
    from evidence.compare import usable_parts

    parts = pd.DataFrame([("LGU+", "b", 5, 3, 5, 3, 3), ("LGU+", "", 0, 2, 1, 0, 1), ("LGU+", "a", 0, 3, 3, 0, 3)],
                         columns=["network", "model_key", "failures", "ok_samples", "reporters", "failure_reporters",
                                  "ok_reporters"])
    seen = {tuple(usable_parts(parts.iloc[list(order)], K)["model_key"])
            for order in ((0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0))}
    assert len(seen) == 1 and len(next(iter(seen))) == 1
