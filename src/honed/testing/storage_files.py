"""The ``RunFileStore`` and ``TagStore`` roles: files of training runs, a client's tags and
the tags of its runs.

Part of ``honed.testing.storage.StorageConformance``; subclass ``RunFileConformance`` or
``TagConformance`` alone to run only that role's tests (see ``RoleSuite``).
"""

from __future__ import annotations

import pytest

from honed.domain.files import FileDeclaration
from honed.domain.paging import PageRequest
from honed.domain.runs import RunState
from honed.domain.runs import TrainingRun
from honed.errors import ConflictError
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.storage.base import Storage
from honed.storage.files import NewRunFile
from honed.storage.runs import NewTrainingRun
from honed.testing.storage_support import RoleSuite
from honed.testing.storage_support import run_together

DECLARED = FileDeclaration(
    content_length=12,
    content_type="image/png",
    content_md5="CWVuO5yi2saakk6Jy1hHiQ==",
    name="loss",
    filename="/tmp/loss.png",
)


def new_file(index: int) -> NewRunFile:
    return NewRunFile(DECLARED, key=f"1/1/key-{index}", signing_key=f"{index:064x}")


def make_run(storage: Storage, client_name: str = "c") -> TrainingRun:
    client = storage.create_client(client_name)
    storage.create_project(client.id, "proj", "P", None)
    (run,) = storage.create_training_runs(
        client.id, [NewTrainingRun("proj", RunState.ACTIVE, {"name": "r"})]
    )
    return run


class RunFileConformance(RoleSuite):
    def test_files_are_attached_pending_then_uploaded(self, storage: Storage) -> None:
        run = make_run(storage)
        first = storage.create_run_file(run.id, new_file(1), max_per_run=10)
        second = storage.create_run_file(run.id, new_file(2), max_per_run=10)
        assert (first.training_run_id, first.client_id) == (run.id, run.client_id)
        assert (first.declared, first.key, first.signing_key) == (
            DECLARED,
            "1/1/key-1",
            f"{1:064x}",
        )
        assert first.uploaded is None
        assert storage.get_training_run(run.id).file_ids == (first.id, second.id)
        assert storage.get_run_file(first.id) == first
        assert storage.run_files(run.id) == [first, second]

        uploaded = storage.mark_file_uploaded(first.id)
        assert uploaded.uploaded is not None
        assert storage.get_run_file(first.id) == uploaded
        assert storage.mark_file_uploaded(first.id) == uploaded  # keeps its time
        assert storage.get_run_file(second.id).uploaded is None

        with pytest.raises(NotFoundError):
            storage.get_run_file(second.id + 100)
        with pytest.raises(NotFoundError):
            storage.mark_file_uploaded(second.id + 100)
        with pytest.raises(NotFoundError):
            storage.create_run_file(run.id + 100, new_file(3), max_per_run=10)
        with pytest.raises(ConflictError):  # keys are unique
            storage.create_run_file(run.id, new_file(1), max_per_run=10)
        assert storage.get_training_run(run.id).file_ids == (first.id, second.id)

    def test_a_run_takes_at_most_its_files_even_from_concurrent_creates(
        self, storage: Storage
    ) -> None:
        run = make_run(storage)
        limit, workers = 3, 6
        refused = run_together(
            lambda index: storage.create_run_file(run.id, new_file(index), max_per_run=limit),
            workers,
        )
        assert all(isinstance(error, InvalidRequestError) for error in refused)
        assert len(refused) == workers - limit
        assert "3 files" in str(refused[0])
        stored = storage.get_training_run(run.id).file_ids
        assert len(stored) == limit
        assert [f.id for f in storage.run_files(run.id)] == list(stored)


class TagConformance(RoleSuite):
    def test_tags_of_a_client(self, storage: Storage) -> None:
        alice, bob = storage.create_client("alice"), storage.create_client("bob")
        red = storage.create_tag(alice.id, "red", "#ff0000")
        blue = storage.create_tag(alice.id, "blue", "#0000ff")
        assert (red.client_id, red.name, red.color) == (alice.id, "red", "#ff0000")
        with pytest.raises(ConflictError, match="`red` already exists"):
            storage.create_tag(alice.id, "red", "#00ff00")
        bobs = storage.create_tag(bob.id, "red", "#00ff00")  # names are per client
        with pytest.raises(NotFoundError):
            storage.create_tag(bob.id + alice.id + 100, "x", "#000000")

        assert storage.get_tag(alice.id, red.id) == red
        with pytest.raises(NotFoundError):
            storage.get_tag(bob.id, red.id)
        page = storage.list_tags(alice.id, PageRequest(limit=1))
        assert (page.count, [t.id for t in page.items]) == (2, [blue.id])
        assert storage.tags(alice.id, [red.id, bobs.id, blue.id]) == [red, blue]
        assert storage.tags(alice.id, []) == []

    def test_tags_of_a_run(self, storage: Storage) -> None:
        run = make_run(storage)
        red = storage.create_tag(run.client_id, "red", "#ff0000")
        blue = storage.create_tag(run.client_id, "blue", "#0000ff")
        storage.set_run_tag(run.id, blue.id, present=True)
        storage.set_run_tag(run.id, red.id, present=True)
        storage.set_run_tag(run.id, red.id, present=True)  # at most once
        assert storage.get_training_run(run.id).tag_ids == (red.id, blue.id)
        storage.set_run_tag(run.id, red.id, present=False)
        storage.set_run_tag(run.id, red.id, present=False)
        assert storage.get_training_run(run.id).tag_ids == (blue.id,)
        with pytest.raises(NotFoundError):
            storage.set_run_tag(run.id + 100, red.id, present=True)
