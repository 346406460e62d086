"""The JSON export: an experiment and its observations as the v1 API returns them.

One format, written by ``honed export --format json`` (from the API's JSON) and served as
the dashboard's JSON download (GET /dashboard/api/experiments/{id}/observations.json, from
the records, rendered as the API renders them), so that both are the same bytes::

    {
      "experiment": {... as GET /v1/experiments/{id} ...},
      "observations": [
        {... as GET /v1/experiments/{id}/observations/{oid}, oldest first ...}
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
from typing import Any

JSON = dict[str, Any]


def export_json(experiment: JSON, observations: Iterable[JSON]) -> str:
    return (
        json.dumps({"experiment": experiment, "observations": list(observations)}, indent=2) + "\n"
    )
