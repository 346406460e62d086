"""A non-editable install ships every dashboard file: each one matches a package-data glob."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "honed"


def test_package_data_covers_the_dashboard_files() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["honed"]
    static = PACKAGE / "server" / "dashboard" / "static"
    files = [p for p in static.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"echarts.min.js", "LICENSE", "experiment.html"}
    uncovered = [
        str(p.relative_to(PACKAGE))
        for p in files
        if not any(p.relative_to(PACKAGE).match(pattern) for pattern in globs)
    ]
    assert uncovered == []
