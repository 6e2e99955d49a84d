"""What every driver speaks: the job it runs, how it reports, what it returns.

The executor hands a driver a `DeployJob` and a `Reporter`, and awaits `Driver.run`. To cancel,
it cancels the task running `run()`: the driver stops whatever it started (processes, probes)
and lets `asyncio.CancelledError` propagate. A failure the driver understands is an
`Outcome(False, …)` whose message tells a person what to do; anything else may raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from string import Formatter
from typing import Protocol

PLACEHOLDERS: tuple[str, ...] = ("deployment_id", "environment", "service", "version")
"""Names a driver template may use, as `{service}`; each is replaced by the job's value."""


class LogStream(StrEnum):
    """Where a log line came from."""

    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"
    """Written by the driver itself, not by a process it runs."""


class LogLevel(StrEnum):
    """How much a log line matters."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class DeployJob:
    """One deployment for a driver to carry out: put `version` of `service` in `environment`."""

    deployment_id: str
    service: str
    environment: str
    version: str
    actor: str | None = None
    """Who asked for it, when known."""
    trigger: str = "deploy"
    """Why it runs: `deploy`, `promote`, `rollback` or `retry`."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended."""

    success: bool
    message: str
    """One sentence for a person; on failure it says what went wrong and where to look."""


class Reporter(Protocol):
    """Where a driver reports progress while it runs."""

    async def phase(self, phase: str, message: str | None = None) -> None:
        """The run entered `phase` (e.g. `validating`, `pushing`, `pushed`, `monitoring`)."""
        ...

    async def log(
        self,
        message: str,
        *,
        stream: LogStream = LogStream.SYSTEM,
        level: LogLevel = LogLevel.INFO,
    ) -> None:
        """One log line (without its line break)."""
        ...


class Driver(Protocol):
    """Carries out deployments one way (simulated, a command, a git commit…)."""

    name: str

    async def run(self, job: DeployJob, report: Reporter) -> Outcome:
        """Run `job`, reporting on `report`; see the module docstring for cancellation."""
        ...


class DeployFailed(Exception):
    """A failure a driver understands; `str()` is the sentence its `Outcome` carries."""


def check_template(template: str) -> str:
    """Check that `template` uses only `PLACEHOLDERS`; return it unchanged.

    Attribute access, indexing, format specs and conversions (`{service.x}`, `{version!r}`)
    are refused too: a template only ever splices a job's plain values.

    Raises:
        ValueError: the template is malformed or names something else.
    """
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in Formatter().parse(template)
            if name is not None
        ]
    except ValueError as exc:
        raise ValueError(
            f"{template!r} is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
        ) from exc
    for name, spec, conversion in fields:
        if name not in PLACEHOLDERS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "")
            shown += (f":{spec}" if spec else "") + "}"
            raise ValueError(
                f"unknown placeholder {shown} in {template!r}; use {known} "
                "(a literal brace is written {{ or }})"
            )
    return template


def render(template: str, job: DeployJob) -> str:
    """`template` (already checked by `check_template`) with the job's values spliced in."""
    return template.format_map(
        {
            "deployment_id": job.deployment_id,
            "environment": job.environment,
            "service": job.service,
            "version": job.version,
        }
    )
