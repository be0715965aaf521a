"""The four scenarios of bench/detect_eval.py at a small scale, on the demo city (30,000 reports, 35 days).

1. the demo's KT nationwide outage (2021-10-25 11:16-12:45 KST): found within
   10 minutes, onset and end within 10 minutes, city-wide;
2. a district outage like the KT Ahyeon fire (replayed on Saturday 2021-10-23
   from 11:12 to Sunday 18:00 in five districts): those districts named, no other;
3. the quiet weeks: at most one false alarm per carrier;
4. a fake campaign (5 people x 100 reports in 20 minutes): not an outage.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from outage_data import SEOUL, flood

from geo.places import districts
from ingest.demo import KT_OUTAGE_END, KT_OUTAGE_START, load_raw, surge
from outages.scan import replay
from store import outages_sql
from store.db import connect

AHYEON = (datetime(2021, 10, 23, 11, 12, tzinfo=SEOUL), datetime(2021, 10, 24, 18, 0, tzinfo=SEOUL))
AHYEON_DISTRICTS = ("중구", "용산구", "서대문구", "마포구", "은평구")


@pytest.fixture
def demo(demo_db):
    con = connect(demo_db)
    yield con
    con.close()


def _minutes(a: datetime, b: datetime) -> float:
    return (a - b).total_seconds() / 60


def _around(con, start: datetime, end: datetime) -> list[dict]:
    replay(con, start - timedelta(days=1), end + timedelta(hours=6))
    return outages_sql.list_incidents(con.cursor())


def test_kt_nationwide_outage_is_found_within_ten_minutes(demo):
    incidents = _around(demo, KT_OUTAGE_START, KT_OUTAGE_END)
    kt = [i for i in incidents if i["network"] == "KT"]
    assert len(kt) == 1
    found = kt[0]
    assert 0 <= _minutes(found["detected_at"], KT_OUTAGE_START) <= 10
    assert abs(_minutes(found["onset_at"], KT_OUTAGE_START)) <= 10
    assert abs(_minutes(found["ended_at"], KT_OUTAGE_END)) <= 10
    assert found["scope"] == "city" and found["status"] == "resolved" and found["synthetic"]


def test_a_district_outage_names_exactly_its_districts(demo):
    frame = surge(network="KT", start=AHYEON[0], end=AHYEON[1], reports=1500, reporters=1100,
                  districts=list(AHYEON_DISTRICTS), rng=np.random.default_rng(3))
    load_raw(demo, frame, label="test: district outage")
    incidents = [i for i in _around(demo, *AHYEON) if i["network"] == "KT" and i["onset_at"] < AHYEON[1]]
    assert len(incidents) == 1
    found = incidents[0]
    assert found["scope"] == "districts"
    assert abs(_minutes(found["onset_at"], AHYEON[0])) <= 10
    names = {a.code: a.name_ko for a in districts()}
    areas = outages_sql.areas_of(demo.cursor(), [found["incident_id"]])[found["incident_id"]]
    named = {names[a["sig_cd"]] for a in areas}
    assert named == set(AHYEON_DISTRICTS)


def test_quiet_weeks_raise_at_most_one_false_alarm_per_carrier(demo):
    replay(demo, datetime(2021, 10, 4, tzinfo=SEOUL), datetime(2021, 11, 1, tzinfo=SEOUL))
    alarms = {"SKT": 0, "KT": 0, "LGU+": 0}
    for incident in outages_sql.list_incidents(demo.cursor(), limit=1000):
        is_the_outage = incident["network"] == "KT" and abs(_minutes(incident["onset_at"], KT_OUTAGE_START)) < 60
        if not is_the_outage:
            alarms[incident["network"]] += 1
    assert max(alarms.values()) <= 1, alarms


def test_five_people_flooding_the_form_are_not_an_outage(demo):
    start = datetime(2021, 10, 20, 15, 0, tzinfo=SEOUL)
    load_raw(demo, flood(start), source="web", label="test: flood")
    assert [i for i in _around(demo, start, start + timedelta(minutes=20)) if i["network"] == "KT"] == []
