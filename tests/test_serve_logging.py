"""``honed serve``'s API processes log honed's own lines at ``--log-level``, formatted as
uvicorn's: left to the root logger they lost every info line and printed warnings bare."""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterator

import pytest

from honed.cli.main import server_log_config

LOGGERS = ("honed", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """dictConfig changes process-wide loggers; other tests' caplog needs honed's records
    to reach the root logger again."""
    saved = {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name in LOGGERS
        for logger in [logging.getLogger(name)]
    }
    yield
    for name, (level, handlers, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.disabled = disabled


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize(
    ("level", "info_shown"), [("info", True), ("warning", False), ("debug", True)]
)
def test_honeds_lines_follow_the_log_level(
    capsys: pytest.CaptureFixture[str], level: str, info_shown: bool
) -> None:
    logging.config.dictConfig(server_log_config(level))
    logger = logging.getLogger("honed.service.suggestions")
    logger.info("an info line")
    logger.warning("a warning line")
    err = capsys.readouterr().err
    assert ("an info line" in err) is info_shown
    assert "WARNING:" in err
    assert "a warning line" in err
