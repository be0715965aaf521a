"""Reports anywhere render: on bridges, on the river, in parks, where there is no dong, outside Seoul.

Property test over random points in and around Seoul: the page's place names, the printable
dossier and the CSV download build without error and escape everything that came from outside.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pandas as pd
from evidence_data import ME, build_town
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.city import load_city
from core.files import FORMULA_STARTS
from evidence import dossier_html, my_reports, my_reports_csv
from evidence.dossier import place_ko
from evidence.mine import with_places
from geo.places import place_of

# Named places where place lookups come back empty or odd.
PLACES = {
    "한강 한가운데(반포대교 아래)": (37.5150, 126.9960),
    "마포대교 위": (37.5340, 126.9350),
    "잠실철교(2호선, 강변-잠실나루)": (37.5290, 127.0920),
    "남산공원": (37.5512, 126.9882),
    "북한산(구·동 없음)": (37.6584, 126.9780),
    "강서구, 동 경계 밖": (37.5843216, 126.7945729),
    "구로구, 동 경계 밖": (37.4848241, 126.8550754),
    "인천": (37.45, 126.70),
    "부산": (35.10, 129.00),
}
NASTY = st.sampled_from(['<script>alert("x")</script>', "=HYPERLINK(\"http://evil\")", "+1", "-1", "@SUM(A1)",
                         "\t=cmd", "a & b < c > d 'q' \"dq\"", "", "정상 메모", "\u202e반대로",
                         "줄\r바꿈", "줄\n바꿈\r\n끝"])
MISSING = st.sampled_from([None, float("nan"), pd.NA])
TEXT = st.one_of(NASTY, MISSING, st.text(max_size=30))

POINT = st.one_of(
    st.sampled_from(list(PLACES.values())),
    st.tuples(st.floats(37.40, 37.72), st.floats(126.74, 127.22)),  # Seoul and a margin around it
    st.tuples(st.floats(33.0, 38.6), st.floats(124.5, 131.0)),  # anywhere in Korea
)
START = datetime(2021, 9, 27, tzinfo=UTC)


def report(point, minutes, kind, texts) -> dict:
    """One row shaped like store.evidence_sql.reports_of's (the store's own-report query)."""
    lat, lon = point
    note, model, tech, brand = texts
    observed = START + timedelta(minutes=minutes)
    return {"report_id": f"r{minutes}", "observed_at": observed, "local_time": observed, "lat": lat, "lon": lon,
            "accuracy_m": 12.0, "h3_r8": 0, "sig_cd": None, "network": "KT", "brand": brand, "mvno": False,
            "tech": tech, "kind": kind, "device_model": model, "note": note, "source": "web", "status": "ok",
            "flag_reason": None, "received_at": observed}


ROWS = st.lists(st.tuples(POINT, st.integers(0, 60 * 24 * 60), st.sampled_from(["dropped_call", "ok", "no_data"]),
                          st.tuples(TEXT, TEXT, TEXT, TEXT)), min_size=1, max_size=6)


class Cells(HTMLParser):
    """The text of every <td> of the dossier's last table (the list of reports), unescaped."""

    def __init__(self):
        super().__init__()
        self.rows, self._cell, self.tags = [], None, []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ROWS)
def test_reports_anywhere_render_in_the_dossier_and_the_csv(rows):
    frame = pd.DataFrame([report(*r) for r in rows]).sort_values("observed_at").reset_index(drop=True)
    mine = with_places(frame)
    assert not mine["gu"].isna().any() and not mine["dong"].isna().any()
    page = dossier_html(mine, None, None, None, generated_at=datetime.now(load_city().tz))

    # Nothing from outside is markup: the only tags are the dossier's own.
    parser = Cells()
    parser.feed(page)
    assert set(parser.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "strong",
                                "table", "thead", "tbody", "tr", "th", "td", "ul", "li"}
    assert "<script" not in page
    listed = [cells for cells in parser.rows if len(cells) == 10]  # the list of reports
    assert len(listed) == len(mine)
    for cells, r in zip(listed, mine.itertuples(), strict=True):
        assert cells[1] == place_ko(r.gu, r.dong) and cells[1]  # a place for every report, never "nan"
        assert "nan" not in cells[1] and "None" not in cells[1]
        assert cells[2].startswith(r.station) and "nan" not in cells[2]
        assert cells[3] == f"{r.lat:.5f}, {r.lon:.5f}"

    data = my_reports_csv(mine)
    assert data.startswith(b"\xef\xbb\xbf")
    header, *body = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(body) == len(mine)
    assert not any(cell.startswith(FORMULA_STARTS) for row in [header, *body] for cell in row)  # no formula
    back = pd.DataFrame(body, columns=header)
    assert list(back["구"]) == list(mine["gu"]) and list(back["동"]) == list(mine["dong"])


def test_named_places_include_the_empty_lookups():
    """The property test's named places really exercise missing names (else it tests nothing)."""
    found = {name: place_of(*point) for name, point in PLACES.items()}
    assert any(p["gu"] is not None and p["dong"] is None for p in found.values())  # a district, no dong
    assert any(p["gu"] is None for p in found.values())  # outside every district


def test_my_reports_from_the_store_with_a_report_on_the_river_and_one_without_a_dong(con):
    """The regression of issue 12: a stored report with no dong ended the page in a TypeError."""
    from ingest.loader import Origin, load_frame

    build_town(con)
    rows = [{"lat": str(lat), "lon": str(lon), "carrier": "KT", "kind": "dropped_call", "device_model": None,
             "observed_at": f"2021-10-2{i}T08:10:00+09:00", "reporter_code": ME, "note": None}
            for i, (lat, lon) in enumerate([PLACES["강서구, 동 경계 밖"], PLACES["마포대교 위"],
                                            PLACES["잠실철교(2호선, 강변-잠실나루)"]])]
    result = load_frame(con, pd.DataFrame(rows), Origin(source="web"))
    assert result.accepted == 3
    mine = my_reports(con, ME)
    assert "" in set(mine["dong"])  # the report in 강서구 outside every dong
    page = dossier_html(mine, None, None, None, generated_at=datetime.now(load_city().tz))
    assert "강서구</td>" in page and re.search(r"영등포구 여의도동</td>", page)
    csv_text = my_reports_csv(mine).decode("utf-8-sig")
    assert "강서구" in csv_text and "nan" not in csv_text.lower().replace("nanum", "")
