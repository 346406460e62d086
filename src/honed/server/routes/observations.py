"""/v1/experiments/{id}/observations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Body
from fastapi import Query
from fastapi.responses import JSONResponse

from honed.api import parse
from honed.api import render
from honed.api.responses import EmptyOut
from honed.api.responses import ObservationOut
from honed.api.responses import ObservationPage
from honed.api.schemas import ObservationBatch
from honed.api.schemas import ObservationIn
from honed.errors import InvalidRequestError
from honed.server.handout import HotCall
from honed.server.handout import LeanRoute
from honed.server.handout import Steps
from honed.server.handout import answer
from honed.server.query import ObservationListQuery
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import IDEMPOTENCY_HEADER_DOC
from honed.server.routes.deps import Caller
from honed.server.routes.deps import IdempotencyKey
from honed.server.routes.deps import JsonRoute
from honed.server.routes.deps import PathId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import lean_body
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply

router = APIRouter(
    prefix="/v1/experiments/{experiment_id}", responses=ERRORS, route_class=JsonRoute
)
# The worker loop's endpoint (honed.server.handout).
hot = APIRouter(prefix="/v1/experiments/{experiment_id}", route_class=LeanRoute, responses=ERRORS)


@hot.post(
    "/observations",
    response_model=ObservationOut,
    dependencies=[lean_body(ObservationIn)],
    openapi_extra=IDEMPOTENCY_HEADER_DOC,
)
def create_observation(call: HotCall) -> Steps:
    given = parse.observation_input(parse.body(ObservationIn, call.body))
    eid = path_id(call.path["experiment_id"])
    # Retries with the same key return the first answer (honed.service.idempotency).
    key = call.headers.get("idempotency-key")
    experiment, observation = call.services.observations.create(call.token, eid, given, key)
    return answer(render.observation_renderer(experiment)(observation))


@router.post("/observations/batch", response_model=ObservationPage)
def create_observations(
    svc: Svc,
    token: Caller,
    experiment_id: PathId,
    batch: ObservationBatch,
    key: IdempotencyKey = None,
) -> JSONResponse:
    eid = path_id(experiment_id)
    given = []
    for index, item in enumerate(batch.observations):
        try:
            given.append(parse.observation_input(parse.body(ObservationIn, item)))
        except InvalidRequestError as error:
            raise InvalidRequestError(
                f"Error in observation {index + 1}/{len(batch.observations)}: {error.message}"
            ) from None
    experiment, created = svc.observations.create_batch(token, eid, given, idempotency_key=key)
    return reply(render.list_json(created, render.observation_renderer(experiment)))


@router.get("/observations", response_model=ObservationPage)
def list_observations(
    svc: Svc,
    token: Caller,
    experiment_id: PathId,
    query: Annotated[ObservationListQuery, Query()],
) -> JSONResponse:
    eid = path_id(experiment_id)
    sort = query.sort
    experiment, page = svc.observations.list(token, eid, query.page(sort), query.deleted, sort)
    return reply(render.pagination_json(page, render.observation_renderer(experiment), sort))


@router.delete("/observations", response_model=EmptyOut)
def delete_observations(svc: Svc, token: Caller, experiment_id: PathId) -> JSONResponse:
    svc.observations.delete(token, path_id(experiment_id))
    return reply({})


@router.get("/observations/{observation_id}", response_model=ObservationOut)
def get_observation(
    svc: Svc, token: Caller, experiment_id: PathId, observation_id: PathId
) -> JSONResponse:
    eid = path_id(experiment_id)
    observation = svc.observations.get(token, eid, path_id(observation_id))
    return reply(render.observation_renderer(svc.experiments.get(token, eid))(observation))


@router.put("/observations/{observation_id}", response_model=ObservationOut)
def update_observation(
    svc: Svc,
    token: Caller,
    experiment_id: PathId,
    observation_id: PathId,
    body: Annotated[ObservationIn, Body(default_factory=ObservationIn)],
) -> JSONResponse:
    eid = path_id(experiment_id)
    fields = set(body.model_fields_set)
    if fields & {"value", "value_stddev"}:
        fields = (fields - {"value", "value_stddev"}) | {"values"}
    observation = svc.observations.update(
        token, eid, path_id(observation_id), parse.observation_input(body), fields
    )
    return reply(render.observation_renderer(svc.experiments.get(token, eid))(observation))


@router.delete("/observations/{observation_id}", response_model=EmptyOut)
def delete_observation(
    svc: Svc, token: Caller, experiment_id: PathId, observation_id: PathId
) -> JSONResponse:
    svc.observations.delete(token, path_id(experiment_id), path_id(observation_id))
    return reply({})
