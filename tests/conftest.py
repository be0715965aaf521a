"""Shared fixtures: fresh databases, a small demo city, a running site, a browser."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Tests never touch the real database or secret, nor a shared store set in the shell (the shared-store
# tests make their own: the fixture shared_store).
os.environ.setdefault("DROPMAP_SECRET", "test-secret-not-for-production")
os.environ.pop("DROPMAP_STORE", None)
os.environ["DROPMAP_SCAN_SECONDS"] = os.environ.get("DROPMAP_SCAN_SECONDS", "0")

OUTPUT = ROOT / "test-output"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Small enough to build in a few seconds, big enough for k=5 hexes on the map.
SMALL_DEMO = {"reports": 30_000, "days": 35, "seed": 7}


@pytest.fixture(scope="session", autouse=True)
def _status_files_elsewhere(tmp_path_factory) -> Path:
    """After each scan the detector writes the static status files (outages.static_status). Tests, and the
    sites they start, write them into a temporary folder, never into the checkout's static/status/, which a
    site running from the same checkout serves."""
    folder = tmp_path_factory.mktemp("status-files")
    previous = os.environ.get("DROPMAP_STATUS_DIR")
    os.environ["DROPMAP_STATUS_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("DROPMAP_STATUS_DIR", None)
    else:
        os.environ["DROPMAP_STATUS_DIR"] = previous


@pytest.fixture(autouse=True)
def _fresh_code_limits():
    """Codes issued and My reports lookups are counted per network in this process: each test starts at zero."""
    from ingest.codes import ISSUE_LIMITER, LOOKUP_LIMITER

    ISSUE_LIMITER.clear()
    LOOKUP_LIMITER.clear()
    yield


@pytest.fixture(autouse=True)
def _fresh_results():
    """The kept results of the map pages (store.cache) and the kept aggregates of the downloads and the
    hex API (geo.aggregate.AGGREGATES) are the process's: each test starts with none."""
    from geo.aggregate import AGGREGATES
    from store.cache import RESULTS

    RESULTS.clear()
    AGGREGATES.clear()
    yield
    RESULTS.clear()
    AGGREGATES.clear()


@pytest.fixture
def exact_counts(monkeypatch):
    """Published figures without their cell-key noise (core.cellkey): for tests of the counting
    rules themselves. The noise has tests of its own (tests/test_cellkey.py); no public path
    can turn it off."""
    import core.cellkey

    monkeypatch.setattr(core.cellkey, "MAX_NOISE", 0)


@pytest.fixture
def db_path(tmp_path, monkeypatch) -> Path:
    """A path for a fresh database, also set as DROPMAP_DB."""
    path = tmp_path / "test.duckdb"
    monkeypatch.setenv("DROPMAP_DB", str(path))
    return path


# DROPMAP_TEST_STORE=shared runs the tests that take the ``con`` fixture on a shared store (DuckLake with its
# catalog in PostgreSQL) instead of a file: `make test-shared`.
SHARED_MODE = os.environ.get("DROPMAP_TEST_STORE", "") == "shared"


@pytest.fixture
def con(db_path, request):
    """A connection to a fresh store: a file at ``db_path`` (DROPMAP_DB), or in the shared mode a new shared
    store (DROPMAP_STORE)."""
    from store.db import connect

    connection = connect(request.getfixturevalue("shared_store") if SHARED_MODE else db_path)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def demo_db_file(tmp_path_factory) -> Path:
    """A small demo city built once per test session (read it through a copy)."""
    from ingest.demo import DemoOptions, build_demo
    from store.db import connect

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    connection = connect(path)
    build_demo(connection, DemoOptions(**SMALL_DEMO))
    connection.close()
    return path


@pytest.fixture
def demo_db(demo_db_file, tmp_path, monkeypatch) -> Path:
    """A private copy of the small demo city, set as DROPMAP_DB."""
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_db_file, path)
    monkeypatch.setenv("DROPMAP_DB", str(path))
    return path


