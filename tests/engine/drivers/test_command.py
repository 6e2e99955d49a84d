"""The command driver against real processes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from shipdeck.engine.drivers import CommandConfig, CommandDriver, DeployJob, LogStream
from shipdeck.engine.drivers.command import MAX_LINE_BYTES

from .conftest import RecordingReporter, eventually, process_alive

PY = sys.executable


def driver(*argv: str, **settings: object) -> CommandDriver:
    return CommandDriver(CommandConfig.model_validate({"argv": list(argv), **settings}))


def read_pids(folder: Path, names: list[str]) -> list[int] | None:
    try:
        texts = [(folder / name).read_text() for name in names]
    except FileNotFoundError:
        return None
    if not all(text.endswith("\n") for text in texts):
        return None
    return [int(text) for text in texts]


async def test_success_streams_stdout(job: DeployJob, reporter: RecordingReporter) -> None:
    outcome = await driver(PY, "-c", "print('hello'); print('world')").run(job, reporter)

    assert outcome.success, outcome.message
    assert reporter.stream(LogStream.STDOUT) == ["hello", "world"]
    assert reporter.phases == ["running"]


async def test_non_zero_exit_fails_with_the_code(
    job: DeployJob, reporter: RecordingReporter
) -> None:
    script = "import sys; print('boom', file=sys.stderr); sys.exit(3)"
    outcome = await driver(PY, "-c", script).run(job, reporter)

    assert not outcome.success
    assert outcome.message == "exited with code 3"
    assert reporter.stream(LogStream.STDERR) == ["boom"]


async def test_missing_program_fails_clearly(job: DeployJob, reporter: RecordingReporter) -> None:
    outcome = await driver("/nonexistent/deploy-tool", "{version}").run(job, reporter)

    assert not outcome.success
    assert "could not start /nonexistent/deploy-tool" in outcome.message


async def test_missing_cwd_fails_clearly(
    job: DeployJob, reporter: RecordingReporter, tmp_path: Path
) -> None:
    outcome = await driver(PY, "-c", "pass", cwd=str(tmp_path / "gone")).run(job, reporter)

    assert not outcome.success
    assert "gone" in outcome.message and "does not exist" in outcome.message


async def test_timeout_kills_the_process_group(
    job: DeployJob, reporter: RecordingReporter, tmp_path: Path
) -> None:
    script = "sleep 100 & echo $! > bg.pid; echo $$ > sh.pid; wait"
    command = driver("sh", "-c", script, cwd=str(tmp_path), timeout=0.5, kill_grace=0.5)

    started = time.monotonic()
    outcome = await command.run(job, reporter)

    assert time.monotonic() - started < 5
    assert not outcome.success
    assert outcome.message == "timed out after 0.5 s"
    pids = read_pids(tmp_path, ["sh.pid", "bg.pid"])
    assert pids is not None
    await eventually(lambda: not any(process_alive(pid) for pid in pids), timeout=5)


async def test_cancel_kills_child_and_grandchildren(
    job: DeployJob, reporter: RecordingReporter, tmp_path: Path
) -> None:
    # One grandchild ignores SIGTERM: only the SIGKILL after kill_grace stops it.
    script = (
        "sleep 100 & echo $! > a.pid; "
        "(trap '' TERM; exec sleep 100) & echo $! > b.pid; "
        "echo $$ > sh.pid; wait"
    )
    command = driver("sh", "-c", script, cwd=str(tmp_path), kill_grace=0.5)
    task = asyncio.create_task(command.run(job, reporter))
    names = ["sh.pid", "a.pid", "b.pid"]
    await eventually(lambda: read_pids(tmp_path, names) is not None)
    pids = read_pids(tmp_path, names)
    assert pids is not None and all(process_alive(pid) for pid in pids)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await eventually(lambda: not any(process_alive(pid) for pid in pids), timeout=5)


async def test_leftover_background_process_is_stopped_after_exit(
    job: DeployJob, reporter: RecordingReporter, tmp_path: Path
) -> None:
    script = "sleep 100 & echo $! > bg.pid; echo started"
    command = driver("sh", "-c", script, cwd=str(tmp_path), kill_grace=0.5)

    started = time.monotonic()
    outcome = await command.run(job, reporter)

    assert outcome.success
    assert time.monotonic() - started < 5
    assert reporter.stream(LogStream.STDOUT) == ["started"]
    pids = read_pids(tmp_path, ["bg.pid"])
    assert pids is not None
    await eventually(lambda: not process_alive(pids[0]), timeout=5)


async def test_order_is_kept_per_stream_while_streams_interleave(
    job: DeployJob, reporter: RecordingReporter
) -> None:
    script = (
        "import sys, time\n"
        "for i in range(40):\n"
        "    print('out-%d' % i, flush=True)\n"
        "    print('err-%d' % i, file=sys.stderr, flush=True)\n"
        "    time.sleep(0.3 if i == 19 else 0.001)\n"
    )
    outcome = await driver(PY, "-c", script).run(job, reporter)

    assert outcome.success
    assert reporter.stream(LogStream.STDOUT) == [f"out-{i}" for i in range(40)]
    assert reporter.stream(LogStream.STDERR) == [f"err-{i}" for i in range(40)]
    # Lines are passed on as they come, not one stream after the other: the first half of
    # stderr is logged during the pause, before the second half of stdout exists.
    order = [line.message for line in reporter.lines if line.stream != LogStream.SYSTEM]
    assert order.index("err-19") < order.index("out-20")


async def test_long_lines_are_split_and_last_line_kept(
    job: DeployJob, reporter: RecordingReporter
) -> None:
    script = (
        "import sys\n"
        "sys.stdout.write('x' * 20000 + '\\n')\n"
        "sys.stdout.write('é' * 6000 + '\\n')\n"  # 2 bytes each: cuts fall mid-character
        "sys.stdout.buffer.write(b'bad \\xff byte\\r\\n')\n"
        "sys.stdout.write('tail without newline')\n"
    )
    outcome = await driver(PY, "-c", script).run(job, reporter)

    assert outcome.success
    lines = reporter.stream(LogStream.STDOUT)
    assert all(len(line.encode()) <= MAX_LINE_BYTES for line in lines)
    assert "".join(lines[:3]) == "x" * 20000
    assert "".join(lines[3:5]) == "é" * 6000  # no character was broken by a cut
    assert lines[5:] == ["bad \ufffd byte", "tail without newline"]


async def test_placeholders_and_environment_reach_the_command(
    job: DeployJob, reporter: RecordingReporter
) -> None:
    script = (
        "import json, os, sys\n"
        "names = [n for n in os.environ if n.startswith('SHIPDECK_') or n == 'EXTRA']\n"
        "print(json.dumps(dict(argv=sys.argv[1:], env=dict((n, os.environ[n]) for n in names))))\n"
    )
    argv = [PY, "-c", script, "{service}", "{environment}", "{version}", "{deployment_id}"]
    command = driver(*argv, "v={version}-{{x}}", env={"EXTRA": "1", "SHIPDECK_VERSION": "lie"})

    outcome = await command.run(job, reporter)

    assert outcome.success
    seen = json.loads(reporter.stream(LogStream.STDOUT)[0])
    assert seen["argv"] == ["checkout-api", "prod", "1.4.3", "dep-0001", "v=1.4.3-{x}"]
    assert seen["env"] == {
        "EXTRA": "1",
        "SHIPDECK_SERVICE": "checkout-api",
        "SHIPDECK_ENVIRONMENT": "prod",
        "SHIPDECK_VERSION": "1.4.3",
        "SHIPDECK_DEPLOYMENT_ID": "dep-0001",
        "SHIPDECK_ACTOR": "alice",
    }


async def test_arguments_never_go_through_a_shell(
    reporter: RecordingReporter, tmp_path: Path
) -> None:
    hostile = DeployJob("dep-2", "svc", "prod", "1.0; touch pwned-version", actor=None)
    literal = ["$(touch pwned-a)", "`touch pwned-b`", "x; touch pwned-c", "| cat", "{version}"]
    script = "import json, sys; print(json.dumps(sys.argv[1:]))"
    command = driver(PY, "-c", script, *literal, cwd=str(tmp_path))

    outcome = await command.run(hostile, reporter)

    assert outcome.success
    assert json.loads(reporter.stream(LogStream.STDOUT)[0]) == [
        *literal[:-1],
        "1.0; touch pwned-version",
    ]
    assert os.listdir(tmp_path) == []  # no `touch` ran


def test_unknown_placeholder_is_refused_at_validation() -> None:
    with pytest.raises(ValidationError) as caught:
        CommandConfig(argv=["deploy", "{service}", "--region={region}"])
    text = str(caught.value)
    assert "argv[2]" in text and "unknown placeholder {region}" in text


def test_empty_argv_is_refused() -> None:
    with pytest.raises(ValidationError):
        CommandConfig(argv=[])
