"""Drivers: how the executor carries out a deployment (`simulate`, `command`, `gitops`).

See `base` for the contract every driver keeps, cancellation included.
"""

from .base import (
    PLACEHOLDERS,
    DeployFailed,
    DeployJob,
    Driver,
    LogLevel,
    LogStream,
    Outcome,
    Reporter,
)
from .command import CommandConfig, CommandDriver
from .gitops import GitopsConfig, GitopsDriver
from .simulate import PHASES, SimulateConfig, SimulateDriver

__all__ = [
    "PHASES",
    "PLACEHOLDERS",
    "CommandConfig",
    "CommandDriver",
    "DeployFailed",
    "DeployJob",
    "Driver",
    "GitopsConfig",
    "GitopsDriver",
    "LogLevel",
    "LogStream",
    "Outcome",
    "Reporter",
    "SimulateConfig",
    "SimulateDriver",
]
