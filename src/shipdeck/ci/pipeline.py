"""What a CI system tells about the run a command is part of, read from its environment.

GitHub Actions and GitLab CI set documented variables in every job; from them a report
gets its run URL, run number, commit, ref and actor, and a deployment id that is the same
for every step of one job (in-progress, then success) and new for the next run or retry.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

ID_MAX = 200
"""The contract's longest `deployment_id`."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """One CI job, as far as a deployment report needs it."""

    system: str
    """`github-actions` or `gitlab-ci` (also the report's `X-Progress-Reporter` emitter)."""
    run_key: str
    """What identifies the job's run: stable across its steps, new on a re-run."""
    run_url: str | None = None
    run_number: str | None = None
    sha: str | None = None
    ref: str | None = None
    actor: str | None = None
    project: str | None = None
    """The repository or project name: the default service."""
    environment: str | None = None
    """The job's deployment environment, when the CI system names one."""

    def deployment_id(self, service: str, environment: str) -> str:
        """A deployment id for `service` in `environment` from this job (at most 200
        characters: a longer one keeps its start and a hash of the whole)."""
        raw = _UNSAFE.sub("-", f"{self.run_key}-{service}-{environment}").strip("-")
        if len(raw) <= ID_MAX:
            return raw
        digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
        return f"{raw[: ID_MAX - 17]}-{digest}"


def detect(env: Mapping[str, str]) -> PipelineRun | None:
    """The CI job this process runs in, if it is one of GitHub Actions or GitLab CI."""
    if env.get("GITHUB_ACTIONS") == "true":
        return _github(env)
    if env.get("GITLAB_CI") == "true":
        return _gitlab(env)
    return None


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _github(env: Mapping[str, str]) -> PipelineRun:
    """GitHub Actions: `GITHUB_*` (docs.github.com: default environment variables)."""
    server, repository = _get(env, "GITHUB_SERVER_URL"), _get(env, "GITHUB_REPOSITORY")
    run_id, attempt = _get(env, "GITHUB_RUN_ID"), _get(env, "GITHUB_RUN_ATTEMPT") or "1"
    run_url = None
    if server and repository and run_id:
        run_url = f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"
        if attempt != "1":
            run_url += f"/attempts/{attempt}"
    job = _get(env, "GITHUB_JOB") or "job"
    return PipelineRun(
        system="github-actions",
        run_key=f"gh-{run_id or 'run'}-{attempt}-{job}",
        run_url=run_url,
        run_number=_get(env, "GITHUB_RUN_NUMBER"),
        sha=_get(env, "GITHUB_SHA"),
        ref=_get(env, "GITHUB_REF_NAME") or _get(env, "GITHUB_REF"),
        actor=_get(env, "GITHUB_TRIGGERING_ACTOR") or _get(env, "GITHUB_ACTOR"),
        project=repository.rsplit("/", 1)[-1] if repository else None,
    )


def _gitlab(env: Mapping[str, str]) -> PipelineRun:
    """GitLab CI: `CI_*` and `GITLAB_USER_*` (docs.gitlab.com: predefined variables)."""
    pipeline, job = _get(env, "CI_PIPELINE_ID"), _get(env, "CI_JOB_ID")
    return PipelineRun(
        system="gitlab-ci",
        run_key=f"gl-{pipeline or 'pipeline'}-{job or 'job'}",
        run_url=_get(env, "CI_JOB_URL") or _get(env, "CI_PIPELINE_URL"),
        run_number=_get(env, "CI_PIPELINE_IID") or pipeline,
        sha=_get(env, "CI_COMMIT_SHA"),
        ref=_get(env, "CI_COMMIT_REF_NAME"),
        actor=_get(env, "GITLAB_USER_LOGIN"),
        project=_get(env, "CI_PROJECT_NAME"),
        environment=_get(env, "CI_ENVIRONMENT_NAME"),
    )


__all__ = ["ID_MAX", "PipelineRun", "detect"]
