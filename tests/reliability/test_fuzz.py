"""API fuzzing: schemathesis against the live OpenAPI document, without a key and with each role.

`st run` (schemathesis 4) reads a real `shipdeck serve`'s `/openapi.json` and sends what it
generates from it, with every check (`--checks all`: no 5xx; documented status codes,
content types, headers and bodies, SSE events included; schema-valid requests accepted and
schema-violating ones refused; `ignored_auth`, …) plus `refuses_missing_key` from
fuzz_hooks.py. schemathesis.toml says what is deliberate about particular answers;
fuzz_hooks.py keeps generated values inside what the document states in words because JSON
Schema cannot.

The fast size (`make test`) sends a few examples per operation with an admin key. The full
size (`make test-reliability`, CI) runs six callers at once — no key, then a key of each
role — each against its own server and database, with the coverage, fuzzing and stateful
phases and at least 100 examples per operation; its figures are in README.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shipdeck.domain import Role
from tests.conftest import ServerProcess, create_key

from .conftest import SERVER_TOML

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
HOOKS = HERE / "fuzz_hooks.py"
ST = Path(sys.executable).with_name("st")

SEED = os.environ.get("SHIPDECK_FUZZ_SEED", "20261123")
"""Fixed, so CI is reproducible; `SHIPDECK_FUZZ_SEED=random` lets schemathesis pick one."""

CALLERS: tuple[Role | None, ...] = (None, *Role)
"""Who fuzzes: no key, then a key of each role."""

CONTROL_KEY = "fuzz-control-key-8c1f0e6a"
"""The servers' control key, sent by every caller that has an API key, so the control
surface is reached (the caller without a key reaches only its refusals)."""
CONTROL_TOML = f"""
[control]
key_sha256 = "{hashlib.sha256(CONTROL_KEY.encode()).hexdigest()}"
# Reset stays off: it erases the data the other operations and the stateful phase's links
# stand on (tests/server/test_control*.py run it). Fuzzed, it answers its documented 403.
allow_reset = false
"""


@dataclass(frozen=True)
class FuzzSize:
    """How much one run generates."""

    max_examples: int
    phases: str
    timeout: float
    """Seconds the whole run may take before the test gives up on it."""


FAST = FuzzSize(max_examples=3, phases="coverage,fuzzing", timeout=120)
FULL = FuzzSize(max_examples=100, phases="coverage,fuzzing,stateful", timeout=900)


@dataclass(frozen=True)
class Operations:
    """The operations the server documents, as schemathesis labels them."""

    with_input: frozenset[str]
    without_input: frozenset[str]
    """No parameters and no body: one request is all there is to send."""

    @classmethod
    def of(cls, url: str) -> Operations:
        document = httpx.get(url + "/openapi.json", timeout=10).json()
        with_input, without_input = set(), set()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                label = f"{method.upper()} {path}"
                takes = operation.get("parameters") or "requestBody" in operation
                (with_input if takes else without_input).add(label)
        return cls(frozenset(with_input), frozenset(without_input))


@dataclass(frozen=True)
class FuzzFigures:
    """What one run did, from schemathesis' JSON and NDJSON reports."""

    caller: str
    operations: int
    cases: int
    """Test cases generated (probes derived from them, e.g. the same request without its
    key, are not counted)."""
    per_operation: dict[str, int]
    failures: int
    errors: int
    seconds: float
    seed: int
    """Replays the run: `SHIPDECK_FUZZ_SEED=<seed>`."""

    def fewest(self, operations: Operations) -> tuple[int, str]:
        """The fewest cases of an operation that takes input, and which."""
        counted = {label: self.per_operation.get(label, 0) for label in operations.with_input}
        label = min(counted, key=counted.__getitem__)
        return counted[label], label

    def line(self, operations: Operations) -> str:
        fewest, label = self.fewest(operations)
        return (
            f"{self.caller:>8}: {self.operations} operations, {self.cases} cases"
            f" (fewest {fewest}: {label}), {self.failures} failures, {self.errors} errors,"
            f" {self.seconds:.0f} s, seed {self.seed}"
        )


