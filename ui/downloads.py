"""Downloads: hex aggregates as CSV, Parquet, GeoParquet or GeoJSON, with a manifest; snapshot links; API."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.errors import DropMapError
from core.vocab import NETWORK_NAMES, NETWORKS
from geo.aggregate import BY_CHOICES, EXPORT_RESOLUTIONS, PERIOD_NOTES, ExportQuery, preview, today_local
from geo.datadict import COLUMNS
from geo.export import FORMATS, export_bytes, file_name
from geo.snapshot import SNAPSHOT_URL, read_index
from store.cache import RESULTS
from store.map_sql import data_period
from ui.common import choose, lang, plain, read, show_error, tr

ALL = "all"
_BY_LABELS = {
    "hour": ("시간대(0-23시)", "Hour of day (0-23)"),
    "weekday_hour": ("요일 × 시간대", "Hour of week (weekday × hour)"),
    "date": ("날짜", "Date"),
    "all": ("전체 시간(하루 종일·모든 날)", "All hours and days"),
}
_AREA = {7: "5.2", 8: "0.74", 9: "0.1"}


def _preview(query: ExportQuery):
    # Kept per data version and shared (store.cache); its own cursor: the aggregate's temp tables go
    # when it closes. Open periods end with the last complete week, so the day is part of the key.
    return RESULTS.read(preview, query, today=today_local())


def _export(query: ExportQuery, fmt: str):
    return read(export_bytes, query, fmt)


st.title(tr("열린 데이터 내려받기", "Open data downloads"))
st.caption(tr(
    "H3 육각형 × 통신사(망) × 시간대 × 장애 유형별 집계를 CSV, Parquet, GeoParquet, GeoJSON으로 내려받을 수 "
    "있습니다. 제보 위치·메모·제보자 코드는 들어 있지 않으며, 자료는 CC BY 4.0으로 자유롭게 쓸 수 있습니다.",
    "Aggregates per H3 hexagon × host network × time bucket × failure kind, as CSV, Parquet, GeoParquet or "
    "GeoJSON. No report position, note or reporter code is included; the data is free to use under CC BY 4.0.",
))

first, last = read(data_period)  # Seoul dates; min/max come from row-group statistics

cols = st.columns(4)
res = cols[0].selectbox(tr("해상도", "Resolution"), EXPORT_RESOLUTIONS, index=1, placeholder=choose(), key="dl_res",
                        format_func=lambda r: f"H3 {r} (~{_AREA[r]} km²)")
carrier = cols[1].selectbox(tr("통신사(망)", "Network"), [ALL, *NETWORKS], placeholder=choose(), key="dl_carrier",
                            format_func=lambda c: tr("전체(망별 행)", "All (a row each)") if c == ALL
                            else NETWORK_NAMES[c][lang()])
by = cols[2].selectbox(tr("시간 단위", "Time bucket"), BY_CHOICES, placeholder=choose(), key="dl_by",
                       format_func=lambda b: tr(*_BY_LABELS[b]))
fmt = cols[3].selectbox(tr("형식", "Format"), FORMATS, placeholder=choose(), key="dl_format")
period = st.date_input(tr("기간(서울 날짜)", "Period (Seoul dates)"), value=(first, last) if first else (),
                       key="dl_period")
include_demo = st.checkbox(tr("시연용 합성 데이터 포함(is_synthetic 열로 표시)",
                              "Include synthetic demo data (marked in the is_synthetic column)"),
                           value=True, key="dl_demo")

since, until = (tuple(period) + (None, None))[:2] if isinstance(period, (tuple, list)) else (period, period)
try:
    query = ExportQuery(res=res, by=by, carrier=None if carrier == ALL else carrier, since=since, until=until,
                        include_demo=include_demo)
    shown = _preview(query)
except DropMapError as e:
    show_error(e)
    st.stop()

if shown.period is None:
    st.warning(tr("이 조건으로는 아직 끝난 기간의 데이터가 없습니다.",
                  "No complete period with data for these choices."))
else:
    p = shown.period
    extra = ", ".join(plain(tr(*PERIOD_NOTES[n])) for n in p.notes)
    first_day = plain(p.since)
    last_day = plain(p.until)
    st.write(tr(f"집계 기간: {first_day} ~ {last_day} ({p.days:,}일)",
                f"Period: {first_day} to {last_day} ({p.days:,} days)")
             + (f" — {extra}" if extra else ""))
m = st.columns(3)
m[0].metric(tr("행 수", "Rows"), f"{shown.rows:,}")
m[1].metric(tr("최소 제보자 수 k", "Minimum reporters k"), shown.k)
m[2].metric(tr("합성 데이터", "Synthetic data"), tr("포함", "included") if shown.synthetic else tr("없음", "none"))
if shown.synthetic:
    st.warning(tr("이 자료에는 시연용 합성 데이터가 들어 있습니다(실제 제보가 아님). is_synthetic 열과 "
                  "매니페스트에 표시됩니다.",
                  "This data contains SYNTHETIC demo data (not real reports), marked in the is_synthetic "
                  "column and in the manifest."), icon="🧪")
st.caption(tr(f"제보자가 {shown.k:,}명 미만인 수치는 빈 칸(None)으로 감추고, 그런 수치만 있는 행은 빼고 내보냅니다. "
              "시간대 집계는 끝난 주(월~일) 단위로, 날짜 집계는 끝난 날까지만 냅니다. 장애율은 '정상' 표본이 "
              "있는 곳에서만 95% 신뢰구간과 함께 냅니다. 적은 사람을 가려내지 못하도록 건수에는 "
              "최대 ±2의 고정된 잡음이 더해지며(같은 제보는 언제나 같은 값), 장애율은 그 건수로 계산합니다.",
              f"Figures from fewer than {shown.k:,} distinct reporters are left empty (None), and rows with nothing "
              "else are left out. Hour buckets cover whole weeks (Mon-Sun) that have ended; dates end yesterday. "
              "Failure rates, with a 95% interval, exist only where 'all good' samples were reported. Counts carry a "
              "fixed noise of at most ±2 (the same whenever the same reports are counted), so that no two downloads "
              "single out a few people; rates are computed from those counts."))
if shown.rows:
    st.dataframe(shown.frame, hide_index=True, key="dl_preview")
    if shown.rows > len(shown.frame):
        st.caption(tr(f"처음 {len(shown.frame)}행만 미리 보여 줍니다.", f"Showing the first {len(shown.frame)} rows."))

name = file_name(query, fmt)
ready_key = (query, fmt)
if st.button(tr("파일 만들기", "Prepare the file"), key="dl_prepare", type="primary", disabled=not shown.rows):
    try:
        data, manifest = _export(query, fmt)
    except DropMapError as e:
        show_error(e)
        st.stop()
    st.session_state["dl_ready"] = {"key": ready_key, "data": data, "manifest": manifest, "name": name}
ready = st.session_state.get("dl_ready")
if ready and ready["key"] == ready_key:
    d = st.columns(2)
    d[0].download_button(tr(f"{plain(ready['name'])} 내려받기", f"Download {plain(ready['name'])}"), ready["data"],
                         file_name=ready["name"], mime=ready["manifest"]["media_type"], key="dl_download")
    d[1].download_button(tr("매니페스트(JSON) 내려받기", "Download the manifest (JSON)"),
                         json.dumps(ready["manifest"], ensure_ascii=False, indent=2),
                         file_name=ready["name"] + ".manifest.json", mime="application/json", key="dl_manifest")
    st.caption(f"{ready['manifest']['rows']:,} {tr('행', 'rows')} · {ready['manifest']['bytes']:,} bytes · "
               f"sha256 {plain(ready['manifest']['sha256'])}")

st.subheader(tr("고정 주소(매일 갱신되는 스냅숏)", "Stable URLs (nightly snapshot)"))
index = read_index()
if index is None:
    st.info(tr("아직 스냅숏이 없습니다. 운영자가 `python -m geo snapshot`으로 만듭니다.",
               "No snapshot yet. The operator writes it with `python -m geo snapshot`."))
else:
    sp = index.get("period") or {}
    st.write(tr(f"H3 해상도 {plain(index['resolution'])}, 요일 × 시간대, {plain(sp.get('since'))} ~ "
                f"{plain(sp.get('until'))}, 생성 {plain(index['generated_at'])}",
                f"H3 resolution {plain(index['resolution'])}, hour of week, {plain(sp.get('since'))} to "
                f"{plain(sp.get('until'))}, generated {plain(index['generated_at'])}"))
    table = pd.DataFrame([{"network": f["network"], "format": f["format"], "rows": f["rows"],
                           "url": SNAPSHOT_URL + f["file"]} for f in index["files"]])
    st.dataframe(table, hide_index=True, key="dl_snapshots",
                 column_config={"url": st.column_config.LinkColumn("URL")})
    st.markdown(f"[index.json]({SNAPSHOT_URL}index.json) · [DATA.md]({SNAPSHOT_URL}DATA.md) · "  # md-trusted: constant
                f"[LICENSE-DATA.md]({SNAPSHOT_URL}LICENSE-DATA.md)")

st.subheader(tr("API", "API"))
st.code("GET /api/v1/hexes?res=8&carrier=KT&since=2021-10-18&until=2021-10-31&by=hour&format=json\n"
        "GET /api/v1/hexes?res=9&by=date&format=geojson&limit=50000&offset=0\n"
        "GET /api/v1/openapi.json", language="text")
st.caption(tr("한 번에 최대 50,000행; Link 헤더(rel=next)로 다음 쪽을 받습니다.",
              "At most 50,000 rows per answer; follow the Link header (rel=next) for the next page."))

with st.expander(tr("열 설명(데이터 사전)", "Columns (data dictionary)")):
    st.dataframe(pd.DataFrame([{"column": n, "type": t, "unit": u, "meaning": ko if lang() == "ko" else en}
                               for n, (t, u, en, ko) in COLUMNS.items()]), hide_index=True, key="dl_columns")
