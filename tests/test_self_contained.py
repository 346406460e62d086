"""The repository stands on its own: no text in it points at a file outside it, and every
pointer into docs/decisions.md names an entry that is there."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Places outside the repository that notes have cited: the design notes' reference folder,
# the machines' shared folder, absolute paths of the machines this was written on.
OUTSIDE = re.compile(r"reference/|environment\.md|\.\./shared|/work/|DESIGN\.md")
POINTER = re.compile(r"docs/decisions\.md:\s+([^)]*?)\)")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    suffixes = {".py", ".md", ".sh", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".txt"}
    return [ROOT / name for name in listed if name and Path(name).suffix in suffixes]


def test_no_text_points_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in tracked_text_files()
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []


def test_pointers_into_the_decisions_name_an_entry() -> None:
    decisions = (ROOT / "docs" / "decisions.md").read_text(encoding="utf-8")
    titles = {line[3:].strip() for line in decisions.splitlines() if line.startswith("## ")}
    missing = []
    for path in tracked_text_files():
        if path.suffix not in {".py", ".sh"}:
            continue
        # Comments and docstrings wrap: join the lines, dropping comment markers.
        text = re.sub(r"\n\s*(?:#:?)?\s*", " ", path.read_text(encoding="utf-8"))
        for match in POINTER.finditer(text):
            # A title that ends in parentheses: the match ends before its last one.
            named = match.group(1).strip()
            if named not in titles and f"{named})" not in titles:
                missing.append(f"{path.relative_to(ROOT)}: {match.group(1)}")
    assert missing == []
