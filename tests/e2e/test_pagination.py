"""Long lists through the client's ``iterate_pages()`` and ``before``/``after`` markers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import sigopt

from tests.e2e.sigopt_worker import connection
from tests.e2e.sigopt_worker import evaluate
from tests.e2e.sigopt_worker import start_servers
from tests.support.server import RunningServer

OBSERVATIONS = 2500
BATCH = 500
SUGGESTIONS = 30
LIMIT = 7

PARAMETERS: list[dict[str, Any]] = [
    {"name": "gamma", "type": "double", "bounds": {"min": 0.001, "max": 1.0}},
    {"name": "layers", "type": "int", "bounds": {"min": 1, "max": 64}},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with ExitStack() as stack:
        (started,) = start_servers(
            stack, [f"sqlite:///{tmp_path_factory.mktemp('pagination') / 'honed.db'}"]
        )
        yield started


@pytest.fixture
def conn(server: RunningServer) -> Iterator[Any]:
    with connection(server.url) as opened:
        yield opened


def new_experiment(conn: Any) -> Any:
    created = conn.experiments().create(name="Pages", parameters=PARAMETERS)
    return conn.experiments(created.id)


def strictly_descending(values: list[int]) -> bool:
    return all(a > b for a, b in itertools.pairwise(values))


def test_thousands_of_observations_arrive_complete_newest_first(conn: Any) -> None:
    experiment = new_experiment(conn)
    created: list[str] = []
    for start in range(0, OBSERVATIONS, BATCH):
        batch: list[dict[str, Any]] = [
            {
                "assignments": {"gamma": 0.001 + 0.99 * n / OBSERVATIONS, "layers": n % 64 + 1},
                "values": [{"value": float(n)}],
                "metadata": {"n": n},
            }
            for n in range(start, start + BATCH)
        ]
        response = experiment.observations().create_batch(observations=batch)
        # Not iterate_pages(): it would send the batch again with a ``before`` marker.
        body = response.to_json()
        assert body["object"] == "pagination"
        assert [o["metadata"]["n"] for o in body["data"]] == [b["metadata"]["n"] for b in batch]
        created += [o["id"] for o in body["data"]]
    assert len(set(created)) == OBSERVATIONS

    first_page = experiment.observations().fetch()
    assert first_page.count == OBSERVATIONS
    assert first_page.paging.before is not None
    # SigOpt's default page size (and maximum) is 1000.
    assert len(first_page.to_json()["data"]) == 1000
    listed = list(first_page.iterate_pages())
    listed_ids = [int(o.id) for o in listed]
    assert len(listed_ids) == OBSERVATIONS
    assert set(listed_ids) == {int(i) for i in created}
    assert strictly_descending(listed_ids), "not newest first across pages"
    # The newest observation is the last one sent, and the values came through intact.
    assert listed[0].metadata["n"] == OBSERVATIONS - 1
    assert [o.value for o in listed] == [float(n) for n in reversed(range(OBSERVATIONS))]

    # Smaller pages give the same list in ten requests.
    small_pages = experiment.observations().fetch(limit=250)
    assert small_pages.count == OBSERVATIONS
    assert [int(o.id) for o in small_pages.iterate_pages()] == listed_ids
    # limit=0 counts without data.
    counted = experiment.observations().fetch(limit=0)
    assert counted.count == OBSERVATIONS
    assert counted.to_json()["data"] == []
    assert experiment.fetch().progress.observation_count == OBSERVATIONS


def test_suggestions_page_by_seven_with_before_markers(conn: Any) -> None:
    experiment = new_experiment(conn)
    made = []
    for _ in range(SUGGESTIONS):
        suggestion = experiment.suggestions().create()
        made.append(int(suggestion.id))
        if len(made) % 3 == 0:  # close some, so open and closed ones interleave
            experiment.observations().create(
                suggestion=suggestion.id, value=evaluate(suggestion.assignments.to_json())
            )

    # Walk by hand, as iterate_pages() does: before=<paging.before> until it is null.
    pages: list[list[int]] = []
    page = experiment.suggestions().fetch(limit=LIMIT)
    while True:
        assert page.count == SUGGESTIONS
        # A page's own items (``page.data`` would warn; iterate_pages() would go on).
        pages.append([int(item["id"]) for item in page.to_json()["data"]])
        if page.paging.before is None:
            break
        assert len(pages) <= SUGGESTIONS, "the before markers never ran out"
        page = experiment.suggestions().fetch(limit=LIMIT, before=page.paging.before)
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    walked = [i for p in pages for i in p]
    assert walked == sorted(made, reverse=True)

    # iterate_pages() itself gives the same order.
    iterated = [int(s.id) for s in experiment.suggestions().fetch(limit=LIMIT).iterate_pages()]
    assert iterated == walked

    # ``after`` walks the other way: each page is the next newer items, newest first.
    after_pages = experiment.suggestions().fetch(limit=LIMIT, after=str(made[0] - 1))
    towards_newer = [int(s.id) for s in after_pages.iterate_pages()]
    assert sorted(towards_newer) == sorted(made)
    assert towards_newer[:LIMIT] == sorted(made[:LIMIT], reverse=True)

    # The open filter pages the same way and counts only open suggestions.
    still_open = [m for i, m in enumerate(made) if (i + 1) % 3 != 0]
    open_page = experiment.suggestions().fetch(state="open", limit=LIMIT)
    assert open_page.count == len(still_open)
    assert [int(s.id) for s in open_page.iterate_pages()] == sorted(still_open, reverse=True)


def test_search_and_sorted_observations_through_the_client(conn: Any) -> None:
    """The list options of sigopt-server, as code written for the official client uses them."""
    tag = "SortedThroughClient"
    mine = [
        conn.experiments().create(name=f"{tag} {n}", parameters=PARAMETERS).id for n in range(3)
    ]
    conn.experiments().create(name="unrelated", parameters=PARAMETERS)
    found = conn.experiments().fetch(search=tag.lower())
    assert found.count == 3
    assert [e.id for e in found.iterate_pages()] == mine[::-1]
    rising_experiments = conn.experiments().fetch(search=tag, ascending=True)
    assert [e.id for e in rising_experiments.iterate_pages()] == mine

    experiment = conn.experiments(mine[0])
    values = [0.5, 2.0, -1.0, 2.0, 0.25, 3.5, -1.0]
    made = [
        experiment.observations()
        .create(
            assignments={"gamma": 0.01 * (n + 1), "layers": 64 - n}, value=value, value_stddev=0.1
        )
        .id
        for n, value in enumerate(values)
    ]
    by_value = sorted(zip(values, map(int, made), strict=True), reverse=True)
    largest_first = [str(i) for _v, i in by_value]
    # iterate_pages() follows the composite before markers of a sorted list.
    paged = experiment.observations().fetch(sort="value", limit=2)
    assert paged.count == len(values)
    assert [o.id for o in paged.iterate_pages()] == largest_first
    # Ascending pages up with after, which iterate_pages() follows when the call had it.
    rising = experiment.observations().fetch(sort="value", ascending=True, limit=3)
    ids = [o["id"] for o in rising.to_json()["data"]]
    while rising.paging.after is not None:
        rising = experiment.observations().fetch(
            sort="value", ascending=True, limit=3, after=rising.paging.after
        )
        ids += [o["id"] for o in rising.to_json()["data"]]
    assert ids == largest_first[::-1]
    by_layers = experiment.observations().fetch(sort="parameter-layers", ascending=True)
    assert [o.id for o in by_layers.iterate_pages()] == made[::-1]

    # An explicit null clears a stored value_stddev; leaving it out keeps it.
    kept = experiment.observations(made[0]).update(value=0.75)
    assert (kept.value, kept.value_stddev) == (0.75, 0.1)
    cleared = experiment.observations(made[0]).update(value=0.75, value_stddev=None)
    assert cleared.value_stddev is None
    assert experiment.observations(made[0]).fetch().value_stddev is None

    # A sort honed does not know is refused, naming what it takes.
    with pytest.raises(sigopt.exception.ApiException) as refused:
        experiment.observations().fetch(sort="loss")
    assert refused.value.status_code == 400
    assert "parameter-<name>" in str(refused.value)
