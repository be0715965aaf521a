"""Pins match imports (issue 13): every package the code imports is pinned in requirements.txt, and every pin
is imported by the code or named below with the reason it is needed although nothing imports it."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from test_layers import RANK, imported_modules, layered_files

ROOT = Path(__file__).resolve().parent.parent
# Needed at run time without being imported by name.
NOT_IMPORTED = {
    "uvicorn": "the server under st.App (streamlit.starlette)",
    "httptools": "uvicorn's C HTTP parser, used when installed",
    "uvloop": "uvicorn's event loop, used when installed",
    "pytz": "DuckDB's Python client needs it to return TIMESTAMPTZ values as datetimes",
    "pyogrio": "geopandas' file engine: geopandas.read_file in geo.places",
    "psycopg-binary": "psycopg's compiled implementation with its own libpq, used when installed (store.pg)",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[_norm(name)] = version
    return pins


def imported_distributions() -> dict[str, set[str]]:
    """Distribution -> the files of the site's code (not tests, not bench) that import it."""
    dists = packages_distributions()
    found: dict[str, set[str]] = {}
    for path, package in layered_files():
        for _, name in imported_modules(ast.parse(path.read_text(encoding="utf-8")), package):
            top = name.split(".")[0]
            if top in RANK or top in sys.stdlib_module_names or top == "__future__":
                continue
            for dist in dists.get(top, [f"<not installed: {top}>"]):
                found.setdefault(_norm(dist), set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_is_pinned():
    missing = {dist: sorted(files) for dist, files in imported_distributions().items() if dist not in pinned()}
    assert missing == {}


def test_every_pin_is_imported_or_needed_for_a_stated_reason():
    unused = sorted(set(pinned()) - set(imported_distributions()) - set(NOT_IMPORTED))
    assert unused == []
    assert sorted(set(NOT_IMPORTED) - set(pinned())) == []  # the list above stays true too
