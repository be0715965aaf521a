"""My reports: your own log beside what others report in the same places and hours, and a dossier."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from core.city import load_city
from core.errors import DropMapError
from core.vocab import KINDS, NETWORK_NAMES
from evidence import (
    TIME_BUCKETS,
    compare_nearby,
    dossier_html,
    failures_of,
    my_reports,
    my_reports_csv,
    overlapping_outages,
    phone_or_network,
)
from evidence.dossier import GROUP_KO, group_ko, kind_ko, network_ko, percent, place_ko, verdict_numbers
from ui import pick_map
from ui.common import REPORTER_CODE as CODE
from ui.common import client_ip, lang, plain, read, refused_code_text, show_error, tr

GROUP_EN = {
    "same_setup": "same carrier, same model (others)", "model_other_networks": "same model, other carriers",
    "network_other_models": "same carrier, other models", "baseline": "other carriers, other models (baseline)",
    "network_all_models": "same carrier, all models", "others_all_models": "other carriers, all models (baseline)",
}
city = load_city()


def _group_en(comparison, name: str) -> str:
    if name == "model_other_networks" and comparison.model_networks:
        return f"{GROUP_EN[name]} ({', '.join(comparison.model_networks)})"
    return GROUP_EN[name]


st.title(tr("내 제보", "My reports"))
st.caption(tr("제보할 때 받은 코드를 넣으면 내 기록과, 같은 곳·같은 시간대에 다른 사람들이 제보한 내용을 "
              "나란히 보여 줍니다. 코드는 이 브라우저 밖으로 공유되지 않습니다.",
              "Enter the code you received when reporting: your own log, beside what others report in the "
              "same places and hours."))
if CODE in st.session_state and "my_code" not in st.session_state:
    st.session_state["my_code"] = st.session_state[CODE]
code = st.text_input(tr("제보자 코드", "Reporter code"), key="my_code", type="password",
                     placeholder="K7QX-M2PA-9RTB-C4DE").strip()
if not code:
    st.info(tr("코드가 없다면 먼저 '장애 제보'에서 제보하세요.", "No code yet? Send a report first."), icon="🔑")
    st.stop()

try:
    mine = read(my_reports, code, ip=client_ip())  # lookups that find nothing are limited per network
except DropMapError as e:
    if refused_code_text(e, empty_box=False) is not None:  # this network's tries of old-form codes
        st.error(refused_code_text(e, empty_box=False), icon="⏳")
    else:
        show_error(e)
    st.stop()
if mine.empty:
    st.warning(tr("이 코드로 된 제보가 없습니다. 코드를 다시 확인하세요.",
                  "No reports under this code. Check the code."), icon="🔎")
    st.stop()
st.session_state[CODE] = code

failures = failures_of(mine)
cols = st.columns(3)
cols[0].metric(tr("장애 제보", "Failure reports"), f"{int((mine['kind'] != 'ok').sum()):,}")
cols[1].metric(tr("'잘 됨' 표본", "'All good' samples"), f"{int((mine['kind'] == 'ok').sum()):,}")
cols[2].metric(tr("검토 대상(공개 제외)", "Flagged (not public)"), f"{int((mine['status'] != 'ok').sum()):,}")
if (mine["source"] == "demo").any():
    st.warning(tr("이 코드의 제보에는 시연용 합성 데이터가 있습니다.",
                  "Some of these reports are synthetic demo data."), icon="🧪")


def _share(line) -> str:
    """A failure share with its 95 % interval."""
    return f"{percent(line.rate)} ({percent(line.interval[0])}–{percent(line.interval[1])})"


def _kind(k: str) -> str:
    return kind_ko(k) if lang() == "ko" else KINDS.get(k, {}).get("en", "All good")


points = [{"lat": r.lat, "lon": r.lon, "colour": "#2ca02c" if r.kind == "ok" else "#d62728",
           "popup": f"{r.local_time:%Y-%m-%d %H:%M} · {r.brand} · {_kind(r.kind)}"} for r in mine.itertuples()]
st_folium(pick_map.reports_map(points, city.center, city.zoom), key="my_map", height=320,
          use_container_width=True, returned_objects=[])

table = pd.DataFrame({
    tr("일시(서울)", "Time (Seoul)"): mine["local_time"].dt.strftime("%Y-%m-%d %H:%M"),
    tr("장소", "Place"): [place_ko(g, d) for g, d in zip(mine["gu"], mine["dong"], strict=True)],
    tr("가까운 역", "Nearest station"): mine["station"],
    tr("통신사", "Carrier"): mine["brand"],
    tr("유형", "Kind"): mine["kind"].map(_kind),
    tr("기종", "Phone"): mine["device_model"],
    tr("상태", "Status"): mine["status"].map(lambda s: tr("정상", "stored") if s == "ok" else tr("검토", "flagged")),
})
st.dataframe(table, hide_index=True, width="stretch", key="my_table")

# --- beside everyone else ----------------------------------------------------------------
st.subheader(tr("같은 곳·같은 시간대의 다른 이용자", "Others in the same places and hours"))
try:
    comparison = read(compare_nearby, code, mine) if not failures.empty else None
except DropMapError as e:
    show_error(e)
    st.stop()
verdict = phone_or_network(comparison) if comparison else None
if comparison is None:
    st.info(tr("비교할 장애 제보가 없습니다.", "No failure reports to compare."))
else:
    buckets = ", ".join(plain(TIME_BUCKETS[b][lang()]) for b in comparison.buckets)
    own = comparison.networks.get(comparison.network)
    net = plain(NETWORK_NAMES[comparison.network][lang()])
    others = [tr(f"{plain(NETWORK_NAMES[n]['ko'])} 이용자 {line.failure_reporters:,}명",
                 f"{line.failure_reporters:,} {plain(NETWORK_NAMES[n]['en'])} users")
              for n, line in comparison.networks.items() if n != comparison.network]
    hidden = [plain(NETWORK_NAMES[n][lang()]) for n in NETWORK_NAMES if n not in comparison.networks]
    if own:
        st.markdown(tr(
            f"내 제보가 있는 곳(육각형 {comparison.hexes:,}개)·시간대({buckets})에서 같은 기간 다른 **{net} 이용자 "
            f"{own.failure_reporters:,}명**이 장애 {own.failures:,}건을 제보했습니다"
            + (f"; {', '.join(others)}이 장애를 제보했습니다." if others else "."),
            f"In these places ({comparison.hexes:,} hexagons) and hours ({buckets}), **{own.failure_reporters:,} other "
            f"{net} users** reported {own.failures:,} failures over the same period"
            + (f"; {', '.join(others)} reported failures." if others else "."),
        ))
    if hidden:
        st.caption(tr(f"표시하지 않음(다른 제보자 {comparison.k:,}명 미만): {', '.join(hidden)}",
                      f"Not shown (fewer than {comparison.k:,} other reporters): {', '.join(hidden)}"))
    rows = [{tr("통신사", "Carrier"): NETWORK_NAMES[n][lang()], tr("다른 제보자", "Other reporters"): line.reporters,
             tr("장애 제보", "Failures"): line.failures, tr("'잘 됨' 표본", "'All good'"): line.ok_samples,
             tr("실패 비율 (95% 구간)", "Failure share (95% interval)"):
                 _share(line)}
            for n, line in sorted(comparison.networks.items())]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="my_compare")
    st.caption(tr(
        f"기간 {comparison.start:%Y-%m-%d}~{comparison.end:%Y-%m-%d}. (육각형, 시간대, 통신사) 칸마다 다른 제보자가 "
        f"{comparison.k:,}명 이상일 때만 셉니다. 제보는 스스로 보낸 것이라 실제 실패율이 아니며, 통신사마다 "
        "가입자 수가 달라 제보자 수도 다릅니다. 실패 비율 = 장애 ÷ (장애 + '잘 됨' 표본). 다른 사람의 건수에는 "
        "최대 ±2의 고정된 잡음이 더해져 있고, 내 제보는 정확합니다.",
        f"Period {comparison.start:%Y-%m-%d} to {comparison.end:%Y-%m-%d}. A (hexagon, hours, carrier) cell counts "
        f"only with at least {comparison.k:,} other reporters. Reports are volunteered, so these are not true "
        "failure rates, and carriers have different numbers of subscribers. Failure share = failures ÷ "
        "(failures + 'all good' samples). Others' counts carry a fixed noise of at most ±2; your own are exact.",
    ))

    st.subheader(tr("내 폰 문제일까, 망 문제일까?", "Is it my phone or the network?"))
    st.text(tr(f"내 기종: {comparison.model or '(입력 안 함)'} · 내 통신망: {network_ko(comparison.network)}",
                f"My phone: {comparison.model or '(not given)'} · my network: {comparison.network}"))
    group_rows = [{tr("비교 집단", "Group"): group_ko(comparison, g) if lang() == "ko" else _group_en(comparison, g),
                   tr("제보자", "Reporters"): line.reporters, tr("장애", "Failures"): line.failures,
                   tr("'잘 됨'", "'All good'"): line.ok_samples,
                   tr("실패 비율 (95% 구간)", "Failure share (95% interval)"):
                       _share(line)}
                  for g in GROUP_KO if (line := comparison.groups.get(g)) and line.reporters >= comparison.k]
    if group_rows:
        st.dataframe(pd.DataFrame(group_rows), hide_index=True, width="stretch", key="my_phone_groups")
    st.info(plain(verdict.text_ko if lang() == "ko" else verdict.text_en), icon="⚖️")
    for line in verdict_numbers(verdict, lang()):
        st.text(line)
    st.caption(tr("검정: 피셔 정확검정(단측, 유의수준 1%); 집단마다 다른 제보자 k명 이상, 제보·표본 30건 이상일 때만 "
                  "판단합니다. 기종 이름은 입력한 그대로(대소문자·기호 무시) 비교합니다.",
                  "Test: one-sided Fisher exact test at 1%; an answer only when each group has at least k other "
                  "reporters and 30 reports and samples. Phone models are compared as typed (ignoring case and "
                  "punctuation)."))

# --- outages and the dossier -----------------------------------------------------------------
try:
    outages = read(overlapping_outages, mine)
except DropMapError as e:
    show_error(e)
    st.stop()
st.subheader(tr("겹치는 장애(자동 감지)", "Overlapping detected outages"))
if outages is None:
    st.caption(tr("이 사이트에는 장애 감지 기록이 없습니다.", "This site has no outage detector records."))
elif outages.empty:
    st.caption(tr("내 장애 제보와 겹치는 감지된 장애가 없습니다.", "No detected outage overlaps your failures."))
else:
    st.dataframe(pd.DataFrame({
        tr("장애", "Incident"): outages["incident_id"], tr("통신사", "Carrier"): outages["network"],
        tr("시작", "Start"): outages["onset_at"].dt.strftime("%Y-%m-%d %H:%M"),
        tr("끝", "End"): outages["end_at"].dt.strftime("%Y-%m-%d %H:%M"),
        tr("겹치는 내 제보", "My reports inside"): outages["my_reports"],
    }), hide_index=True, width="stretch", key="my_outages")

st.subheader(tr("증거 자료 내려받기", "Download your evidence"))
st.caption(tr("인쇄용 문서(한국어)와 CSV입니다. 통신분쟁조정위원회나 과학기술정보통신부 민원에 첨부할 수 있습니다. "
              "내 좌표와 메모가 들어 있으니 필요한 곳에만 보내세요.",
              "A printable page (Korean) and a CSV, for a complaint to 통신분쟁조정위원회 or 과기정통부. They "
              "contain your own coordinates and notes: share them only where needed."))
now = datetime.now(city.tz)
left, right = st.columns(2)
left.download_button(tr("문서(HTML) 받기", "Dossier (HTML)"), dossier_html(mine, comparison, verdict, outages,
                                                                      generated_at=now),
                     file_name=f"dropmap-evidence-{now:%Y%m%d}.html", mime="text/html", key="my_dossier",
                     use_container_width=True)
right.download_button(tr("내 제보 CSV 받기", "My reports (CSV)"), my_reports_csv(mine),
                      file_name=f"dropmap-my-reports-{now:%Y%m%d}.csv", mime="text/csv", key="my_csv",
                      use_container_width=True)
