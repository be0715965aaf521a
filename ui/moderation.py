"""Moderation, for the site's operator only: flagged reports, suspected Sybil clusters, restore or flag,
withdraw an incident. Hidden from the menu; opens with the operator token (`python -m store operator-token`)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from core.errors import DropMapError
from core.operator import OperatorRefusedError
from geo.privacy import min_reporters
from outages.moderation import withdraw, withdrawable_incidents
from store import moderation
from store.limits import GUARD
from ui.common import choose, client_ip, cursor, plain, show_error, tr

OPERATOR = "operator_id"  # session key: the token's id once the token was right
MAX_CLUSTERS = 30

st.title(tr("운영자 검토", "Moderation"))

if OPERATOR not in st.session_state:
    st.caption(tr("운영자만 쓰는 화면입니다. 서버에서 `python -m store operator-token`으로 토큰을 확인하세요.",
                  "For the site's operator. Print the token on the server: `python -m store operator-token`."))
    token = st.text_input(tr("운영자 토큰", "Operator token"), type="password", key="operator_token")
    if st.button(tr("열기", "Open"), key="operator_open"):
        try:
            st.session_state[OPERATOR] = GUARD.check(token, client_ip())
            st.rerun()
        except OperatorRefusedError as e:
            st.error(tr("토큰이 맞지 않거나 시도가 너무 많습니다.", "Wrong token, or too many attempts.")
                     + (f" ({e.retry_after:,.0f} s)" if e.retry_after else ""), icon="🔒")
    st.stop()

operator = st.session_state[OPERATOR]
st.caption(tr(f"운영자 {plain(operator)}. 모든 조치는 이유와 함께 기록되고, 제보는 지워지지 않습니다(상태만 바뀜).",
              f"Operator {plain(operator)}. Every action is logged with its reason; reports are never deleted "
              "(only their status changes)."))


def _act(action, *args, **kwargs) -> None:
    """Run a moderation function, then say what it did (or why it could not)."""
    # The operator's writes and reads run without the public time limit (a stopped write helps no one);
    # the with-block closes the cursor.
    try:
        with cursor() as cur:
            result = action(cur, *args, operator=operator, **kwargs)
    except DropMapError as e:
        show_error(e)
        return
    if isinstance(result, list):
        st.success(tr(f"제보 {len(result)}건의 상태를 바꿨습니다.", f"Changed the status of {len(result)} reports."))
    else:
        st.success(tr("처리했습니다.", "Done.") if result else tr("이미 철회된 장애입니다.", "Already withdrawn."))


def _resting_incidents(report_ids: list[str], key: str) -> None:
    with cursor() as cur:
        resting = moderation.incidents_resting_on(cur, report_ids)
    if not resting:
        return
    st.warning(tr("이 제보들에 기댄 장애가 있습니다:", "Incidents rested on these reports:"))
    st.dataframe(pd.DataFrame(resting), hide_index=True)
    choice = st.selectbox(tr("철회할 장애", "Incident to withdraw"), [r["incident_id"] for r in resting],
                          key=f"resting_{key}", placeholder=choose())
    if st.button(tr("장애 철회", "Withdraw the incident"), key=f"withdraw_{key}"):
        _act(withdraw, choice, reason=st.session_state.get(f"why_{key}") or "rested on moderated reports")


clusters_tab, flagged_tab, single_tab, incidents_tab, log_tab = st.tabs([
    tr("의심 묶음", "Suspected clusters"), tr("검토 대상 제보", "Flagged reports"), tr("제보 하나씩", "Single reports"),
    tr("장애 철회", "Withdraw an incident"), tr("기록", "Log")])

with clusters_tab:
    cols = st.columns(4)
    window = cols[0].number_input(tr("창(분)", "Window (min)"), 1, 240, 10, key="rule_window")
    min_codes = cols[1].number_input(tr("코드 수 기준", "Codes per cluster"), 2, 1000, min_reporters(),
                                     key="rule_codes")
    burst = cols[2].number_input(tr("새 코드 몰림 기준", "New codes in a burst"), 2, 10_000, 3 * min_reporters(),
                                 key="rule_burst")
    days = cols[3].number_input(tr("최근 며칠", "Last days"), 1, 365, 7, key="rule_days")
    rules = moderation.ClusterRules(window_minutes=int(window), min_codes=int(min_codes), burst_codes=int(burst),
                                    lookback=timedelta(days=int(days)))
    with cursor() as cur:
        clusters = moderation.sybil_clusters(cur, rules)
    if not clusters:
        st.info(tr("의심 묶음이 없습니다(데모 제보는 보지 않음).",
                   "No suspected clusters (demo reports are left out)."))
    for i, cluster in enumerate(clusters[:MAX_CLUSTERS]):
        reason = plain(tr(cluster["reason_ko"], cluster["reason_en"]))  # a device model is the sender's text
        with st.expander(f"{reason} · {cluster['flagged']:,}/{cluster['reports']:,} {tr('검토 중', 'flagged')}"):
            st.caption(plain(cluster["cluster_id"]))
            if len(cluster["report_ids"]) < cluster["reports"]:
                st.warning(tr(f"이 묶음의 처음 {len(cluster['report_ids']):,}건만 보이고 처리됩니다.",
                              f"Only the first {len(cluster['report_ids']):,} reports of this cluster are listed "
                              "and acted on."))
            with cursor() as cur:
                listed = moderation.reports_by_id(cur, cluster["report_ids"][:200])
            st.dataframe(pd.DataFrame(listed), hide_index=True)
            st.text_input(tr("이유(기록됨)", "Reason (logged)"), key=f"why_c{i}")
            left, right = st.columns(2)
            if left.button(tr("묶음 전체 검토 대상으로", "Flag the whole cluster"), key=f"flag_c{i}"):
                _act(moderation.flag_cluster, cluster, reason=st.session_state.get(f"why_c{i}", ""))
            if right.button(tr("묶음 전체 복원", "Restore the whole cluster"), key=f"restore_c{i}"):
                _act(moderation.restore_cluster, cluster, reason=st.session_state.get(f"why_c{i}", ""))
            _resting_incidents(cluster["report_ids"], f"c{i}")

with flagged_tab:
    with cursor() as cur:
        flagged = moderation.flagged_reports(cur)
    st.caption(tr(f"최근 검토 대상 제보 {len(flagged)}건. 제보자·주소는 키 해시의 앞 6자리만 보입니다.",
                  f"{len(flagged)} newest flagged reports. Reporters and addresses show only 6 hex digits of "
                  "their keyed hashes."))
    if flagged:
        st.dataframe(pd.DataFrame(flagged), hide_index=True)

with single_tab:
    text = st.text_area(tr("제보 ID(여러 개는 줄바꿈이나 쉼표로)", "Report ids (one a line, or comma-separated)"),
                        key="single_ids")
    st.text_input(tr("이유(기록됨)", "Reason (logged)"), key="why_single")
    left, right = st.columns(2)
    flag_one = left.button(tr("검토 대상으로", "Flag"), key="flag_single")
    restore_one = right.button(tr("복원", "Restore"), key="restore_single")
    if flag_one or restore_one:
        try:
            ids = moderation.report_ids_from_text(text)
        except DropMapError as e:
            show_error(e)
        else:
            _act(moderation.flag_reports if flag_one else moderation.restore_reports, ids,
                 reason=st.session_state.get("why_single", ""))
            st.session_state["single_done"] = ids
    _resting_incidents(st.session_state.get("single_done", []), "single")

with incidents_tab:
    with cursor() as cur:
        incidents = withdrawable_incidents(cur)
    if not incidents:
        st.info(tr("철회할 수 있는 장애가 없습니다.", "No incident to withdraw."))
    else:
        st.dataframe(pd.DataFrame(incidents), hide_index=True)
        chosen = st.selectbox(tr("장애", "Incident"), [i["incident_id"] for i in incidents], key="withdraw_pick",
                              placeholder=choose())
        st.text_input(tr("이유(기록됨)", "Reason (logged)"), key="why_withdraw")
        st.caption(tr("먼저 그 장애를 만든 제보를 검토 대상으로 바꾸세요. "
                      "그대로 두면 다음 감지가 장애를 다시 열 수 있습니다.",
                      "Flag the reports it rested on first: reports still counted may reopen it at the next scan."))
        if st.button(tr("장애 철회", "Withdraw the incident"), key="withdraw_incident"):
            _act(withdraw, chosen, reason=st.session_state.get("why_withdraw", ""))

with log_tab:
    with cursor() as cur:
        log = moderation.moderation_log(cur)
    if log:
        st.dataframe(pd.DataFrame(log), hide_index=True)
    else:
        st.info(tr("아직 기록이 없습니다.", "Nothing logged yet."))
