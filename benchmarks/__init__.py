"""shipdeck's benchmarks: run with `python -m benchmarks [name …]` (or `make bench`).

Each benchmark is a module with `NAME`, `SUMMARY` and `run() -> Report`. Benchmarks print
what they measure and the targets those figures are held against; they never assert.
"""

from ._harness import Figure, Report

BENCHMARKS: dict[str, str] = {
    "ingest": "benchmarks.ingest",
    "matrix": "benchmarks.matrix",
    "sse": "benchmarks.sse",
    "tui": "benchmarks.tui",
    "matrix-scale": "benchmarks.matrix_scale",
    "logs": "benchmarks.logs",
    "replicas": "benchmarks.replicas",
    "analytics": "benchmarks.analytics",
}
"""Benchmark name → module, in the order `python -m benchmarks` runs them."""

__all__ = ["BENCHMARKS", "Figure", "Report"]
