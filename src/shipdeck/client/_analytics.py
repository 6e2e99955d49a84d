"""`RemoteClient.insights`: the analytics of one window, over HTTP.

A shipdeck server answers them all in one request (`GET /api/analytics/insights`). A server
with only upstream's nine endpoints gets nine requests, made together; one without any
analytics is told apart from one with no deployments (`NotOffered`).
"""

from __future__ import annotations

import asyncio

from ..domain.analytics import DOCUMENTS, AnalyticsKind, AnalyticsQuery, Insights
from ._http import Transport
from ._wire import parse
from .base import NotOffered

NO_ANALYTICS = "this server has no analytics"
NO_FILTERS = "this server's analytics cannot be filtered by service, environment or namespace"
ABSENT = (404, 405, 501)
"""Answers of a server that does not have an endpoint."""


def params_of(query: AnalyticsQuery) -> dict[str, str | int]:
    """The query string of an analytics request."""
    params: dict[str, str | int] = {"window": query.window, "limit": query.limit}
    for name in ("service", "environment", "namespace"):
        value = getattr(query, name)
        if value is not None:
            params[name] = value
    return params


async def fetch_insights(http: Transport, query: AnalyticsQuery) -> Insights:
    """Every analytics document of `query`'s window and filters.

    Raises:
        NotOffered: the server has no analytics, or cannot filter them as asked.
        EngineError: the server refused or failed.
    """
    response = await http.get("/api/analytics/insights", params_of(query))
    if response.status_code not in ABSENT:
        return parse(response, Insights)
    return await _from_documents(http, query)


async def _from_documents(http: Transport, query: AnalyticsQuery) -> Insights:
    """The nine documents one by one (a server without `insights`, as upstream's)."""
    if any(v is not None for v in (query.service, query.environment, query.namespace)):
        # Such a server ignores the filters: its figures would be everyone's.
        raise NotOffered(NO_FILTERS)
    params = params_of(query)
    kinds = list(AnalyticsKind)
    answers = await asyncio.gather(*(http.get(f"/api/analytics/{k.value}", params) for k in kinds))
    if answers[0].status_code in ABSENT:
        raise NotOffered(NO_ANALYTICS)
    documents = {
        kind.value.replace("-", "_"): parse(answer, DOCUMENTS[kind])
        for kind, answer in zip(kinds, answers, strict=True)
    }
    return Insights.model_validate({"window": documents["dora"].window, **documents})
