"""Demo data: a bundled catalogue, weeks of seeded history, live simulated CI traffic, and
colleagues who ask for, approve and reject promotions, lock environments and roll back."""

from .catalog import ENVIRONMENTS, PROGRESS_REPORTER, SERVICES, DemoCatalog, DemoRun, DemoService
from .colleagues import Colleagues
from .config import GATED, demo_config
from .live import simulate_demo
from .seed import plan_demo, seed_demo
from .traffic import TrafficGenerator

__all__ = [
    "ENVIRONMENTS",
    "GATED",
    "PROGRESS_REPORTER",
    "SERVICES",
    "Colleagues",
    "DemoCatalog",
    "DemoRun",
    "DemoService",
    "TrafficGenerator",
    "demo_config",
    "plan_demo",
    "seed_demo",
    "simulate_demo",
]