class FuzzRun:
    """One `st run` against its own server, in its own folder (reports, replay cache)."""

    def __init__(
        self, caller: Role | None, server: ServerProcess, key: str | None, folder: Path
    ) -> None:
        self.caller = caller.value if caller is not None else "no key"
        self.server = server
        self.key = key
        self.folder = folder
        self.output = folder / "st.txt"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self, size: FuzzSize) -> list[str]:
        st = str(ST) if ST.exists() else shutil.which("st") or "st"
        args = [
            st,
            "--config-file",
            str(CONFIG),
            "--no-color",
            "run",
            f"{self.server.url}/openapi.json",
            "--checks",
            "all",
            "--phases",
            size.phases,
            "--max-examples",
            str(size.max_examples),
            # One worker: schemathesis' threads trip a CPython 3.11 `ast` race inside
            # hypothesis; the six callers run as six processes instead.
            "--workers",
            "1",
            "--suppress-health-check",
            "too_slow",  # timing only: CI machines are shared, and six runs share 2 cores
            "--report",
            "json,ndjson",
            "--report-json-path",
            str(self.folder / "report.json"),
            "--report-ndjson-path",
            str(self.folder / "events.ndjson"),
        ]
        if SEED != "random":
            args += ["--seed", SEED]
        if self.key is not None:
            args += ["--header", f"X-Api-Key: {self.key}"]
            args += ["--header", f"X-Control-API-Key: {CONTROL_KEY}"]
        return args

    def start(self, size: FuzzSize) -> FuzzRun:
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": str(HOOKS),
            "SHIPDECK_FUZZ_KEYLESS": "1" if self.key is None else "0",
        }
        with self.output.open("wb") as out:
            # cwd: schemathesis keeps its replay cache (`st replay <id>`) in the run's folder.
            self.proc = subprocess.Popen(
                self.command(size), cwd=self.folder, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        return self

    def finish(self, size: FuzzSize) -> tuple[FuzzFigures, str, int]:
        """Wait for the run: its figures, its output and its exit code."""
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=size.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = -1
        text = self.output.read_text(errors="replace")
        return self._figures(), text, code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _figures(self) -> FuzzFigures:
        report = json.loads((self.folder / "report.json").read_text())
        per_operation: Counter[str] = Counter()
        with (self.folder / "events.ndjson").open() as events:
            for line in events:
                event = json.loads(line).get("ScenarioFinished")
                if event is None:
                    continue
                recorder = event["recorder"]
                for case in recorder.get("cases", {}).values():
                    if case.get("parent_id") is None:
                        per_operation[case["value"]["method"] + " " + case["value"]["path"]] += 1
        return FuzzFigures(
            caller=self.caller,
            operations=report["operations"]["tested"],
            cases=report["test_cases"]["generated"],
            per_operation=dict(per_operation),
            failures=report["test_cases"]["unique_failures"],
            errors=sum(error["count"] for error in report["errors"]),
            seconds=report["running_time"],
            seed=int(report["seed"]),
        )


FuzzRunFactory = Callable[[Role | None], FuzzRun]
"""Makes a run for a caller (no key, or a key of a role) with its own server."""


def _failures(caller: str, text: str, code: int) -> str:
    """The part of st's output a person reads to fix a failure."""
    start = text.find("=== FAILURES")
    if start < 0:
        start = text.find("=== ERRORS")
    end = text.find("=== SUMMARY")
    shown = text[max(start, 0) : end if end > 0 else None]
    if len(shown) > 20_000:
        shown = shown[:20_000] + "\n… (cut; the whole output is in st.txt of the run folder)"
    return f"--- st run as {caller}: exit code {code} ---\n{shown}\n{text[end:] if end > 0 else ''}"


@pytest.fixture
def fuzz_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzRunFactory]:
    """Make runs, each with a server on a fresh database; all are stopped at the end."""
    engine_toml = tmp_path_factory.mktemp("fuzz") / "engine.toml"
    engine_toml.write_text(SERVER_TOML + CONTROL_TOML)
    made: list[FuzzRun] = []

    def make(caller: Role | None) -> FuzzRun:
        folder = tmp_path_factory.mktemp(f"fuzz-{caller or 'keyless'}")
        db_url = f"sqlite:///{folder / 'shipdeck.db'}"
        key = None if caller is None else create_key(db_url, caller.value, caller)
        server = ServerProcess(db_url, engine_toml)
        made.append(FuzzRun(caller, server, key, folder))
        server.start()
        return made[-1]

    yield make
    for run in made:
        run.stop()
        run.server.stop()


def fuzz(runs: list[FuzzRun], size: FuzzSize) -> tuple[Operations, list[FuzzFigures]]:
    """Run `runs` at once; print their figures; fail with the failures of every run."""
    started = time.monotonic()
    for run in runs:
        run.start(size)
    results = [(run, *run.finish(size)) for run in runs]
    wall = time.monotonic() - started
    operations = Operations.of(runs[0].server.url)
    figures = [figure for _, figure, _, _ in results]
    print(
        f"\nAPI fuzzing ({size.phases}, --max-examples {size.max_examples}, seed {SEED}):"
        f" {len(runs)} runs at once in {wall:.0f} s;"
        f" {len(operations.without_input)} operations take no input"
    )
    for figure in figures:
        print("  " + figure.line(operations))
    problems = [
        _failures(run.caller, text, code)
        for run, figure, text, code in results
        if code != 0 or figure.failures or figure.errors
    ]
    assert not problems, "\n\n".join(problems)
    return operations, figures


def test_fuzz_fast(fuzz_run: FuzzRunFactory) -> None:
    """Every operation, a few examples, an admin key: the documented API holds."""
    operations, (figures,) = fuzz([fuzz_run(Role.ADMIN)], FAST)
    assert figures.fewest(operations)[0] >= FAST.max_examples


@pytest.mark.full
def test_fuzz_full(fuzz_run: FuzzRunFactory) -> None:
    """Six callers at once, at least 100 examples of each operation that takes input."""
    operations, figures = fuzz([fuzz_run(caller) for caller in CALLERS], FULL)
    for figure in figures:
        fewest, label = figure.fewest(operations)
        assert fewest >= FULL.max_examples, (figure.caller, label, fewest)