@pytest.fixture(scope="session")
def real_demo_db_file(tmp_path_factory) -> Path:
    """The default demo city, exactly as `make run` builds it (`python -m ingest demo`, default options),
    built once per test session. Story tests run on it: fixtures made for a test miss what real data does."""
    path = tmp_path_factory.mktemp("real-demo") / "dropmap.duckdb"
    subprocess.run([sys.executable, "-m", "ingest", "demo", "--db", str(path)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return path


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server for the session (tests/postgres_server.py). Skipped where PostgreSQL is not
    installed, except in CI (CI=true), whose .ci/run installs it: there its absence fails."""
    from postgres_server import postgres_server, server_binaries

    if server_binaries() is None:
        reason = "PostgreSQL is not installed (Debian: apt-get install postgresql); the shared-store tests need it"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with postgres_server() as server:
        yield server


@pytest.fixture
def shared_store(postgres, tmp_path, monkeypatch) -> str:
    """A new, empty shared store (DuckLake, its catalog in a database of its own), set as DROPMAP_STORE."""
    import uuid

    location = postgres.create_database(f"store_{uuid.uuid4().hex[:16]}")
    monkeypatch.setenv("DROPMAP_STORE", location)
    monkeypatch.setenv("DROPMAP_LAKE_DATA", str(tmp_path / "lake"))
    return location


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_site(db_file: Path, tmp_path_factory, **env_extra: str):
    """`streamlit run app.py` on a free loopback port over a copy of ``db_file``; a generator that
    yields {"url", "db", "process"} and stops the site when closed. With DROPMAP_STORE in ``env_extra`` the
    site uses that shared store, and "db" is a DROPMAP_DB path that nothing should create."""
    path = tmp_path_factory.mktemp("site") / "site.duckdb"
    if "DROPMAP_STORE" not in env_extra:
        shutil.copy(db_file, path)
    port = free_port()
    env = {**os.environ, "DROPMAP_DB": str(path), "DROPMAP_SCAN_SECONDS": "0", **env_extra}
    log = open(tmp_path_factory.mktemp("site-log") / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError(f"site did not start; see {log.name}")
    try:
        yield {"url": base, "db": path, "process": proc}
    finally:  # also when the caller closes the generator (``sites.close()``): the site must not outlive the test
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def site(demo_db_file, tmp_path_factory):
    """The real site (`streamlit run app.py`) on a free loopback port, over a copy of the small demo city."""
    yield from start_site(demo_db_file, tmp_path_factory)


@pytest.fixture(scope="session")
def real_site(real_demo_db_file, tmp_path_factory):
    """The real site over a copy of the default demo city (what `make run` serves), for story tests."""
    yield from start_site(real_demo_db_file, tmp_path_factory)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI; .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def screenshot_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser):
    """A page at a phone's size (390x844, touch, Korean); ``page.outside_requests`` lists every request
    to another host (the site must make none)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="ko-KR")
    outside = []
    pg = context.new_page()
    pg.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:",
                                                                               "blob:", "about:")) else None)
    pg.outside_requests = outside
    yield pg
    context.close()


def shown(markdown: str) -> str:
    """What a reader sees of Markdown built with ui.common.plain (AppTest gives the source): the
    backslash escapes, word joiners and encoded leading spaces of core.text.markdown_literal undone."""
    text = re.sub(r"^(&#32;)+", lambda m: " " * (len(m.group(0)) // 5), markdown)
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace("\u2060", "")


def settle(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished rerunning (widgets re-render and close open menus)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout_ms)


def choose(page, box, option: str, *, timeout_ms: int = 60_000) -> None:
    """Pick ``option`` in a selectbox: ``box`` is text its label contains, or a locator of its input."""
    if isinstance(box, str):
        box = page.locator('[data-testid="stSelectbox"]').filter(has_text=box).locator("input")
    wanted = page.locator('[role="option"]').filter(has_text=re.compile(f"^{re.escape(option)}$"))
    for _ in range(3):  # a rerun landing just after the tap can close the menu again
        settle(page, timeout_ms)
        box.click()
        try:
            wanted.wait_for(timeout=5_000)
            break
        except Exception:  # noqa: BLE001 - the menu closed under the tap: try again
            page.keyboard.press("Escape")
    wanted.click()
