"""Outages: detected incidents (list with filters), one incident's page, monthly outage time per carrier.

Widgets -> outages.public / outages.details / outages.compensation -> render.
``?incident=ID`` in the URL opens an incident (the banner links there).
"""

from __future__ import annotations

from datetime import date

import altair as alt
import pandas as pd
import streamlit as st

from core.city import load_city
from core.errors import DropMapError
from core.vocab import NETWORK_NAMES, NETWORKS
from outages import compensation, details
from outages.public import (
    NOTE_NAMES,
    STATUS_NAMES,
    area_text,
    duration_minutes,
    duration_text,
    incident_detail,
    incidents_with_areas,
    people,
    people_text,
    recent_ratio,
    title_text,
)
from ui import share as share_ui
from ui.common import choose, lang, plain, read, show_error, tr

TZ = load_city().tz
SCOPE_NAMES = {"city": {"ko": "서울 전역", "en": "All of Seoul"}, "districts": {"ko": "일부 자치구", "en": "Districts"}}


def _local(t) -> str:
    return "—" if t is None else f"{t.astimezone(TZ):%Y-%m-%d %H:%M}"


def _clock(t, onset) -> str:
    """'11:17', or '10-26 03:12' when not on the onset's day (the title carries the date)."""
    local = t.astimezone(TZ)
    return f"{local:%H:%M}" if local.date() == onset.astimezone(TZ).date() else f"{local:%m-%d %H:%M}"


