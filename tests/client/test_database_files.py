"""What a SQLite database leaves beside it is explained to users: every file that appears
next to ``honed.db`` while honed uses it is named in the README."""

from __future__ import annotations

from pathlib import Path

from honed.client import Client
from honed.client import NewObservation

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_file_beside_the_database_is_named_in_the_readme(tmp_path: Path) -> None:
    database = tmp_path / "honed.db"
    with Client(str(database)) as client:
        experiment = client.create_experiment(
            {
                "name": "files",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": "loss", "objective": "minimize"}],
            }
        )
        suggestion = client.create_suggestion(experiment.id)
        client.create_observation(
            experiment.id, NewObservation(suggestion=suggestion.id, values={"loss": 0.5})
        )
        beside = sorted(p.name for p in tmp_path.iterdir() if p.name != "honed.db")
    assert "honed.db.lock" in beside  # what a user asked about: it must be among them
    readme = README.read_text(encoding="utf-8")
    assert [name for name in beside if f"`{name}`" not in readme] == []
