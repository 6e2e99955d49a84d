"""GitHub's deployment webhooks: signed deliveries become rows of the log, once each.

A `deployment` event (a deployment was created) is a `pending` row; each
`deployment_status` event a row with its state mapped to the contract's statuses. The
delivery's `X-Hub-Signature-256` (HMAC-SHA256 of the body with the configured secret) is
checked in constant time before anything is read. A redelivery — the same
`X-GitHub-Delivery` — is acknowledged and not stored again: the delivery id is kept as an
idempotency key in the same transaction as the row (so even two copies arriving at once
store one row). Other event types are acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from ..domain import DeploymentEventIngest, Role, Status, utc_now
from ..domain.authz import Permission
from .engine import Engine
from .errors import InvalidRequest, NotFound, Unauthorized
from .ingest import ingest_row
from .keys import Principal
from .store import Writes

PRINCIPAL = Principal("github-webhook", Role.REPORTER)
"""Who the rows and audit entries of deliveries are attributed to."""
REPORTER = "github/webhook"
"""The rows' `progress_reporter`."""
EVENTS = frozenset({"deployment", "deployment_status"})
STATES = {
    "pending": Status.PENDING,
    "queued": Status.QUEUED,
    "waiting": Status.WAITING,
    "in_progress": Status.IN_PROGRESS,
    "success": Status.SUCCESS,
    "failure": Status.FAILURE,
    "error": Status.FAILURE,
}
"""GitHub's deployment states as the contract's statuses (`inactive`, a deployment that a
newer one replaced, changes nothing in the log and is ignored)."""
_DELIVERY_MAX = 200


class BadSignature(Unauthorized):
    """A delivery without a valid `X-Hub-Signature-256`."""

    kind = "invalid-signature"
    title = "Missing or invalid webhook signature"


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one delivery."""

    outcome: Literal["stored", "redelivery", "ignored"]
    """`stored`, `redelivery` (stored before) or `ignored`."""
    detail: str
    deployment_id: str | None = None


def signature_matches(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is `sha256=<hex HMAC-SHA256 of body>`, compared in constant time."""
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), (header or "").encode())


def github_row(event: str, payload: dict[str, Any]) -> DeploymentEventIngest | None:
    """The row of a `deployment` or `deployment_status` payload (`None`: nothing to store).

    Raises:
        InvalidRequest: the payload lacks what a row needs, or holds what it cannot take.
    """
    deployment = payload.get("deployment")
    if not isinstance(deployment, dict):
        raise InvalidRequest("the payload has no deployment object", pointer="/deployment")
    status_doc: dict[str, Any] | None = None
    state = Status.PENDING  # a deployment was created
    if event == "deployment_status":
        status_doc, mapped = _status_of(payload)
        if mapped is None:
            return None
        state = mapped
    source: dict[str, Any] = status_doc or deployment
    reported: dict[str, Any] = status_doc or {}
    given = deployment.get("payload")
    extra: dict[str, Any] = given if isinstance(given, dict) else {}
    found = payload.get("repository")
    repository: dict[str, Any] = found if isinstance(found, dict) else {}
    fields = {
        "deployment_id": f"github-{deployment.get('id')}",
        "service": extra.get("service") or repository.get("name"),
        "environment": deployment.get("environment"),
        "version": extra.get("version"),
        "status": state,
        "happened_at": source.get("created_at") or utc_now(),
        "run_url": reported.get("target_url") or reported.get("log_url"),
        "actor": (source.get("creator") or {}).get("login"),
        "ref": deployment.get("ref"),
        "sha": deployment.get("sha"),
        "message": source.get("description"),
    }
    try:
        return DeploymentEventIngest.model_validate(
            {key: value for key, value in fields.items() if value not in (None, "")},
            strict=False,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(part) for part in first["loc"])
        raise InvalidRequest(f"the deployment cannot be stored: {where}: {first['msg']}") from exc


def _status_of(payload: dict[str, Any]) -> tuple[dict[str, Any], Status | None]:
    """A `deployment_status` payload's status object and its state as a status (`None`:
    one that changes nothing)."""
    found = payload.get("deployment_status")
    if not isinstance(found, dict):
        raise InvalidRequest("the payload has no deployment_status", pointer="/deployment_status")
    return found, STATES.get(str(found.get("state")))


class GithubWebhook:
    """`POST /api/webhooks/github` of one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        secret = engine.config.webhooks.github.secret
        self._secret = None if secret is None else secret.get_secret_value().encode()

    async def receive(
        self, event: str | None, delivery: str | None, signature: str | None, body: bytes
    ) -> Delivery:
        """Check, map and store one delivery.

        Raises:
            NotFound: no secret is configured (the webhook is off) and the delivery is signed.
            BadSignature: the signature is missing (whether or not the webhook is on: an
                unsigned delivery is refused before anything is said about this server) or
                wrong (audited; nothing stored).
            InvalidRequest: no delivery id, a body that is not a deployment's JSON.
        """
        if self._secret is None and signature:
            raise NotFound(
                "GitHub webhooks are off: set [webhooks.github] secret in the engine's TOML "
                "(or SHIPDECK_WEBHOOKS__GITHUB__SECRET) to the webhook's secret"
            )
        if self._secret is None or not signature_matches(self._secret, body, signature):
            detail = "X-Hub-Signature-256 is missing or does not match the configured secret"
            await self.engine.audit.refusal(
                PRINCIPAL, Permission.INGEST, "webhooks/github", BadSignature.kind, detail
            )
            raise BadSignature(detail)
        if not delivery or len(delivery) > _DELIVERY_MAX or not delivery.isprintable():
            raise InvalidRequest("X-GitHub-Delivery is missing", pointer="/X-GitHub-Delivery")
        if event not in EVENTS:
            return Delivery("ignored", f"{event or 'an unnamed'} event is not a deployment's")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise InvalidRequest("the body is not JSON") from exc
        row = github_row(event, payload if isinstance(payload, dict) else {})
        if row is None:
            return Delivery("ignored", "this deployment state changes nothing in the log")
        return await self._store(row, delivery)

    async def _store(self, body: DeploymentEventIngest, delivery: str) -> Delivery:
        """Append the row, unless this delivery was stored before (same transaction)."""
        engine = self.engine
        engine.admit(body)  # the reset gate and exclusions, as for every ingest
        audit = engine.audit.entry(PRINCIPAL, Permission.INGEST, body.deployment_id)

        def decide() -> Writes:
            row = ingest_row(body, progress_reporter=REPORTER)
            return Writes(rows=[row], audit=[audit], response=row.id)

        key = (PRINCIPAL.name, delivery, "github")
        committed = await engine.commit(decide, key)
        if committed.replayed:
            return Delivery("redelivery", "stored before", body.deployment_id)
        return Delivery("stored", f"row {committed.response}", body.deployment_id)


__all__ = ["EVENTS", "STATES", "BadSignature", "Delivery", "GithubWebhook", "github_row"]
