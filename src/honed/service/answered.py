"""The suggestions an experiment's observations answered, read in a few queries by id
(not one per observation): what the dashboard's rows and both downloads show of each
trial (what chose its point, when it was handed out, its intermediate values)."""

from __future__ import annotations

from collections.abc import Sequence

from honed.domain.paging import PageRequest
from honed.domain.records import Observation
from honed.domain.records import Suggestion
from honed.storage.suggestions import SuggestionStore

# Suggestions read per query by id (an IN list well below every database's limit).
ANSWERED_BATCH = 900


def answered_suggestions(
    storage: SuggestionStore, experiment_id: int, observations: Sequence[Observation]
) -> dict[int, Suggestion]:
    """By id, deleted ones too: an expired suggestion that took its late report, or one
    deleted after its result, still says what chose the point and when it was handed out."""
    ids = sorted({o.suggestion_id for o in observations if o.suggestion_id is not None})
    found: dict[int, Suggestion] = {}
    for start in range(0, len(ids), ANSWERED_BATCH):
        batch = ids[start : start + ANSWERED_BATCH]
        page = storage.list_suggestions(
            experiment_id, PageRequest(limit=len(batch)), deleted=None, ids=batch
        )
        found.update((s.id, s) for s in page.items)
    return found
