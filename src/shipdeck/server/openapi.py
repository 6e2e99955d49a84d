"""OpenAPI helpers: hand-parsed bodies and problem responses still get documented."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from ..domain import Problem

_REF = "#/components/schemas/{model}"
_EXTRA_SCHEMAS: dict[str, Any] = {}

_DESCRIPTIONS = {
    304: "Not modified.",
    401: "Missing or invalid API key.",
    403: "The key's role may not do this.",
    404: "Not found.",
    413: "Payload too large.",
    422: "Validation failed.",
    503: "Service unavailable.",
}


def _register(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    _EXTRA_SCHEMAS.update(schema.pop("$defs", {}))
    _EXTRA_SCHEMAS[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a JSON body that the route validates itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _register(model)}},
        }
    }


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for problem+json answers."""
    ref = _register(Problem)
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Problem."),
            "content": {"application/problem+json": {"schema": ref}},
        }
        for status in statuses
    }


def install_openapi(app: FastAPI) -> None:
    """Merge the hand-registered schemas into the generated document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, value in _EXTRA_SCHEMAS.items():
                components.setdefault(name, value)
            schema["components"]["securitySchemes"] = {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
