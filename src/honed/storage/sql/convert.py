"""Rows (ORM objects or Core rows, with ``metadata`` read as ``meta``) to frozen domain
objects."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from sqlalchemy import Row

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentState
from honed.domain.files import FileDeclaration
from honed.domain.files import RunFile
from honed.domain.projects import Project
from honed.domain.records import ModelBasis
from honed.domain.records import Observation
from honed.domain.records import QueuedSuggestion
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.records import SuggestionState
from honed.domain.runs import Checkpoint
from honed.domain.runs import RunState
from honed.domain.runs import TrainingRun
from honed.domain.tags import Tag
from honed.domain.tenancy import Client
from honed.domain.tenancy import Token
from honed.domain.tenancy import TokenType
from honed.storage.sql.codec import spec_from_json
from honed.storage.sql.codec import spec_from_text
from honed.storage.sql.codec import values_from_json
from honed.storage.sql.models import CheckpointRow
from honed.storage.sql.models import ClientRow
from honed.storage.sql.models import ExperimentRow
from honed.storage.sql.models import ObservationRow
from honed.storage.sql.models import ProjectRow
from honed.storage.sql.models import QueuedSuggestionRow
from honed.storage.sql.models import RunFileRow
from honed.storage.sql.models import SuggestionRow
from honed.storage.sql.models import TagRow
from honed.storage.sql.models import TokenRow
from honed.storage.sql.models import TrainingRunRow


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
        experiment_id=row.experiment_id,
    )


def experiment(row: ExperimentRow | Row[Any]) -> Experiment:
    """From an ORM row, or a row whose spec is the column's JSON text (hot.py's)."""
    columns = (row.name, row.type, row.development)
    spec = (
        spec_from_text(*columns, row.spec, row.runs_only, row.project)
        if isinstance(row.spec, str)
        else spec_from_json(*columns, row.spec, row.runs_only, row.project)
    )
    return Experiment(
        id=row.id,
        client_id=row.client_id,
        spec=spec,
        state=ExperimentState(row.state),
        created=int(row.created),
        updated=int(row.updated),
    )


def suggestion(row: SuggestionRow | Row[Any]) -> Suggestion:
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
        model=ModelBasis(**row.model) if row.model is not None else None,
        task=row.task,
    )


def model_json(model: ModelBasis | None) -> dict[str, Any] | None:
    return dataclasses.asdict(model) if model is not None else None


def queued_suggestion(row: QueuedSuggestionRow | Row[Any]) -> QueuedSuggestion:
    return QueuedSuggestion(
        id=row.id,
        experiment_id=row.experiment_id,
        assignments=dict(row.assignments),
        created=int(row.created),
        task=row.task,
    )


def observation(row: ObservationRow | Row[Any]) -> Observation:
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
        task=row.task,
    )


def project(row: ProjectRow) -> Project:
    return Project(
        id=row.id,
        client_id=row.client_id,
        reference=row.reference,
        name=row.name,
        metadata=dict(row.meta) if row.meta is not None else None,
        created=int(row.created),
        updated=int(row.updated),
        deleted=row.deleted,
    )


def training_run(row: TrainingRunRow) -> TrainingRun:
    return TrainingRun(
        id=row.id,
        client_id=row.client_id,
        project=row.project,
        experiment_id=row.experiment_id,
        suggestion_id=row.suggestion_id,
        observation_id=row.observation_id,
        state=RunState(row.state),
        data=copy.deepcopy(row.data),
        created=int(row.created),
        updated=int(row.updated),
        completed=int(row.completed) if row.completed is not None else None,
        deleted=row.deleted,
        checkpoint_count=row.checkpoint_count,
        file_ids=tuple(row.file_ids),
        tag_ids=tuple(row.tag_ids),
    )


def run_file(row: RunFileRow) -> RunFile:
    declared = FileDeclaration(
        content_length=row.content_length,
        content_type=row.content_type,
        content_md5=row.content_md5,
        name=row.name,
        filename=row.filename,
    )
    return RunFile(
        id=row.id,
        client_id=row.client_id,
        training_run_id=row.training_run_id,
        declared=declared,
        key=row.key,
        created=int(row.created),
        uploaded=int(row.uploaded) if row.uploaded is not None else None,
        signing_key=row.signing_key,
    )


def tag(row: TagRow) -> Tag:
    return Tag(
        id=row.id,
        client_id=row.client_id,
        name=row.name,
        color=row.color,
        created=int(row.created),
    )


def checkpoint(row: CheckpointRow) -> Checkpoint:
    return Checkpoint(
        id=row.id,
        training_run_id=row.training_run_id,
        values=values_from_json(row.values),
        metadata=dict(row.meta) if row.meta is not None else None,
        created=int(row.created),
    )
