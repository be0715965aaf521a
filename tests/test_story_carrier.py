"""The carrier engineer's story, on the default demo city: the Downloads page hands out a GeoParquet file
that geopandas reads, with hexagons, counts, no raw positions or codes, and nothing under k reporters."""

from __future__ import annotations

import re

import geopandas as gpd
import h3
import pytest
from conftest import choose, settle

from geo.datadict import COLUMNS

pytestmark = pytest.mark.browser

# Columns that would carry a raw position, a person, a code, a note or a device.
PRIVATE = re.compile(r"^(lat|lon|latitude|longitude|x|y|reporter|reporter_\w*|\w*code\w*|\w*note\w*|ip|ip_\w*|"
                     r"\w*_ip|device\w*|report_id|observed_at|accuracy_m|fingerprint)$")


def metric(page, label: str) -> str:
    return page.locator('[data-testid="stMetric"]').filter(has_text=label).locator(
        '[data-testid="stMetricValue"]').first.inner_text()


def test_carrier_downloads_geoparquet_that_geopandas_reads(real_site, page, screenshot_dir, tmp_path):
    page.goto(real_site["url"] + "/downloads")
    rows_metric = page.locator('[data-testid="stMetric"]').filter(has_text="행 수").locator(
        '[data-testid="stMetricValue"]')
    rows_metric.wait_for(timeout=60_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)  # the preview's rows
    choose(page, "형식", "geoparquet")
    settle(page)
    shown_rows = int(metric(page, "행 수").replace(",", ""))
    k = int(metric(page, "최소 제보자 수 k"))
    assert shown_rows > 100 and k >= 2  # the default demo city has data to share
    page.screenshot(path=str(screenshot_dir / "story_carrier_1_downloads.png"))

    page.get_by_role("button", name="파일 만들기").click()
    button = page.get_by_role("button", name=re.compile(r"_geo\.parquet 내려받기$"))
    button.wait_for(timeout=120_000)
    button.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "story_carrier_2_ready.png"))
    with page.expect_download(timeout=60_000) as info:
        button.click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)

    frame = gpd.read_parquet(saved)
    assert len(frame) == shown_rows
    assert frame.crs is not None and frame.crs.to_string() in ("OGC:CRS84", "EPSG:4326")  # lon/lat WGS84

    # Hexagons: each geometry is the boundary of the row's own H3 cell, centred on the cell's centre.
    assert set(frame.geom_type) == {"Polygon"}
    for row in frame.sample(min(200, len(frame)), random_state=1).itertuples():
        assert h3.get_resolution(row.h3_cell) == row.resolution
        ring = row.geometry.exterior.coords
        assert len(ring) == 7  # six corners and the closing point
        lat, lon = h3.cell_to_latlng(row.h3_cell)
        assert (row.center_lat, row.center_lon) == pytest.approx((lat, lon), abs=1e-6)
        assert h3.latlng_to_cell(row.geometry.centroid.y, row.geometry.centroid.x, row.resolution) == row.h3_cell

    # Only documented columns; none carries a raw position, a code, a note or a device.
    assert set(frame.columns) <= set(COLUMNS)
    assert not [c for c in frame.columns if PRIVATE.match(c)]
    assert PRIVATE.match("reporter_code") and PRIVATE.match("lat") and not PRIVATE.match("reporters")

    # Counts (docs/DATA.md, "Privacy"): each figure rests on at least k distinct reporters, or on none
    # (0 failures); suppressed ones are empty; and every row shows a figure resting on k or more.
    published = frame[frame["reports"].notna()]
    assert ((published["reporters"] >= k) | ((published["reports"] == 0) & (published["reporters"] == 0))).all()
    assert frame.loc[frame["reports"].isna(), "reporters"].isna().all()
    samples = frame[frame["ok_samples"].notna()]
    assert ((samples["ok_reporters"] >= k) | ((samples["ok_samples"] == 0) & (samples["ok_reporters"] == 0))).all()
    assert ((frame["reporters"] >= k) | (frame["ok_reporters"] >= k)).all()
    assert published["reports"].sum() > 1000 and (published["reports"] > 0).sum() > 100
    rated = frame[frame["failure_rate"].notna()]
    assert ((rated["failure_rate"] >= 0) & (rated["failure_rate"] <= 1)).all()
    assert (rated["rate_low"] <= rated["failure_rate"]).all() and (rated["failure_rate"] <= rated["rate_high"]).all()
    assert set(frame["network"]) == {"SKT", "KT", "LGU+"}
    assert frame["is_synthetic"].all()  # the demo city is labelled synthetic in the file too
