"""Query parameters: one model per kind of list, which routes take as
``Annotated[Model, Query()]`` and the OpenAPI document lists from.

Values are read as SigOpt's servers read them, not as pydantic would: booleans are
true/false/1/0 in any case (the sigopt client sends Python's ``True``), and a bad value is
refused with a message naming the parameter, raised from the validator (pydantic passes on
any exception but ValueError and AssertionError).
"""

from __future__ import annotations

import json
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import Field
from pydantic import ValidationInfo
from pydantic.json_schema import SkipJsonSchema

from honed.api import markers
from honed.api.parse import is_digits
from honed.domain.experiment import ExperimentState
from honed.domain.paging import PageRequest
from honed.domain.paging import SortValue
from honed.errors import InvalidRequestError
from honed.storage.experiments import ExperimentQuery

MAX_LIMIT = 1000
# SigOpt: "limit defaults to and is capped at 1000" (a client reading `.data` gets it all).
DEFAULT_LIMIT = MAX_LIMIT
TRUE = {"true", "1"}
FALSE = {"false", "0"}
ID_PATTERN = "^[0-9]+$"


def _bool(raw: Any, info: ValidationInfo) -> Any:
    if not isinstance(raw, str):
        return raw
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise InvalidRequestError(f"Invalid {info.field_name}: expected true or false, got {raw!r}")


