"""honed's own Python client: the same calls over a server URL or an embedded database.

``import honed.client`` loads httpx only; the embedded transport (FastAPI, SQLAlchemy) is
imported when a database connection is opened.
"""

from __future__ import annotations

from honed.client.client import Client
from honed.client.client import database_url
from honed.client.client import is_remote
from honed.client.models import BestAssignments
from honed.client.models import Experiment
from honed.client.models import MetricDef
from honed.client.models import NewObservation
from honed.client.models import Observation
from honed.client.models import Suggestion
from honed.client.models import TaskDef
from honed.client.retry import RetryPolicy

__all__ = [
    "BestAssignments",
    "Client",
    "Experiment",
    "MetricDef",
    "NewObservation",
    "Observation",
    "RetryPolicy",
    "Suggestion",
    "TaskDef",
    "database_url",
    "is_remote",
]
