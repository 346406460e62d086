"""Old code beside new in one benchmark run: a git revision's ``src/`` in a directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def extract_src(revision: str, into: Path) -> Path:
    """``src/`` of ``revision`` (``git archive``) under ``into``; its path."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "src"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"
