"""What ``honed serve`` hands uvicorn to build the app in each worker process.

uvicorn pickles its Config into every worker it spawns, and a worker answers uvicorn's
health checks only once that Config is unpickled: the factory must not import the app (FastAPI,
SQLAlchemy, ...) to be unpickled, or a worker still importing on a loaded machine misses
the checks and is killed and replaced, over and over. So it carries the settings as JSON
and imports the app when called, as an import string would.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from honed.server.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppFactory:
    """``create_app`` with these settings, callable in any process."""

    settings_json: str

    @classmethod
    def of(cls, settings: Settings) -> AppFactory:
        return cls(settings.model_dump_json())

    def __call__(self) -> FastAPI:
        from honed.server.app import create_app
        from honed.server.settings import Settings

        master = multiprocessing.parent_process()
        if master is not None and master.pid is not None:
            # A worker of `honed serve --workers N`: uvicorn's master supervises it, and a
            # worker whose master was killed would go on serving the port unsupervised.
            _end_with(master.pid)
        # model_validate_json reads no environment: the worker serves the parent's settings.
        return create_app(Settings.model_validate_json(self.settings_json))


def _end_with(parent: int) -> None:
    """SIGTERM to this process (a graceful shutdown) once ``parent`` is no longer its
    parent, checked every second from now on."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        logger.warning("the server's master process %s ended; this worker stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-master", daemon=True).start()
