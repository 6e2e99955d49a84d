"""The CI commands as a pipeline runs them: a child process with the job's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

CI_PREFIXES = ("GITHUB_", "GITLAB_", "CI_", "SHIPDECK_")

GITHUB_ACTIONS = {
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/checkout-api",
    "GITHUB_RUN_ID": "9876543210",
    "GITHUB_RUN_NUMBER": "412",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_SHA": "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_REF_NAME": "main",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_JOB": "deploy",
    "GITHUB_WORKFLOW": "release",
    "GITHUB_EVENT_NAME": "push",
}
"""What GitHub Actions sets in a job (docs: "Store information in variables")."""

GITLAB_CI = {
    "CI": "true",
    "GITLAB_CI": "true",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_PROJECT_NAME": "billing-worker",
    "CI_PROJECT_PATH": "acme/billing-worker",
    "CI_PIPELINE_ID": "1022",
    "CI_PIPELINE_IID": "87",
    "CI_PIPELINE_URL": "https://gitlab.example.com/acme/billing-worker/-/pipelines/1022",
    "CI_JOB_ID": "55120",
    "CI_JOB_NAME": "deploy-staging",
    "CI_JOB_URL": "https://gitlab.example.com/acme/billing-worker/-/jobs/55120",
    "CI_COMMIT_SHA": "1ecfd275763eff1d6b4844ea3168962458c9f27a",
    "CI_COMMIT_REF_NAME": "release/0.24",
    "CI_ENVIRONMENT_NAME": "staging",
    "GITLAB_USER_LOGIN": "dmitri",
}
"""What GitLab CI sets in a deployment job (docs: "Predefined CI/CD variables")."""


def shipdeck(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`shipdeck ARGS` in a child process whose environment is a clean one plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CI_PREFIXES)}
    return subprocess.run(
        [sys.executable, "-m", "shipdeck", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
