"""POST /api/v1/codes and the reporter-code rules: issued codes verify, self-chosen ones are refused,
codes already stored keep working, one request carries one code, My reports guesses are limited."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pytest
from stored import issued_code, route_client, stored_reports

from api import codes as api_codes
from api import reports as api_reports
from api.openapi import document
from core.errors import InputError
from evidence.mine import my_reports
from ingest.abuse import LIMITER, RateLimitedError
from ingest.codes import is_issued, mint_code
from ingest.identity import code_key, keyed_hash
from ingest.loader import Origin, load_frame
from ingest.sources import prefix_hash
from ingest.submit import request_codes, submit_reports
from store.db import close_shared, connect

CODE_FORMAT = re.compile(r"^[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$")
LEGACY = "K7QX-M2PA-9RTB"  # a code of the form the site handed out before it issued verifiable ones


def report(**more):
    return {"lat": 37.5665, "lon": 126.978, "carrier": "KT", "kind": "dropped_call",
            "observed_at": "2021-10-25T11:20:00+09:00", **more}


@pytest.fixture
def client(db_path, monkeypatch):
    monkeypatch.setenv("DROPMAP_TRUSTED_PROXIES", "1")
    LIMITER.clear()
    with route_client([*api_reports.ROUTES, *api_codes.ROUTES]) as c:
        yield c
    LIMITER.clear()


def test_a_code_is_issued_recorded_and_verifies(client, db_path):
    r = client.post("/api/v1/codes", headers={"X-Forwarded-For": "203.0.113.5"})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    code = r.json()["code"]
    assert CODE_FORMAT.match(code) and is_issued(code) and is_issued(code.lower().replace("-", " "))
    close_shared()
    con = connect(db_path)
    try:
        rows = con.execute("SELECT code_hash, prefix_hash, kind FROM codes").fetchall()
    finally:
        con.close()
    assert rows == [(keyed_hash("code", code_key(code)), prefix_hash("203.0.113.5"), "issued")]
    sent = client.post("/api/v1/reports", json=report(), headers={"X-Reporter-Code": code})
    assert sent.status_code == 201, sent.json()
    assert set(stored_reports(db_path, "reporter")["reporter"]) == {keyed_hash("code", code_key(code))}


def test_tampered_codes_do_not_verify():
    code = mint_code()
    assert is_issued(code)
    for i in (0, 9, 10, 15):  # the random part and the MAC
        chars = list(code_key(code))
        chars[i] = "A" if chars[i] != "A" else "B"
        assert not is_issued("".join(chars))
    assert not is_issued(mint_code(secret=b"another site's secret"))
    assert not is_issued("010-1234-5678") and not is_issued("") and not is_issued(None)


@pytest.mark.parametrize("chosen", ["010-1234-5678", "AAAA-BBBB-CCCC-DDDD", "my own code"])
def test_a_self_chosen_code_is_refused_naming_the_fix(client, db_path, chosen):
    for r in (client.post("/api/v1/reports", json=report(), headers={"X-Reporter-Code": chosen}),
              client.post("/api/v1/reports", json=report(reporter_code=chosen))):
        assert r.status_code == 400
        error = r.json()["errors"][0]
        assert error["field"] == "reporter_code" and error["value"] == code_key(chosen)  # as read
        assert "POST /api/v1/codes" in error["message"]
    assert stored_reports(db_path, "reporter").empty


def test_posting_under_guessed_codes_counts_as_guessing(client, db_path, monkeypatch):
    """Whether a report under an old-form code is accepted tells whether the store holds that code,
    so each refusal counts as a My reports miss of the client's network, and the next try is a 429."""
    monkeypatch.setenv("DROPMAP_LOOKUPS_PER_PREFIX", "2")
    where = {"X-Forwarded-For": "203.0.113.40"}
    for guess in ("AAAA-BBBB-CCC1", "AAAA-BBBB-CCC2"):
        r = client.post("/api/v1/reports", json=report(), headers={**where, "X-Reporter-Code": guess})
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "reporter_code"
    r = client.post("/api/v1/reports", json=report(), headers={"X-Forwarded-For": "203.0.113.41",
                                                                "X-Reporter-Code": "AAAA-BBBB-CCC3"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    r = client.post("/api/v1/reports", json=report(), headers={**where, "X-Reporter-Code": issued_code()})
    assert r.status_code == 201  # an issued code is no guess
    assert len(stored_reports(db_path, "reporter")) == 1


def test_a_tampered_code_is_refused(client):
    chars = list(code_key(mint_code()))
    chars[-1] = "A" if chars[-1] != "A" else "B"
    r = client.post("/api/v1/reports", json=report(), headers={"X-Reporter-Code": "".join(chars)})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "reporter_code"


def test_a_code_already_stored_still_reports_and_opens_my_reports(client, db_path):
    close_shared()
    con = connect(db_path)
    try:  # stored before codes were issued (no client address)
        load_frame(con, pd.DataFrame([report(reporter_code=LEGACY)], dtype=object), Origin(source="web"))
    finally:
        con.close()
    r = client.post("/api/v1/reports", json=report(lat=37.50, kind="no_data"), headers={"X-Reporter-Code": LEGACY})
    assert r.status_code == 201, r.json()
    close_shared()
    con = connect(db_path)
    try:
        assert len(my_reports(con.cursor(), LEGACY.lower())) == 2
        assert con.execute("SELECT kind FROM codes").fetchall() == [("legacy",)]  # its age, recorded once
    finally:
        con.close()


def test_the_demo_persona_opens_my_reports(demo_db):
    con = connect(demo_db)
    try:
        mine = my_reports(con.cursor(), "DEMO-KTKT-2021", ip="203.0.113.5")
    finally:
        con.close()
    assert len(mine) > 10 and set(mine["network"]) == {"KT"}


def test_my_reports_guesses_are_limited_per_network(con, monkeypatch):
    monkeypatch.setenv("DROPMAP_LOOKUPS_PER_PREFIX", "3")
    load_frame(con, pd.DataFrame([report(reporter_code=LEGACY)], dtype=object), Origin(source="web"))
    cur = con.cursor()
    assert len(my_reports(cur, LEGACY, ip="198.51.100.1")) == 1  # a hit costs nothing
    for guess in ("AAAA-BBBB-CCCC", "AAAA-BBBB-CCCD", "AAAA-BBBB-CCCE"):
        assert my_reports(cur, guess, ip=f"198.51.100.{len(guess)}").empty
    with pytest.raises(RateLimitedError) as refused:
        my_reports(cur, LEGACY, ip="198.51.100.99")  # the same /24: refused, even the right code
    assert refused.value.retry_after > 0
    assert len(my_reports(cur, LEGACY, ip="192.0.2.1")) == 1  # another network


def test_a_neighbour_cannot_lock_an_issued_code_out(con, monkeypatch):
    """Misses from one network lock out the codes of the old form only: an issued code cannot be
    guessed, so its holder opens My reports however many guesses the network made, and looking up
    an issued code that holds nothing yet is not counted as a guess."""
    monkeypatch.setenv("DROPMAP_LOOKUPS_PER_PREFIX", "3")
    mine = issued_code()
    load_frame(con, pd.DataFrame([report(reporter_code=mine)], dtype=object), Origin(source="web"))
    cur = con.cursor()
    for _ in range(5):  # fresh issued codes with nothing stored yet: not guesses
        assert my_reports(cur, mint_code(), ip="198.51.100.7").empty
    assert my_reports(cur, LEGACY, ip="198.51.100.7").empty  # still allowed: the count is untouched
    for guess in ("AAAA-BBBB-CCCD", "AAAA-BBBB-CCCE"):
        assert my_reports(cur, guess, ip="198.51.100.8").empty
    with pytest.raises(RateLimitedError):
        my_reports(cur, "AAAA-BBBB-CCCF", ip="198.51.100.9")  # the network is locked for the old form
    assert len(my_reports(cur, mine, ip="198.51.100.10")) == 1  # the issued code still opens


def test_one_request_carries_one_code_as_stored(client, db_path):
    """Codes that differ only after the 64-character cut were one code to the check and two when stored."""
    key = code_key(issued_code())
    padded = key[:8] + "-" * 60 + key[8:]  # normalised whole: the same code; cut at 64 first: another
    assert code_key(padded) != key
    assert request_codes({"reporter_code": [key, padded]}, None) == {key, code_key(padded)}
    r = client.post("/api/v1/reports", json=[report(reporter_code=key), report(lat=37.5, reporter_code=padded)])
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "reporter_code"
    assert stored_reports(db_path, "reporter").empty


def test_collapsed_message_tells_nothing_of_the_other_report(client, db_path):
    """Code-less reports share one identity per address: a near-duplicate may be a stranger's."""
    first = client.post("/api/v1/reports", json=report(), headers={"X-Forwarded-For": "203.0.113.8"})
    assert first.status_code == 201
    second = client.post("/api/v1/reports", json=report(lat=37.5666, observed_at="2021-10-25T11:22:10+09:00"),
                         headers={"X-Forwarded-For": "203.0.113.8"})
    collapsed = second.json()["collapsed"]
    assert second.status_code == 200 and len(collapsed) == 1
    message = collapsed[0]["message"]
    assert "near-duplicate" in message and "130" not in message and "11" not in message
    assert not re.search(r"\d+ s\b|\d+ m away", message)


def test_the_form_path_refuses_a_typed_self_chosen_code(con):
    with pytest.raises(InputError) as refused:
        submit_reports(con, pd.DataFrame([report()], dtype=object), source="web", reporter_code="010-1234-5678",
                       ip="203.0.113.4")
    assert refused.value.field == "reporter_code"


def test_openapi_documents_codes():
    post = document()["paths"]["/api/v1/codes"]["post"]
    assert set(post["responses"]) == {"201", "429", "503"}
    assert "DROPMAP_CODES_PER_PREFIX" in post["description"]


def test_mint_is_random_and_well_formed():
    codes = {mint_code() for _ in range(200)}
    assert len(codes) == 200 and all(CODE_FORMAT.match(c) and is_issued(c) for c in codes)
    assert datetime.now(UTC)  # codes need no clock: the MAC alone verifies them



def test_the_demos_public_codes_are_refused_for_new_reports(demo_db, monkeypatch):
    """The demo's codes are public (docs/DEMO.md names the personas; its fixed seed remakes every other
    code): were they 'codes already stored', one address could post as thousands of them, each its own
    source once the demo is a day old, and write into the personas' evidence. They still open My reports."""
    import numpy as np
    from conftest import SMALL_DEMO

    from ingest.demo import DemoOptions, ordinary_traffic

    options = DemoOptions(**SMALL_DEMO)
    remade = ordinary_traffic(options, np.random.default_rng(options.seed))["reporter_code"]
    ordinary = next(c for c in remade if not c.startswith("DEMO-"))
    monkeypatch.setenv("DROPMAP_TRUSTED_PROXIES", "1")
    LIMITER.clear()
    close_shared()
    con = connect(demo_db)
    try:
        assert len(my_reports(con.cursor(), ordinary)) >= 1  # a real code of the demo, remade from its seed
        before = con.execute("SELECT count(*) FROM reports").fetchone()[0]
    finally:
        con.close()
    with route_client([*api_reports.ROUTES, *api_codes.ROUTES]) as c:
        for code in ("DEMO-KTKT-2021", "DEMO-PHON-2021", ordinary):
            r = c.post("/api/v1/reports", json=report(), headers={"X-Reporter-Code": code,
                                                                "X-Forwarded-For": "203.0.113.9"})
            assert r.status_code == 400, (code, r.json())
            assert r.json()["errors"][0]["field"] == "reporter_code"
    close_shared()
    con = connect(demo_db)
    try:
        assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == before
        assert len(my_reports(con.cursor(), "DEMO-KTKT-2021", ip="203.0.113.5")) > 10  # nobody locked out
    finally:
        con.close()
    LIMITER.clear()


def test_a_long_stored_code_opens_its_own_reports(con):
    """The loader cuts a code at 64 characters before normalising it; My reports must read it the same way,
    or the holder of a long code stored before codes were issued is locked out of their own evidence."""
    long_code = "RESIDENT-" + "7" * 70
    load_frame(con, pd.DataFrame([report(reporter_code=long_code)], dtype=object), Origin(source="web"))
    assert len(my_reports(con.cursor(), long_code, ip="198.51.100.1")) == 1