def _limit(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    if not is_digits(raw) or len(raw) > 9:
        raise InvalidRequestError(f"Invalid limit: {raw!r} is not a non-negative integer")
    if int(raw) > MAX_LIMIT:
        raise InvalidRequestError(f"Exceeded maximum limit: {MAX_LIMIT}")
    return int(raw)


def _seconds(raw: Any, info: ValidationInfo) -> Any:
    """A timestamp in integer seconds, as SigOpt renders them; empty is none."""
    if not isinstance(raw, str):
        return raw
    if raw == "":
        return None
    if not is_digits(raw) or len(raw) > 12:
        raise InvalidRequestError(
            f"Invalid {info.field_name}: expected a timestamp in seconds, got {raw!r}"
        )
    return int(raw)


Bool = Annotated[bool, BeforeValidator(_bool)]
# Paging markers; empty means none. Ids under the default sort, base64url under others
# (honed.api.markers), which PageQuery.page decodes knowing the sort.
Marker = Annotated[str, Field(pattern="^[0-9A-Za-z_-]*$")]
Seconds = Annotated[
    int | SkipJsonSchema[None], BeforeValidator(_seconds), Field(json_schema_extra={"minimum": 0})
]


class PageQuery(BaseModel):
    """Every list pages through honed.storage.sql.queries.paginate."""

    limit: Annotated[
        int,
        BeforeValidator(_limit),
        Field(json_schema_extra={"minimum": 0, "maximum": MAX_LIMIT}),
    ] = DEFAULT_LIMIT
    before: Marker = ""
    after: Marker = ""
    ascending: Annotated[Bool, Field(description="Smallest first (default: largest)")] = False

    def page(self, sort: str = "id") -> PageRequest:
        """Paging of a list ordered by ``sort``, whose markers carry that sort's values."""
        before, before_value = _marker("before", sort, self.before)
        after, after_value = _marker("after", sort, self.after)
        return PageRequest(
            limit=self.limit,
            before=before,
            after=after,
            ascending=self.ascending,
            before_value=before_value,
            after_value=after_value,
        )


def _marker(name: str, sort: str, raw: str) -> tuple[int | None, SortValue]:
    return markers.decode(name, sort, raw) if raw else (None, None)


def _experiment_sort(raw: Any) -> Any:
    if raw == "":
        return "id"
    if raw not in EXPERIMENT_SORTS:
        raise InvalidRequestError(
            f"Invalid sort: {raw!r}; expected one of {', '.join(EXPERIMENT_SORTS)}"
        )
    return raw


EXPERIMENT_SORTS = ("id", "recent")
STATES = {
    "active": (ExperimentState.ACTIVE,),
    "deleted": (ExperimentState.DELETED,),
    "all": (ExperimentState.ACTIVE, ExperimentState.DELETED),
}


def _state(raw: Any) -> Any:
    if raw not in STATES:
        raise InvalidRequestError("Invalid state: expected active, deleted or all")
    return raw


class StateQuery(BaseModel):
    state: Annotated[Literal["active", "deleted", "all"], BeforeValidator(_state)] = "active"

    @property
    def states(self) -> tuple[ExperimentState, ...]:
        return STATES[self.state]


class StatePageQuery(PageQuery, StateQuery):
    pass


class ExperimentListQuery(StatePageQuery):
    """SigOpt's experiment list options."""

    search: Annotated[str, Field(description="Case-insensitive substring of the name")] = ""
    sort: Annotated[
        Literal["id", "recent"],
        BeforeValidator(_experiment_sort),
        Field(description="id, or recent: last updated first"),
    ] = "id"
    period_start: Annotated[Seconds, Field(description="Created at or after (seconds)")] = None
    period_end: Annotated[Seconds, Field(description="Created before (seconds)")] = None
    development: Annotated[
        Bool | SkipJsonSchema[None],
        Field(description="Development experiments or not; a token lists only its own kind"),
    ] = None

    def experiment_query(self) -> ExperimentQuery:
        start, end = self.period_start, self.period_end
        if start is not None and end is not None and start >= end:
            raise InvalidRequestError("Invalid period_start: it must be before period_end")
        return ExperimentQuery(
            search=self.search or None,
            recent=self.sort == "recent",
            created_from=start,
            created_before=end,
        )


class ProjectExperimentListQuery(ExperimentListQuery):
    include_ai: Annotated[Bool, Field(description="Also list the project's AI experiments")] = (
        False
    )


def _open(raw: Any) -> Any:
    if raw != "open":
        raise InvalidRequestError("Invalid state: the only state filter is 'open'")
    return raw


class OpenQuery(BaseModel):
    state: Annotated[Literal["open"] | SkipJsonSchema[None], BeforeValidator(_open)] = None


def _ids(raw: Any) -> Any:
    """``id=1,2,3`` or a JSON list, as the sigopt client may send either."""
    if not isinstance(raw, list):
        return raw
    ids: list[int] = []
    for chunk in raw:
        text = str(chunk).strip()
        try:
            parts = json.loads(text) if text.startswith("[") else text.split(",")
        except json.JSONDecodeError:
            raise InvalidRequestError(f"Invalid id: {text!r} is not a list of ids") from None
        if not isinstance(parts, list):
            raise InvalidRequestError(f"Invalid id: {text!r} is not a list of ids")
        for part in parts:
            part = str(part).strip()
            if not is_digits(part) or len(part) > 19:
                raise InvalidRequestError(f"Invalid id: {part!r} is not an id")
            ids.append(int(part))
    return ids


class SuggestionListQuery(PageQuery, OpenQuery):
    deleted: Bool = False
    id: Annotated[
        list[int] | SkipJsonSchema[None],
        BeforeValidator(_ids),
        Field(description="Comma-separated ids, or a JSON list"),
    ] = None


class DeletedPageQuery(PageQuery):
    """``deleted=true`` lists only deleted items; without it, live ones."""

    deleted: Bool = False


class ObservationListQuery(DeletedPageQuery):
    sort: Annotated[
        str,
        BeforeValidator(lambda raw: raw or "id"),
        Field(
            description="id, timestamp, value, value-<metric>, value_stddev, "
            "value_stddev-<metric>, parameter-<name> or task (its cost; multitask only)",
            # Checked by the observation service, which names the metrics and parameters.
            json_schema_extra={
                "pattern": "^(id|timestamp|value|value_stddev|task"
                "|(value|value_stddev|parameter)-.+)$"
            },
        ),
    ] = "id"


class RunListQuery(DeletedPageQuery):
    filters: Annotated[
        str | SkipJsonSchema[None],
        Field(
            description='A JSON list; only [{"field": "experiment", "operator": "==", '
            '"value": ID}] is supported'
        ),
    ] = None


class IncludeRunsQuery(BaseModel):
    include_runs: Annotated[Bool, Field(description="Also delete the experiment's runs")] = False


class ShareQuery(BaseModel):
    # An id that names nothing answers 404, as in a path.
    experiment: Annotated[
        str | SkipJsonSchema[None], Field(json_schema_extra={"pattern": ID_PATTERN})
    ] = None


class SignedUrlQuery(BaseModel):
    """The query of a file's signed upload or download URL (honed.domain.files). Both
    absent on a download: the caller's API token is asked for instead."""

    expires: Seconds = None
    signature: Annotated[
        str | SkipJsonSchema[None], Field(json_schema_extra={"pattern": "^[0-9a-f]{64}$"})
    ] = None
