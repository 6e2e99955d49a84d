"""What every benchmark shares: results, servers in child processes, keys, statistics."""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from shipdeck.domain import Role
from shipdeck.engine import Engine

DATA_DIR = Path(__file__).with_name(".data")
"""Cached generated databases (gitignored)."""

REPO = Path(__file__).resolve().parent.parent
"""Child processes run here, so `python -m benchmarks.…` resolves from any directory."""

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

PROFILE_SERVERS = False
"""Set by `python -m benchmarks --profile`: servers run under cProfile (and so slower) and
print where their time went when they stop."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number, with the target it is held against (if any)."""

    label: str
    value: float
    unit: str
    target: str | None = None
    """How the target reads, e.g. `≤ 20 ms`."""
    met: bool | None = None
    """Whether the value meets the target; `None` when there is no target."""

    def text(self) -> str:
        """The value with its unit, rounded for reading."""
        if isinstance(self.value, int):
            return f"{self.value:,} {self.unit}"
        if self.unit == "x":
            return f"{self.value:.2f}x"
        digits = 0 if abs(self.value) >= 100 else 1 if abs(self.value) >= 10 else 2
        return f"{self.value:,.{digits}f} {self.unit}"


@dataclass(slots=True)
class Report:
    """What one benchmark measured."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        label: str,
        value: float,
        unit: str,
        target: str | None = None,
        met: bool | None = None,
    ) -> Figure:
        """Record a figure and print it at once (benchmarks print, they never assert)."""
        figure = Figure(label, value, unit, target, met)
        self.figures.append(figure)
        suffix = "" if target is None else f"   target {target}: {verdict(met)}"
        say(f"{label:<44}{figure.text():>16}{suffix}")
        return figure

    def note(self, text: str) -> None:
        """A sentence the summary repeats (e.g. what limited the run)."""
        self.notes.append(text)
        say(f"note: {text}")


def verdict(met: bool | None) -> str:
    """How a target check reads."""
    return "-" if met is None else "MET" if met else "NOT MET"


def say(text: str = "") -> None:
    """Print progress at once, even when stdout is a pipe."""
    print(text, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) by the nearest-rank method."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU time a live process (or one of its threads) has used so far."""
    stat = Path(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 (utime, stime) counted from 1; the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def settled_copy(source: Path, target: Path) -> None:
    """Copy a data set and write it out to disk before anything is measured on it.

    A fresh copy is hundreds of MB of dirty pages; the engine's first WAL checkpoint then
    fsyncs the file and waits for all of them (100–200 ms in the writer, at 10,000 × 8:
    the tail of "event → cell" in every run that copied its database first).
    """
    shutil.copyfile(source, target)
    with target.open("rb") as copy:
        os.fsync(copy.fileno())


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder removed afterwards (databases of one run)."""
    with tempfile.TemporaryDirectory(prefix=f"shipdeck-bench-{prefix}-") as path:
        yield Path(path)


def create_key(database_url: str, name: str = "bench", role: Role = Role.REPORTER) -> str:
    """An API key for `database_url`, made through the engine as the CLI makes one."""

    async def create() -> str:
        engine = await Engine.open(database_url)
        try:
            _, token = await engine.keys.create(name, role)
        finally:
            await engine.close()
        return token

    return asyncio.run(create())


class Server:
    """A server in a child process on a loopback port: `shipdeck serve` or the bench runner.

    Use as a context manager; the process is stopped (SIGINT, then SIGKILL) on exit. Its
    stderr goes to a temporary file (a pipe nobody reads could fill up and stall it).
    """

    def __init__(
        self,
        database_url: str,
        *,
        runner: bool = False,
        config: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.module = "benchmarks.server_runner" if runner else "shipdeck"
        self.argv = [sys.executable, "-m", self.module]
        self.stats: Path | None = None
        if PROFILE_SERVERS:
            fd, stats = tempfile.mkstemp(prefix="shipdeck-bench-", suffix=".prof")
            os.close(fd)
            self.stats = Path(stats)
            self.argv[1:1] = ["-m", "cProfile", "-o", stats]
        if not runner:
            self.argv += ["serve", "--host", "127.0.0.1"]
        self.argv += ["--port", str(self.port), "--database", database_url]
        if config is not None:
            self.argv += ["--config", str(config)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] = io.BytesIO()

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far."""
        return cpu_seconds(self.pid)

    def loop_cpu_seconds(self) -> float:
        """CPU time of the server's main thread (uvicorn's event loop) so far."""
        return cpu_seconds(self.pid, self.pid)

    def __enter__(self) -> Server:
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                err = self.log.read().decode(errors="replace")
                self.__exit__()
                raise RuntimeError(f"{' '.join(self.argv)} exited early: {err}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"{' '.join(self.argv)} did not become ready")

    def __exit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            # SIGINT: uvicorn shuts down gracefully and cProfile (if on) writes its stats.
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.log.close()
        if self.stats is not None:
            self._print_profile(self.stats)
            self.stats.unlink(missing_ok=True)
            self.stats = None

    def _print_profile(self, stats: Path) -> None:
        if not stats.stat().st_size:
            say(f"(the {self.module} server wrote no profile)")
            return
        say(f"cProfile of the {self.module} server's main thread (by own time):")
        pstats.Stats(str(stats)).sort_stats("tottime").print_stats(25)


class Workers:
    """Child Python processes (load generators, SSE readers) that print one JSON result.

    Each child runs `python -m <module> <args…>`, prints lines of progress on stderr and
    exactly one JSON document as the last line of stdout. Children still running when the
    group is left are killed.
    """

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def spawn(self, module: str, *args: str) -> subprocess.Popen[str]:
        """Start one child."""
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.procs.append(proc)
        return proc

    def wait_for_files(self, paths: Sequence[Path], timeout: float) -> None:
        """Until every child has created its file (its way of saying it is ready).

        Raises:
            RuntimeError: a child exited or the files did not all appear in time.
        """
        deadline = time.monotonic() + timeout
        while not all(path.exists() for path in paths):
            failed = [proc for proc in self.procs if proc.poll() is not None]
            if failed:
                _, stderr = failed[0].communicate()
                raise RuntimeError(f"benchmark worker exited early: {stderr}")
            if time.monotonic() > deadline:
                raise RuntimeError("benchmark workers did not get ready in time")
            time.sleep(0.05)

    def results(self, timeout: float) -> list[dict[str, Any]]:
        """Wait for every child and parse its JSON line.

        Raises:
            RuntimeError: a child failed or printed no result.
        """
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            lines = stdout.strip().splitlines()
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"benchmark worker failed ({proc.returncode}): {stderr}")
            out.append(json.loads(lines[-1]))
        return out

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
