"""The SQL implementation of run files and tags (a mixin of SqlStorage; the contracts are
in honed.storage.files and honed.storage.tags). A run keeps the ids of both in its own row,
changed under its row lock."""

from __future__ import annotations

import time

from sqlalchemy import exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from honed.domain.files import RunFile
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.tags import Tag
from honed.errors import ConflictError
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.storage.files import NewRunFile
from honed.storage.sql import convert
from honed.storage.sql.database import Transactions
from honed.storage.sql.models import ClientRow
from honed.storage.sql.models import RunFileRow
from honed.storage.sql.models import TagRow
from honed.storage.sql.models import TrainingRunRow
from honed.storage.sql.queries import get_row
from honed.storage.sql.queries import paginate


class SqlRunAttachments:
    _tx: Transactions

    # --- files ----------------------------------------------------------------------------
    def create_run_file(self, run_id: int, new: NewRunFile, max_per_run: int) -> RunFile:
        now = time.time()
        with self._tx.write() as session:
            run = _locked_run(session, run_id)
            if len(run.file_ids) >= max_per_run:
                raise InvalidRequestError(
                    f"Invalid training run {run_id}: it has {max_per_run} files, the most a "
                    "run may have"
                )
            declared = new.declared
            row = RunFileRow(
                client_id=run.client_id,
                training_run_id=run_id,
                name=declared.name,
                filename=declared.filename,
                content_type=declared.content_type,
                content_length=declared.content_length,
                content_md5=declared.content_md5,
                key=new.key,
                signing_key=new.signing_key,
                created=now,
                uploaded=None,
            )
            session.add(row)
            session.flush()
            run.file_ids = [*run.file_ids, row.id]
            run.updated = now
            return convert.run_file(row)

    def get_run_file(self, file_id: int) -> RunFile:
        with self._tx.read() as session:
            return convert.run_file(get_row(session, RunFileRow, file_id))

    def run_files(self, run_id: int) -> list[RunFile]:
        with self._tx.read() as session:
            rows = session.scalars(
                select(RunFileRow)
                .where(RunFileRow.training_run_id == run_id)
                .order_by(RunFileRow.id)
            )
            return [convert.run_file(row) for row in rows]

    def mark_file_uploaded(self, file_id: int) -> RunFile:
        with self._tx.write() as session:
            row = get_row(session, RunFileRow, file_id)
            if row.uploaded is None:
                row.uploaded = time.time()
            return convert.run_file(row)

    # --- tags -----------------------------------------------------------------------------
    def create_tag(self, client_id: int, name: str, color: str) -> Tag:
        with self._tx.write() as session:
            get_row(session, ClientRow, client_id)
            row = TagRow(client_id=client_id, name=name, color=color, created=time.time())
            session.add(row)
            try:
                session.flush()
            except exc.IntegrityError:  # the unique (client, name) constraint
                raise ConflictError(f"The tag with name `{name}` already exists.") from None
            return convert.tag(row)

    def get_tag(self, client_id: int, tag_id: int) -> Tag:
        with self._tx.read() as session:
            row = session.get(TagRow, tag_id)
            if row is None or row.client_id != client_id:
                raise NotFoundError(f"Tag {tag_id} not found")
            return convert.tag(row)

    def list_tags(self, client_id: int, page: PageRequest) -> Page[Tag]:
        with self._tx.read() as session:
            return paginate(session, TagRow, [TagRow.client_id == client_id], page, convert.tag)

    def tags(self, client_id: int, tag_ids: list[int]) -> list[Tag]:
        if not tag_ids:
            return []
        with self._tx.read() as session:
            rows = session.scalars(
                select(TagRow)
                .where(TagRow.client_id == client_id, TagRow.id.in_(tag_ids))
                .order_by(TagRow.id)
            )
            return [convert.tag(row) for row in rows]

    def set_run_tag(self, run_id: int, tag_id: int, present: bool) -> None:
        with self._tx.write() as session:
            run = _locked_run(session, run_id)
            others = [t for t in run.tag_ids if t != tag_id]
            tag_ids = sorted([*others, tag_id]) if present else others
            if tag_ids != run.tag_ids:
                run.tag_ids = tag_ids
                run.updated = time.time()


def _locked_run(session: Session, run_id: int) -> TrainingRunRow:
    run = session.scalars(
        select(TrainingRunRow).where(TrainingRunRow.id == run_id).with_for_update()
    ).first()
    if run is None:
        raise NotFoundError()
    return run
