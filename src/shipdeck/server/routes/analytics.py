"""`/api/analytics/*`: upstream's nine analytics reads, and `/api/analytics/insights` (all
nine at once, shipdeck's addition). docs/api.md ("Analytics") defines every figure.

Each answer carries a weak `ETag` of its bytes (`If-None-Match` → `304`); the window ends
at the start of the current UTC day, so the figures, and their tag, hold all day.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response
from pydantic import BaseModel

from ...domain.analytics import (
    DEFAULT_LIST,
    DEFAULT_WINDOW,
    DOCUMENTS,
    MAX_LIST,
    AnalyticsKind,
    AnalyticsQuery,
    Insights,
    WindowName,
)
from ...engine.analytics import encode, etag_of
from ..deps import EngineDep, ReadAccess
from ..openapi import problem_responses, schema_ref

router = APIRouter(tags=["analytics"], dependencies=[ReadAccess])

IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


def filters(
    window: Annotated[
        WindowName, Query(description="`7d` (default), `14d` or `30d`, ending today 00:00 UTC.")
    ] = DEFAULT_WINDOW,
    service: Annotated[
        str | None, Query(min_length=1, max_length=128, description="Only this service.")
    ] = None,
    environment: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only this environment.")
    ] = None,
    namespace: Annotated[
        str | None, Query(min_length=1, max_length=128, description="Only this namespace.")
    ] = None,
) -> AnalyticsQuery:
    """The window and the filters every analytics read takes (filters are additive)."""
    return AnalyticsQuery(window, service, environment, namespace)


def listing(
    query: Annotated[AnalyticsQuery, Depends(filters)],
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIST, description=f"At most this many (1–{MAX_LIST}).")
    ] = DEFAULT_LIST,
) -> AnalyticsQuery:
    """`filters`, and how many entries a list holds at most."""
    return AnalyticsQuery(query.window, query.service, query.environment, query.namespace, limit)


def answer(body: bytes, if_none_match: str | None) -> Response:
    """The document with its weak ETag, or `304` when the caller holds that tag."""
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match is not None:
        held = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        if "*" in held or etag.removeprefix("W/") in held:
            return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _documented(model: type[BaseModel], summary: str, operation_id: str) -> dict[str, Any]:
    return {
        "operation_id": operation_id,
        "summary": summary,
        "response_model": None,  # the route sends the document's bytes itself
        "responses": {
            200: {
                "description": summary,
                "headers": {"ETag": {"schema": {"type": "string"}, "description": "Weak."}},
                "content": {"application/json": {"schema": schema_ref(model)}},
            },
            304: {"description": "Unchanged since the ETag."},
            **problem_responses(401, 422),
        },
    }


Endpoint = Callable[..., Awaitable[Response]]


Filtered = Annotated[AnalyticsQuery, Depends(filters)]
Listed = Annotated[AnalyticsQuery, Depends(listing)]


def _document_endpoint(kind: AnalyticsKind, listed: bool) -> Endpoint:
    """The route function of one of the nine documents (those that list take `limit`)."""

    async def document(
        engine: EngineDep, query: Filtered, if_none_match: IfNoneMatch = None
    ) -> Response:
        found = await engine.analytics.document(kind, query)
        return answer(encode(found), if_none_match)

    async def listed_document(
        engine: EngineDep, query: Listed, if_none_match: IfNoneMatch = None
    ) -> Response:
        found = await engine.analytics.document(kind, query)
        return answer(encode(found), if_none_match)

    endpoint: Endpoint = listed_document if listed else document
    endpoint.__doc__ = (
        f"{DOCUMENTS[kind].__doc__} Computed from rollups kept on append (never a scan of"
        ' the log); docs/api.md, "Analytics", defines each figure.'
    )
    return endpoint


_SUMMARIES: dict[AnalyticsKind, tuple[str, str]] = {
    AnalyticsKind.DORA: ("getAnalyticsDora", "DORA four keys: values, bands, trends."),
    AnalyticsKind.FREQUENCY: ("getAnalyticsFrequency", "Successes and failures per day."),
    AnalyticsKind.CHANGE_FAILURE_RATE: (
        "getAnalyticsChangeFailureRate",
        "Change-failure rate per day, with the elite line.",
    ),
    AnalyticsKind.DURATION_HISTOGRAM: (
        "getAnalyticsDurationHistogram",
        "Deployment durations: bins, median and 95th percentile.",
    ),
    AnalyticsKind.PROMOTION_FUNNEL: (
        "getAnalyticsPromotionFunnel",
        "Deployments per stage of the promotion ladder, with conversions.",
    ),
    AnalyticsKind.STATUS_DISTRIBUTION: (
        "getAnalyticsStatusDistribution",
        "Rows per status: all eight, in order.",
    ),
    AnalyticsKind.HEATMAP: ("getAnalyticsHeatmap", "Rows per weekday × UTC hour."),
    AnalyticsKind.TOP_DEPLOYERS: (
        "getAnalyticsTopDeployers",
        "Actors by deployments that succeeded.",
    ),
    AnalyticsKind.INCIDENTS: ("getAnalyticsIncidents", "Incidents, worst first."),
}
_LISTS = frozenset({AnalyticsKind.TOP_DEPLOYERS, AnalyticsKind.INCIDENTS})

for _kind, (_operation, _summary) in _SUMMARIES.items():
    router.add_api_route(
        f"/api/analytics/{_kind.value}",
        _document_endpoint(_kind, _kind in _LISTS),
        methods=["GET"],
        **_documented(DOCUMENTS[_kind], _summary, _operation),
    )


@router.get(
    "/api/analytics/insights",
    **_documented(
        Insights,
        "All nine analytics documents of one window and set of filters (shipdeck).",
        "getAnalyticsInsights",
    ),
)
async def get_insights(
    engine: EngineDep, query: Listed, if_none_match: IfNoneMatch = None
) -> Response:
    """What an analytics screen shows at once, from one set of reads (`limit` applies to
    both the deployers and the incidents)."""
    return answer(encode(await engine.analytics.insights(query)), if_none_match)