def _naive(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Seoul wall-clock times without a zone, so the browser shows them as they are."""
    frame[column] = frame[column].dt.tz_convert(TZ).dt.tz_localize(None)
    return frame


# --- one incident -------------------------------------------------------------------

def _header(row: dict, areas: list[dict]) -> None:
    st.subheader(plain(title_text(row, areas, lang())))
    if row["synthetic"]:
        st.info(tr("이 장애는 시연용 합성 데이터에서 감지되었습니다(실제 장애가 아님).",
                   "This incident was detected in synthetic demo data (not a real outage)."), icon="🧪")
    cols = st.columns(4)
    cols[0].metric(tr("추정 시작", "Estimated start"), _clock(row["onset_at"], row["onset_at"]))
    cols[1].metric(tr("감지", "Detected"), _clock(row["detected_at"], row["onset_at"]))
    ended = row["ended_at"]
    ended_text = _clock(ended, row["onset_at"]) if ended else tr("진행 중", "ongoing")
    cols[2].metric(tr("추정 종료", "Estimated end"), ended_text)
    cols[3].metric(tr("지속", "Duration"), duration_text(duration_minutes(row), lang()))
    ratio = recent_ratio(row)
    reports = f"{row['reports']:,}" if people(row["reporters"]) is not None else "–"
    st.write(tr(
        f"범위: **{plain(area_text(row, areas, 'ko'))}** · 제보자 {plain(people_text(row['reporters'], 'ko'))} "
        f"· 제보 {reports}건 · "
        f"최대 평소의 {row['peak_ratio']:.0f}배 (15분 기준)"
        + (f" · 최근 15분 제보자 {plain(row['recent_reporters'])}명(평소의 {ratio:.0f}배)"
           if row["status"] in ("suspected", "ongoing") and ratio else ""),
        f"Area: **{plain(area_text(row, areas, 'en'))}** · {plain(people_text(row['reporters'], 'en'))} reporters · "
        f"{reports} reports · "
        f"peak {row['peak_ratio']:.0f}× the usual (15-minute window)"
        + (f" · last 15 minutes: {plain(row['recent_reporters'])} reporters ({ratio:.0f}× the usual)"
           if row["status"] in ("suspected", "ongoing") and ratio else ""),
    ))


def _timeline(row: dict, areas: list[dict]) -> None:
    st.markdown("#### " + tr("분당 제보자 수와 평소 범위", "Reporters per minute against the usual band"))
    frame = _naive(read(details.timeline, row, areas), "time")
    width = int(frame["minutes"].iloc[0]) if len(frame) else 1
    unit = tr(f"{width}분당", f"per {width} min") if width > 1 else tr("분당", "per minute")
    x = alt.X("time:T", title=tr("서울 시각", "Seoul time"), axis=alt.Axis(format="%H:%M"))
    band = alt.Chart(frame).mark_area(opacity=0.25, color="#4c78a8").encode(
        x=x, y=alt.Y("low:Q", title=tr(f"제보자 수({unit})", f"Reporters ({unit})")), y2="high:Q")
    usual = alt.Chart(frame).mark_line(strokeDash=[4, 3], color="#4c78a8").encode(x=x, y="usual:Q")
    seen = alt.Chart(frame).mark_line(color="#d62728").encode(
        x=x, y="reporters:Q", tooltip=[alt.Tooltip("time:T", format="%H:%M"), "reporters:Q", "usual:Q"])
    marks = pd.DataFrame({"time": [row["onset_at"], row["detected_at"], row["ended_at"]],
                          "what": [tr("추정 시작", "estimated start"), tr("감지", "detected"),
                                   tr("추정 종료", "estimated end")]})
    marks = _naive(marks.dropna().assign(time=lambda f: pd.to_datetime(f["time"], utc=True)), "time")
    rules = alt.Chart(marks).mark_rule(color="#555").encode(x="time:T", tooltip=["what:N"])
    st.altair_chart(band + usual + seen + rules, width="stretch")
    share_ui.offer_incident(frame, row, {code: area_text(row, areas, code) for code in ("ko", "en")}, k=_k(),
                            lang=lang())
    st.caption(tr(
        "빨간 선: 실제 제보자 수(한 사람은 한 시간에 한 번만 셉니다). "
        "파란 띠: 최근 몇 주 같은 요일·시간대로 추정한 평소 범위(98%).",
        "Red: reporters seen (a person counts once per hour). Blue band: the usual range (98%) from the same "
        "weekday and hour in recent weeks.",
    ))


def _districts(row: dict, areas: list[dict]) -> None:
    left, right = st.columns([3, 2])
    with left:
        st.markdown("#### " + tr("영향 지역", "Affected area"))
        features = details.district_features(row, areas)
        hit, spared = tr("영향 지역", "affected"), tr("영향 없음", "not affected")
        for feature in features:
            feature["properties"]["state"] = hit if feature["properties"]["affected"] else spared
        name = "properties.name_ko" if lang() == "ko" else "properties.name_en"
        chart = alt.Chart(alt.Data(values=features)).mark_geoshape(stroke="white", strokeWidth=0.8).encode(
            color=alt.Color("properties.state:N", title=None,
                            scale=alt.Scale(domain=[hit, spared], range=["#d62728", "#dddddd"])),
            tooltip=[alt.Tooltip(f"{name}:N", title=tr("자치구", "District")),
                     alt.Tooltip("properties.reporters:Q", title=tr("제보자", "Reporters"))],
        ).project(type="mercator").properties(height=360)
        st.altair_chart(chart, width="stretch")
    with right:
        if areas:
            table = pd.DataFrame([{
                tr("자치구", "District"): f["properties"]["name_ko" if lang() == "ko" else "name_en"],
                tr("제보자", "Reporters"): f["properties"]["reporters"]}
                for f in features if f["properties"]["reporters"] is not None])
            table = table.sort_values(tr("제보자", "Reporters"), ascending=False)
            st.dataframe(table, hide_index=True, width="stretch", key="outage_districts")
        k = _k()
        st.caption(tr(f"제보자가 {k}명 이상인 자치구만 이름을 밝힙니다.",
                      f"A district is named only with at least {k} reporters."))
        kinds = read(details.kinds, row, areas, lang())
        if len(kinds):
            st.markdown("#### " + tr("장애 유형", "Failure kinds"))
            st.dataframe(kinds.rename(columns={"kind": tr("유형", "Kind"), "reports": tr("제보", "Reports"),
                                               "reporters": tr("제보자", "Reporters")}),
                         hide_index=True, width="stretch", key="outage_kinds")


def _k() -> int:
    from geo.privacy import min_reporters

    return min_reporters()


def _history(history: list) -> None:
    st.markdown("#### " + tr("상태 변화", "Status history"))
    table = pd.DataFrame([{
        tr("시각", "Time"): _local(at), tr("상태", "Status"): STATUS_NAMES[status][lang()],
        tr("메모", "Note"): NOTE_NAMES.get(note, {}).get(lang(), "") if note else ""} for status, at, note in history])
    st.dataframe(table, hide_index=True, width="stretch", key="outage_history")


def _duration(minutes: float, language: str) -> str:
    return plain(duration_text(minutes, language))


def _compensation(row: dict) -> None:
    st.markdown("#### " + tr("배상 시계(추정)", "Compensation clock (estimate)"))
    config = compensation.load_config()
    fee = st.number_input(tr("월 요금(원)", "Monthly fee (KRW)"), min_value=0, max_value=1_000_000, value=80_000,
                          step=5_000, key="comp_fee")
    minutes = duration_minutes(row)
    month_minutes = read(details.month_minutes_of, row)
    state = compensation.clock(row["network"], row["onset_at"], minutes, month_minutes, monthly_fee=fee)
    terms = state["terms"]
    if terms is None:
        st.warning(tr("이 통신사의 약관 기준이 설정되어 있지 않습니다(data/compensation.json).",
                      "No terms are configured for this carrier (data/compensation.json)."))
        return
    st.write(f"**{plain(terms.name[lang()])}** — {plain(terms.basis[lang()])}")
    threshold = state["consecutive_threshold"]
    st.progress(min(minutes / threshold, 1.0),
                text=tr(f"연속 장애 {_duration(minutes, 'ko')} / 기준 {_duration(threshold, 'ko')}",
                        f"Consecutive outage {_duration(minutes, 'en')} / threshold "
                        f"{_duration(threshold, 'en')}"))
    if state["monthly_threshold"]:
        st.progress(min(month_minutes / state["monthly_threshold"], 1.0), text=tr(
            f"이 달 누적(이 통신사, 확인된 장애) {_duration(month_minutes, 'ko')} / 기준 "
            f"{_duration(state['monthly_threshold'], 'ko')}",
            f"This month's total (this carrier, confirmed incidents) {_duration(month_minutes, 'en')} / "
            f"threshold {_duration(state['monthly_threshold'], 'en')}"))
    if state["eligible"]:
        st.success(tr(f"약관 기준을 넘었습니다. 추정 배상액: 약 {state['amount']:,.0f}원 "
                      f"(월 {fee:,}원, {terms.multiplier:g}배)",
                      f"Over the terms' threshold. Estimated compensation: about KRW {state['amount']:,.0f} "
                      f"(fee KRW {fee:,}/month, {terms.multiplier:g}x)"))
    else:
        st.info(tr(f"약관 기준 미달(추정): 연속 기준까지 {_duration(state['remaining_minutes'], 'ko')} 남음.",
                   f"Under the terms' threshold (estimate): {_duration(state['remaining_minutes'], 'en')} "
                   "short of the consecutive threshold."))
    st.caption(plain(config["disclaimer"][lang()]))
    with st.expander(tr("근거(출처)", "Sources")):
        for source in terms.sources:
            # The operator's own links (data/compensation.json), never a visitor's text.
            st.markdown(  # md-trusted: operator's data/compensation.json
                f"- [{source['title']}]({source['url']}) — {source['publisher']}, {source['date']}")
        if terms.note.get(lang()):
            st.caption(plain(terms.note[lang()]))


def show_incident(incident_id: str) -> bool:
    found = read(incident_detail, incident_id)
    if found is None:
        st.warning(tr(f"'{plain(incident_id)}' 장애를 찾을 수 없습니다. 아래 목록에서 고르세요.",
                      f"No incident '{plain(incident_id)}'. Pick one from the list below."))
        return False
    row, areas, history = found
    _header(row, areas)
    _timeline(row, areas)
    _districts(row, areas)
    _history(history)
    _compensation(row)
    return True


# --- the list --------------------------------------------------------------------------

def _filters() -> dict:
    cols = st.columns(4)
    networks = cols[0].multiselect(tr("통신사", "Carrier"), NETWORKS, format_func=lambda n: NETWORK_NAMES[n][lang()],
                                   placeholder=choose(), key="outages_carriers")
    statuses = cols[1].multiselect(tr("상태", "Status"), list(STATUS_NAMES),
                                   format_func=lambda s: STATUS_NAMES[s][lang()],
                                   placeholder=choose(), key="outages_statuses")
    scope = cols[2].selectbox(tr("범위", "Area"), ["", "city", "districts"], placeholder=choose(), key="outages_scope",
                              format_func=lambda s: SCOPE_NAMES[s][lang()] if s else tr("전체", "All"))
    period = cols[3].date_input(tr("시작일 범위", "Onset between"), value=(), key="outages_period",
                                min_value=date(2010, 1, 1))
    filters = {"networks": tuple(networks), "statuses": tuple(statuses), "scope": scope or None, "limit": 500}
    if isinstance(period, tuple) and len(period) == 2:
        filters["since"] = pd.Timestamp(period[0], tz=TZ).to_pydatetime()
        filters["until"] = pd.Timestamp(period[1], tz=TZ).to_pydatetime() + pd.Timedelta(days=1)
    return filters


def show_list() -> None:
    st.markdown("### " + tr("감지된 장애", "Detected incidents"))
    incidents = read(incidents_with_areas, **_filters())
    if not incidents:
        st.info(tr("조건에 맞는 장애가 없습니다.", "No incident matches."))
        return
    table = pd.DataFrame([{
        "ID": row["incident_id"], tr("통신사", "Carrier"): NETWORK_NAMES[row["network"]][lang()],
        tr("상태", "Status"): STATUS_NAMES[row["status"]][lang()], tr("범위", "Area"): area_text(row, areas, lang()),
        tr("추정 시작", "Start"): _local(row["onset_at"]), tr("추정 종료", "End"): _local(row["ended_at"]),
        tr("지속", "Duration"): duration_text(duration_minutes(row), lang()),
        tr("제보자", "Reporters"): people(row["reporters"]),
        tr("최대 배율", "Peak ×"): round(row["peak_ratio"] or 0, 1),
        tr("확인", "Confirmed"): row["confirmed"], tr("합성", "Synthetic"): row["synthetic"],
    } for row, areas in incidents])
    st.dataframe(table, hide_index=True, width="stretch", key="outages_table")
    ids = [row["incident_id"] for row, _ in incidents]
    picked = st.selectbox(tr("자세히 볼 장애", "Open an incident"), [""] + ids, key="outages_pick",
                          placeholder=choose(), format_func=lambda i: i or tr("(고르세요)", "(choose)"))
    if picked and picked != st.query_params.get("incident"):
        st.query_params["incident"] = picked
        st.rerun()


def show_monthly() -> None:
    st.markdown("### " + tr("통신사별 월 누적 장애 시간", "Monthly outage time per carrier"))
    totals = read(details.monthly_totals)
    if totals.empty:
        st.caption(tr("확인된 장애가 아직 없습니다.", "No confirmed incident yet."))
        return
    totals["carrier"] = totals["network"].map(lambda n: NETWORK_NAMES[n][lang()])
    totals["hours"] = (totals["minutes"] / 60).round(2)
    chart = alt.Chart(totals).mark_bar().encode(
        x=alt.X("month:N", title=tr("월", "Month"), axis=alt.Axis(labelAngle=0)), xOffset="carrier:N",
        y=alt.Y("hours:Q", title=tr("누적 장애 시간(시간)", "Outage time (hours)")),
        color=alt.Color("carrier:N", title=tr("통신사", "Carrier")),
        tooltip=["carrier:N", "month:N", "hours:Q", "incidents:Q"])
    st.altair_chart(chart, width="stretch")
    st.caption(tr("확인된(‘장애 진행 중’에 이른) 장애만, 추정 시작부터 추정 종료까지를 더합니다.",
                  "Confirmed incidents only (those that reached 'ongoing'), from estimated start to estimated end."))


st.title(tr("통신 장애 감지", "Outage detection"))
st.caption(tr(
    "통신사별로 최근 15분·1시간 제보자 수를 최근 몇 주 같은 요일·시간대의 평소 수준과 비교해, 우연으로 보기 어려운 "
    "급증을 장애로 봅니다. 서로 다른 제보자가 충분히 있어야 하며(소수의 반복 제보는 무시), "
    "추정치일 뿐 통신사의 공식 발표가 아닙니다.",
    "Per carrier, the reporters of the last minutes are compared with the usual level for the same weekday and "
    "hour in recent weeks; a surge too large to be chance is an incident. Enough distinct reporters are needed "
    "(a few people repeating themselves are ignored). Estimates, not the carriers' official statements.",
))
try:
    selected = st.query_params.get("incident")
    if selected and show_incident(selected):
        st.divider()
    show_list()
    show_monthly()
except DropMapError as e:
    show_error(e)
