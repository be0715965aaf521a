"""The demo personas on the default demo city (as `make run` builds it): each gets the answer docs/DEMO.md
promises, from the same evidence code every reporter gets."""

from __future__ import annotations

import duckdb
import pytest

from evidence import compare_nearby, failures_of, my_reports, phone_or_network
from ingest.demo_personas import PERSONAS


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.code)
def test_every_persona_gets_the_answer_docs_demo_promises(real_demo_db_file, persona):
    """docs/DEMO.md: DEMO-KTKT-2021 answers "network", DEMO-PHON-2021 "phone", on the default demo city."""
    con = duckdb.connect(str(real_demo_db_file), read_only=True)
    try:
        mine = my_reports(con, persona.code)
        verdict = phone_or_network(compare_nearby(con, persona.code, mine))
        stored = con.execute("SELECT DISTINCT expected_answer FROM demo_persona_zones WHERE reporter_code = ?",
                             [persona.code]).fetchall()
    finally:
        con.close()
    assert verdict.code == persona.answer == stored[0][0]
    assert len(failures_of(mine)) >= 20  # drops on most days
