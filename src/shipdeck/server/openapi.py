"""The OpenAPI document: what the hand-parsed routes accept and every answer they give.

Routes that read their own bodies register the body's model here; every problem answer is
documented as `application/problem+json` (FastAPI's own `422` schema is replaced: the
server never sends it); Server-Sent Events streams document each event's `data`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from ..domain import Problem

_REF = "#/components/schemas/{model}"
_EXTRA_SCHEMAS: dict[str, Any] = {}
_REQUEST_SCHEMAS: dict[str, Any] = {}
"""Request bodies: these win over a response schema FastAPI made under the same name."""

API_KEY: list[dict[str, list[str]]] = [{"apiKey": []}]
"""`security` of an operation that needs a key."""
OPTIONAL_API_KEY: list[dict[str, list[str]]] = [{}, {"apiKey": []}]
"""`security` of an operation that answers with or without a key (a bad key is a `401`)."""
CONTROL_KEY: list[dict[str, list[str]]] = [{"controlApiKey": []}]
"""`security` of a control operation (`X-Control-API-Key`, distinct from every API key)."""
GITHUB_SIGNATURE: list[dict[str, list[str]]] = [{"githubSignature": []}]
"""`security` of GitHub's webhook: a signature of the body, no API key."""

DEPLOYMENT_OPERATIONS = (
    "listDeploymentLogs",
    "appendDeploymentLogs",
    "streamDeploymentStatus",
    "rollbackPlan",
    "rollback",
    "cancel",
    "retry",
)
"""Operations on one logical deployment (`{deployment_id}`)."""
PROMOTION_OPERATIONS = ("getPromotion", "approvePromotion", "rejectPromotion", "cancelPromotion")
"""Operations on one promotion (`{promotion_id}`)."""

_DESCRIPTIONS = {
    304: "Not modified.",
    401: "Missing or invalid API key.",
    403: "The key's role or scope may not do this.",
    404: "Not found.",
    408: "The request body did not arrive in time.",
    409: "Refused in the current state (`detail` says why and what to do).",
    413: "Payload too large.",
    422: "Validation failed.",
    426: "Not a WebSocket handshake.",
    429: "Rate limited; `Retry-After` says when to try again.",
    503: "Service unavailable; `Retry-After` says when to try again.",
}
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}


def _register(model: type[BaseModel], into: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    target = _EXTRA_SCHEMAS if into is None else into
    target.update(schema.pop("$defs", {}))
    target[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def schema_ref(model: type[BaseModel]) -> dict[str, Any]:
    """A `$ref` to `model`'s schema, which the document then holds."""
    return _register(model)


def body_schema(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` documenting a JSON body that the route validates itself.

    `required=False`: the route takes no body (or an empty one) as `{}`.
    """
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": _register(model, _REQUEST_SCHEMAS)}},
        }
    }


def links(parameter: str, expression: str, operations: Iterable[str]) -> dict[str, Any]:
    """OpenAPI `links` of an answer: `expression` (a runtime expression such as
    `$response.body#/deployment_id`) is what `parameter` of each operation takes next."""
    return {
        operation: {"operationId": operation, "parameters": {parameter: expression}}
        for operation in operations
    }


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for problem+json answers."""
    ref = _register(Problem)
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": _DESCRIPTIONS.get(status, "Problem."),
            "content": {"application/problem+json": {"schema": ref}},
        }
        if status in (429, 503):
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    return responses


SEQ_ID = "^[0-9]+$"
"""The ids of the event log's streams: positions in its one sequence."""
UUID_ID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
"""The ids of the control streams: UUIDv7s, ordered by time."""


def sse_response(
    description: str,
    events: Mapping[str, type[BaseModel]],
    *,
    with_id: bool,
    id_pattern: str = SEQ_ID,
) -> dict[int | str, dict[str, Any]]:
    """A `200` `text/event-stream` whose events are documented one by one.

    In OpenAPI 3.1 a stream's `schema` describes each event (`event`, `data`, `id`,
    `retry`); `data` is JSON whose schema is its `contentSchema`. Comments (`: ping`) and
    blocks without data are not events. `id_pattern` is what the ids look like.
    """
    kinds = []
    for name, model in events.items():
        properties: dict[str, Any] = {
            "event": {"const": name},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": _register(model),
            },
            "retry": {"type": "integer", "minimum": 0},
        }
        required = ["event", "data"]
        if with_id:
            properties["id"] = {
                "type": "string",
                "pattern": id_pattern,
                "description": "The event's position: resume with `Last-Event-ID`.",
            }
            required.append("id")
        kinds.append(
            {
                "title": f"{name} event",
                "type": "object",
                "required": required,
                "properties": properties,
                "additionalProperties": False,
            }
        )
    return {
        200: {
            "description": description,
            "content": {"text/event-stream": {"schema": {"oneOf": kinds}}},
        }
    }


def _problem_validation_responses(schema: dict[str, Any]) -> None:
    """FastAPI documents its own `422` body; the problem handler answers problem+json."""
    problem = problem_responses(422)[422]
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            answer = responses.get("422", {})
            if "application/json" in answer.get("content", {}):
                responses["422"] = problem
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def _absent_not_null(schema: dict[str, Any]) -> None:
    """An optional parameter is left out, never `null`: drop FastAPI's `null` branch."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                value = parameter.get("schema", {})
                variants = value.get("anyOf", [])
                kept = [variant for variant in variants if variant != {"type": "null"}]
                if len(variants) == 2 and len(kept) == 1:
                    rest = {key: item for key, item in value.items() if key != "anyOf"}
                    parameter["schema"] = {**kept[0], **rest}


def install_openapi(app: FastAPI) -> None:
    """Merge the hand-registered schemas into the generated document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                summary=app.summary,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, value in _EXTRA_SCHEMAS.items():
                components.setdefault(name, value)
            components.update(_REQUEST_SCHEMAS)
            _problem_validation_responses(schema)
            _absent_not_null(schema)
            schema["components"]["securitySchemes"] = {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "controlApiKey": {"type": "apiKey", "in": "header", "name": "X-Control-API-Key"},
                "githubSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Hub-Signature-256",
                    "description": "`sha256=` HMAC-SHA256 of the body with the webhook's secret.",
                },
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
