"""The evidence dossier: a printable Korean HTML page and a CSV of the reporter's own reports.

Everything that came from outside (notes, phone models, brands, place names)
is escaped. Other reporters appear only as counts over cells with at least k
of them; nothing in the dossier identifies anyone else.
"""

from __future__ import annotations

import html
from datetime import datetime

import pandas as pd

from core.vocab import KINDS, NETWORK_NAMES
from evidence.compare import Comparison, Line, Verdict
from evidence.csv_safe import to_csv_bytes
from evidence.mine import TIME_BUCKETS, failures_of

STATUS_KO = {"ok": "정상 저장", "flagged": "검토 대상(공개 집계에서 제외)"}
GROUP_KO = {
    "same_setup": "같은 통신사·같은 기종(다른 사람)",
    "model_other_networks": "같은 기종·다른 통신사",
    "network_other_models": "같은 통신사·다른 기종",
    "baseline": "다른 통신사·다른 기종(기준)",
    "network_all_models": "같은 통신사·모든 기종",
    "others_all_models": "다른 통신사·모든 기종(기준)",
}

# The verdicts in the summary's documentary style (evidence.compare.phone_or_network decides).
VERDICT_DOC = {
    "network": "같은 장소·시간대에서 다른 기종을 쓰는 {net} 이용자도 다른 통신사·다른 기종 이용자보다 실패 비율이 "
               "통계적으로 뚜렷이 높았다(피셔 정확검정, 단측, 유의수준 1%). 단말기만의 문제로 설명하기 어렵다.",
    "phone": "같은 기종을 다른 통신사에서 쓰는 이용자도 실패 비율이 뚜렷이 높았다(피셔 정확검정, 단측, 유의수준 1%). "
             "단말기 쪽 원인도 확인할 필요가 있다.",
    "both": "{net}과 같은 기종 모두 비교 집단보다 실패 비율이 높아, 어느 한쪽의 원인이라고 말할 수 없다.",
    "none": "같은 장소·시간대의 통신사별·기종별 실패 비율에는 우연으로 설명할 수 없는 차이가 확인되지 않았다.",
}

_CSS = """
body { font-family: 'Noto Sans KR', 'Malgun Gothic', 'Apple SD Gothic Neo', sans-serif; margin: 2em auto;
       max-width: 60em; color: #111; line-height: 1.5; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; border-bottom: 1px solid #999;
margin-top: 1.6em; } table { border-collapse: collapse; width: 100%; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.4em; text-align: left; vertical-align: top; }
th { background: #eee; } .num { text-align: right; } .meta, .note { color: #444; font-size: 0.85em; }
.synthetic { border: 2px solid #c60; padding: 0.5em; background: #fff4e5; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; } tr { page-break-inside: avoid; } }
"""


def text(value) -> str:
    """Plain text of a value; empty for a missing one (None, NaN, pd.NA, NaT).

    Place names, phones, notes and technologies are often missing (a report on the
    river has no dong, a report outside Seoul no district), and pandas' string
    columns hold a missing value as a float NaN, not as None.
    """
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # a list-like value: not a missing scalar
        pass
    return str(value)


def e(value) -> str:
    """Escaped text of any value; empty for missing values."""
    return html.escape(text(value), quote=True)


def kind_ko(kind: str) -> str:
    return "정상('잘 됨' 표본)" if kind == "ok" else KINDS.get(kind, {}).get("ko", kind)


def network_ko(network: str) -> str:
    return NETWORK_NAMES.get(network, {}).get("ko", network)


def group_ko(comparison: Comparison, name: str) -> str:
    """A phone group's name; "same model, other carriers" says which carriers it sums."""
    if name == "model_other_networks" and comparison.model_networks:
        return f"{GROUP_KO[name]} ({'·'.join(network_ko(n) for n in comparison.model_networks)})"
    return GROUP_KO.get(name, name)


def percent(rate: float) -> str:
    return "—" if not text(rate) else f"{rate * 100:.1f}%"


def rate_text(line: Line) -> str:
    if not line.ok_samples:
        return "계산 불가('정상' 표본 없음)"
    low, high = line.interval
    return f"{percent(line.rate)} (95% 구간 {percent(low)}–{percent(high)})"


