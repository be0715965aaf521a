"""Docs stay true to the code: every setting documented, README shows the two commands."""

import re
from pathlib import Path

import pytest

from core.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented(setting):
    text = (ROOT / "docs" / "SETTINGS.md").read_text(encoding="utf-8")
    assert f"`{setting.name}`" in text


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = text[: text.find("##", text.find("make test"))]
    assert "make run" in first and "make test" in first


def test_ingest_cli_help_is_its_docstring():
    from ingest import cli

    assert "python -m ingest load PATH" in cli._parser().format_help()
    assert cli._parser().description == cli.__doc__


def test_every_bench_script_the_docs_cite_exists():
    """Numbers in docs come from bench/ scripts: each one named must be there to rerun."""
    cited = {name for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
             for name in re.findall(r"bench/[A-Za-z_]+\.py", doc.read_text(encoding="utf-8"))}
    assert "bench/bench_map.py" in cited and "bench/detect_eval.py" in cited
    assert sorted(name for name in cited if not (ROOT / name).is_file()) == []
