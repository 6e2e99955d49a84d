"""Demo data: a bundled catalogue, weeks of seeded history and live simulated CI traffic."""

from .catalog import ENVIRONMENTS, PROGRESS_REPORTER, SERVICES, DemoCatalog, DemoRun, DemoService
from .seed import plan_demo, seed_demo
from .traffic import TrafficGenerator

__all__ = [
    "ENVIRONMENTS",
    "PROGRESS_REPORTER",
    "SERVICES",
    "DemoCatalog",
    "DemoRun",
    "DemoService",
    "TrafficGenerator",
    "plan_demo",
    "seed_demo",
]
