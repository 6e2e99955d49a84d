"""Running the `git` command line on one working clone (never through a shell)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ._process import stop_group, wait_exit
from .base import DeployFailed

KILL_GRACE_S = 2.0
"""How long a stopped git gets between SIGTERM and SIGKILL."""


@dataclass(frozen=True, slots=True)
class GitResult:
    """What one git command returned."""

    code: int
    stdout: str
    stderr: str


class Git:
    """`git -C repository …` with a time limit, a fixed identity and no prompts."""

    def __init__(self, repository: Path, *, timeout: float, identity: tuple[str, str]) -> None:
        """Run git in `repository`; `identity` is the (name, email) of commits it makes."""
        self.repository = repository
        self.timeout = timeout
        name, email = identity
        self._env: Mapping[str, str] = os.environ | {
            "GIT_TERMINAL_PROMPT": "0",  # a missing credential fails instead of hanging
            "LC_ALL": "C",  # messages we show are git's English ones
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }

    async def __call__(self, *args: str, check: bool = True, local: bool = False) -> GitResult:
        """Run `git args…`.

        Args:
            args: git's arguments, each passed as is.
            check: raise `DeployFailed` when git exits with a non-zero code.
            local: the command only touches the clone (add, commit, reset): when cancelled,
                let it finish rather than kill it half-way and leave `index.lock` behind.

        Raises:
            DeployFailed: git is missing, timed out, or failed while `check` is set.
        """
        try:
            process = await asyncio.create_subprocess_exec(
                "git",
                "-C",
                str(self.repository),
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(self._env),
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise DeployFailed("git is not installed or not on the engine's PATH") from exc
        result = await self._collect(process, args[0], local)
        if check and result.code != 0:
            raise DeployFailed(f"git {args[0]} failed in {self.repository}: {summary(result)}")
        return result

    async def _collect(
        self, process: asyncio.subprocess.Process, verb: str, local: bool
    ) -> GitResult:
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await process.communicate()
        except TimeoutError:
            await stop_group(process, KILL_GRACE_S)
            raise DeployFailed(
                f"git {verb} timed out after {self.timeout:g} s in {self.repository}"
            ) from None
        except BaseException:
            if local:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wait_exit(process), self.timeout)
            await stop_group(process, KILL_GRACE_S)
            raise
        code = process.returncode if process.returncode is not None else await wait_exit(process)
        return GitResult(code, out.decode(errors="replace"), err.decode(errors="replace"))


def summary(result: GitResult, limit: int = 300) -> str:
    """git's own explanation of a failure, on one line, without its hints."""
    lines = [
        line.strip()
        for line in (result.stderr or result.stdout).splitlines()
        if line.strip() and not line.startswith("hint:")
    ]
    text = "; ".join(lines) or f"exit code {result.code}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
