"""Promotions awaiting approval, environment policies and locks, and the audit log."""

# No `from __future__ import annotations`: the decision routes are built in a closure, and
# FastAPI reads their annotations (which name the closure's decision) at run time.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ...domain.actions import Action
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
from ..auth import Audited, Change, CurrentPrincipal, authorized
from ..deps import EngineDep, ReadAccess, parse_body
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


async def _promotion(promotion_id: PromotionId) -> str:
    return promotion_id


async def _environment(environment: EnvironmentName) -> str:
    return environment


PolicySetter = Annotated[Principal, authorized(Change.SET_POLICY, _environment)]
Locker = Annotated[Principal, authorized(Action.LOCK, _environment)]
Unlocker = Annotated[Principal, authorized(Action.UNLOCK, _environment)]

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
    page = await engine.governance.promotions_page(
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
async def pending_for_me(engine: EngineDep, principal: CurrentPrincipal) -> Response:
    """Not the caller's own requests (unless the policy allows it), not decided ones."""
    items = await engine.governance.pending_for(principal)
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
    return _json(await engine.governance.promotion(promotion_id))


Decide = Callable[[Principal, str, str | None], Awaitable[PromotionView]]
"""An engine's decision on a promotion: `(principal, promotion_id, comment)`."""


class _Decision(NamedTuple):
    """One decision on a promotion awaiting approval: `POST /api/promotions/{id}/<path>`."""

    name: str
    path: str
    operation_id: str
    summary: str
    description: str
    action: Audited
    decide: Callable[[Engine], Decide]


_DECISIONS = (
    _Decision(
        "approve",
        "approve",
        "approvePromotion",
        "Approve a promotion.",
        "Counted once per principal; at the quorum exactly one deployment is queued. The\n"
        "requester may not approve their own request unless the policy allows it.",
        Action.APPROVE,
        lambda engine: engine.governance.approve,
    ),
    _Decision(
        "reject",
        "reject",
        "rejectPromotion",
        "Reject a promotion.",
        "One rejection ends it: the target slot gets a `rejected` row.",
        Action.REJECT,
        lambda engine: engine.governance.reject,
    ),
    _Decision(
        "withdraw",
        "cancel",
        "cancelPromotion",
        "Withdraw a promotion.",
        "The requester or an admin; the target slot gets a `cancelled` row.",
        Change.WITHDRAW,
        lambda engine: engine.governance.withdraw,
    ),
)


def _decision_route(decision: _Decision) -> None:
    """Register the route of one decision; the optional body is a `DecisionRequest`."""

    async def route(
        promotion_id: PromotionId,
        request: Request,
        engine: EngineDep,
        principal: Annotated[Principal, authorized(decision.action, _promotion)],
    ) -> Response:
        body = await parse_body(request, DecisionRequest, BODY_LIMIT, optional=True)
        return _json(await decision.decide(engine)(principal, promotion_id, body.comment))

    route.__name__ = route.__qualname__ = decision.name
    route.__doc__ = decision.description
    router.post(
        f"/api/promotions/{{promotion_id}}/{decision.path}",
        **_mutation(
            decision.operation_id,
            decision.summary,
            DecisionRequest,
            PromotionView,
            body_required=False,
        ),
    )(route)


for _decision in _DECISIONS:
    _decision_route(_decision)


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
    return _json(EnvironmentList(items=await engine.governance.environment_views()))


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
    return _json(await engine.governance.environment_view(environment))


@router.put(
    "/api/environments/{environment}/policy",
    **_mutation(
        "putEnvironmentPolicy",
        "Replace an environment's policy (admin).",
        EnvironmentPolicy,
        EnvironmentView,
    ),
)
async def put_policy(
    environment: EnvironmentName, request: Request, engine: EngineDep, principal: PolicySetter
) -> Response:
    """Overrides the engine TOML's `[policies.<environment>]`; audited."""
    policy: EnvironmentPolicy = await parse_body(request, EnvironmentPolicy, BODY_LIMIT)
    return _json(await engine.governance.set_policy(principal, environment, policy))


@router.post(
    "/api/environments/{environment}/lock",
    **_mutation("lockEnvironment", "Lock an environment (admin).", LockRequest, EnvironmentView),
)
async def lock(
    environment: EnvironmentName, request: Request, engine: EngineDep, principal: Locker
) -> Response:
    """Every action on the environment is refused (`environment-locked`) until unlocked."""
    body: LockRequest = await parse_body(request, LockRequest, BODY_LIMIT)
    return _json(await engine.governance.lock(principal, environment, body.reason))


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
async def unlock(
    environment: EnvironmentName, request: Request, engine: EngineDep, principal: Unlocker
) -> Response:
    """`409` `not-locked` when it is not locked."""
    body: DecisionRequest = await parse_body(request, DecisionRequest, BODY_LIMIT, optional=True)
    return _json(await engine.governance.unlock(principal, environment, body.comment))


# -- audit ------------------------------------------------------------------------------


async def _auditor(engine: EngineDep, principal: CurrentPrincipal) -> Engine:
    """A dependency: the caller may read the audit log (`401`/`403` before any `422`)."""
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
    page = await engine.audit.page(
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
    return _json(await engine.audit.verify())
