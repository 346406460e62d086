"""Linear constraints as a user of the official client meets them: a real `honed serve`
with its optimizer process; every suggestion, Sobol's or the optimizer's, meets them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.e2e.sigopt_worker import connection
from tests.support.server import running_server

OPTIMIZER_POINTS = 10
DEADLINE_SECONDS = 120.0


def test_every_suggestion_meets_the_linear_constraints(tmp_path: Path) -> None:
    """Maximum 11 at a = 10, b = 0, x = 1, y = 0.5: in a corner of both constraints."""
    with (
        running_server(f"sqlite:///{tmp_path / 'honed.db'}", optimizers=1) as server,
        connection(server.url, server.token) as conn,
    ):
        experiment = conn.experiments().create(
            name="linear constraints",
            parameters=[
                {"name": "a", "type": "int", "bounds": {"min": 0, "max": 10}},
                {"name": "b", "type": "int", "bounds": {"min": 0, "max": 10}},
                {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
                {"name": "y", "type": "double", "bounds": {"min": 0, "max": 1}},
            ],
            linear_constraints=[
                {"type": "less_than", "threshold": 10, "terms": [term("a", 1), term("b", 1)]},
                {"type": "greater_than", "threshold": 0.5, "terms": [term("x", 1), term("y", -1)]},
            ],
            metrics=[{"name": "f", "objective": "maximize"}],
        )
        suggestions = conn.experiments(experiment.id).suggestions()
        observations = conn.experiments(experiment.id).observations()
        broken: list[dict[str, Any]] = []
        sources: list[str] = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        # Sobol serves until the optimizer process is up (it imports torch first).
        while sources.count("optimizer") < OPTIMIZER_POINTS:
            assert time.monotonic() < deadline, (sources, server.log())
            suggestion = suggestions.create()
            sources.append(suggestion.to_json()["source"])
            a = suggestion.assignments
            if a["a"] + a["b"] > 10 or a["x"] - a["y"] < 0.5:
                broken.append(dict(a))
            value = 0.9 * a["a"] + 0.5 * a["b"] + a["x"] + 2 * a["y"]
            observations.create(suggestion=suggestion.id, value=value)
        assert not broken
        best = next(conn.experiments(experiment.id).best_assignments().fetch().iterate_pages())
        assert best.values[0].value > 10.8, (best, sources)


def term(name: str, weight: float) -> dict[str, Any]:
    return {"name": name, "weight": weight}
