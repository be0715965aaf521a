"""The moderation page (AppTest): refused without the operator token, and with it lists clusters and
flagged reports, flags and restores a cluster, withdraws an incident, and logs every action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_moderation import _rows, faked, quiet_db  # noqa: F401 - fixtures

from core import settings
from core.operator import operator_token
from ingest.loader import Origin, load_frame
from store.db import close_shared, shared_connection
from store.limits import GUARD

PAGE = str(Path(__file__).resolve().parent.parent / "ui" / "moderation.py")
APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


@pytest.fixture
def scripted(con, db_path):
    """One address sending 12 fresh codes with a hostile 'phone model' (Markdown that would load an image)."""
    load_frame(con, _rows(12, codes=[f"FAKE-{i:04d}" for i in range(12)], seed=3, device="![x](http://evil.example/p)"),
               Origin(source="api", ip="203.0.113.66"), now=datetime.now(UTC) - timedelta(minutes=1))
    con.close()
    GUARD.clear()
    yield settings.store_location()  # the file at db_path, or the shared store (DROPMAP_TEST_STORE=shared)
    close_shared()
    GUARD.clear()


def _open(token: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    if token is not None:
        at.text_input(key="operator_token").set_value(token)
        at.button(key="operator_open").click().run()
        assert not at.exception, at.exception
    return at


def _statuses(db_path) -> list[str]:
    """Read through the page's own connection (the process-wide one): the page keeps using it."""
    return [s for (s,) in shared_connection(db_path).cursor().execute("SELECT status FROM reports").fetchall()]


def test_refused_without_the_token(scripted):
    at = _open()
    assert not at.dataframe and not at.expander and not at.tabs  # nothing of the data before the token
    for _ in range(5):
        at.text_input(key="operator_token").set_value("0" * 32)
        at.button(key="operator_open").click().run()
        assert any("Wrong token" in e.value or "맞지 않거나" in e.value for e in at.error)
        assert not at.tabs
    at.text_input(key="operator_token").set_value(operator_token())  # the right one, but blocked now
    at.button(key="operator_open").click().run()
    assert not at.tabs and any("s)" in e.value for e in at.error)


def test_operator_flags_and_restores_a_cluster(scripted):
    at = _open(operator_token())
    assert len(at.tabs) == 5
    labels = [e.label for e in at.expander]
    assert any("한 주소" in label for label in labels)
    device = next(label for label in labels if "같은 기기" in label)
    assert "![x](http" not in device and r"\!\[x\]" in device  # the sender's text stays plain text
    i = next(n for n, label in enumerate(labels) if "한 주소" in label)
    at.text_input(key=f"why_c{i}").set_value("12 codes from one address")
    at.button(key=f"flag_c{i}").click().run()
    assert not at.exception, at.exception
    assert any("12" in s.value for s in at.success)
    assert _statuses(scripted) == ["flagged"] * 12
    at.run()  # the flagged tab lists them, with the reason
    tables = [d.value for d in at.dataframe if "flag_reason" in d.value.columns]
    assert tables and set(tables[0]["flag_reason"]) == {"moderation: 12 codes from one address"}
    at.text_input(key=f"why_c{i}").set_value("checked: a school")
    at.button(key=f"restore_c{i}").click().run()
    assert _statuses(scripted) == ["ok"] * 12
    at.run()
    log = [d.value for d in at.dataframe if "operator" in d.value.columns][0]
    assert log["action"].tolist() == ["restore", "flag"] and log["changed"].tolist() == [12, 12]


def test_single_report_without_a_reason_is_refused(scripted):
    at = _open(operator_token())
    one = str(shared_connection(scripted).cursor().execute("SELECT report_id FROM reports LIMIT 1").fetchone()[0])
    at.text_area(key="single_ids").set_value(one)
    at.button(key="flag_single").click().run()
    assert any("reason" in e.value for e in at.error)
    assert _statuses(scripted) == ["ok"] * 12
    at.text_input(key="why_single").set_value("looks scripted")
    at.button(key="flag_single").click().run()
    assert sorted(_statuses(scripted)) == ["flagged"] + ["ok"] * 11


def test_hidden_from_the_menu_but_reachable(scripted):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    at.switch_page("ui/moderation.py").run()
    assert not at.exception
    assert any(t.value in ("운영자 검토", "Moderation") for t in at.title) and not at.tabs


def test_operator_withdraws_an_incident(faked):  # noqa: F811 - the fixture imported above
    from store import outages_sql

    [incident] = outages_sql.list_incidents(faked.cursor())
    faked.close()
    GUARD.clear()
    at = _open(operator_token())
    assert at.selectbox(key="withdraw_pick").value == incident["incident_id"]
    at.button(key="withdraw_incident").click().run()
    assert any("reason" in e.value for e in at.error)  # a reason is required
    at.text_input(key="why_withdraw").set_value("rested on one address")
    at.button(key="withdraw_incident").click().run()
    assert not at.exception, at.exception
    cur = shared_connection().cursor()
    assert outages_sql.get_incident(cur, incident["incident_id"])["status"] == "withdrawn"
    at.run()
    log = [d.value for d in at.dataframe if "operator" in d.value.columns][0]
    assert log[["action", "target", "target_id"]].values.tolist() == [["withdraw", "incident", incident["incident_id"]]]
    assert not [d for d in at.dataframe if "incident_id" in d.value.columns]  # nothing left to withdraw
    close_shared()
