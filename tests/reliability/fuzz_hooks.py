"""Schemathesis hooks for `test_fuzz.py`: what JSON Schema cannot say, and one extra check.

Loaded by `st run` through `SCHEMATHESIS_HOOKS`. Each hook keeps generated requests inside
a rule that the OpenAPI document states in words because JSON Schema has no keyword for it
(a relation between two fields, a value only the server can issue, a range of instants).
They only reshape values that are already schema-valid, so every case the schema calls
invalid still reaches the server as generated; schemathesis re-labels a case it sees
changed, so a reshaped case is judged by what is actually sent.

`refuses_missing_key` is the "mutating endpoints refuse missing auth" rule of the keyless
run (`SHIPDECK_FUZZ_KEYLESS=1`): schemathesis' own `ignored_auth` only flags a `2xx`, where
this wants the `401` before any other answer (`404`, `409`, `422`: they would tell a caller
without a key something about the data).
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import schemathesis
from schemathesis import Case, HookContext, Response
from schemathesis.core.parameters import ParameterLocation

from shipdeck.domain.actions import IDEMPOTENCY_KEY_PATTERN
from shipdeck.engine import InvalidRequest
from shipdeck.engine.cursors import decode_cursor

KEYLESS = os.environ.get("SHIPDECK_FUZZ_KEYLESS") == "1"
"""This run sends no `X-Api-Key`."""

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
# RFC 3339 in year 1 or 9999 with an offset: only there can the UTC instant fall outside
# what the server (and Python) represents, which the schema's description rules out.
_EDGE_INSTANT = re.compile(
    r"((?:0001|9999)-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)[+-][0-9]{2}:[0-9]{2}"
)
_WEEKLY = re.compile(r"(mon|tue|wed|thu|fri|sat|sun) [0-9]{2}:[0-9]{2}")


def _in_range(value: Any) -> Any:
    """`value` with every edge-year instant moved to UTC (`Z`), recursively."""
    if isinstance(value, str):
        match = _EDGE_INSTANT.fullmatch(value)
        return f"{match.group(1)}Z" if match else value
    if isinstance(value, list):
        return [_in_range(item) for item in value]
    if isinstance(value, dict):
        return {key: _in_range(item) for key, item in value.items()}
    return value


def _issued(cursor: Any) -> bool:
    try:
        decode_cursor(str(cursor))
    except InvalidRequest:
        return False
    return True


def _ordered_window(window: Any) -> Any:
    """A freeze window whose one-off `start` < `end` and whose weekly `from` != `to`."""
    if not isinstance(window, dict):
        return window
    start, end = window.get("start"), window.get("end")
    if isinstance(start, str) and isinstance(end, str):
        from shipdeck.domain.timestamps import parse_rfc3339

        try:
            first, last = parse_rfc3339(start), parse_rfc3339(end)
        except ValueError:
            return window
        if first > last:
            return {**window, "start": end, "end": start}
        if first == last:
            return {**window, "start": "0001-01-01T00:00:00Z", "end": "9999-12-31T23:59:59Z"}
    since, until = window.get("from"), window.get("to")
    if isinstance(since, str) and since == until and _WEEKLY.fullmatch(since):
        return {**window, "to": "mon 00:00" if since != "mon 00:00" else "tue 00:00"}
    return window


@schemathesis.hook
def map_case(context: HookContext, case: Case) -> Case:
    """Keep schema-valid values inside the rules the document states in words."""
    if isinstance(case.query, dict) and case.query:
        query = _in_range(case.query)
        # `GET /api/deployments`: a cursor is opaque and only valid as a `next_cursor` this
        # server issued; a random string is rightly a `422`. Links still pass real ones.
        deployments = context.operation.path == "/api/deployments"
        if deployments and "cursor" in query and not _issued(query["cursor"]):
            del query["cursor"]
        # A promotion into the environment it comes from is a `422` `same-environment`.
        if query.get("to_environment") is not None and query.get("to_environment") == query.get(
            "from_environment"
        ):
            del query["to_environment"]
        if query != case.query:
            case.query = query
    if isinstance(case.body, dict):
        body = _in_range(case.body)
        if isinstance(body.get("freeze"), list):
            body["freeze"] = [_ordered_window(window) for window in body["freeze"]]
        if body.get("to_environment") is not None and body.get("to_environment") == body.get(
            "from_environment"
        ):
            del body["to_environment"]
        if body != case.body:
            case.body = body
    # One Idempotency-Key names one request: a key generated again for another request is
    # rightly a `422` `idempotency-key-reused`. A fresh valid key per case keeps what is
    # tested (valid keys are taken, invalid ones are refused); invalid keys stay as they are.
    key = case.headers.get("Idempotency-Key") if case.headers else None
    if isinstance(key, str) and _IDEMPOTENCY_KEY.fullmatch(key):
        case.headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4()}"
    return case


@schemathesis.check
def refuses_missing_key(ctx: Any, response: Response, case: Case) -> bool | None:
    """Without a key, a mutating operation (all declare `X-Api-Key`) answers `401` only.

    A request whose path was made invalid, or sent with another method, never reaches the
    operation (`404`/`405`/`422` from routing), so it says nothing about its authentication.
    """
    if not KEYLESS or case.operation.method.upper() not in ("POST", "PUT"):
        return None
    security = case.operation.definition.raw.get("security")
    if security != [{"apiKey": []}]:
        return None
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
        return None
    # The coverage phase also tries methods the path does not serve (`405`, rightly).
    if case.method.upper() != case.operation.method.upper():
        return None
    if response.status_code != 401:
        raise AssertionError(
            f"{case.method} {case.path} answered {response.status_code} without an API key;"
            " an operation that needs a key must answer 401 before anything else"
        )
    return None
