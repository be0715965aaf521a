"""The site's report form: its choices, and one filled-in form as a raw row for validation."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from core.vocab import KINDS, NETWORK_NAMES, TECHS

# (value sent as the 'carrier' field, Korean label, English label). The values are
# spellings core.vocab.normalise_carrier understands (tests check each one).
CARRIER_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("SKT", "SK텔레콤", "SK Telecom"),
    ("KT", "KT", "KT"),
    ("LGU+", "LG U+", "LG U+"),
    ("KT M모바일", "알뜰폰 · KT M모바일 (KT망)", "MVNO · KT M mobile (KT)"),
    ("KT스카이라이프", "알뜰폰 · KT스카이라이프 (KT망)", "MVNO · KT Skylife (KT)"),
    ("SK 세븐모바일", "알뜰폰 · SK 세븐모바일 (SKT망)", "MVNO · SK 7mobile (SKT)"),
    ("티플러스", "알뜰폰 · 티플러스 (SKT망)", "MVNO · Tplus (SKT)"),
    ("U+유모바일", "알뜰폰 · U+유모바일 (LG U+망)", "MVNO · U+ umobile (LG U+)"),
    *(
        (f"{brand} {network}", f"알뜰폰 · {brand} ({NETWORK_NAMES[network]['ko']}망)",
         f"MVNO · {english} ({NETWORK_NAMES[network]['en']})")
        for brand, english in (("헬로모바일", "Hello Mobile"), ("리브엠", "Liiv M"), ("토스모바일", "Toss Mobile"),
                               ("프리티", "Freet"), ("이야기모바일", "Eyagi Mobile"), ("아이즈모바일", "Eyes Mobile"),
                               ("알뜰폰", "other MVNO"))
        for network in ("SKT", "KT", "LGU+")
    ),
)

TECH_CHOICES = tuple(t for t in TECHS if t != "unknown")

# Where the point came from -> accuracy we can claim (metres); None: as tapped.
STATION_ACCURACY_M = 300.0  # a station's platforms and exits spread over a few hundred metres


def carrier_label(value: str, lang: str) -> str:
    for choice, ko, en in CARRIER_CHOICES:
        if choice == value:
            return en if lang == "en" else ko
    return value


def kind_label(kind: str, lang: str) -> str:
    return KINDS[kind]["en" if lang == "en" else "ko"]


def form_row(*, lat: float, lon: float, carrier: str, kind: str, observed_at: datetime,
             tech: str | None = None, device_model: str | None = None, note: str | None = None,
             accuracy_m: float | None = None) -> pd.DataFrame:
    """One report from the form as the raw, field-named text row that validation expects."""
    row = {
        "lat": repr(float(lat)), "lon": repr(float(lon)), "carrier": carrier, "kind": kind,
        "observed_at": observed_at.isoformat(), "tech": tech or None,
        "device_model": (device_model or "").strip() or None, "note": (note or "").strip() or None,
        "accuracy_m": None if accuracy_m is None else repr(float(accuracy_m)),
    }
    return pd.DataFrame([row], dtype=object)
