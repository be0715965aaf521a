"""The data dictionary of the open-data exports: every column, its type, unit and meaning.

docs/DATA.md explains each at length; tests/test_export_docs.py checks that the
two agree. The Downloads page shows this table in Korean or English.
"""

from __future__ import annotations

COLUMNS: dict[str, tuple[str, str, str, str]] = {
    # name: (type, unit, meaning in English, meaning in Korean)
    "h3_cell": ("text", "H3 cell id", "the hexagon, as the usual 15-digit hexadecimal H3 string",
                "육각형 셀 번호(H3, 16진수 15자리 문자열)"),
    "resolution": ("integer", "H3 resolution", "7 (about 5.2 km²), 8 (about 0.74 km²) or 9 (about 0.1 km²)",
                   "H3 해상도: 7(약 5.2 km²), 8(약 0.74 km²), 9(약 0.1 km²)"),
    "center_lat": ("float", "degrees (WGS84)", "latitude of the CELL's centre, never a report's position",
                   "셀 중심의 위도(제보 위치가 아님)"),
    "center_lon": ("float", "degrees (WGS84)", "longitude of the CELL's centre, never a report's position",
                   "셀 중심의 경도(제보 위치가 아님)"),
    "area_km2": ("float", "km²", "area of the cell", "셀 면적"),
    "network": ("text", "SKT, KT, LGU+", "host radio network; MVNO (알뜰폰) reports count under their host",
                "망(기지국) 통신사; 알뜰폰 제보는 빌려 쓰는 망으로 집계"),
    "weekday": ("integer", "1-7", "local (Seoul) ISO weekday, 1 = Monday (by=weekday_hour)",
                "서울 시각 기준 요일, 1 = 월요일(by=weekday_hour)"),
    "hour": ("integer", "0-23", "local (Seoul) hour of day (by=hour and by=weekday_hour)",
             "서울 시각 기준 시(0-23)"),
    "date": ("date", "YYYY-MM-DD", "local (Seoul) calendar date (by=date)", "서울 시각 기준 날짜(by=date)"),
    "kind": ("text", "failure kind", "one failure kind, or all_failures for every kind together",
             "장애 유형, 또는 모든 유형을 합친 all_failures"),
    "reports": ("integer", "reports", "failure reports of this kind; empty = suppressed (fewer than k reporters)",
                "이 유형의 장애 제보 수; 빈 칸 = 제보자가 k명 미만이라 감춤"),
    "reporters": ("integer", "people", "distinct reporters behind `reports`; empty when suppressed",
                  "reports를 낸 서로 다른 제보자 수; 감춘 경우 빈 칸"),
    "ok_samples": ("integer", "samples", "'all good' samples of this cell, network and time bucket "
                                         "(kind rows repeat their group's); empty = suppressed",
                   "같은 셀·망·시간대의 '정상' 표본 수; 빈 칸 = 감춤"),
    "ok_reporters": ("integer", "people", "distinct reporters behind `ok_samples`; empty when suppressed",
                     "ok_samples를 낸 서로 다른 제보자 수; 감춘 경우 빈 칸"),
    "observations": ("integer", "reports + samples", "all failure reports plus 'all good' samples of the "
                                                     "group: the denominator of failure_rate",
                     "같은 셀·망·시간대의 모든 장애 제보 + '정상' 표본(장애율의 분모)"),
    "failure_rate": ("float", "fraction 0-1", "reports / observations; empty where no 'all good' samples exist",
                     "reports / observations; '정상' 표본이 없으면 빈 칸(밀도만 알 수 있음)"),
    "rate_low": ("float", "fraction 0-1", "lower end of the 95% Wilson score interval of failure_rate",
                 "장애율 95% 윌슨 신뢰구간의 아래 끝"),
    "rate_high": ("float", "fraction 0-1", "upper end of the 95% Wilson score interval of failure_rate",
                  "장애율 95% 윌슨 신뢰구간의 위 끝"),
    "is_synthetic": ("boolean", "true/false", "true when any report behind the row is synthetic demo data",
                     "이 행에 시연용 합성 데이터가 섞였으면 true"),
    "geometry": ("polygon", "WGS84 lon/lat", "the cell's boundary (GeoParquet, GeoJSON only)",
                 "셀 경계 다각형(GeoParquet, GeoJSON만)"),
}
