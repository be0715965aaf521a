"""Story: a journalist on the default demo city opens the home page, goes to the failure map, filters it to
one carrier, opens a hexagon's detail, and downloads the view as a captioned PNG for an article.

Each step waits for the page's data (carrier states, hexes drawn, the URL carrying the filter, the detail's
heading, the image's bytes), not for the first element that appears.
"""

from __future__ import annotations

import io
import re

import pytest
from conftest import settle
from test_browser_map import HEXES, MAP_FRAME, _signature, _wait_for_hexes, filter_carrier

pytestmark = pytest.mark.browser

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_journalist_home_map_filter_detail_share(real_site, page, screenshot_dir, tmp_path):
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(real_site["url"]) and not r.url.startswith(("data:", "blob:", "about:"))
            else None)

    # Home: the carriers' states are there before anything else is asked of the page.
    page.goto(real_site["url"] + "/")
    states = page.locator(".st-key-home_states")
    states.wait_for(timeout=90_000)
    assert all(name in states.inner_text() for name in ("SK텔레콤", "KT", "LG U+"))
    page.screenshot(path=str(screenshot_dir / "story_journalist_1_home.png"))

    # The failure map, from the menu.
    page.get_by_role("link", name=re.compile("장애 지도")).first.click()
    page.wait_for_url(re.compile(r".*/explore.*"), timeout=60_000)
    assert _wait_for_hexes(page) > 100
    default = _signature(page)

    # Filter: KT only. The URL says so and other hexes are drawn.
    filter_carrier(page, "KT", default)
    page.screenshot(path=str(screenshot_dir / "story_journalist_2_map_kt.png"))

    # A hexagon's detail: the panel opens and the hexagon is in the URL.
    signature = _signature(page)
    page.frame_locator(MAP_FRAME).locator(HEXES).nth(signature.count(",") // 2).click(force=True)
    page.get_by_role("heading", name="선택한 육각형").wait_for(timeout=60_000)
    page.wait_for_url(re.compile(r".*cell=8[0-9a-f]{14}.*"), timeout=60_000)
    settle(page)
    page.screenshot(path=str(screenshot_dir / "story_journalist_3_detail.png"), full_page=True)

    # Share: the map as a PNG with its caption; the caption names the filter, k, the synthetic data
    # and the licence, and the permanent address reopens this view.
    share = page.locator("[data-testid='stExpander']").filter(has_text=re.compile("공유")).first
    share.scroll_into_view_if_needed()
    share.locator("summary").click()
    caption = share.locator("[data-testid='stCode']").first.inner_text()
    for words in ("KT", "k = ", "합성", "CC BY 4.0"):
        assert words in caption, (words, caption)
    address = share.locator("[data-testid='stCode']").nth(1).inner_text()
    assert "carrier=KT" in address
    with page.expect_download(timeout=120_000) as download:
        share.get_by_role("button", name=re.compile("PNG")).click()
    path = tmp_path / "map.png"
    download.value.save_as(path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    assert image.width >= 800 and image.height >= 600
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20  # hexes, outlines and text, not a blank canvas
    (screenshot_dir / "story_journalist_4_share.png").write_bytes(data)
    assert outside == [], outside[:5]
