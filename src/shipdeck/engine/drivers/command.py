"""The `command` driver: run a configured program per deployment and stream its output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._process import finish_readers, stop_group, wait_exit
from .base import DeployJob, LogLevel, LogStream, Outcome, Reporter, check_template, render

MAX_LINE_BYTES = 8 * 1024
"""Longer output lines are cut into pieces of at most this many bytes."""
READ_CHUNK = 64 * 1024
LEFTOVER_WAIT_S = 0.5
"""After the command exits, how long its output may stay open before leftovers are stopped."""


class CommandConfig(BaseModel):
    """Settings of the `command` driver."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: list[str] = Field(min_length=1)
    """Program and arguments, e.g. `["./deploy.sh", "{service}", "{version}"]`. Each argument
    may use `{service}`, `{environment}`, `{version}` and `{deployment_id}` (`{{` for a
    literal brace); it is passed as one argument, never through a shell."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables for the command."""
    inherit_env: bool = True
    """Pass on the engine's own environment (`false`: only `PATH`, `env` and `SHIPDECK_*`)."""
    cwd: Path | None = None
    """Working directory (default: the engine's)."""
    timeout: float = Field(default=1800.0, gt=0)
    """Seconds the command may run before it is stopped and the run fails."""
    kill_grace: float = Field(default=10.0, ge=0)
    """Seconds between SIGTERM and SIGKILL when the command is stopped."""

    @field_validator("argv")
    @classmethod
    def _known_placeholders(cls, argv: list[str]) -> list[str]:
        for index, argument in enumerate(argv):
            try:
                check_template(argument)
            except ValueError as exc:
                raise ValueError(f"argv[{index}]: {exc}") from exc
        return argv


class CommandDriver:
    """Runs `CommandConfig.argv` in a process group of its own; exit code 0 is success.

    Output lines become log lines as they come (`stdout` and `stderr` read concurrently, each
    in order). On timeout or cancellation the whole group is stopped (SIGTERM, then SIGKILL
    after `kill_grace`). When the command exits, anything it left running in its group is
    stopped too, as systemd's `KillMode=control-group` does: a deploy step that starts a
    long-lived process must hand it to a service manager.
    """

    name: str = "command"

    def __init__(self, config: CommandConfig) -> None:
        """Run deployments as `config` says."""
        self.config = config

    async def run(self, job: DeployJob, report: Reporter) -> Outcome:
        """Run the command for `job`; see the class docstring."""
        cwd = self.config.cwd
        if cwd is not None and not cwd.is_dir():
            return Outcome(False, f"working directory {cwd} does not exist; fix `cwd`")
        argv = [render(argument, job) for argument in self.config.argv]
        await report.phase("running", f"running {shlex.join(argv)}")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env=self._child_env(job),
                start_new_session=True,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return Outcome(False, f"could not start {argv[0]}: {reason}; check `argv`")
        return await self._supervise(process, report)

    def _child_env(self, job: DeployJob) -> dict[str, str]:
        if self.config.inherit_env:
            base = dict(os.environ)
        else:
            base = {"PATH": os.environ.get("PATH", os.defpath)}
        # The job's own facts come last: configuration cannot make them lie.
        return (
            base
            | self.config.env
            | {
                "SHIPDECK_SERVICE": job.service,
                "SHIPDECK_ENVIRONMENT": job.environment,
                "SHIPDECK_VERSION": job.version,
                "SHIPDECK_DEPLOYMENT_ID": job.deployment_id,
                "SHIPDECK_ACTOR": job.actor or "",
            }
        )

    async def _supervise(self, process: asyncio.subprocess.Process, report: Reporter) -> Outcome:
        assert process.stdout is not None and process.stderr is not None
        readers = [
            asyncio.create_task(pump_lines(process.stdout, _emitter(report, LogStream.STDOUT))),
            asyncio.create_task(pump_lines(process.stderr, _emitter(report, LogStream.STDERR))),
        ]
        grace = self.config.kill_grace
        try:
            async with asyncio.timeout(self.config.timeout):
                code = await _exit_code(process, readers)
        except TimeoutError:
            await stop_group(process, grace, readers)
            await finish_readers(readers, LEFTOVER_WAIT_S)
            limit = f"{self.config.timeout:g}"
            await report.log(f"stopped: timed out after {limit} s", level=LogLevel.ERROR)
            return Outcome(False, f"timed out after {limit} s")
        except BaseException:  # cancelled (or the reporter failed): nothing may outlive us
            await stop_group(process, grace, readers)
            with contextlib.suppress(Exception):  # what is already propagating matters more
                await finish_readers(readers, 0)
            raise
        await self._stop_leftovers(process, readers, report)
        return _outcome(code)

    async def _stop_leftovers(
        self,
        process: asyncio.subprocess.Process,
        readers: list[asyncio.Task[None]],
        report: Reporter,
    ) -> None:
        try:
            _, open_ = await asyncio.wait(readers, timeout=LEFTOVER_WAIT_S)
            if open_:
                await report.log(
                    "the command exited but left processes holding its output; stopping them",
                    level=LogLevel.WARNING,
                )
            await stop_group(process, self.config.kill_grace, readers)
        finally:
            await finish_readers(readers, LEFTOVER_WAIT_S)


async def _exit_code(process: asyncio.subprocess.Process, readers: list[asyncio.Task[None]]) -> int:
    """The command's exit code; raises at once what a reader raised (e.g. the reporter)."""
    exited = asyncio.ensure_future(wait_exit(process))
    watched: set[asyncio.Future[Any]] = {exited, *readers}
    try:
        while not exited.done():
            done, watched = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {exited}:
                if (error := task.exception()) is not None:
                    raise error
    finally:
        exited.cancel()
    return exited.result()


def _outcome(code: int) -> Outcome:
    if code == 0:
        return Outcome(True, "exited with code 0")
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return Outcome(False, f"was killed by {name}")
    return Outcome(False, f"exited with code {code}")


def _emitter(report: Reporter, stream: LogStream) -> Callable[[str], Awaitable[None]]:
    async def emit(line: str) -> None:
        await report.log(line, stream=stream)

    return emit


async def pump_lines(reader: asyncio.StreamReader, emit: Callable[[str], Awaitable[None]]) -> None:
    """Pass each line `reader` yields to `emit`, decoded, until end of file.

    Lines are UTF-8 with undecodable bytes replaced; a line longer than `MAX_LINE_BYTES` is
    passed in pieces; a last line without a line break is passed too.
    """
    pending = b""
    while chunk := await reader.read(READ_CHUNK):
        *lines, pending = (pending + chunk).split(b"\n")
        if len(pending) > MAX_LINE_BYTES:  # no line break in sight: pass what fills a piece
            *full, pending = _pieces(pending)
            lines.extend(full)
        for line in lines:
            for piece in _pieces(line):
                await emit(_decode(piece))
    if pending:
        for piece in _pieces(pending):
            await emit(_decode(piece))


def _pieces(line: bytes) -> list[bytes]:
    pieces = []
    while len(line) > MAX_LINE_BYTES:
        cut = _cut_point(line)
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return pieces


def _cut_point(data: bytes) -> int:
    """Where to cut `data` (longer than `MAX_LINE_BYTES`) without splitting a UTF-8 character."""
    cut = MAX_LINE_BYTES
    while cut > MAX_LINE_BYTES - 3 and data[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut


def _decode(raw: bytes) -> str:
    return raw.removesuffix(b"\r").decode("utf-8", errors="replace")
