"""Promotions awaiting approval, environment policies and locks, and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ...domain import Role
from ...domain.audit import AUDIT_CURSOR_PATTERN, AuditPage, AuditVerdict
from ...domain.authz import Permission
from ...domain.authz import decide as decide_permission
from ...domain.policy import EnvironmentPolicy
from ...domain.promotions import (
    PROMOTION_STATUSES,
    DecisionRequest,
    EnvironmentView,
    LockRequest,
    PromotionPage,
    PromotionView,
)
from ...engine import Engine, Forbidden, Principal
from ..deps import EngineDep, ReadAccess, authorize, parse_body
from ..openapi import (
    API_KEY,
    DEPLOYMENT_OPERATIONS,
    PROMOTION_OPERATIONS,
    body_schema,
    links,
    problem_responses,
)
from ..problems import ProblemException

router = APIRouter(tags=["approvals"])

BODY_LIMIT = 16 * 1024

PromotionId = Annotated[str, Path(min_length=1, max_length=100)]
EnvironmentName = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


async def _caller(request: Request, action: str, target: str) -> tuple[Engine, Principal]:
    engine: Engine = request.app.state.engine
    principal = await authorize(
        engine, request.headers.get("x-api-key"), Role.VIEWER, action=action, target=target
    )
    return engine, principal


_ENVIRONMENT_OPERATIONS = (
    "getEnvironmentPolicy",
    "putEnvironmentPolicy",
    "lockEnvironment",
    "unlockEnvironment",
)
_NEXT: dict[type[BaseModel], dict[str, Any]] = {
    PromotionView: {
        **links("promotion_id", "$response.body#/id", PROMOTION_OPERATIONS),
        **links("deployment_id", "$response.body#/deployment_id", DEPLOYMENT_OPERATIONS),
    },
    EnvironmentView: links("environment", "$response.body#/environment", _ENVIRONMENT_OPERATIONS),
}
"""Links of a mutation's answer: what can be done next to what it changed."""


def _mutation(
    operation_id: str,
    summary: str,
    body: type[BaseModel],
    model: type[BaseModel],
    *,
    body_required: bool = True,
) -> dict[str, Any]:
    answer = {"links": _NEXT[model]} if model in _NEXT else {}
    return {
        "operation_id": operation_id,
        "summary": summary,
        "response_model": model,
        "responses": {200: answer, **problem_responses(401, 403, 404, 408, 409, 413, 422, 429)},
        "openapi_extra": {**body_schema(body, required=body_required), "security": API_KEY},
    }


# -- promotions -----------------------------------------------------------------------


@router.get(
    "/api/promotions",
    operation_id="listPromotions",
    summary="Promotions, newest first (filters combine with AND).",
    response_model=PromotionPage,
    responses=problem_responses(401, 422),
    dependencies=[ReadAccess],
)
async def list_promotions(
    engine: EngineDep,
    status: Annotated[
        str | None,
        Query(
            description=f"One of {', '.join(PROMOTION_STATUSES)}.",
            json_schema_extra={"enum": list(PROMOTION_STATUSES)},
        ),
    ] = None,
    service: Annotated[str | None, Query(max_length=128)] = None,
    environment: Annotated[str | None, Query(max_length=64, description="Target.")] = None,
    cursor: Annotated[
        str | None, Query(max_length=100, description="A `next_cursor` of a previous page.")
    ] = None,
    limit: Limit = 100,
) -> Response:
    """Cursor paging: pass `next_cursor` back as `cursor`."""
    if status is not None and status not in PROMOTION_STATUSES:
        raise ProblemException(
            422,
            "validation",
            "Request validation failed",
            f"status must be one of {', '.join(PROMOTION_STATUSES)}",
            errors=[{"pointer": "/status", "message": "is not a promotion status"}],
        )
    page = await engine.promotions_page(
        status=status, service=service, environment=environment, cursor=cursor, limit=limit
    )
    return _json(page)


@router.get(
    "/api/promotions/pending-for-me",
    operation_id="promotionsPendingForMe",
    summary="Promotions awaiting approval that the caller may approve now.",
    response_model=PromotionPage,
    responses=problem_responses(401),
    openapi_extra={"security": API_KEY},
)
async def pending_for_me(request: Request, engine: EngineDep) -> Response:
    """Not the caller's own requests (unless the policy allows it), not decided ones."""
    principal = await authorize(engine, request.headers.get("x-api-key"), Role.VIEWER)
    items = await engine.pending_for(principal)
    return _json(PromotionPage(items=items))


@router.get(
    "/api/promotions/{promotion_id}",
    operation_id="getPromotion",
    summary="One promotion with its approvals and what still blocks it.",
    response_model=PromotionView,
    responses=problem_responses(401, 404),
    dependencies=[ReadAccess],
)
async def get_promotion(promotion_id: PromotionId, engine: EngineDep) -> Response:
    """`404` for an unknown id."""
    return _json(await engine.promotion(promotion_id))


@router.post(
    "/api/promotions/{promotion_id}/approve",
    **_mutation(
        "approvePromotion",
        "Approve a promotion.",
        DecisionRequest,
        PromotionView,
        body_required=False,
    ),
)
async def approve(promotion_id: PromotionId, request: Request) -> Response:
    """Counted once per principal; at the quorum exactly one deployment is queued. The
    requester may not approve their own request unless the policy allows it."""
    engine, principal = await _caller(request, "approve", promotion_id)
    body: DecisionRequest = await parse_body(request, DecisionRequest, BODY_LIMIT, optional=True)
    return _json(await engine.approve(principal, promotion_id, body.comment))


