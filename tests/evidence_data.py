"""A small made-up neighbourhood for the evidence and "My reports" tests (built with the loader)."""

from __future__ import annotations

import pandas as pd

from ingest.loader import Origin, load_frame

ME = "MEME-MEME-MEME"
CITY_HALL = (37.5665, 126.9780)


def reports_of(rows, code, n_failures, n_ok, *, carrier, model, first_day=1, lat=CITY_HALL[0], hour=18, note=None):
    """One reporter's reports near City Hall, one a day at ``hour`` (no near-duplicates), added to ``rows``."""
    for i in range(n_failures + n_ok):
        rows.append({"lat": str(lat + 0.0001 * (i % 5)), "lon": str(CITY_HALL[1]), "carrier": carrier,
                     "kind": "dropped_call" if i < n_failures else "ok", "device_model": model,
                     "observed_at": f"2021-10-{first_day + i:02d}T{hour}:10:00+09:00", "note": note,
                     "reporter_code": code})


def build_town(con) -> None:
    """Me (KT, SM-G991N) and neighbours on every carrier, around City Hall in the evening.

    Expected (k=5): KT 10 other reporters (42 failures, 42 samples), SKT 12 (12, 108), LG U+ hidden (3).
    """
    rows: list[dict] = []
    reports_of(rows, ME, 4, 0, carrier="KT", model="SM-G991N", first_day=5,
               note='<script>alert("x")</script>=HYPERLINK("http://evil")')
    for n in range(8):
        reports_of(rows, f"KTOT-HER{n}-AAAA", 5, 5, carrier="KT", model="iPhone 13", note="OTHER-SECRET")
    for n in range(2):
        reports_of(rows, f"KTSA-ME{n}X-AAAA", 1, 1, carrier="KT", model="sm g991n")
    for n in range(6):
        reports_of(rows, f"SKSA-ME{n}X-AAAA", 1, 9, carrier="SKT", model="SM-G991N")
    for n in range(6):
        reports_of(rows, f"SKOT-HER{n}-AAAA", 1, 9, carrier="SKT", model="Pixel 7")
    for n in range(3):  # too few to show
        reports_of(rows, f"LGUP-LUS{n}-AAAA", 3, 0, carrier="LGU+", model="Pixel 7")
    reports_of(rows, "FARA-WAYX-AAAA", 5, 0, carrier="KT", model="x", lat=37.65)  # another hexagon
    reports_of(rows, "MORN-INGX-AAAA", 5, 0, carrier="KT", model="x", hour="08")  # another time of day
    load_frame(con, pd.DataFrame(rows), Origin(source="web"))  # one batch; each row carries its code
