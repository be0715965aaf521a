"""A map view's round trip through the URL (geo.mapquery): good and bad parameters."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import InputError
from geo.mapquery import MapQuery, MapState, params_from_state, state_from_params


def test_defaults_from_an_empty_url():
    state, problems = state_from_params({})
    assert problems == []
    assert state.query == MapQuery(res=8)
    assert (state.lat, state.lon, state.zoom, state.res_choice, state.cell, state.tiles) == \
        (37.5665, 126.978, 11, "auto", None, False)


GOOD = [
    ({"carrier": "KT"}, {"carrier": "KT"}),
    ({"carrier": "lgu "}, {"carrier": "LGU+"}),  # '+' typed in a URL arrives as a space
    ({"carrier": "LGU+"}, {"carrier": "LGU+"}),
    ({"carrier": "케이티"}, {"carrier": "KT"}),  # the same spellings reports accept
    ({"carrier": "450-05"}, {"carrier": "SKT"}),
    ({"brand": "mvno"}, {"brand": "mvno"}),
    ({"kind": "dropped_call,no_data"}, {"kinds": ("dropped_call", "no_data")}),
    ({"hours": "18"}, {"hours": (18, 18)}),
    ({"hours": "8-10"}, {"hours": (8, 10)}),
    ({"days": "weekend"}, {"day_type": "weekend"}),
    ({"since": "2021-10-01", "until": "2021-10-25"}, {"since": date(2021, 10, 1), "until": date(2021, 10, 25)}),
    ({"measure": "density"}, {"measure": "density"}),
    ({"mode": "compare"}, {"mode": "compare"}),
    ({"res": "9"}, {"res": 9}),
    ({"z": "13"}, {"res": 9}),  # auto resolution follows the zoom
    ({"z": "9"}, {"res": 7}),
]


@pytest.mark.parametrize(("params", "expected"), GOOD)
def test_good_parameters(params, expected):
    state, problems = state_from_params(params)
    assert problems == []
    for name, value in expected.items():
        assert getattr(state.query, name) == value


BAD = [
    ("carrier", "XX"), ("carrier", "KT M모바일"), ("brand", "cheap"), ("kind", "explosion"), ("hours", "25"),
    ("hours", "10-8"),
    ("hours", "noon"), ("days", "holiday"), ("since", "2021-13-01"), ("measure", "vibes"), ("mode", "3d"),
    ("res", "12"), ("lat", "north"), ("lat", "10.0"), ("z", "30"), ("cell", "not-a-cell"),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_bad_parameters_fall_back_and_are_reported(name, value):
    state, problems = state_from_params({name: value, "carrier": "SKT" if name != "carrier" else value})
    assert len(problems) == 1 and isinstance(problems[0], InputError)
    assert name in str(problems[0])
    if name != "carrier":
        assert state.query.carrier == "SKT"  # the good parameters still count
    elif value == "KT M모바일":
        assert "brand=mvno" in problems[0].message  # an MVNO brand: how to ask for it


def test_dates_in_the_wrong_order_are_rejected():
    _, problems = state_from_params({"since": "2021-10-25", "until": "2021-10-01"})
    assert problems and "since" in str(problems[0])


def test_round_trip():
    state = MapState(query=MapQuery(carrier="KT", brand="own", kinds=("no_data",), hours=(8, 9),
                                    day_type="weekday", since=date(2021, 10, 1), until=date(2021, 10, 31),
                                    res=9, measure="rate", mode="compare"),
                     res_choice="9", lat=37.5, lon=127.0, zoom=13, cell="8930e1d8c13ffff", tiles=True)
    params = params_from_state(state)
    assert params["hours"] == "8-9" and params["res"] == "9" and params["tiles"] == "1"
    again, problems = state_from_params(params)
    assert problems == [] and again == state


def test_defaults_are_left_out_of_the_url():
    assert set(params_from_state(MapState())) == {"lat", "lon", "z"}


def test_query_filter():
    flt = MapQuery(carrier="KT", brand="mvno", hours=(22, 23), day_type="weekend").report_filter()
    assert flt.networks == ("KT",) and flt.mvno is True and flt.hours == (22, 23) and flt.day_type == "weekend"
    assert MapQuery(carrier="KT").report_filter(carrier=False).networks == ()
    assert MapQuery(hours=(1, 2)).report_filter(hours=False).hours == ()
    assert MapQuery().report_filter().hours == ()  # all 24 hours: no hour condition at all


def test_the_recent_window_is_13_whole_weeks_ending_with_the_latest_report():
    from datetime import date

    from geo.mapquery import recent_window

    # 2021-10-20 is a Wednesday: its week began Monday 10-18; 12 weeks before that is Monday 07-26.
    assert recent_window(date(2020, 1, 1), date(2021, 10, 20)) == (date(2021, 7, 26), date(2021, 10, 20))
    assert recent_window(date(2020, 1, 1), date(2021, 10, 18)) == (date(2021, 7, 26), date(2021, 10, 18))
    assert recent_window(date(2020, 1, 1), date(2021, 10, 24)) == (date(2021, 7, 26), date(2021, 10, 24))
    assert recent_window(date(2021, 9, 27), date(2021, 10, 31)) == (date(2021, 9, 27), date(2021, 10, 31))
    assert recent_window(date(2021, 10, 20), date(2021, 10, 20)) == (date(2021, 10, 20), date(2021, 10, 20))