@router.post(
    "/api/promotions/{promotion_id}/reject",
    **_mutation(
        "rejectPromotion",
        "Reject a promotion.",
        DecisionRequest,
        PromotionView,
        body_required=False,
    ),
)
async def reject(promotion_id: PromotionId, request: Request) -> Response:
    """One rejection ends it: the target slot gets a `rejected` row."""
    engine, principal = await _caller(request, "reject", promotion_id)
    body: DecisionRequest = await parse_body(request, DecisionRequest, BODY_LIMIT, optional=True)
    return _json(await engine.reject(principal, promotion_id, body.comment))


@router.post(
    "/api/promotions/{promotion_id}/cancel",
    **_mutation(
        "cancelPromotion",
        "Withdraw a promotion.",
        DecisionRequest,
        PromotionView,
        body_required=False,
    ),
)
async def cancel(promotion_id: PromotionId, request: Request) -> Response:
    """The requester or an admin; the target slot gets a `cancelled` row."""
    engine, principal = await _caller(request, "cancel-promotion", promotion_id)
    body: DecisionRequest = await parse_body(request, DecisionRequest, BODY_LIMIT, optional=True)
    return _json(await engine.withdraw_promotion(principal, promotion_id, body.comment))


# -- environments -----------------------------------------------------------------------


class EnvironmentList(BaseModel):
    """`GET /api/environment-policies`."""

    items: list[EnvironmentView]


@router.get(
    "/api/environment-policies",
    operation_id="listEnvironmentPolicies",
    summary="Every environment's policy, lock and active freeze window.",
    response_model=EnvironmentList,
    responses=problem_responses(401),
    dependencies=[ReadAccess],
)
async def environment_policies(engine: EngineDep) -> Response:
    """In display order."""
    return _json(EnvironmentList(items=await engine.environment_views()))


@router.get(
    "/api/environments/{environment}/policy",
    operation_id="getEnvironmentPolicy",
    summary="An environment's policy, lock and active freeze window.",
    response_model=EnvironmentView,
    responses=problem_responses(401, 422),
    dependencies=[ReadAccess],
)
async def get_policy(environment: EnvironmentName, engine: EngineDep) -> Response:
    """An environment without a policy has the default one (no approvals, no freezes)."""
    return _json(await engine.environment_view(environment))


@router.put(
    "/api/environments/{environment}/policy",
    **_mutation(
        "putEnvironmentPolicy",
        "Replace an environment's policy (admin).",
        EnvironmentPolicy,
        EnvironmentView,
    ),
)
async def put_policy(environment: EnvironmentName, request: Request) -> Response:
    """Overrides the engine TOML's `[policies.<environment>]`; audited."""
    engine, principal = await _caller(request, "set-policy", environment)
    policy: EnvironmentPolicy = await parse_body(request, EnvironmentPolicy, BODY_LIMIT)
    return _json(await engine.set_policy(principal, environment, policy))


@router.post(
    "/api/environments/{environment}/lock",
    **_mutation("lockEnvironment", "Lock an environment (admin).", LockRequest, EnvironmentView),
)
async def lock(environment: EnvironmentName, request: Request) -> Response:
    """Every action on the environment is refused (`environment-locked`) until unlocked."""
    engine, principal = await _caller(request, "lock", environment)
    body: LockRequest = await parse_body(request, LockRequest, BODY_LIMIT)
    return _json(await engine.lock(principal, environment, body.reason))


@router.post(
    "/api/environments/{environment}/unlock",
    **_mutation(
        "unlockEnvironment",
        "Unlock an environment (admin).",
        DecisionRequest,
        EnvironmentView,
        body_required=False,
    ),
)
async def unlock(environment: EnvironmentName, request: Request) -> Response:
    """`409` `not-locked` when it is not locked."""
    engine, principal = await _caller(request, "unlock", environment)
    body: DecisionRequest = await parse_body(request, DecisionRequest, BODY_LIMIT, optional=True)
    return _json(await engine.unlock(principal, environment, body.comment))


# -- audit ------------------------------------------------------------------------------


async def _auditor(request: Request) -> Engine:
    """A dependency: the caller may read the audit log (`401`/`403` before any `422`)."""
    engine: Engine = request.app.state.engine
    principal = await authorize(engine, request.headers.get("x-api-key"), Role.VIEWER)
    checked = decide_permission(
        principal.name, principal.role, principal.scopes, Permission.READ_AUDIT
    )
    if not checked.allowed:
        raise Forbidden(checked.reason)
    return engine


AuditorDep = Annotated[Engine, Depends(_auditor)]


@router.get(
    "/api/audit",
    tags=["audit"],
    operation_id="listAudit",
    summary="The audit log, newest first (admin).",
    response_model=AuditPage,
    responses=problem_responses(401, 403, 422),
    openapi_extra={"security": API_KEY},
)
async def list_audit(
    engine: AuditorDep,
    principal: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[
        str | None,
        Query(pattern=AUDIT_CURSOR_PATTERN, description="A `next_cursor` of a previous page."),
    ] = None,
    limit: Limit = 100,
) -> Response:
    """Every decision on a mutating request, refusals included."""
    page = await engine.audit_page(
        principal=principal, action=action, target=target, cursor=cursor, limit=limit
    )
    return _json(page)


@router.get(
    "/api/audit/verify",
    tags=["audit"],
    operation_id="verifyAudit",
    summary="Walk the audit log's hash chain (admin).",
    response_model=AuditVerdict,
    responses=problem_responses(401, 403),
    openapi_extra={"security": API_KEY},
)
async def verify_audit(engine: AuditorDep) -> Response:
    """`ok: false` names the first entry whose link does not hold."""
    return _json(await engine.verify_audit())
