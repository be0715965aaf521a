"""Small things a user trips on (issue 12): Korean placeholders, Leaflet's marker images, DROPMAP_DB in
`make run`, help text for every export option."""

from __future__ import annotations

import ast
import shutil
import subprocess

import pytest

from core.settings import ROOT


def _select_calls():
    for path in sorted((ROOT / "ui").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("selectbox", "multiselect")):
                yield path.name, node


def test_every_select_box_has_a_translated_placeholder():
    # Streamlit's own placeholder is English ("Choose options") on the Korean pages.
    calls = list(_select_calls())
    assert len(calls) >= 10
    missing = [f"{name}:{node.lineno}" for name, node in calls
               if not any(k.arg == "placeholder" for k in node.keywords)]
    assert missing == []


def test_the_placeholder_is_korean_first():
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from ui.common import choose

        st.write(choose())

    assert AppTest.from_function(page).run().markdown[0].value == "선택하세요"


def _rendered_maps() -> list[str]:
    from ui import mapdraw, pick_map

    return [mapdraw.map_html(mapdraw.base_map(lang="ko", center=(37.5665, 126.978), zoom=11)),
            pick_map.picker_map((37.5665, 126.978), 11, label="a", waiting="b", failed="c").get_root().render(),
            pick_map.reports_map([{"lat": 37.5, "lon": 127.0, "popup": "x"}], (37.5, 127.0), 12).get_root().render()]


def test_leaflet_marker_images_come_from_the_vendored_folder():
    # Leaflet's own guess dropped a slash: /app/static/vendor/leafletmarker-icon.png (a 404 per map).
    from ui.mapdraw import LEAFLET_IMAGES

    assert LEAFLET_IMAGES == "/app/static/vendor/leaflet/images/"
    for html in _rendered_maps():
        setting = f'L.Icon.Default.imagePath = "{LEAFLET_IMAGES}";'
        assert setting in html
        first_marker = html.find("L.marker(")
        assert first_marker == -1 or html.index(setting) < first_marker


def test_the_marker_image_exists_where_the_path_points():
    from ui.mapdraw import LEAFLET_IMAGES

    folder = ROOT / LEAFLET_IMAGES.removeprefix("/app/").strip("/")
    if not (ROOT / "static" / "vendor" / "leaflet").exists():
        pytest.skip("Leaflet is not set up (make setup)")
    assert (folder / "marker-icon.png").is_file() and (folder / "marker-shadow.png").is_file()


def _make_run(*args: str, env: dict | None = None) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    import os

    out = subprocess.run(["make", "-n", "run", *args], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return next(line for line in out.stdout.splitlines() if "streamlit run" in line)


@pytest.mark.parametrize(("args", "env", "expected"), [
    (("DROPMAP_DB=/tmp/x.duckdb",), {}, "DROPMAP_DB=/tmp/x.duckdb "),
    ((), {"DROPMAP_DB": "/tmp/y.duckdb"}, "DROPMAP_DB=/tmp/y.duckdb "),
    (("DB=/tmp/z.duckdb", "DROPMAP_DB=/tmp/x.duckdb"), {}, "DROPMAP_DB=/tmp/z.duckdb "),
    ((), {"DROPMAP_DB": ""}, "DROPMAP_DB=data/dropmap.duckdb "),
])
def test_make_run_honours_dropmap_db(args, env, expected):
    assert _make_run(*args, env=env).startswith(expected)


def _actions(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((name, a) for a in sub._actions)


def test_every_cli_option_has_help_text():
    from geo import cli

    actions = list(_actions(cli._parser()))
    assert {name for name, _ in actions} == {"export", "snapshot"}
    for name, action in actions:
        assert action.help and len(action.help) > 15, (name, action.dest)
    export_help = cli._parser()._subparsers._group_actions[0].choices["export"].format_help()
    for word in ("hour", "weekday_hour", "date", "all", "geoparquet", "is_synthetic", "0.74"):
        assert word in export_help, word


def test_docs_agree_with_the_by_choices():
    from geo.aggregate import BY_CHOICES

    data_md = (ROOT / "docs" / "DATA.md").read_text(encoding="utf-8")
    api_md = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    row = next(line for line in data_md.splitlines() if line.startswith("| `by` |"))
    api_row = next(line for line in api_md.splitlines() if line.startswith("| `by` |"))
    for by in BY_CHOICES:
        assert f"`{by}`" in row and f"`{by}`" in api_row, by


def test_the_api_answers_by_all_and_the_cli_writes_it(tmp_path, monkeypatch):
    # by=all through both doors: GET /api/v1/hexes and python -m geo export --by all.
    import json

    from opendata_data import build_store
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from api import hexes
    from geo import cli
    from store.db import close_shared

    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "5")
    path = build_store(tmp_path / "api.duckdb", seed=9, n=2000, reporters=30)
    monkeypatch.setenv("DROPMAP_DB", str(path))
    try:
        with TestClient(Starlette(routes=hexes.ROUTES)) as client:
            answer = client.get("/api/v1/hexes", params={"res": 8, "by": "all"})
            assert answer.status_code == 200, answer.text
            rows = answer.json()["rows"]
            assert rows and not {"hour", "weekday", "date"} & set(rows[0])
            by_hour = client.get("/api/v1/hexes", params={"res": 8, "by": "hour"}).json()["rows"]
            # More reporters per row when the hours are pooled: never fewer cells than by hour.
            assert {r["h3_cell"] for r in rows} >= {r["h3_cell"] for r in by_hour}
            bad = client.get("/api/v1/hexes", params={"by": "week"})
            assert bad.status_code == 400 and "all" in bad.text
    finally:
        close_shared()
    out = tmp_path / "all.csv"
    assert cli.main(["export", "--db", str(path), "--by", "all", "--format", "csv", "--out", str(out)]) == 0
    manifest = json.loads((tmp_path / "all.csv.manifest.json").read_text(encoding="utf-8"))
    assert manifest["query"]["by"] == "all"
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "hour" not in header and "kind" in header and "reporters" in header


def test_no_map_script_needs_jquery():
    # The maps load Leaflet only; folium's Popup writes `$(...)`, which threw "$ is not defined" and
    # stopped the script before the map was drawn: My reports showed no map at all.
    for html in _rendered_maps():
        assert "$(" not in html
    html = _rendered_maps()[2]
    assert ".bindPopup(" in html and ".setContent(" in html
