"""A pytest plugin for the sigopt wheel's xgboost integration tests, loaded only in their
subprocess: they call ``random.sample`` on ``dict.keys()``, which Python 3.11 refuses
(3.10 converted the view itself). This restores that conversion; nothing else changes."""

from __future__ import annotations

import random
from collections.abc import KeysView
from collections.abc import Sequence
from collections.abc import Set
from typing import Any

_sample = random.sample


def _sample_views_too(population: Sequence[Any] | Set[Any], k: int, **kwargs: Any) -> list[Any]:
    if isinstance(population, Set | KeysView):
        population = list(population)
    return _sample(population, k, **kwargs)


random.sample = _sample_views_too
