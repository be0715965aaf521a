"""Where bench scripts leave their figures: JSON under bench/out/ (bench/plot_history.py reads them)."""

from __future__ import annotations

import json
from pathlib import Path


def save_json(path: Path, results: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, default=str, indent=1))
