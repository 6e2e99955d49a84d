"""The `gitops` driver (the model of `seeds/001`): commit the version to an IaC repository.

validating: resolve the values file inside the repository and check the clone;
pushing: bring the clone up to date, write the version at `key`, commit, push;
pushed: the change is in the remote; monitoring: poll a health URL until it answers 200.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._git import Git, summary
from ._health import wait_healthy
from ._values import read_original, resolve_values_path, restore, set_version
from .base import DeployFailed, DeployJob, LogLevel, Outcome, Reporter, check_template, render

_LOCKS: weakref.WeakValueDictionary[Path, asyncio.Lock] = weakref.WeakValueDictionary()
"""One lock per repository, alive while a run holds or awaits it."""

_VERBS = {"deploy": "deploy", "promote": "promote", "rollback": "roll back", "retry": "retry"}


class GitopsConfig(BaseModel):
    """Settings of the `gitops` driver."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: Path
    """A working clone of the IaC repository, owned by shipdeck."""
    values_path: str = Field(min_length=1)
    """The values file, relative to `repository`, e.g.
    `envs/{environment}/{service}/values.yaml`; it must stay inside the repository."""
    key: str = Field(default="image.tag", pattern=r"^[^.]+(\.[^.]+)*$")
    """Dotted path of the version in the values file."""
    remote: str = Field(default="origin", min_length=1)
    """The git remote to push to."""
    branch: str = Field(default="main", min_length=1)
    """The branch the clone must have checked out, and that is pushed."""
    push: bool = True
    """Push each commit (`false`: commit in the clone only)."""
    author_name: str = "shipdeck"
    """Author and committer name of the commits."""
    author_email: str = "shipdeck@localhost"
    """Author and committer email of the commits."""
    git_timeout: float = Field(default=120.0, gt=0)
    """Seconds one git command may take (a push to a slow remote included)."""
    health_url: str | None = None
    """URL polled after the push until it answers HTTP 200, e.g.
    `https://{service}.{environment}.internal/healthz` (unset: no health check)."""
    health_timeout: float = Field(default=300.0, gt=0)
    """Seconds the health URL has to answer 200 before the run fails."""
    health_interval: float = Field(default=5.0, gt=0)
    """Seconds between two health checks."""

    @field_validator("values_path")
    @classmethod
    def _values_template(cls, value: str) -> str:
        return check_template(value)

    @field_validator("health_url")
    @classmethod
    def _health_template(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value if value is None else check_template(value)


class GitopsDriver:
    """Deploys by committing the version into a values file of a local IaC clone.

    Runs on the same repository wait for each other. A run that fails after it changed the
    clone puts the clone back as it found it (the values file, its commit).
    """

    name: str = "gitops"

    def __init__(self, config: GitopsConfig, *, http: httpx.AsyncClient | None = None) -> None:
        """Deploy as `config` says; `http` is the client for health checks (default: one
        per run)."""
        self.config = config
        self._http = http
        self._git = Git(
            config.repository,
            timeout=config.git_timeout,
            identity=(config.author_name, config.author_email),
        )

    async def run(self, job: DeployJob, report: Reporter) -> Outcome:
        """Validate, commit and push the version, then watch the health URL."""
        key = self.config.repository.resolve()
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = asyncio.Lock()
        if lock.locked():
            await report.log(f"waiting for another deployment to {self.config.repository}")
        async with lock:
            try:
                return await self._deploy(job, report)
            except DeployFailed as exc:
                await report.log(str(exc), level=LogLevel.ERROR)
                return Outcome(False, str(exc))

    async def _deploy(self, job: DeployJob, report: Reporter) -> Outcome:
        config = self.config
        await report.phase("validating", f"checking the IaC repository {config.repository}")
        root, target = await self._validate(job)
        relative = target.relative_to(root).as_posix()
        await report.phase("pushing", f"setting {config.key} to {job.version} in {relative}")
        await self._commit_and_push(job, report, target, relative)
        where = f"{config.remote}/{config.branch}" if config.push else f"{root} (not pushed)"
        await report.phase("pushed", f"{job.service} {job.version} committed to {where}")
        await report.phase("monitoring", "waiting for the health check")
        if config.health_url is None:
            await report.log("no health check configured; done")
            return Outcome(True, f"{job.service} {job.version} committed to {where}")
        url = render(config.health_url, job)
        await wait_healthy(
            url, report, self._http, timeout=config.health_timeout, interval=config.health_interval
        )
        return Outcome(True, f"{job.service} {job.version} is live in {job.environment}")

    async def _validate(self, job: DeployJob) -> tuple[Path, Path]:
        config, git = self.config, self._git
        root = config.repository.resolve()
        if not root.is_dir():
            raise DeployFailed(f"the IaC repository {root} does not exist; fix `repository`")
        target = resolve_values_path(root, render(config.values_path, job))
        inside = await git("rev-parse", "--is-inside-work-tree", check=False)
        if inside.stdout.strip() != "true":
            raise DeployFailed(f"{root} is not a git working tree; clone the IaC repository there")
        head = await git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if head.stdout.strip() != config.branch:
            current = head.stdout.strip() or "a detached HEAD"
            raise DeployFailed(
                f"{root} has {current} checked out, not branch {config.branch}; "
                f"check out {config.branch} there"
            )
        status = await git("status", "--porcelain", "--", str(target))
        if status.stdout.strip():
            raise DeployFailed(
                f"{target} has uncommitted changes; commit or discard them in {root} first"
            )
        if config.push and (await git("remote", "get-url", config.remote, check=False)).code:
            raise DeployFailed(f"{root} has no remote {config.remote}; add it or fix `remote`")
        return root, target

    async def _commit_and_push(
        self, job: DeployJob, report: Reporter, target: Path, relative: str
    ) -> None:
        if self.config.push:
            await self._sync(report)
        # A small file, read and written without a thread: no await may come between the
        # write and the commit that owns it (a cancellation there would leave it dirty).
        try:
            original = read_original(target)
            changed = set_version(target, self.config.key, job.version, original)
        except OSError as exc:
            raise DeployFailed(f"cannot write {target}: {exc.strerror or exc}") from exc
        if changed:
            await self._commit(job, target, relative, original)
        try:
            if not changed:
                await report.log(f"{relative} already has {self.config.key}: {job.version}")
            else:
                await report.log(f"committed: {commit_subject(job)}")
            if self.config.push:
                await self._git("push", "--quiet", self.config.remote, self.config.branch)
                await report.log(f"pushed to {self.config.remote}/{self.config.branch}")
        except BaseException:
            if changed:  # the commit was never deployed: leave no trace of it
                await self._git("reset", "--quiet", "--keep", "HEAD~1", check=False, local=True)
            raise

    async def _sync(self, report: Reporter) -> None:
        """Fast-forward the clone to the remote branch, so that the push is not refused."""
        remote, branch = self.config.remote, self.config.branch
        heads = await self._git("ls-remote", "--exit-code", "--heads", remote, branch, check=False)
        if heads.code == 2:
            await report.log(f"{remote} has no branch {branch} yet; the push creates it")
            return
        if heads.code != 0:
            raise DeployFailed(
                f"cannot reach {remote} from {self.config.repository}: {summary(heads)}"
            )
        await self._git("fetch", "--quiet", remote, branch)
        merged = await self._git("merge", "--ff-only", "--quiet", "FETCH_HEAD", check=False)
        if merged.code != 0:
            raise DeployFailed(
                f"cannot fast-forward branch {branch} of {self.config.repository} to "
                f"{remote}/{branch} ({summary(merged)}); reconcile the clone, e.g. reset it "
                f"to {remote}/{branch}"
            )

    async def _commit(
        self, job: DeployJob, target: Path, relative: str, original: bytes | None
    ) -> None:
        git = self._git
        try:
            await git("add", "--", relative, local=True)
            await git("commit", "--quiet", "-m", commit_message(job), "--", relative, local=True)
        except BaseException:
            await git("reset", "--quiet", "--", relative, check=False, local=True)
            restore(target, original)
            raise


def commit_subject(job: DeployJob) -> str:
    """E.g. `deploy checkout-api 1.4.3 to prod (by alice)`."""
    verb = _VERBS.get(job.trigger, job.trigger)
    by = f" (by {job.actor})" if job.actor else ""
    return f"{verb} {job.service} {job.version} to {job.environment}{by}"


def commit_message(job: DeployJob) -> str:
    """The subject, then trailers that tie the commit to the deployment."""
    return (
        f"{commit_subject(job)}\n\n"
        f"Shipdeck-Deployment: {job.deployment_id}\nShipdeck-Trigger: {job.trigger}\n"
    )
