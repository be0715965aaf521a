"""Overview: what the database holds (counts per carrier and kind, period, synthetic share)."""

from __future__ import annotations

import streamlit as st

from core.city import load_city
from ingest.vocab import KINDS, NETWORK_NAMES
from store.summary import counts_by_network_kind, overview
from ui.common import cursor, lang, tr

st.title(tr("끊김지도 — 서울 이동통신 장애 지도", "DropMap — mobile-network failures in Seoul"))
st.caption(tr(
    "시민이 제보한 통화 끊김·먹통·데이터 장애를 H3 육각형으로 모아 통신사별·시간대별로 보여줍니다.",
    "Residents' reports of dropped calls, dead zones and data outages, gathered into H3 hexagons "
    "by carrier and hour of day.",
))

cur = cursor()
info = overview(cur)
if not info["failures"] and not info["samples"]:
    st.warning(tr("아직 데이터가 없습니다. `make run`은 처음 실행할 때 시연용 데이터를 만듭니다.",
                  "No data yet. `make run` builds the demo data on first run."))
    st.stop()

st.page_link("ui/explore.py", icon="🗺️",
             label=tr("장애 지도 보기 — 통신사·시간대별", "Open the failure map — by carrier and hour"))

tz = load_city().tz
cols = st.columns(4)
cols[0].metric(tr("장애 제보", "Failure reports"), f"{info['failures']:,}")
cols[1].metric(tr("'정상' 표본", "'All good' samples"), f"{info['samples']:,}")
cols[2].metric(tr("제보자(익명)", "Reporters (anonymous)"), f"{info['reporters']:,}")
cols[3].metric(tr("검토 대상(비공개)", "Flagged (hidden)"), f"{info['flagged']:,}")
first, last = info["first"].astimezone(tz), info["last"].astimezone(tz)
st.write(tr(f"기간: {first:%Y-%m-%d %H:%M} ~ {last:%Y-%m-%d %H:%M} (서울 시각)",
            f"Period: {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} (Seoul time)"))

table = counts_by_network_kind(cur)
if not table.empty:
    table["network"] = table["network"].map(lambda n: NETWORK_NAMES[n][lang()])
    table["kind"] = table["kind"].map(lambda k: KINDS.get(k, {}).get(lang(), k))
    pivot = table.pivot_table(index="kind", columns="network", values="reports", fill_value=0, aggfunc="sum")
    pivot.index.name = tr("장애 유형", "Failure kind")
    pivot.columns.name = tr("통신사", "Carrier")
    st.subheader(tr("통신사·장애 유형별 제보 수", "Reports by carrier and failure kind"))
    st.dataframe(pivot, width="stretch", key="overview_table")
