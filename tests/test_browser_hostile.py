"""Hostile text from a URL is shown as text in a real browser: nothing loads from another host, nothing runs
(issue 11, item 3).

Two parts, both in Debian's chromium:

- the helper itself (``ui.common.plain`` = ``core.text.markdown_literal``) on a small page that puts
  hostile values through every kind of Markdown-rendering call, compared character for character;
- the real site (``streamlit run app.py`` over the small demo city): every page, every query
  parameter any page reads (and some it does not), set to Markdown images and links, raw HTML,
  script, Streamlit colour and icon directives and LaTeX.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from conftest import ROOT, free_port

EVIL = "evil.example"
JOINER = "\u2060"  # what the helper puts inside "http:", "www." and "->" so they stay text

# Values the helper must show exactly as typed (newlines become spaces).
LITERALS = [
    "![x](http://evil.example/p.png)",
    "[click](http://evil.example/l) <http://evil.example/angle>",
    "<img src=http://evil.example/x onerror=alert(1)>",
    "<script>alert(1)</script><svg onload=alert(2)>",
    ":red[red] :blue-background[bg] :rainbow[r] :violet-badge[b]",
    ":material/home: and :material/warning:",
    "$x^2$ and $$\\href{http://evil.example}{y}$$",
    ":smile: :+1: :kr:",
    "&#x3C;b&#x3E; &amp; &lt;i&gt;",
    "back\\slash \\n \\\\ end\\",
    "line1\nline2\r\nline3",
    "a -> b <- c <-> d >= e <= f ~= g -- h",
    "**bold** _it_ ~~s~~ `code`",
    "# head",
    "1. list",
    "- item",
    "> quote",
    "    indented code",
    "bare http://evil.example/auto www.evil.example me@evil.example",
    "| a | b |\n|---|---|",
    "[ref]: http://evil.example/r\n[ref]",
    "Ｆｕｌｌ 한국어 ✓ 😀 ①",
]

PROBE = '''
import sys
sys.path.insert(0, {root!r})
import streamlit as st
from ui.common import plain

VALUES = {values!r}
for i, value in enumerate(VALUES):
    with st.container(key=f"case{{i}}"):
        st.warning(plain(value))
        st.caption(plain(value))
        with st.container(key=f"markdown{{i}}"):
            st.markdown(plain(value))
        st.error("**x** " + plain(value))
        st.text_input(plain(value), key=f"label{{i}}", help=plain(value))
        st.metric(plain(value), i)
        st.button(plain(value), key=f"button{{i}}")
st.toast(plain(VALUES[0]), duration="infinite")
st.markdown("<div id='probe-done'></div>", unsafe_allow_html=True)
'''


def _shown(text: str) -> str:
    """What a reader sees: joiners are invisible, runs of white space are one space."""
    return re.sub(r"\s+", " ", text.replace(JOINER, "")).strip()


def _expected(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


def _serve(script, tmp_path, **env_extra):
    port = free_port()
    log = open(tmp_path / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port), "--server.headless",
         "true", "--server.address", "127.0.0.1", "--runner.magicEnabled", "false"],
        cwd=ROOT, env={**os.environ, **env_extra}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=2):
                return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"probe did not start; see {log.name}")


class Watch:
    """Every request to another host and every dialog (alert, confirm) of one browser context."""

    def __init__(self, context) -> None:
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        context.on("request", self._request)
        context.on("page", lambda p: p.on("dialog", self._dialog))

    def _request(self, request) -> None:
        if not request.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")):
            self.outside.append(request.url)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


# Every attribute of every element, in every frame (the map is an iframe), that points at the other host
# ("http://evil.example/...", "//evil.example"). The page's own URL, which carries the payload %-encoded in
# its query, may appear (Vega's SVG gradients use fill="url(<page URL>#gradient_0)"): it is this host.
EVIL_IN_DOM_JS = """(host) => Array.from(document.querySelectorAll('*')).flatMap(el =>
    Array.from(el.attributes).filter(a => a.value.toLowerCase().includes('//' + host))
        .map(a => el.tagName + ' ' + a.name + '=' + a.value))"""


def _evil_in_dom(page) -> list[str]:
    found = []
    for frame in page.frames:
        try:
            found += frame.evaluate(EVIL_IN_DOM_JS, EVIL)
        except Exception:  # noqa: BLE001 - a frame that went away while we looked
            continue
    return found


def test_the_helper_shows_every_hostile_value_as_typed(browser, tmp_path, screenshot_dir):
    script = tmp_path / "probe.py"
    script.write_text(PROBE.format(root=str(ROOT), values=LITERALS), encoding="utf-8")
    proc, base = _serve(script, tmp_path)
    context = browser.new_context(viewport={"width": 1100, "height": 1400})
    watch = Watch(context)
    try:
        page = context.new_page()
        page.goto(base + "/")
        page.locator("#probe-done").wait_for(state="attached", timeout=60_000)
        page.wait_for_timeout(1000)
        for i, value in enumerate(LITERALS):
            case = page.locator(f".st-key-case{i}")
            want = _expected(value)
            texts = {
                "warning": case.get_by_test_id("stAlertContentWarning").inner_text(),
                "error": case.get_by_test_id("stAlertContentError").inner_text(),
                "caption": case.get_by_test_id("stCaptionContainer").inner_text(),
                "markdown": page.locator(f".st-key-markdown{i}").inner_text(),
                "label": case.get_by_test_id("stWidgetLabel").first.inner_text(),
                "metric": case.get_by_test_id("stMetricLabel").inner_text(),
                "button": case.get_by_test_id("stButton").inner_text(),
            }
            assert _shown(texts.pop("error")) == "x " + want
            for where, text in texts.items():
                assert _shown(text) == want, (where, value, text)
            # The help tooltip is Markdown too: hover its icon and read it.
            case.get_by_test_id("stTooltipIcon").first.hover()
            tip = page.get_by_test_id("stTooltipContent").last
            tip.wait_for(timeout=10_000)
            assert _shown(tip.inner_text()) == want, ("help", value)
            page.mouse.move(0, 0)
        assert _shown(page.get_by_test_id("stToast").first.inner_text()).startswith(_expected(LITERALS[0]))
        main = page.get_by_test_id("stMain")
        assert main.locator("img, a[href], script, iframe, .katex, svg[onload]").count() == 0
        assert not _evil_in_dom(page)
        page.screenshot(path=str(screenshot_dir / "hostile-helper.png"), full_page=True)
        assert not watch.outside, watch.outside
        assert not watch.dialogs, watch.dialogs
    finally:
        context.close()
        proc.terminate()
        proc.wait(timeout=10)


# --- the real site ------------------------------------------------------------------------------------

# Every parameter a page reads (explore: geo.mapquery; outages: incident; every page: lang), those of
# pages being planned (hex, line, view, station) and names no page reads.
PARAMS = ["lang", "carrier", "brand", "kind", "hours", "days", "since", "until", "measure", "mode", "res", "cell",
          "lat", "lon", "z", "incident", "hex", "line", "station", "view", "q", "code", "unknown"]

PAYLOADS = {
    "markdown": "![x](http://evil.example/p.png) [link](http://evil.example/l) http://evil.example/bare",
    "html": "<img src=http://evil.example/x onerror=alert(1)><script>alert(2)</script><svg onload=alert(3)>",
    "directives": ":red[red] :material/home: $\\href{http://evil.example/k}{k}$ &#x3C;img src=x&#x3E; :smile:",
}


def _site_pages(page, base: str) -> list[str]:
    """The pages the navigation lists (so pages added later are covered too)."""
    page.goto(base + "/")
    nav = page.get_by_test_id("stSidebarNav").locator("a")
    nav.first.wait_for(timeout=60_000)
    paths = {urllib.parse.urlparse(href).path for href in nav.evaluate_all("els => els.map(e => e.href)")}
    return sorted(paths)


def _settled(page) -> None:
    """The script run finished: a title is shown and nothing is running any more."""
    page.locator("h1").first.wait_for(timeout=60_000)
    page.wait_for_function("""() => !document.querySelector('[data-testid="stStatusWidget"]')""", timeout=60_000)
    page.wait_for_timeout(1500)  # fragments, iframes and charts of the finished run


def test_hostile_values_in_every_parameter_of_every_page(browser, site, screenshot_dir):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    watch = Watch(context)
    page = context.new_page()
    tried, shown_literally = [], []
    try:
        paths = _site_pages(page, site["url"])
        assert {"/", "/explore", "/outages", "/report", "/my_reports", "/upload", "/downloads",
                "/methodology"} <= set(paths)
        for path in paths:
            for name, payload in PAYLOADS.items():
                url = site["url"] + path + "?" + urllib.parse.urlencode({p: payload for p in PARAMS})
                page.goto(url)
                _settled(page)
                where = f"{path} with {name}"
                assert page.get_by_test_id("stException").count() == 0, where
                assert not _evil_in_dom(page), (where, _evil_in_dom(page))
                body = _shown(page.locator("body").inner_text())
                # As typed, or as Python writes it inside an error message (repr doubles backslashes).
                if _expected(payload) in body or _expected(repr(payload)) in body:
                    shown_literally.append(where)
                tried.append(where)
                if name == "markdown" or path in ("/explore", "/outages"):
                    slug = path.strip("/") or "overview"
                    page.screenshot(path=str(screenshot_dir / f"hostile-{slug}-{name}.png"), full_page=True)
        assert not watch.outside, watch.outside
        assert not watch.dialogs, watch.dialogs
        # The pages that echo a bad value (the map's ignored parameters, an unknown incident) show it as text.
        for path in ("/explore", "/outages"):
            assert {f"{path} with {name}" for name in PAYLOADS} <= set(shown_literally), shown_literally
        assert len(tried) == len(paths) * len(PAYLOADS)
    finally:
        context.close()


@pytest.mark.parametrize("value", ["![x](http://evil.example/p.png)"])
def test_the_issue_url_shows_the_brand_as_text(browser, site, value):
    """The issue's own URL: /explore?brand=![x](http://evil.example/p.png) warns with the value as text."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watch = Watch(context)
    try:
        page = context.new_page()
        page.goto(site["url"] + "/explore?" + urllib.parse.urlencode({"brand": value, "lang": "en"}))
        _settled(page)
        warning = page.get_by_test_id("stAlertContentWarning").filter(has_text="brand").first
        assert value in _shown(warning.inner_text())
        assert warning.locator("img, a").count() == 0
        assert not watch.outside
    finally:
        context.close()
