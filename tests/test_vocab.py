"""Closed vocabularies: real-world carrier spellings, PLMN codes, MVNO brands, failure kinds, techs."""

from __future__ import annotations

import pytest

from core.errors import InputError
from core.vocab import ALL_KINDS, KINDS, NETWORKS, OK_KIND, Carrier, normalise_carrier, normalise_kind, normalise_tech

CARRIERS_GOOD = [
    # (spelling, host-network column, expected)
    ("KT", None, Carrier("KT", "KT", False)),
    ("kt", None, Carrier("KT", "KT", False)),
    ("케이티", None, Carrier("KT", "KT", False)),
    ("olleh", None, Carrier("KT", "KT", False)),
    ("올레", None, Carrier("KT", "KT", False)),
    ("ＫＴ", None, Carrier("KT", "KT", False)),  # full-width, as typed on some keyboards
    ("K\u200bT", None, Carrier("KT", "KT", False)),  # a zero-width space inside
    ("\u202eKT", None, Carrier("KT", "KT", False)),  # a bidi override in front
    ("SKT", None, Carrier("SKT", "SKT", False)),
    ("SK텔레콤", None, Carrier("SKT", "SKT", False)),
    ("SK Telecom", None, Carrier("SKT", "SKT", False)),
    ("에스케이", None, Carrier("SKT", "SKT", False)),
    ("LG U+", None, Carrier("LGU+", "LGU+", False)),
    ("LGU+", None, Carrier("LGU+", "LGU+", False)),
    ("lg u+", None, Carrier("LGU+", "LGU+", False)),
    ("엘지유플러스", None, Carrier("LGU+", "LGU+", False)),
    ("U+", None, Carrier("LGU+", "LGU+", False)),
    ("450-05", None, Carrier("SKT", "SKT", False)),
    ("45008", None, Carrier("KT", "KT", False)),
    ("450 06", None, Carrier("LGU+", "LGU+", False)),
    ("450-02", None, Carrier("KT", "KT", False)),
    ("450-11", None, Carrier("SKT", "티플러스", True)),
    ("KT M모바일", None, Carrier("KT", "KT M모바일", True)),
    ("SK 세븐모바일", None, Carrier("SKT", "SK 세븐모바일", True)),
    ("U+유모바일", None, Carrier("LGU+", "U+유모바일", True)),
    ("헬로모바일 KT", None, Carrier("KT", "헬로모바일", True)),
    ("리브엠(LG U+망)", None, Carrier("LGU+", "리브엠", True)),
    ("KT 알뜰폰", None, Carrier("KT", "알뜰폰(KT)", True)),
    ("헬로모바일", "SKT", Carrier("SKT", "헬로모바일", True)),  # host from a separate column
    ("토스모바일", "LG U+", Carrier("LGU+", "토스모바일", True)),
]


@pytest.mark.parametrize(("text", "hint", "expected"), CARRIERS_GOOD)
def test_carrier_spellings(text, hint, expected):
    assert normalise_carrier(text, hint) == expected


CARRIERS_BAD = [
    (None, "required"),
    ("", "required"),
    ("   ", "required"),
    ("Verizon", "unknown carrier"),
    ("310-260", "unknown carrier"),  # a US PLMN
    ("450-01", "unknown carrier"),  # Globalstar: no host network of ours
    ("헬로모바일", "runs on several networks"),
    ("리브엠", "runs on several networks"),
    ("<script>", "unknown carrier"),
]


@pytest.mark.parametrize(("text", "message"), CARRIERS_BAD)
def test_carrier_bad_spellings_say_how_to_fix(text, message):
    with pytest.raises(InputError) as e:
        normalise_carrier(text)
    assert e.value.field == "carrier"
    assert message in e.value.message


def test_networks_are_the_three_hosts():
    assert NETWORKS == ("SKT", "KT", "LGU+")


@pytest.mark.parametrize(("text", "expected"), [
    ("dropped_call", "dropped_call"), ("통화 끊김", "dropped_call"), ("Dropped call", "dropped_call"),
    ("끊김", "dropped_call"), ("콜드랍", "dropped_call"), ("먹통", "no_service"), ("No service", "no_service"),
    ("데이터 안 됨", "no_data"), ("no-data", "no_data"), ("속도저하", "slow_data"), ("문자 실패", "sms_failure"),
    ("발신실패", "call_setup_failure"), ("기타", "other"), ("ok", OK_KIND), ("정상", OK_KIND), ("All good", OK_KIND),
    ("DROPPED_CALL", "dropped_call"),
])
def test_kind_spellings(text, expected):
    assert normalise_kind(text) == expected


@pytest.mark.parametrize("text", [None, "", "boom", "dropped", "통화"])
def test_kind_bad_spellings(text):
    if text == "dropped":  # an accepted alias, kept here to pin it
        assert normalise_kind(text) == "dropped_call"
        return
    with pytest.raises(InputError) as e:
        normalise_kind(text)
    assert e.value.field == "kind"


def test_every_kind_has_korean_and_english_names():
    for kind, names in KINDS.items():
        assert names["ko"] and names["en"], kind
        assert normalise_kind(names["ko"]) == kind
        assert normalise_kind(names["en"]) == kind
    assert set(ALL_KINDS) == set(KINDS) | {OK_KIND}


@pytest.mark.parametrize(("text", "expected"), [
    (None, "unknown"), ("", "unknown"), ("5G", "5G"), ("NR", "5G"), ("LTE", "LTE"), ("4G", "LTE"), ("lte-a", "LTE"),
    ("WCDMA", "3G"), ("umts", "3G"), ("모름", "unknown"),
])
def test_tech_spellings(text, expected):
    assert normalise_tech(text) == expected


@pytest.mark.parametrize("text", ["6G", "wifi", "2G"])
def test_tech_bad(text):
    with pytest.raises(InputError) as e:
        normalise_tech(text)
    assert e.value.field == "tech"
