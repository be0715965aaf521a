"""The open-data docs stay true to the code: every column, parameter and command documented."""

from __future__ import annotations

import re

import pytest

from core.settings import ROOT
from geo.aggregate import BY_CHOICES, PARAMETERS
from geo.datadict import COLUMNS
from store.aggregate_sql import output_columns

DATA_MD = (ROOT / "docs" / "DATA.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("by", BY_CHOICES)
def test_every_output_column_is_in_the_dictionary(by):
    assert set(output_columns(by)) <= set(COLUMNS)


@pytest.mark.parametrize("column", list(COLUMNS))
def test_every_column_has_a_row_in_data_md(column):
    assert re.search(rf"^\| `{column}` \|", DATA_MD, re.MULTILINE), column


@pytest.mark.parametrize("column", list(COLUMNS))
def test_type_and_unit_in_data_md_match_the_dictionary(column):
    # The manifests' "columns" come from geo.datadict; docs/DATA.md must say the same.
    row = re.search(rf"^\| `{column}` \| ([^|]*) \| ([^|]*) \|", DATA_MD, re.MULTILINE)
    plain = [cell.replace("`", "").replace("–", "-").strip() for cell in row.groups()]
    assert plain == list(COLUMNS[column][:2])


@pytest.mark.parametrize("parameter", PARAMETERS)
def test_every_parameter_is_documented(parameter):
    assert f"`{parameter}`" in DATA_MD


def test_data_md_names_licence_cron_and_differencing():
    assert "CC BY 4.0" in DATA_MD and "python -m geo snapshot --site" in DATA_MD
    assert "Differencing" in DATA_MD and "does not protect" in DATA_MD
    assert (ROOT / "LICENSE-DATA.md").read_text(encoding="utf-8").count("CC BY 4.0") >= 1


def test_cli_help_is_its_docstring():
    from geo import cli

    text = cli._parser().format_help()
    assert "python -m geo export --res R --format csv|parquet|geoparquet|geojson --out PATH" in text
    assert "15 3 * * *" in text
