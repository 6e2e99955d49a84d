"""Actions and identity: deploy, promote, roll back, cancel, retry, and `whoami`.

Every action answers `202` with the logical deployment it made (see `docs/actions-api.md`);
the executor then appends its rows. `Idempotency-Key` makes a retried request safe.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ...domain import (
    ActionResult,
    DeployRequest,
    PromoteRequest,
    PromotionPlanDoc,
    RollbackPlanDoc,
    RollbackRequest,
    WhoAmI,
)
from ...domain.actions import IDEMPOTENCY_KEY_PATTERN, Action
from ...engine import Principal, Unauthorized
from ..auth import authorized
from ..deps import EngineDep, ReadAccess, parse_body
from ..openapi import (
    API_KEY,
    DEPLOYMENT_OPERATIONS,
    OPTIONAL_API_KEY,
    PROMOTION_OPERATIONS,
    body_schema,
    links,
    problem_responses,
)
from .logs import DEPLOYMENT, DeploymentIdPath, deployment_target

router = APIRouter(tags=["actions"])

ACTION_BODY_LIMIT = 16 * 1024

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False)]

_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
    "description": "1 to 200 printable ASCII characters, no space first or last. The same "
    "key with the same request answers the first answer again without acting twice; with "
    "another request it is a `422` `idempotency-key-reused`: one key names one request.",
}
_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted: the deployment is queued (or, for cancel, ending).",
        "headers": {
            "Location": {
                "schema": {"type": "string"},
                "description": "`/api/deployments?deployment_id=…`: the deployment's rows.",
            }
        },
        "links": {
            **links("deployment_id", "$response.body#/deployment_id", DEPLOYMENT_OPERATIONS),
            # Only a promotion awaiting approval has one (`null` otherwise).
            **links("promotion_id", "$response.body#/promotion_id", PROMOTION_OPERATIONS),
        },
    }
}
_REFUSALS = problem_responses(401, 403, 404, 408, 409, 413, 422, 429)


def _action(
    operation_id: str,
    summary: str,
    body: type[BaseModel] | None,
    *,
    body_required: bool = True,
) -> dict[str, Any]:
    extra: dict[str, Any] = {"security": API_KEY, "parameters": [_IDEMPOTENCY]}
    if body is not None:
        extra |= body_schema(body, required=body_required)
    return {
        "status_code": 202,
        "operation_id": operation_id,
        "summary": summary,
        "response_model": ActionResult,
        "responses": {**_ACCEPTED, **_REFUSALS},
        "openapi_extra": extra,
    }


Deployer = Annotated[Principal, authorized(Action.DEPLOY)]
Promoter = Annotated[Principal, authorized(Action.PROMOTE)]
RollingBack = Annotated[Principal, authorized(Action.ROLLBACK, deployment_target)]
Canceller = Annotated[Principal, authorized(Action.CANCEL, deployment_target)]
Retrier = Annotated[Principal, authorized(Action.RETRY, deployment_target)]


def _accepted(result: ActionResult) -> Response:
    location = f"/api/deployments?deployment_id={quote(result.deployment_id, safe='')}"
    return Response(
        result.model_dump_json(),
        status_code=202,
        media_type="application/json",
        headers={"Location": location},
    )


@router.get(
    "/api/whoami",
    operation_id="whoAmI",
    summary="Who the caller is and which actions it may take.",
    response_model=WhoAmI,
    responses=problem_responses(401),
    dependencies=[ReadAccess],
    openapi_extra={"security": OPTIONAL_API_KEY},
)
async def whoami(request: Request, engine: EngineDep) -> WhoAmI:
    """Without a key: no principal and no actions (reads may still be open)."""
    token = request.headers.get("x-api-key")
    if not token:
        return await engine.whoami(None)
    principal = await engine.keys.authenticate(token)
    if principal is None:
        raise Unauthorized("the X-Api-Key is unknown or revoked")
    return await engine.whoami(principal)


@router.post("/api/deploys", **_action("deploy", "Deploy a version to a slot.", DeployRequest))
async def deploy(
    request: Request, engine: EngineDep, principal: Deployer, key: IdempotencyKey = None
) -> Response:
    """Queue `version` of `service` in `environment`; a newer request supersedes a queued one.

    Into an environment whose policy asks for approvals, only an admin may deploy directly;
    during a freeze window an admin may pass `override_reason` (audited)."""
    body = await parse_body(request, DeployRequest, ACTION_BODY_LIMIT)
    return _accepted(
        await engine.actions.deploy(
            principal,
            body.service,
            body.environment,
            body.version,
            idempotency_key=key,
            override_reason=body.override_reason,
        )
    )


@router.post(
    "/api/promotions",
    **_action("promote", "Promote a slot's current successful version onward.", PromoteRequest),
)
async def promote(
    request: Request, engine: EngineDep, principal: Promoter, key: IdempotencyKey = None
) -> Response:
    """Deploy `from_environment`'s current success to `to_environment` (default: the next).

    When the target's policy asks for approvals the answer's status is `waiting` and it
    names the `promotion_id` to approve."""
    body = await parse_body(request, PromoteRequest, ACTION_BODY_LIMIT)
    return _accepted(
        await engine.actions.promote(
            principal,
            body.service,
            body.from_environment,
            body.to_environment,
            idempotency_key=key,
            override_reason=body.override_reason,
        )
    )


@router.get(
    "/api/promotion-plan",
    operation_id="promotionPlan",
    summary="What a promotion would do: target, version and policy.",
    response_model=PromotionPlanDoc,
    responses=problem_responses(401, 404, 409, 422),
    dependencies=[ReadAccess],
)
async def promotion_plan(
    engine: EngineDep,
    service: Annotated[str, Query(min_length=1, max_length=128)],
    from_environment: Annotated[str, Query(min_length=1, max_length=64)],
    to_environment: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> PromotionPlanDoc:
    """Nothing is queued; the same refusals as the promotion itself."""
    return await engine.actions.promotion_plan(service, from_environment, to_environment)


@router.get(
    DEPLOYMENT + "/rollback-plan",
    operation_id="rollbackPlan",
    summary="What a rollback would deploy.",
    response_model=RollbackPlanDoc,
    responses=problem_responses(401, 404, 409, 422),
    dependencies=[ReadAccess],
)
async def rollback_plan(
    deployment_id: DeploymentIdPath,
    engine: EngineDep,
    version: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
) -> RollbackPlanDoc:
    """Nothing is queued; the same refusals as the rollback itself."""
    return await engine.actions.rollback_plan(deployment_id, version)


@router.post(
    DEPLOYMENT + "/rollback",
    **_action("rollback", "Roll a deployment's slot back.", RollbackRequest, body_required=False),
)
async def rollback(
    deployment_id: DeploymentIdPath,
    request: Request,
    engine: EngineDep,
    principal: RollingBack,
    key: IdempotencyKey = None,
) -> Response:
    """Deploy the slot's last successful version before its current one, or `version`.

    The body is optional.
    """
    body = await parse_body(request, RollbackRequest, ACTION_BODY_LIMIT, optional=True)
    return _accepted(
        await engine.actions.rollback(principal, deployment_id, body.version, idempotency_key=key)
    )


@router.post(
    DEPLOYMENT + "/cancel",
    **_action("cancel", "Cancel a queued or running deployment.", None),
)
async def cancel(
    deployment_id: DeploymentIdPath,
    engine: EngineDep,
    principal: Canceller,
    key: IdempotencyKey = None,
) -> Response:
    """A queued deployment ends at once (`cancelled`); a running one is stopped
    (`cancelling`, then a `cancelled` row)."""
    return _accepted(await engine.actions.cancel(principal, deployment_id, idempotency_key=key))


@router.post(
    DEPLOYMENT + "/retry",
    **_action("retry", "Run a finished deployment's version again.", None),
)
async def retry(
    deployment_id: DeploymentIdPath,
    engine: EngineDep,
    principal: Retrier,
    key: IdempotencyKey = None,
) -> Response:
    """A new deployment of the same version in the same slot, naming this one as parent."""
    return _accepted(await engine.actions.retry(principal, deployment_id, idempotency_key=key))
