"""The JSON export: an experiment and its observations as the v1 API returns them, each
with what its suggestion says about the trial.

One format, written by ``honed export --format json`` (from the API's JSON) and served as
the dashboard's JSON download (GET /dashboard/api/experiments/{id}/observations.json, from
the records, rendered as the API renders them), so that both are the same bytes::

    {
      "experiment": {... as GET /v1/experiments/{id} ...},
      "observations": [
        {... as GET /v1/experiments/{id}/observations/{oid}, oldest first,
         then "source" and "intermediate_values" (exported_observation) ...}
      ]
    }

indented by two spaces, with a newline at the end. The dashboard cuts the file to the
observations its table shows without parsing it again (views-table.js: a browser's JSON
writes numbers otherwise), so the layout is part of the format: ``observations`` is the
last key, and each observation opens on a line ``    {`` and closes on the next line
``    }`` (everything inside is indented further, and no string holds a raw newline).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from honed.domain.records import generation_method
from honed.domain.trials import progress_curve

JSON = dict[str, Any]


@dataclass(frozen=True)
class AnsweredSuggestion:
    """What the export reads of the suggestion an observation answered: its stored
    ``source`` and its metadata (where a scheduler trial keeps its intermediate values).
    The server takes them from its records, the CLI from the v1 suggestions."""

    source: str
    metadata: Mapping[str, Any] | None


def exported_observation(observation: JSON, answered: AnsweredSuggestion | None) -> JSON:
    """A v1 observation with two keys of the export's own, after the API's:

    - ``source``: what chose the point (design, optimizer, fallback or manual, as in the
      CSV's column); null for an observation reported without a suggestion on record;
    - ``intermediate_values``: the trial's learning curve, ``[step, value]`` pairs by
      step (the objective's, as the scheduler stores them); empty when none was reported.
    """
    curve = progress_curve(answered.metadata) if answered is not None else []
    return {
        **observation,
        "source": generation_method(answered.source) if answered is not None else None,
        "intermediate_values": [[step, value] for step, value in curve],
    }


def export_observations(
    observations: Iterable[JSON], answered: Mapping[int, AnsweredSuggestion]
) -> list[JSON]:
    """``answered``: the suggestions the observations answered (deleted ones too: a
    suggestion that expired before its late report still chose the point), by id."""
    return [
        exported_observation(o, answered.get(int(o["suggestion"])) if o["suggestion"] else None)
        for o in observations
    ]


def export_json(experiment: JSON, observations: Iterable[JSON]) -> str:
    """The file, from observations already in the export's form (``export_observations``):
    the dashboard cuts it to the observations its table shows, and tests check the cut."""
    return (
        json.dumps({"experiment": experiment, "observations": list(observations)}, indent=2) + "\n"
    )
