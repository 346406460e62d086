"""Rows to frozen domain objects."""

from __future__ import annotations

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentState
from honed.domain.records import Observation
from honed.domain.records import QueuedSuggestion
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.records import SuggestionState
from honed.domain.tenancy import Client
from honed.domain.tenancy import Token
from honed.domain.tenancy import TokenType
from honed.storage.sql.codec import spec_from_json
from honed.storage.sql.codec import values_from_json
from honed.storage.sql.models import ClientRow
from honed.storage.sql.models import ExperimentRow
from honed.storage.sql.models import ObservationRow
from honed.storage.sql.models import QueuedSuggestionRow
from honed.storage.sql.models import SuggestionRow
from honed.storage.sql.models import TokenRow


def client(row: ClientRow) -> Client:
    return Client(id=row.id, name=row.name, created=int(row.created))


def token(row: TokenRow) -> Token:
    return Token(
        id=row.id,
        client_id=row.client_id,
        token_type=TokenType(row.token_type),
        permissions=row.permissions,
        created=int(row.created),
        revoked=row.revoked,
        description=row.description,
    )


def experiment(row: ExperimentRow) -> Experiment:
    return Experiment(
        id=row.id,
        client_id=row.client_id,
        spec=spec_from_json(row.name, row.type, row.development, row.spec),
        state=ExperimentState(row.state),
        created=int(row.created),
        updated=int(row.updated),
    )


def suggestion(row: SuggestionRow) -> Suggestion:
    return Suggestion(
        id=row.id,
        experiment_id=row.experiment_id,
        assignments=dict(row.assignments),
        state=SuggestionState(row.state),
        source=SuggestionSource(row.source),
        metadata=dict(row.meta) if row.meta is not None else None,
        created=int(row.created),
        deleted=row.deleted,
        lease_until=int(row.lease_until) if row.lease_until is not None else None,
    )


def queued_suggestion(row: QueuedSuggestionRow) -> QueuedSuggestion:
    return QueuedSuggestion(
        id=row.id,
        experiment_id=row.experiment_id,
        assignments=dict(row.assignments),
        created=int(row.created),
    )


def observation(row: ObservationRow) -> Observation:
    return Observation(
        id=row.id,
        experiment_id=row.experiment_id,
        suggestion_id=row.suggestion_id,
        assignments=dict(row.assignments),
        values=values_from_json(row.values),
        failed=row.failed,
        metadata=dict(row.meta) if row.meta is not None else None,
        created=int(row.created),
        deleted=row.deleted,
    )
