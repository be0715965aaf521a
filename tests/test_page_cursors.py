"""Every cursor a page opens is closed (issue 13: "pages open 23 cursors and close 2").

Pages read through ``ui.common.read(fn, *args)`` (store.read.run_read: a fresh cursor, closed afterwards,
stopped after DROPMAP_QUERY_MS); the operator's page may hold one in a ``with cursor() as cur:`` block,
which closes it. A bare ``cursor()`` or ``.cursor()`` call anywhere else in a page fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# ui/common.py defines cursor() and read(); the helper is the one place a cursor is opened bare.
PAGES = sorted(p for p in (ROOT / "ui").glob("*.py") if p.name != "common.py") + [ROOT / "streamlit_app.py"]


def unclosed_cursors(source: str) -> list[int]:
    """Lines of ``cursor()`` / ``x.cursor()`` calls that are not the subject of a ``with`` statement."""
    tree = ast.parse(source)
    in_with = {id(item.context_expr) for node in ast.walk(tree) if isinstance(node, ast.With | ast.AsyncWith)
               for item in node.items}
    return sorted(node.lineno for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and id(node) not in in_with
                  and (getattr(node.func, "id", None) == "cursor" or getattr(node.func, "attr", None) == "cursor"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_page_closes_its_cursors(page):
    assert unclosed_cursors(page.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(("source", "lines"), [
    ("share = demo_share(cursor())\n", [1]),
    ("cur = cursor()\nmine = my_reports(cur, code)\n", [1]),
    ("x = connection().cursor()\n", [1]),
    ("def f():\n    return flagged_reports(cursor())\n", [2]),
    ("with cursor() as cur:\n    log = moderation_log(cur)\n", []),
    ("share = read(demo_share)\nmine = read(my_reports, code, ip=ip)\n", []),
    ("with cursor() as cur:\n    rows = f(cur, cursor())\n", [2]),
])
def test_a_bare_cursor_is_caught(source, lines):
    assert unclosed_cursors(source) == lines


def test_the_pages_are_found():
    assert {"overview.py", "explore.py", "moderation.py", "my_reports.py"} <= {p.name for p in PAGES}
