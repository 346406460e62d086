"""Every command's --help reads as plain text: no reStructuredText markup from docstrings
(``honed run --help`` showed "With ``server:``")."""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from honed.cli.main import main


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def test_help_texts_have_no_markup() -> None:
    runner = CliRunner()
    seen = list(commands(main))
    assert ("run",) in seen
    for path in seen:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "``" not in result.output, (path, result.output)
