"""Closed vocabularies: carriers (with MVNO brands), failure kinds, technologies.

Real-world spellings are folded by ``_key`` (case, spaces and punctuation
ignored) and looked up in alias tables, so 'LG U+', 'lgu+', '엘지유플러스' and
'450-06' all name the same network.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from core.errors import InputError
from core.settings import DATA_DIR

NETWORKS: tuple[str, ...] = ("SKT", "KT", "LGU+")
NETWORK_NAMES = {
    "SKT": {"ko": "SK텔레콤", "en": "SK Telecom"},
    "KT": {"ko": "KT", "en": "KT"},
    "LGU+": {"ko": "LG U+", "en": "LG U+"},
}

_NETWORK_ALIASES = {
    "SKT": ["skt", "sk", "sktelecom", "sk텔레콤", "에스케이", "에스케이텔레콤", "에스케이티", "sk텔", "티월드"],
    "KT": ["kt", "케이티", "olleh", "올레", "ktf", "한국통신", "kt올레"],
    "LGU+": ["lgu+", "lgu", "lg", "lguplus", "u+", "uplus", "유플러스", "lg유플러스", "엘지유플러스", "엘지", "lgt",
             "lg텔레콤", "엘지u+"],
}

# MVNO (알뜰폰) brands that ride on one host network only.
_SINGLE_HOST_BRANDS = {
    "KT M모바일": ("KT", ["ktm모바일", "kt엠모바일", "ktmmobile", "m모바일", "엠모바일"]),
    "KT스카이라이프": ("KT", ["kt스카이라이프", "스카이라이프", "skylife", "ktskylife"]),
    "SK 세븐모바일": ("SKT", ["sk세븐모바일", "세븐모바일", "sk7mobile", "sk텔링크", "7mobile"]),
    "U+유모바일": ("LGU+", ["u+유모바일", "유모바일", "u+알뜰모바일", "미디어로그", "umobile"]),
    "티플러스": ("SKT", ["티플러스", "tplus", "한국케이블텔레콤"]),
}

# MVNO brands sold on several host networks: the host must be given too,
# e.g. '헬로모바일 KT' or a separate network column.
_MULTI_HOST_BRANDS = {
    "헬로모바일": ["헬로모바일", "hellomobile", "lg헬로비전", "cj헬로"],
    "리브엠": ["리브엠", "liivm", "kb리브엠", "kbliivm"],
    "토스모바일": ["토스모바일", "tossmobile", "토스"],
    "프리티": ["프리티", "freet"],
    "이야기모바일": ["이야기모바일", "eyagi"],
    "아이즈모바일": ["아이즈모바일", "eyes모바일", "insmobile"],
    "알뜰폰": ["알뜰폰", "mvno", "알뜰", "기타알뜰폰"],
}


# Control characters and the invisible marks (zero-width, bidi) a spelling may carry.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _key(text: str) -> str:
    """Fold a spelling: NFKC (full-width ＫＴ is KT), lower case, no spaces, punctuation other than '+',
    control characters or invisible marks."""
    folded = unicodedata.normalize("NFKC", _INVISIBLE.sub("", str(text))).strip().lower()
    return re.sub(r"[\s\-_./()\[\]·,:'\"]+", "", folded)


@dataclass(frozen=True)
class Carrier:
    network: str  # host radio network: SKT, KT or LGU+
    brand: str  # brand as sold: the network itself or an MVNO
    mvno: bool


@lru_cache(maxsize=1)
def _plmn_networks() -> dict[str, str]:
    """'45005' -> 'SKT' ..., from data/kr_plmn.csv's carrier_short column."""
    out = {}
    with open(DATA_DIR / "kr_plmn.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["carrier_short"]:
                out[f"{row['mcc']}{row['mnc']}"] = row["carrier_short"]
    return out


@lru_cache(maxsize=1)
def _aliases() -> tuple[dict[str, Carrier], dict[str, str], dict[str, str]]:
    exact: dict[str, Carrier] = {}
    networks: dict[str, str] = {}
    for network, names in _NETWORK_ALIASES.items():
        for name in names:
            networks[name] = network
            exact[name] = Carrier(network, network, False)
    for plmn, network in _plmn_networks().items():
        exact[plmn] = Carrier(network, network, False)
    exact["45011"] = Carrier("SKT", "티플러스", True)
    for brand, (network, names) in _SINGLE_HOST_BRANDS.items():
        for name in names:
            exact[name] = Carrier(network, brand, True)
    multi = {name: brand for brand, names in _MULTI_HOST_BRANDS.items() for name in names}
    return exact, networks, multi


def _network_from(text: str) -> str | None:
    _, networks, _ = _aliases()
    key = _key(text).removesuffix("망")
    return networks.get(key) or _plmn_networks().get(key)


def normalise_carrier(text: str | None, network_hint: str | None = None) -> Carrier:
    """The carrier named by ``text`` (and an optional host-network column)."""
    if text is None or not str(text).strip():
        raise InputError("carrier", text, "required: SKT, KT, LGU+ or an MVNO brand with its network")
    exact, _, multi = _aliases()
    key = _key(text)
    if key in exact:
        return exact[key]
    # '헬로모바일 KT', 'KT 알뜰폰', '리브엠(LG U+망)': a multi-host brand plus its host.
    for alias, brand in sorted(multi.items(), key=lambda kv: -len(kv[0])):
        for rest in (key.removeprefix(alias), key.removesuffix(alias)):
            if rest != key:
                network = _network_from(rest) if rest else None
                network = network or (_network_from(network_hint) if network_hint else None)
                if network:
                    label = f"{brand}({network})" if brand == "알뜰폰" else brand
                    return Carrier(network, label, True)
                raise InputError(
                    "carrier", text,
                    f"{brand} runs on several networks; add the host network, e.g. '{brand} KT' "
                    "(SKT, KT or LGU+)",
                )
    raise InputError(
        "carrier", text,
        "unknown carrier; use SKT, KT, LGU+ (or 에스케이, 케이티, 엘지유플러스, a PLMN code like "
        "450-05), or an MVNO brand with its network, e.g. '헬로모바일 KT'",
    )


# --- failure kinds -------------------------------------------------------------

KINDS: dict[str, dict[str, str]] = {
    "dropped_call": {"ko": "통화 끊김", "en": "Dropped call"},
    "call_setup_failure": {"ko": "전화 연결 실패", "en": "Couldn't place a call"},
    "no_service": {"ko": "서비스 없음(먹통)", "en": "No service"},
    "no_data": {"ko": "데이터 안 됨", "en": "No data"},
    "slow_data": {"ko": "데이터 느림", "en": "Slow data"},
    "sms_failure": {"ko": "문자 실패", "en": "SMS failed"},
    "other": {"ko": "기타", "en": "Other"},
}
OK_KIND = "ok"  # a working-service sample ("all good here"), not a failure
ALL_KINDS = (*KINDS, OK_KIND)

_KIND_ALIASES = {
    "dropped_call": ["drop", "dropped", "calldrop", "droppedcall", "통화끊김", "끊김", "통화끊어짐", "콜드랍",
                     "콜드롭"],
    "call_setup_failure": ["callsetupfailure", "setupfailure", "callfailed", "callfailure", "발신실패", "전화연결실패",
                           "통화연결실패", "연결실패", "전화안됨", "통화안됨"],
    "no_service": ["noservice", "nosignal", "deadzone", "outofservice", "서비스없음", "서비스없음먹통", "먹통", "권외",
                   "신호없음", "서비스불가", "음영지역"],
    "no_data": ["nodata", "nointernet", "datafailure", "데이터안됨", "데이터먹통", "인터넷안됨", "데이터불통"],
    "slow_data": ["slowdata", "slow", "데이터느림", "느림", "속도저하", "인터넷느림"],
    "sms_failure": ["smsfailure", "sms", "smsfailed", "문자실패", "문자", "문자안됨", "mms"],
    "other": ["other", "기타"],
    OK_KIND: ["ok", "allgood", "works", "good", "정상", "잘됨", "이상없음"],
}
_KIND_LOOKUP = {alias: kind for kind, aliases in _KIND_ALIASES.items() for alias in aliases}
_KIND_LOOKUP.update({kind: kind for kind in ALL_KINDS})
_KIND_LOOKUP.update({_key(v["ko"]): k for k, v in KINDS.items()})
_KIND_LOOKUP.update({_key(v["en"]): k for k, v in KINDS.items()})


def host_network(text: str, *, field: str = "carrier") -> str:
    """The host network a URL or command-line parameter names (SKT, KT, LGU+ in any spelling the
    reports accept: 'LGU ' from a '+' in a URL, 케이티, 450-05 ...). An MVNO brand is refused:
    views and exports are per host network, MVNO reports counted under theirs."""
    try:
        carrier = normalise_carrier(text)
    except InputError as e:
        raise InputError(field, text, f"use one of {', '.join(NETWORKS)}") from e
    if carrier.mvno:
        raise InputError(field, text, "MVNO reports are counted under their host network: "
                                      f"use one of {', '.join(NETWORKS)}")
    return carrier.network


def normalise_kind(text: str | None) -> str:
    if text is None or not str(text).strip():
        raise InputError("kind", text, f"required: one of {', '.join(ALL_KINDS)}")
    kind = _KIND_LOOKUP.get(_key(text))
    if kind is None:
        raise InputError("kind", text,
                         f"unknown failure kind; use one of {', '.join(ALL_KINDS)} (or 통화끊김, 먹통 ...)")
    return kind


# --- radio technology ------------------------------------------------------------

TECHS: tuple[str, ...] = ("5G", "LTE", "3G", "unknown")
_TECH_ALIASES = {
    "5G": ["5g", "nr", "5gnr", "nsa", "sa", "5gsa", "5gnsa"],
    "LTE": ["lte", "4g", "ltea", "lteadvanced", "4glte", "lte+"],
    "3G": ["3g", "wcdma", "umts", "hspa", "hspa+", "hsdpa", "hsupa"],
    "unknown": ["", "unknown", "모름", "?", "none"],
}
_TECH_LOOKUP = {alias: tech for tech, aliases in _TECH_ALIASES.items() for alias in aliases}


def normalise_tech(text: str | None) -> str:
    if text is None:
        return "unknown"
    tech = _TECH_LOOKUP.get(_key(text))
    if tech is None:
        raise InputError("tech", text, "use 5G, LTE, 3G or leave empty (NR, 4G, WCDMA are understood)")
    return tech
