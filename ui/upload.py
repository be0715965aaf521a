"""Upload a file: your own CSV, or a signal-logger export (Tower Collector, OpenCelliD)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import DropMapError
from evidence.csv_safe import to_csv_bytes
from ingest.readers import FORMATS
from ingest.upload import load_upload
from ui.common import REPORTER_CODE as CODE
from ui.common import choose, client_ip, connection, plain, refused_code_text, show_error, tr

FORMAT_NAMES = {
    "auto": ("자동 감지", "detect"), "csv": ("CSV", "CSV"), "jsonl": ("JSON Lines", "JSON Lines"),
    "geojson": ("GeoJSON", "GeoJSON"), "towercollector": ("Tower Collector CSV", "Tower Collector CSV"),
    "opencellid": ("OpenCelliD CSV", "OpenCelliD CSV"),
}

st.title(tr("파일 올리기", "Upload a file"))
st.caption(tr(
    "여러 건의 제보를 파일로 올립니다: CSV(열: lat, lon, carrier, kind, observed_at; 선택 tech, device_model, "
    "note, accuracy_m), JSON Lines, GeoJSON(Point), Tower Collector·OpenCelliD 내보내기. 한글 열 이름(위도, "
    "경도, 통신사, 유형, 일시)과 CP949 인코딩도 읽습니다.",
    "Upload many reports at once: CSV (columns lat, lon, carrier, kind, observed_at; optional tech, "
    "device_model, note, accuracy_m), JSON Lines, GeoJSON (Points), Tower Collector or OpenCelliD exports. "
    "Korean column names and CP949 files are read too.",
))
st.caption(tr(
    "파일의 모든 행은 올린 사람 한 명의 제보로 셉니다(코드를 넣으면 그 코드, 아니면 이 파일). 파일 안의 "
    "제보자 코드 열은 쓰지 않습니다. 같은 파일을 다시 올려도 중복 저장되지 않습니다.",
    "Every row counts as a report of one person, the uploader (your code if you give it, else this file). "
    "Reporter-code columns in the file are ignored. Uploading the same file again stores nothing twice.",
))

uploaded = st.file_uploader(tr("파일", "File"), type=["csv", "txt", "tsv", "jsonl", "ndjson", "json", "geojson"],
                            key="upload_file")
fmt = st.selectbox(tr("형식", "Format"), FORMATS, placeholder=choose(), key="upload_format",
                   format_func=lambda f: tr(*FORMAT_NAMES.get(f, (f, f))))
code = st.text_input(tr("제보자 코드 (선택)", "Reporter code (optional)"), value=st.session_state.get(CODE, ""),
                     key="upload_code", type="password")

if uploaded is not None and st.button(tr("올리기", "Upload"), type="primary", key="upload_go"):
    bar = st.progress(0.0, text=tr("읽는 중…", "Reading…"))

    def _progress(fraction: float, text: str) -> None:
        bar.progress(min(fraction, 1.0), text=tr("처리 중: ", "Working: ") + plain(text))

    try:
        result = load_upload(connection(), uploaded, uploaded.name, fmt=fmt,
                             reporter_code=code.strip(), ip=client_ip(), progress=_progress)
    except DropMapError as e:
        bar.empty()
        if refused_code_text(e) is not None:
            st.error(refused_code_text(e), icon="🔑")
        else:
            show_error(e)
        st.stop()
    st.session_state["upload_result"] = result
    st.session_state["upload_name"] = uploaded.name

result = st.session_state.get("upload_result")
if result is not None:
    cols = st.columns(4)
    cols[0].metric(tr("저장", "Stored"), f"{result.accepted:,}")
    cols[1].metric(tr("중복(합침)", "Duplicates"), f"{result.duplicates:,}")
    cols[2].metric(tr("거부", "Rejected"), f"{result.rejected:,}")
    cols[3].metric(tr("검토 대상", "Flagged"), f"{result.flagged:,}")
    st.caption(tr(f"형식: {plain(result.fmt)} · 읽은 행: {result.rows_read:,}",
                  f"Format: {plain(result.fmt)} · rows read: {result.rows_read:,}"))
    if result.ignored_columns:
        unused = ", ".join(plain(c) for c in result.ignored_columns[:20])  # names from the uploaded file
        st.caption(tr("쓰지 않은 열: ", "Columns not used: ") + unused)
    if result.errors:
        st.subheader(tr("거부된 행과 이유", "Rejected rows and why"))
        if result.error_count > len(result.errors):
            st.caption(tr(f"오류 {result.error_count:,}개 중 앞의 {len(result.errors):,}개만 보입니다.",
                          f"Showing the first {len(result.errors):,} of {result.error_count:,} errors."))
        st.dataframe(pd.DataFrame(result.errors)[["row", "field", "value", "message"]], hide_index=True,
                     width="stretch", key="upload_errors")
        st.download_button(
            tr("거부된 행 CSV 받기 (고쳐서 다시 올리세요)", "Download rejected rows (fix and upload again)"),
            to_csv_bytes(result.rejected_rows),
            file_name=f"rejected-{Path(st.session_state['upload_name']).stem}.csv",
            mime="text/csv", key="upload_rejected_csv",
        )