def _table(headers: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td class=\"num\">{e(v)}</td>" if i in numeric else f"<td>{e(v)}</td>"
                         for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def summary_ko(mine: pd.DataFrame, comparison: Comparison | None, verdict: Verdict | None,
               outages: pd.DataFrame | None) -> str:
    """A short neutral summary for a complaint (통신분쟁조정위원회, 과학기술정보통신부)."""
    failures = failures_of(mine)
    if failures.empty:
        return "이 제보자 코드로 기록된 장애 제보가 없습니다."
    first, last = failures["local_time"].min(), failures["local_time"].max()
    kinds = ", ".join(f"{kind_ko(k)} {n}건" for k, n in failures["kind"].value_counts().items())
    brands = ", ".join(sorted({text(b) for b in failures["brand"]} - {""})) or "미상"
    districts = ", ".join(sorted({text(g) for g in failures["gu"]} - {""})) or "서울 밖 또는 미상"
    days = failures["local_time"].dt.date.nunique()
    parts = [
        f"제보자는 {first:%Y년 %m월 %d일}부터 {last:%Y년 %m월 %d일}까지 {brands} 회선에서 겪은 이동통신 장애 "
        f"{len(failures)}건({kinds})을 서로 다른 {days}일에 걸쳐 끊김지도(DropMap)에 기록하였다. "
        f"장소는 {districts}이다."
    ]
    if comparison is not None:
        own = comparison.networks.get(comparison.network)
        others = [f"{network_ko(n)} 이용자 {line.failure_reporters}명이 {line.failures}건"
                  for n, line in comparison.networks.items() if n != comparison.network]
        if own is not None:
            parts.append(
                f"같은 장소(H3 해상도 8 육각형 {comparison.hexes}곳, 한 곳 약 0.7 km²)와 같은 시간대에 "
                f"{comparison.start:%Y-%m-%d}~{comparison.end:%Y-%m-%d} 기간 동안 다른 "
                f"{network_ko(comparison.network)} 이용자 {own.failure_reporters}명이 장애 {own.failures}건을 "
                f"제보하였다" + (f"(같은 조건에서 {', '.join(others)}을 제보)." if others else ".")
            )
        else:
            parts.append(f"같은 장소·시간대의 다른 {network_ko(comparison.network)} 이용자 제보는 공개 기준"
                         f"(서로 다른 제보자 {comparison.k}명 이상)에 미치지 못해 비교하지 않았다.")
    if verdict is not None and verdict.code in VERDICT_DOC and comparison is not None:
        parts.append(VERDICT_DOC[verdict.code].format(net=network_ko(comparison.network)))
    if outages is not None and not outages.empty:
        parts.append(f"이 가운데 {int(outages['my_reports'].sum())}건은 끊김지도가 자동으로 감지한 "
                     f"{network_ko(comparison.network) if comparison else ''} 장애 {len(outages)}건의 시간대와 겹친다.")
    parts.append("이 자료는 제보자 본인의 기록과 다른 이용자들의 익명 집계이며 통신사의 망 운영 기록을 대신하지 "
                 "않는다. 해당 일시·장소의 기지국 및 망 운영 기록과 대조하여 확인해 줄 것을 요청하는 근거로 제출한다.")
    return " ".join(parts)


def _frequency(failures: pd.DataFrame) -> str:
    months = failures.assign(month=failures["local_time"].dt.strftime("%Y-%m"))
    by_month = months.groupby("month").agg(reports=("kind", "size"), days=("local_time", lambda t: t.dt.date.nunique()))
    month_rows = [[m, int(r.reports), int(r.days)] for m, r in by_month.iterrows()]
    buckets = failures["bucket"].value_counts().sort_index()
    bucket_rows = [[TIME_BUCKETS[int(b)]["ko"], int(n)] for b, n in buckets.items()]
    return (_table(["월", "장애 제보", "제보한 날 수"], month_rows, {1, 2})
            + _table(["시간대(서울)", "장애 제보"], bucket_rows, {1}))


def _comparison_html(comparison: Comparison | None, verdict: Verdict | None) -> str:
    if comparison is None:
        return "<p>비교할 장애 제보가 없습니다.</p>"
    buckets = ", ".join(TIME_BUCKETS[b]["ko"] for b in comparison.buckets)
    intro = (f"<p>비교 범위: 내 장애 제보가 있었던 육각형 {comparison.hexes}곳과, 각 육각형에서 내가 제보한 "
             f"시간대({e(buckets)})의 조합. "
             f"기간 {comparison.start:%Y-%m-%d}~{comparison.end:%Y-%m-%d}. 각 (육각형, 시간대, 통신사) 칸은 "
             f"나를 뺀 제보자가 {comparison.k}명 이상일 때만 셉니다.</p>")
    rows = [[network_ko(n), line.reporters, line.failure_reporters, line.failures, line.ok_samples, rate_text(line)]
            for n, line in sorted(comparison.networks.items())]
    missing = [network_ko(n) for n in NETWORK_NAMES if n not in comparison.networks]
    table = _table(["통신사", "다른 제보자", "장애를 제보한 사람", "장애 제보", "'정상' 표본", "실패 비율"],
                   rows, {1, 2, 3, 4}) if rows else "<p>공개 기준을 넘는 칸이 없습니다.</p>"
    note = (f"<p class=\"note\">표시하지 않음(제보자 {comparison.k}명 미만): {e(', '.join(missing))}</p>"
            if missing else "")
    return intro + table + note + _phone_html(comparison, verdict)


_TEST_NAMES = {
    "network": ("통신사 검정(같은 통신사·다른 기종 대 기준)", "carrier test (same carrier, other models vs baseline)"),
    "phone": ("기종 검정(같은 기종·다른 통신사 대 기준)", "phone test (same model, other carriers vs baseline)"),
}
_UNDECIDED = ("자료 부족(판단하지 않음)", "not enough data (not decided)")


def p_text(p: float) -> str:
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def verdict_numbers(verdict: Verdict | None, lang: str = "ko") -> list[str]:
    """One line per test behind the answer: both shares with their counts, and the p-value."""
    lines = []
    for test in (verdict.tests if verdict else []):
        name = _TEST_NAMES.get(test["what"], (test["what"], test["what"]))[lang == "en"]
        group, base = test["group"], test["baseline"]
        if not test["decided"]:
            lines.append(f"{name}: {_UNDECIDED[lang == 'en']}")
            continue
        lines.append(f"{name}: {percent(group.rate)} ({group.failures:,}/{group.total:,}) vs "
                     f"{percent(base.rate)} ({base.failures:,}/{base.total:,}), {p_text(test['p_value'])}")
    return lines


def _phone_html(comparison: Comparison, verdict: Verdict | None) -> str:
    model = comparison.model or "(입력 안 함)"
    rows = [[group_ko(comparison, name), line.reporters, line.failures, line.ok_samples, rate_text(line)]
            for name in GROUP_KO if (line := comparison.groups.get(name)) and line.reporters >= comparison.k]
    out = [f"<h2>4. 단말기 문제인가, 망 문제인가</h2><p>내 기종: {e(model)} · 내 통신망: "
           f"{e(network_ko(comparison.network))}</p>"]
    out.append(_table(["비교 집단", "제보자", "장애 제보", "'정상' 표본", "실패 비율"], rows, {1, 2, 3})
               if rows else "<p>비교 집단마다 제보자가 k명 미만이라 표시하지 않습니다.</p>")
    if verdict is not None:
        out.append(f"<p><strong>판단:</strong> {e(verdict.text_ko)}</p>")
        numbers = verdict_numbers(verdict, "ko")
        if numbers:
            out.append("<ul class=\"tests\">" + "".join(f"<li>{e(line)}</li>" for line in numbers) + "</ul>")
    out.append("<p class=\"note\">검정: 피셔 정확검정(단측), 유의수준 1%. 각 집단에 다른 제보자 k명 이상, 제보와 "
               "'정상' 표본 30건 이상일 때만 판단합니다. 같은 사람의 제보는 서로 독립이 아니므로 엄격한 기준을 씁니다. "
               "기종 이름은 대소문자·공백·기호를 무시하고 비교합니다"
               "('SM-G991N'과 'Galaxy S21'은 다른 이름으로 봅니다).</p>")
    return "".join(out)


def _outages_html(outages: pd.DataFrame | None) -> str:
    if outages is None:
        return "<p>이 사이트에는 장애 자동 감지 기록이 없습니다.</p>"
    if outages.empty:
        return "<p>내 장애 제보와 겹치는 자동 감지 장애가 없습니다.</p>"
    rows = [[r.incident_id, network_ko(r.network), f"{r.onset_at:%Y-%m-%d %H:%M}", f"{r.end_at:%Y-%m-%d %H:%M}",
             int(r.my_reports)] for r in outages.itertuples()]
    return _table(["장애 번호", "통신사", "시작(서울)", "끝(서울)", "겹치는 내 제보"], rows, {4})


def place_ko(gu, dong) -> str:
    """'광진구 자양동', '광진구' (on the river, in a park: no dong), or '서울 밖' without a district."""
    return " ".join(p for p in (text(gu), text(dong)) if p) or "서울 밖"


def station_ko(station, metres) -> str:
    """'건대입구역 350 m'; empty without a station or a distance."""
    name, distance = text(station), text(metres)
    return f"{name}역 {float(metres):,.0f} m" if name and distance else name


def tech_ko(tech) -> str:
    """'5G', 'LTE', '3G', or '모름' where the report did not say (stored as 'unknown')."""
    value = text(tech)
    return "모름" if value in ("", "unknown") else value


def _reports_html(mine: pd.DataFrame) -> str:
    rows = []
    for r in mine.itertuples():
        rows.append([f"{r.local_time:%Y-%m-%d %H:%M}", place_ko(r.gu, r.dong), station_ko(r.station, r.station_m),
                     f"{r.lat:.5f}, {r.lon:.5f}", f"{network_ko(r.network)} / {text(r.brand)}", kind_ko(r.kind),
                     tech_ko(r.tech), r.device_model, r.note, STATUS_KO.get(r.status, text(r.status))])
    headers = ["일시(서울)", "장소", "가까운 역", "좌표", "통신망/브랜드", "유형", "방식", "기종", "메모", "상태"]
    return _table(headers, rows)


def dossier_html(mine: pd.DataFrame, comparison: Comparison | None, verdict: Verdict | None,
                 outages: pd.DataFrame | None, *, generated_at: datetime) -> str:
    """The printable dossier (Korean). ``generated_at`` is shown in Seoul time."""
    synthetic = (bool((mine["source"] == "demo").any()) or bool(comparison and comparison.demo_share > 0)
                 or bool(outages is not None and "synthetic" in outages and outages["synthetic"].any()))
    banner = ("<p class=\"synthetic\"><strong>주의:</strong> 이 문서에는 시연용 합성 데이터가 들어 있습니다. "
              "실제 제보가 아니므로 민원·분쟁 자료로 쓸 수 없습니다.</p>") if synthetic else ""
    failures = failures_of(mine)
    samples = int((mine["kind"] == "ok").sum())
    flagged = int((mine["status"] != "ok").sum())
    return f"""<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>이동통신 장애 기록 — 끊김지도</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body>
<h1>이동통신 장애 기록</h1>
<p class="meta">끊김지도(DropMap)에서 제보자 본인의 코드로 만든 문서 ·
생성 {generated_at:%Y-%m-%d %H:%M} (서울 시각)</p>
{banner}
<h2>1. 요약</h2>
<p>{e(summary_ko(mine, comparison, verdict, outages))}</p>
<p class="meta">장애 제보 {len(failures)}건 · '정상' 표본 {samples}건 ·
검토 대상으로 분류되어 집계에서 빠진 제보 {flagged}건</p>
<h2>2. 얼마나 자주</h2>
{_frequency(failures) if not failures.empty else "<p>장애 제보가 없습니다.</p>"}
<h2>3. 같은 곳·같은 시간대의 다른 이용자</h2>
{_comparison_html(comparison, verdict)}
<h2>5. 겹치는 장애(자동 감지)</h2>
{_outages_html(outages)}
<h2>6. 제보 목록</h2>
{_reports_html(mine)}
<h2>7. 방법과 한계</h2>
<p class="note">제보는 스스로 선택한 사람들이 보낸 것이므로 통화 실패율 자체가 아닙니다. 통신사마다 가입자 수가 달라
제보자 수는 점유율의 영향을 받습니다. 실패 비율은 장애 제보 ÷ (장애 제보 + '정상' 표본)이며,
괄호 안은 윌슨 95% 구간입니다.
다른 이용자의 수치는 (육각형, 시간대, 통신사) 칸마다 서로 다른 제보자가 k명 이상인 칸만 더한 것이며, 적은 사람을
가려내지 못하도록 건수마다 최대 ±2의 고정된 잡음이 더해져 있습니다(같은 제보는 언제나 같은 값).
내 제보의 수치는 정확합니다.
다른 사람의 위치나 신원은 이 문서에 들어 있지 않습니다. 제보자 코드와 IP 주소는 비밀 키 해시로만 저장됩니다.</p>
</body></html>
"""


CSV_COLUMNS = {
    "local_time": "일시(서울)", "lat": "위도", "lon": "경도", "accuracy_m": "정확도(m)", "gu": "구", "dong": "동",
    "station": "가까운 역", "station_m": "역까지(m)", "network": "통신망", "brand": "브랜드", "kind": "유형",
    "tech": "방식", "device_model": "기종", "note": "메모", "status": "상태", "flag_reason": "검토 사유",
    "source": "경로", "report_id": "제보 번호",
}


def my_reports_csv(mine: pd.DataFrame) -> bytes:
    """The reporter's own reports as CSV (UTF-8 with BOM, formula-safe)."""
    frame = mine[[c for c in CSV_COLUMNS if c in mine.columns]].copy()
    frame["local_time"] = frame["local_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame["kind"] = frame["kind"].map(kind_ko)
    return to_csv_bytes(frame.rename(columns=CSV_COLUMNS))
