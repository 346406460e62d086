"""``python -m honed`` is the ``honed`` command."""

from __future__ import annotations

from honed.cli.main import main

main()
