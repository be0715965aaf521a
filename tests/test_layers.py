"""Imports run one way through the packages: a package imports only the packages below it; and all
SQL lives in store/ (store/<topic>_sql.py and the store's own modules), the one seam for the database.

The order, bottom first; packages on one rank do not import each other:

    core < store < geo < ingest < outages, evidence < ui, api < streamlit_app, app, cluster

Every ``import`` and ``from ... import`` counts, at module level or inside a function, and so does
``importlib.import_module("...")`` with a literal name. README.md ("What is in it") states the same order.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("store",),
    ("geo",),
    ("ingest",),
    ("outages", "evidence"),
    ("ui", "api"),
    ("streamlit_app", "app", "cluster"),  # the entry modules at the top level, and the cluster that starts them
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every module the tree imports, wherever the statement stands."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import stays inside its own package: it never crosses a layer.
            found.append((node.lineno, package if node.level else node.module or ""))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module"
                   or getattr(node.func, "id", None) in ("import_module", "__import__"))):
            found.append((node.lineno, node.args[0].value))
    return found


def wrong_way_imports(path: Path, package: str, source: str | None = None) -> list[str]:
    """``file:line: a -> b`` for each import in ``path`` of a package on the same or a higher rank."""
    text = path.read_text(encoding="utf-8") if source is None else source
    wrong = []
    for line, name in imported_modules(ast.parse(text, filename=str(path)), package):
        target = name.split(".")[0]
        if target in RANK and target != package and RANK[target] >= RANK[package]:
            wrong.append(f"{path.relative_to(ROOT)}:{line}: {package} -> {name}")
    return wrong


def layered_files() -> list[tuple[Path, str]]:
    files = []
    for package in RANK:
        folder = ROOT / package
        if folder.is_dir():
            files += [(path, package) for path in sorted(folder.rglob("*.py"))]
        elif (ROOT / f"{package}.py").is_file():
            files.append((ROOT / f"{package}.py", package))
    return files


def test_every_package_has_a_rank():
    """A new package (a folder with __init__.py) must be placed in the order before it can be imported."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert sorted(packages - set(RANK)) == []
    assert len(layered_files()) > 100  # the walk really reads the code


def test_imports_run_one_way():
    wrong = [line for path, package in layered_files() for line in wrong_way_imports(path, package)]
    assert wrong == [], "imports that run against core < store < geo < ingest < outages, evidence < ui, api:\n" \
        + "\n".join(wrong)


@pytest.mark.parametrize(("package", "source"), [
    ("store", "from ingest.vocab import NETWORKS\n"),
    ("store", "def f():\n    from geo import mapview\n    return mapview\n"),
    ("geo", "import ingest.loader\n"),
    ("core", "from store.db import connect\n"),
    ("outages", "from evidence import mine\n"),  # same rank
    ("api", "from ui.common import tr\n"),  # same rank
    ("ui", "import app\n"),
    ("geo", "import importlib\nmodule = importlib.import_module('outages.scan')\n"),
])
def test_an_import_the_wrong_way_is_caught(package, source):
    assert len(wrong_way_imports(ROOT / package / "planted.py", package, source)) == 1


@pytest.mark.parametrize(("package", "source"), [
    ("store", "from core.vocab import NETWORKS\nfrom store import db\nfrom .db import connect\n"),
    ("ui", "def f():\n    from geo import mapview\n    from outages import scan\n    return mapview, scan\n"),
    ("ingest", "import duckdb\nimport numpy as np\nfrom geo.places import cells_to_district_codes\n"),
])
def test_imports_the_right_way_pass(package, source):
    assert wrong_way_imports(ROOT / package / "planted.py", package, source) == []


def test_readme_states_the_same_order():
    text = re.sub(r"\s+", " ", (ROOT / "README.md").read_text(encoding="utf-8"))
    order = " < ".join(", ".join(f"`{name}`" for name in names) for names in LAYERS[:-1])
    assert order in text


# --- SQL lives in store/ -----------------------------------------------------------------------

SQL_STATEMENT = re.compile(r"^\s*(SELECT\s.+\sFROM\s|WITH\s+\w+\s+AS\s*\(|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s"
                           r"|DELETE\s+FROM\s|(CREATE|ALTER|DROP)\s+(OR\s+REPLACE\s+)?(TEMP\s+)?(TABLE|VIEW|INDEX|MACRO)\s"
                           r"|COPY\s*\()", re.I | re.S)
# ``Aggregate.sql()`` (geo.aggregate) returns the store's own SELECT (store.aggregate_sql.output_query),
# handed straight back to store.aggregate_sql: not SQL written outside store.
AGGREGATE_TEXT = {"self", "agg"}


def sql_outside_store(path: Path) -> list[tuple[int, str]]:
    """(line, what) of every statement run, or SQL text written, in a module outside ``store``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            if node.func.attr in ("execute", "executemany") or (node.func.attr == "sql"
                                                                and owner not in AGGREGATE_TEXT):
                found.append((node.lineno, f".{node.func.attr}(...)"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_STATEMENT.match(node.value):
            found.append((node.lineno, node.value.strip().splitlines()[0][:40]))
    return found


def test_sql_lives_in_store_only():
    offenders = []
    for package in ("core", "geo", "ingest", "outages", "evidence", "ui", "api", "cluster"):
        for path in sorted((ROOT / package).rglob("*.py")):
            offenders += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in sql_outside_store(path)]
    offenders += [f"{name}:{line}: {what}" for name in ("streamlit_app.py", "app.py")
                  for line, what in sql_outside_store(ROOT / name)]
    assert offenders == [], "SQL belongs in store/ (store/<topic>_sql.py):\n" + "\n".join(offenders)


def test_the_sql_check_finds_a_statement_outside_store(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('def f(cur):\n    return cur.execute("SELECT count(*) FROM reports").fetchone()\n',
                       encoding="utf-8")
    assert [line for line, _ in sql_outside_store(planted)] == [2, 2]


def cursors_outside_store(path: Path) -> list[int]:
    """Lines of every ``.cursor()`` call in a module outside ``store``: cursors are opened, and closed,
    by ``store.db.cursor`` (``with cursor(con) as cur:``) or ``store.read.run_read``."""
    return [node.lineno for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cursor"]


def test_cursors_are_opened_and_closed_in_store_only():
    offenders = [f"{path.relative_to(ROOT)}:{line}"
                 for package in ("core", "geo", "ingest", "outages", "evidence", "ui", "api", "cluster")
                 for path in sorted((ROOT / package).rglob("*.py")) for line in cursors_outside_store(path)]
    offenders += [f"{name}:{line}" for name in ("streamlit_app.py", "app.py")
                  for line in cursors_outside_store(ROOT / name)]
    assert offenders == [], "open cursors with `with store.db.cursor(con) as cur:`:\n" + "\n".join(offenders)


def test_the_cursor_check_finds_a_bare_cursor(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("def f(con):\n    cur = con.cursor()\n    return cur\n", encoding="utf-8")
    assert cursors_outside_store(planted) == [2]
