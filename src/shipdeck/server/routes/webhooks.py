"""`/api/webhooks/github`: GitHub's deployment events, signed, stored once each."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ...engine.webhooks import GithubWebhook
from ..deps import EngineDep, read_body
from ..openapi import GITHUB_SIGNATURE, problem_responses

router = APIRouter(tags=["webhooks"])

BODY_LIMIT = 1024 * 1024
"""Deployment events are a few KiB; GitHub caps deliveries at 25 MB."""


class WebhookAnswer(BaseModel):
    """What became of a delivery (GitHub shows it in the webhook's recent deliveries)."""

    outcome: Literal["stored", "redelivery", "ignored"]
    """`stored`: a new row; `redelivery`: this delivery was stored before; `ignored`: not
    a deployment event, or a state that changes nothing (`inactive`)."""
    detail: str
    deployment_id: str | None = None
    """The row's logical deployment (`github-<GitHub's deployment id>`)."""


def _header(name: str, description: str) -> dict[str, object]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


@router.post(
    "/api/webhooks/github",
    operation_id="receiveGithubWebhook",
    summary="GitHub `deployment` and `deployment_status` events become deployment rows.",
    response_model=WebhookAnswer,
    responses=problem_responses(401, 404, 408, 413, 422, 503),
    openapi_extra={
        "security": GITHUB_SIGNATURE,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "parameters": [
            _header("X-GitHub-Event", "`deployment`, `deployment_status`; others are ignored."),
            _header("X-GitHub-Delivery", "The delivery's id: a redelivery is stored once."),
        ],
    },
)
async def receive_github(request: Request, engine: EngineDep) -> Response:
    """Check the signature (`401` when missing or wrong: nothing is stored), then append
    the deployment's row through the engine's ingest (exclusions, audit), once per
    `X-GitHub-Delivery`. `404` until `[webhooks.github] secret` is configured."""
    body = await read_body(request, BODY_LIMIT)
    headers = request.headers
    delivery = await GithubWebhook(engine).receive(
        headers.get("x-github-event"),
        headers.get("x-github-delivery"),
        headers.get("x-hub-signature-256"),
        body,
    )
    answer = WebhookAnswer(
        outcome=delivery.outcome,
        detail=delivery.detail,
        deployment_id=delivery.deployment_id,
    )
    return Response(answer.model_dump_json(exclude_none=True), media_type="application/json")
