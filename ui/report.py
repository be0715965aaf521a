"""Report a failure in a few taps (phone first): where, which carrier, what happened, when."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from core import settings
from core.city import load_city
from core.errors import DropMapError, InputError
from core.vocab import KINDS, OK_KIND
from geo.places import place_of, stations
from ingest.abuse import RateLimitedError
from ingest.codes import issue_code
from ingest.submit import submit_reports
from ingest.web_form import CARRIER_CHOICES, STATION_ACCURACY_M, TECH_CHOICES, carrier_label, form_row, kind_label
from ui import pick_map
from ui.common import REPORTER_CODE as CODE
from ui.common import client_ip, connection, lang, plain, refused_code_text, show_error, tr, wait_minutes

city = load_city()

st.title(tr("장애 제보", "Report a failure"))
st.caption(tr(
    "어디서, 어느 통신사가, 무엇이 안 됐는지 알려 주세요. 30초면 됩니다.",
    "Tell us where, which carrier and what failed. It takes 30 seconds.",
))
with st.expander(tr("무엇을 저장하고 무엇을 공개하나요?", "What is stored and what is published?")):
    st.markdown(tr(
        "- **저장**: 위치, 시각, 통신사, 장애 유형, (선택) 망 종류·기종·메모. 제보자 코드와 IP 주소는 "
        "비밀 키로 만든 해시로만 저장합니다.\n"
        "- **공개**: 서로 다른 제보자가 충분히(기본 5명) 모인 육각형 칸의 **집계**만 공개합니다. "
        "정확한 좌표·메모·코드·IP는 공개하지 않습니다.\n"
        "- 같은 사람이 몇 분 안에 같은 곳에서 보낸 같은 제보는 하나로 합치고, 비정상적인 이동은 검토 대상으로 "
        "분류해 공개 집계에서 뺍니다.\n"
        "- 제보하면 이 내용에 동의하는 것입니다.",
        "- **Stored**: place, time, carrier, failure kind and, optionally, network type, phone model and a "
        "note. Your reporter code and IP address are stored only as keyed hashes.\n"
        "- **Published**: only **counts** for hexagons with enough distinct reporters (5 by default). Exact "
        "coordinates, notes, codes and IPs are never published.\n"
        "- The same report from the same person within minutes and metres is merged; implausible movement "
        "is flagged and left out of public counts.\n"
        "- By reporting you agree to this.",
    ))

# --- 1. where -----------------------------------------------------------------------
st.subheader(tr("1. 어디서?", "1. Where?"))
point = st.session_state.get("report_point")
station_names = {f"{s.name} ({', '.join(s.lines)})": s for s in stations()}


def _use_station() -> None:
    choice = st.session_state.get("report_station")
    if choice in station_names:
        s = station_names[choice]
        st.session_state["report_point"] = {"lat": s.lat, "lon": s.lon, "accuracy_m": STATION_ACCURACY_M,
                                            "how": "station"}


st.caption(tr("지도를 누르거나, 📍 버튼으로 내 위치를 쓰거나, 지하철역을 고르세요.",
              "Tap the map, use 📍 for your location, or pick a subway station."))
# A chosen station moves the view there; a tap or the locate button already shows it.
follow = (point["lat"], point["lon"]) if point and point.get("how") == "station" else None
picked = st_folium(
    pick_map.picker_map(city.center, city.zoom, label=tr("📍 내 위치", "📍 My location"),
                        waiting=tr("위치 확인 중…", "Locating…"),
                        failed=tr("위치를 쓸 수 없음", "Location unavailable")),
    key="report_map", height=320, use_container_width=True, returned_objects=["last_clicked"], center=follow,
    zoom=15 if follow else None,
    feature_group_to_add=pick_map.selected_layer(point["lat"] if point else None, point["lon"] if point else None,
                                                 tr("선택한 위치", "Chosen place")),
)
click = (picked or {}).get("last_clicked")
if click and click != st.session_state.get("report_last_click"):
    st.session_state["report_last_click"] = click
    st.session_state["report_point"] = {"lat": click["lat"], "lon": click["lng"], "accuracy_m": None, "how": "map"}
    st.session_state["report_station"] = None  # the tap is the newer choice
    st.rerun()
st.selectbox(tr("또는 지하철역", "or a subway station"), list(station_names), index=None, key="report_station",
             placeholder=tr("역 이름을 입력하세요", "Type a station name"), on_change=_use_station)

if point:
    where = place_of(point["lat"], point["lon"])
    parts = [p.name_ko if lang() == "ko" else p.name_en for p in (where["gu"], where["dong"]) if p]
    st.success(tr("선택한 위치: ", "Chosen place: ") + plain(" ".join(parts or [tr("서울 밖", "outside Seoul")]))
               + f" · {plain(where['station'].name)}{tr('역', ' station')} {where['station_m']:,.0f} m", icon="📍")
else:
    st.info(tr("아직 위치를 고르지 않았습니다.", "No place chosen yet."), icon="📍")

# --- 2. carrier, 3. what, 4. when ----------------------------------------------------
st.subheader(tr("2. 통신사", "2. Carrier"))
carrier = st.selectbox(tr("통신사(알뜰폰은 브랜드와 망)", "Carrier (MVNOs: brand and host network)"),
                       [c[0] for c in CARRIER_CHOICES], index=None, key="report_carrier",
                       format_func=lambda v: carrier_label(v, lang()), placeholder=tr("고르세요", "Choose"))

st.subheader(tr("3. 무엇이 안 됐나요?", "3. What happened?"))
kind = st.pills(tr("장애 유형", "Failure kind"), list(KINDS), key="report_kind",
                format_func=lambda k: kind_label(k, lang()), label_visibility="collapsed")

st.subheader(tr("4. 언제?", "4. When?"))
now_local = datetime.now(city.tz).replace(second=0, microsecond=0)
if st.toggle(tr("지금(방금) 일어난 일", "Happening now (just now)"), value=True, key="report_now"):
    observed = None
else:
    day = st.date_input(tr("날짜", "Date"), value=now_local.date(), max_value=now_local.date(), key="report_date")
    at = st.time_input(tr("시각", "Time"), value=now_local.time(), step=timedelta(minutes=5), key="report_time")
    observed = datetime.combine(day, at, tzinfo=city.tz)

with st.expander(tr("더 알려주기 (선택)", "More details (optional)")):
    tech = st.segmented_control(tr("망 종류", "Network type"), TECH_CHOICES, key="report_tech")
    device = st.text_input(tr("휴대폰 기종", "Phone model"), max_chars=80, key="report_device",
                           placeholder=tr("예: 갤럭시 S23, iPhone 15", "e.g. Galaxy S23, iPhone 15"))
    note = st.text_area(tr("메모 (공개하지 않음)", "Note (never published)"), max_chars=500, key="report_note")
    typed = st.text_input(tr("제보자 코드가 이미 있다면", "Already have a reporter code?"), key="report_code_input",
                          placeholder="K7QX-M2PA-9RTB-C4DE")
    if typed.strip():
        st.session_state[CODE] = typed.strip()

cache_s = settings.get_int("DROPMAP_CACHE_SECONDS")
send = st.button(tr("제보하기", "Send report"), type="primary", key="report_send", use_container_width=True)
all_good = st.button(tr("✅ 여기는 잘 돼요", "✅ All good here"), key="report_ok", use_container_width=True,
                     help=tr("이곳에서 통신이 잘 된다는 표본을 남깁니다. 장애 비율을 계산하는 데 쓰입니다.",
                             "Records that service works here; it is what failure rates are computed from."))
st.caption(tr(f"제보는 바로 저장되고, 지도에는 늦어도 {cache_s}초 안에 반영됩니다.",
              f"Reports are stored at once and show on the map within {cache_s} seconds."))


def _submit(chosen_kind: str) -> None:
    missing = [name for name, value in ((tr("위치", "place"), point), (tr("통신사", "carrier"), carrier),
                                        (tr("장애 유형", "failure kind"), chosen_kind)) if not value]
    if missing:
        st.error(tr("먼저 고르세요: ", "Please choose first: ") + ", ".join(plain(m) for m in missing), icon="✋")
        return
    row = form_row(lat=point["lat"], lon=point["lon"], carrier=carrier, kind=chosen_kind,
                   observed_at=observed or datetime.now(city.tz), tech=tech, device_model=device, note=note,
                   accuracy_m=point.get("accuracy_m"))
    try:
        code = st.session_state.get(CODE) or issue_code(connection(), client_ip())  # issued under a per-prefix limit
        result = submit_reports(connection(), row, source="web", reporter_code=code,
                                ip=client_ip())
    except DropMapError as e:
        if refused_code_text(e) is not None:
            if isinstance(e, InputError):
                st.session_state.pop(CODE, None)  # the refused code: an empty box now sends with a new one
            st.error(refused_code_text(e), icon="🔑")
        elif isinstance(e, RateLimitedError):
            minutes = wait_minutes(e.retry_after)
            if "new codes" in e.scope:  # ingest.codes.issue_code: new codes from this network this hour
                st.error(tr(f"이 네트워크에서 새 제보자 코드가 너무 많이 발급되었습니다. 코드가 있다면 입력하거나 "
                            f"{minutes}분 뒤에 다시 보내 주세요.",
                            f"Too many new reporter codes from this network. Enter your code if you have one, or "
                            f"try again in {minutes} minutes."), icon="⏳")
            else:
                st.error(tr(f"제보가 너무 많습니다. {minutes}분 뒤에 다시 보내 주세요.",
                            f"Too many reports. Please try again in {minutes} minutes."), icon="⏳")
        else:
            show_error(e)
        return
    if result.errors:
        st.error(tr("제보를 저장하지 못했습니다. 고칠 점:", "The report was not stored. To fix:"), icon="⚠️")
        st.dataframe(pd.DataFrame(result.errors)[["field", "message"]], hide_index=True, key="report_errors")
        return
    if st.session_state.get(CODE) != code:
        st.session_state[CODE] = code
        st.session_state["report_show_code"] = code
        st.session_state["report_code_dialog"] = code  # once, over the page: on a phone the form fills the screen
    if result.accepted:
        st.session_state["report_done"] = "ok" if chosen_kind == OK_KIND else "failure"
    else:
        st.session_state["report_done"] = "merged"


if send:
    _submit(kind)
if all_good:
    _submit(OK_KIND)

def _code_note() -> str:
    return tr(
        "**나의 제보자 코드** — 이 코드로 '내 제보'에서 내 기록을 보고 증거 자료를 받을 수 있습니다. "
        "다시 보여 드리지 않으니 지금 복사해 두세요. 다른 사람에게 알려 주지 마세요.",
        "**Your reporter code** — with it, 'My reports' shows your reports and gives you an evidence dossier. "
        "It will not be shown again: copy it now, and keep it to yourself.",
    )


def _saved_code() -> None:
    st.session_state.pop("report_show_code", None)


@st.dialog(tr("🔑 나의 제보자 코드", "🔑 Your reporter code"))
def _code_dialog(code: str) -> None:
    """The new code over the page, where a phone user sees it whatever part of the form is on screen."""
    st.write(tr("제보가 저장됐습니다. 고맙습니다!", "Your report is stored. Thank you!"))
    st.warning(_code_note())
    st.code(code, language=None)
    if st.button(tr("코드를 저장했어요", "I have saved my code"), key="report_code_dialog_ack", type="primary",
                 on_click=_saved_code):
        st.rerun()


done = st.session_state.pop("report_done", None)
if done in ("failure", "ok") and "report_code_dialog" not in st.session_state:
    # Seen wherever the page is scrolled (a new code opens its dialog instead); the message stays below.
    st.toast(tr("저장 완료 — 고맙습니다!", "Stored — thank you!"), icon="✅")
if done == "failure":
    st.success(tr("제보가 저장되었습니다. 고맙습니다!", "Report stored. Thank you!"), icon="✅")
elif done == "ok":
    st.success(tr("'잘 됨' 표본이 저장되었습니다. 고맙습니다!", "'All good' sample stored. Thank you!"), icon="✅")
elif done == "merged":
    st.info(tr("몇 분 안에 같은 곳에서 같은 제보를 이미 보내셔서 하나로 합쳤습니다.",
               "You already sent this report from here a few minutes ago; we kept one."), icon="🔁")

shown = st.session_state.get("report_show_code")
if shown:
    st.warning(_code_note(), icon="🔑")
    st.code(shown, language=None)
    if st.button(tr("코드를 저장했어요", "I have saved my code"), key="report_code_ack", on_click=_saved_code):
        st.rerun()
    if st.session_state.pop("report_code_dialog", None) == shown:
        _code_dialog(shown)
