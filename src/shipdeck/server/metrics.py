"""`/metrics`: the engine's state in the Prometheus text format, read at scrape time.

Nothing is counted on the request path (the ingest route stays as lean as it is); gauges are
read from the engine when Prometheus asks, plus the process's own CPU, memory and file
descriptors.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..engine import Engine


class EngineCollector(Collector):
    """Gauges of one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self.engine.stats()
        yield GaugeMetricFamily(
            "shipdeck_event_head", "Sequence number of the newest event.", value=stats.event_head
        )
        yield GaugeMetricFamily(
            "shipdeck_stream_subscribers",
            "Live event subscriptions (SSE streams, embedded dashboards).",
            value=stats.subscribers,
        )
        yield GaugeMetricFamily(
            "shipdeck_log_followers",
            "Live log followers (WebSocket streams).",
            value=stats.log_followers,
        )
        yield GaugeMetricFamily(
            "shipdeck_executor_running",
            "Deployments the executor is running now.",
            value=stats.running_deployments,
        )
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # no running loop (a scrape from another thread)
            tasks = 0
        yield GaugeMetricFamily(
            "shipdeck_asyncio_tasks", "asyncio tasks alive in the server.", value=tasks
        )
        yield GaugeMetricFamily(
            "shipdeck_python_heap_blocks",
            "Memory blocks Python's allocator holds for live objects (unlike resident"
            " memory, it falls again when objects are freed).",
            value=sys.getallocatedblocks(),
        )


def metrics_text(engine: Engine) -> bytes:
    """One scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine))
    registry.register(ProcessCollector(registry=None))
    return generate_latest(registry)
