"""Charts and tables of the explore page (altair specs and display frames; no SQL, no H3).

Each function takes frames from geo.mapview / geo.mapdetail, already limited
to groups with k reporters, and the language; numbers keep their intervals.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from core.vocab import KINDS, NETWORK_NAMES
from geo.mapview import RATE
from ui.mapdraw import format_value

CARRIER_COLOURS = {"SKT": "#e4572e", "KT": "#2e86ab", "LGU+": "#a23b72"}


def _t(lang: str, ko: str, en: str) -> str:
    return en if lang == "en" else ko


def carrier_name(network: str, lang: str) -> str:
    return NETWORK_NAMES.get(network, {}).get(lang, network)


def _carrier_scale(lang: str) -> alt.Scale:
    names = [carrier_name(n, lang) for n in CARRIER_COLOURS]
    return alt.Scale(domain=names, range=list(CARRIER_COLOURS.values()))


def value_title(measure: str, lang: str, *, per: str = "day") -> str:
    if measure == RATE:
        return _t(lang, "장애 비율", "failure rate")
    if per == "hour":
        return _t(lang, "장애 제보 (하루 평균, 건)", "failure reports (per day, average)")
    return _t(lang, "장애 제보 (건/일)", "failure reports per day")


def _shown(frame: pd.DataFrame, measure: str, lang: str, *, keep_hidden: bool = False) -> pd.DataFrame:
    out = frame.copy() if keep_hidden else frame[~frame["hidden"]].copy()
    out["carrier"] = [carrier_name(n, lang) for n in out["network"]]
    out["shown"] = [_with_interval(v, lo, hi, measure, label="95% ")
                    for v, lo, hi in zip(out["value"], out["low"], out["high"], strict=True)]
    return out


def hour_heatmap(frame: pd.DataFrame, measure: str, lang: str) -> alt.Chart:
    """Hour of day x carrier, coloured by the rate (or reports per day) of the whole view."""
    data = _shown(frame, measure, lang)
    fmt = ".1%" if measure == RATE else ".1f"
    return alt.Chart(data).mark_rect().encode(
        x=alt.X("hour:O", title=_t(lang, "시각 (서울)", "hour (Seoul)")),
        y=alt.Y("carrier:N", title=None, sort=[carrier_name(n, lang) for n in CARRIER_COLOURS]),
        color=alt.Color("value:Q", title=value_title(measure, lang, per="hour"),
                        scale=alt.Scale(scheme="yelloworangered"), legend=alt.Legend(format=fmt)),
        tooltip=[alt.Tooltip("carrier:N", title=_t(lang, "통신사", "carrier")),
                 alt.Tooltip("hour:O", title=_t(lang, "시각", "hour")),
                 alt.Tooltip("shown:N", title=value_title(measure, lang, per="hour")),
                 alt.Tooltip("failures:Q", title=_t(lang, "장애 제보", "failures")),
                 alt.Tooltip("reports:Q", title=_t(lang, "전체 제보", "all reports"))],
    ).properties(height=140)


def _full_grid(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    """Every hour (or day) for every carrier, missing and hidden ones as gaps, so lines do not bridge them."""
    if frame.empty:
        return frame
    steps = range(24) if x == "hour" else pd.date_range(frame[x].min(), frame[x].max(), freq="D")
    grid = pd.MultiIndex.from_product([steps, sorted(frame["network"].unique())], names=[x, "network"])
    out = frame.set_index([x, "network"]).reindex(grid).reset_index()
    out["hidden"] = out["hidden"].astype("boolean").fillna(True).astype(bool)
    return out


def trend_chart(frame: pd.DataFrame, measure: str, lang: str, *, x: str = "day") -> alt.LayerChart:
    """One line per carrier with its 95 % band (x = day or hour); hidden or empty steps are gaps."""
    data = _shown(_full_grid(frame, x), measure, lang, keep_hidden=True)
    fmt = ".0%" if measure == RATE else ".1f"
    x_enc = alt.X("day:T", title=_t(lang, "날짜 (서울)", "date (Seoul)")) if x == "day" else \
        alt.X("hour:Q", title=_t(lang, "시각 (서울)", "hour (Seoul)"), scale=alt.Scale(domain=[0, 23]))
    base = alt.Chart(data).encode(x=x_enc, color=alt.Color("carrier:N", title=None, scale=_carrier_scale(lang)))
    band = base.mark_area(opacity=0.15, invalid="break-paths-show-domains").encode(y="low:Q", y2="high:Q")
    line = base.mark_line(point=True, invalid="break-paths-show-domains").encode(
        y=alt.Y("value:Q", title=value_title(measure, lang), axis=alt.Axis(format=fmt)),
        tooltip=[alt.Tooltip("carrier:N", title=_t(lang, "통신사", "carrier")),
                 alt.Tooltip(f"{x}:{'T' if x == 'day' else 'Q'}", title=_t(lang, "날짜", "date") if x == "day"
                             else _t(lang, "시각", "hour")),
                 alt.Tooltip("shown:N", title=value_title(measure, lang)),
                 alt.Tooltip("failures:Q", title=_t(lang, "장애 제보", "failures")),
                 alt.Tooltip("reports:Q", title=_t(lang, "전체 제보", "all reports"))],
    )
    return (band + line).properties(height=220)


def kinds_chart(frame: pd.DataFrame, lang: str) -> alt.Chart:
    data = frame.copy()
    data["kind_name"] = [KINDS.get(k, {}).get(lang, k) for k in data["kind"]]
    data["carrier"] = [carrier_name(n, lang) for n in data["network"]]
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("failures:Q", title=_t(lang, "장애 제보 (건)", "failure reports")),
        y=alt.Y("kind_name:N", title=None),
        color=alt.Color("carrier:N", title=None, scale=_carrier_scale(lang)),
        tooltip=["carrier:N", "kind_name:N", "failures:Q"],
    ).properties(height=180)


def _with_interval(value, low, high, measure: str, *, label: str = "") -> str:
    return f"{format_value(value, measure)} ({label}{format_value(low, measure)}–{format_value(high, measure)})"


def carriers_table(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Per carrier in one hex: failures, all reports, observed rate with interval; hidden groups say so."""
    rows = []
    for row in frame.to_dict("records"):
        hidden = bool(row["hidden"])
        rows.append({
            _t(lang, "통신사", "Carrier"): carrier_name(row["network"], lang),
            _t(lang, "장애", "Failures"): "–" if hidden else str(int(row["failures"])),
            _t(lang, "전체 제보", "All reports"): "–" if hidden else str(int(row["reports"])),
            _t(lang, "장애 비율 (95% 구간)", "Failure rate (95% interval)"):
                _t(lang, "제보자 부족(비공개)", "too few reporters (hidden)") if hidden else
                _with_interval(row["value"], row["low"], row["high"], RATE),
        })
    return pd.DataFrame(rows)


def worst_table(frame: pd.DataFrame, measure: str, lang: str) -> pd.DataFrame:
    """The worst places per carrier, with names first and the hex id last."""
    en = lang == "en"
    return pd.DataFrame({
        _t(lang, "통신사", "Carrier"): [carrier_name(n, lang) for n in frame["network"]],
        _t(lang, "순위", "Rank"): frame["rank"],
        _t(lang, "구", "District"): frame["gu_en" if en else "gu_ko"],
        _t(lang, "동", "Neighbourhood"): frame["dong_en" if en else "dong_ko"],
        _t(lang, "가까운 역", "Nearest station"): [f"{s} ({m} m)" for s, m in zip(frame["station"], frame["station_m"],
                                                                                strict=True)],
        _t(lang, "보정값 (95% 구간)", "Shrunk estimate (95% interval)"): [
            _with_interval(v, lo, hi, measure)
            for v, lo, hi in zip(frame["estimate"], frame["low"], frame["high"], strict=True)],
        _t(lang, "관측값", "Observed"): [format_value(v, measure) for v in frame["observed"]],
        _t(lang, "장애 / 전체", "Failures / all"): [f"{int(f)} / {int(n)}" if pd.notna(f) and pd.notna(n) else "–"
                                                   for f, n in zip(frame["failures"], frame["reports"], strict=True)],
        _t(lang, "육각형", "Hex"): frame["cell_id"],
    })
