"""The gitops driver against real git repositories (a working clone and a bare remote)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipdeck.engine.drivers import DeployJob, GitopsConfig, LogLevel

from .conftest import (
    PROD_VALUES,
    RecordingReporter,
    eventually,
    git,
    gitops,
    process_alive,
)


def values_at(repo: Path, revision: str, path: str = PROD_VALUES) -> Any:
    return yaml.safe_load(git(repo, "show", f"{revision}:{path}"))


async def test_commit_sets_the_version_and_keeps_other_keys(
    clone: Path, remote: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    outcome = await gitops(clone).run(job, reporter)

    assert outcome.success, outcome.message
    assert reporter.phases == ["validating", "pushing", "pushed", "monitoring"]
    assert values_at(clone, "HEAD") == {
        "replicaCount": 3,
        "image": {"repository": "checkout-api", "tag": "1.4.3"},
    }
    assert list(yaml.safe_load((clone / PROD_VALUES).read_text())) == ["replicaCount", "image"]
    log = git(clone, "log", "-1", "--format=%s%n%an <%ae>%n%b")
    assert log.splitlines()[:2] == [
        "deploy checkout-api 1.4.3 to prod (by alice)",
        "shipdeck <shipdeck@localhost>",
    ]
    assert "Shipdeck-Deployment: dep-0001" in log
    assert git(clone, "status", "--porcelain") == ""


async def test_push_reaches_the_remote(
    clone: Path, remote: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    outcome = await gitops(clone).run(job, reporter)

    assert outcome.success, outcome.message
    assert git(remote, "log", "-1", "--format=%s", "main") == (
        "deploy checkout-api 1.4.3 to prod (by alice)"
    )
    assert git(remote, "rev-parse", "main") == git(clone, "rev-parse", "HEAD")


async def test_missing_values_file_and_folders_are_created(
    clone: Path, remote: Path, reporter: RecordingReporter
) -> None:
    job = DeployJob("dep-2", "payments", "staging", "2.0.0", trigger="promote")

    outcome = await gitops(clone, key="deployment.image.tag").run(job, reporter)

    assert outcome.success, outcome.message
    path = "envs/staging/payments/values.yaml"
    assert values_at(remote, "main", path) == {"deployment": {"image": {"tag": "2.0.0"}}}
    assert git(clone, "log", "-1", "--format=%s") == "promote payments 2.0.0 to staging"


async def test_without_push_the_remote_is_untouched(
    clone: Path, remote: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    before = git(remote, "rev-parse", "main")

    outcome = await gitops(clone, push=False).run(job, reporter)

    assert outcome.success, outcome.message
    assert git(remote, "rev-parse", "main") == before
    assert values_at(clone, "HEAD")["image"]["tag"] == "1.4.3"


async def test_same_version_again_makes_no_commit(
    clone: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    assert (await gitops(clone).run(job, reporter)).success
    head = git(clone, "rev-parse", "HEAD")

    outcome = await gitops(clone).run(job, RecordingReporter())

    assert outcome.success, outcome.message
    assert git(clone, "rev-parse", "HEAD") == head


async def test_remote_ahead_is_fast_forwarded_before_the_push(
    tmp_path: Path, clone: Path, remote: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(remote), str(other))
    (other / "README.md").write_text("someone else's change\n")
    git(other, "add", ".")
    git(other, "-c", "user.name=Bob", "-c", "user.email=b@x", "commit", "--quiet", "-m", "docs")
    git(other, "push", "--quiet", "origin", "main")

    outcome = await gitops(clone).run(job, reporter)

    assert outcome.success, outcome.message
    assert git(remote, "log", "--format=%s", "main").splitlines()[:2] == [
        "deploy checkout-api 1.4.3 to prod (by alice)",
        "docs",
    ]


async def test_diverged_clone_fails_and_says_how_to_fix_it(
    tmp_path: Path, clone: Path, remote: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(remote), str(other))
    (other / "README.md").write_text("theirs\n")
    git(other, "add", ".")
    git(other, "-c", "user.name=Bob", "-c", "user.email=b@x", "commit", "--quiet", "-m", "theirs")
    git(other, "push", "--quiet", "origin", "main")
    (clone / "README.md").write_text("ours\n")
    git(clone, "add", ".")
    git(clone, "commit", "--quiet", "-m", "ours, never pushed")
    head = git(clone, "rev-parse", "HEAD")

    outcome = await gitops(clone).run(job, reporter)

    assert not outcome.success
    assert "cannot fast-forward branch main" in outcome.message
    assert "reset it to origin/main" in outcome.message
    assert git(clone, "rev-parse", "HEAD") == head


async def test_first_push_creates_the_remote_branch(
    tmp_path: Path, clone: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    empty = tmp_path / "empty.git"
    git(tmp_path, "init", "--quiet", "--bare", str(empty))
    git(clone, "remote", "set-url", "origin", str(empty))

    outcome = await gitops(clone).run(job, reporter)

    assert outcome.success, outcome.message
    assert git(empty, "rev-parse", "main") == git(clone, "rev-parse", "HEAD")


async def test_missing_remote_is_refused(
    clone: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    outcome = await gitops(clone, remote="upstream").run(job, reporter)

    assert not outcome.success and "no remote upstream" in outcome.message
    assert reporter.phases == ["validating"]


async def test_rejected_push_fails_and_leaves_the_clone_as_it_was(
    clone: Path, remote: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'prod is frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    head = git(clone, "rev-parse", "HEAD")

    outcome = await gitops(clone).run(job, reporter)

    assert not outcome.success
    assert "git push failed" in outcome.message and "prod is frozen" in outcome.message
    assert reporter.phases == ["validating", "pushing"]
    assert git(clone, "rev-parse", "HEAD") == head
    assert git(clone, "status", "--porcelain") == ""
    assert any(line.level == LogLevel.ERROR for line in reporter.lines)


async def test_cancel_during_the_push_stops_git_and_undoes_the_commit(
    tmp_path: Path, clone: Path, remote: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    # The remote's hook runs under `git push` (local transport): it must die with the push.
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/hook.pid\nexec sleep 100\n")
    hook.chmod(0o755)
    head = git(clone, "rev-parse", "HEAD")
    task = asyncio.create_task(gitops(clone).run(job, reporter))
    pid_file = tmp_path / "hook.pid"
    await eventually(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"))
    hook_pid = int(pid_file.read_text())

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await eventually(lambda: not process_alive(hook_pid), timeout=5)
    assert git(clone, "rev-parse", "HEAD") == head
    assert git(clone, "status", "--porcelain") == ""
    assert git(remote, "rev-parse", "main") == head


@pytest.mark.parametrize(
    "values_path",
    ["../outside/{service}.yaml", "envs/../../outside.yaml", "/tmp/{service}/values.yaml"],
)
async def test_values_path_outside_the_repository_is_refused(
    tmp_path: Path, clone: Path, job: DeployJob, reporter: RecordingReporter, values_path: str
) -> None:
    head = git(clone, "rev-parse", "HEAD")

    outcome = await gitops(clone, values_path=values_path).run(job, reporter)

    assert not outcome.success
    assert "refusing" in outcome.message
    assert values_path.format(service="checkout-api") in outcome.message
    assert reporter.phases == ["validating"]
    assert git(clone, "rev-parse", "HEAD") == head
    assert not (tmp_path / "outside").exists() and not (tmp_path / "outside.yaml").exists()


async def test_version_cannot_walk_out_of_the_repository(
    tmp_path: Path, clone: Path, reporter: RecordingReporter
) -> None:
    job = DeployJob("dep-3", "svc", "prod", "../../../escape")

    outcome = await gitops(clone, values_path="envs/{version}/values.yaml").run(job, reporter)

    assert not outcome.success and "outside the repository" in outcome.message
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("link", ["envs/prod", "envs/prod/checkout-api/values.yaml"])
async def test_symlink_pointing_outside_is_refused(
    tmp_path: Path, clone: Path, job: DeployJob, reporter: RecordingReporter, link: str
) -> None:
    outside = tmp_path / "outside"
    (outside / "checkout-api").mkdir(parents=True)
    (outside / "checkout-api" / "values.yaml").write_text("image: {tag: secret}\n")
    target = outside if link == "envs/prod" else outside / "checkout-api" / "values.yaml"
    linked = clone / link
    if linked.is_dir():
        shutil.rmtree(linked)
    else:
        linked.unlink()
    linked.symlink_to(target)

    outcome = await gitops(clone).run(job, reporter)

    assert not outcome.success
    assert PROD_VALUES in outcome.message and "outside the repository" in outcome.message
    assert (outside / "checkout-api" / "values.yaml").read_text() == "image: {tag: secret}\n"


async def test_git_directory_is_refused(
    clone: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    outcome = await gitops(clone, values_path=".git/hooks/post-commit").run(job, reporter)

    assert not outcome.success and ".git" in outcome.message
    assert not (clone / ".git" / "hooks" / "post-commit").exists()


async def test_uncommitted_changes_to_the_values_file_are_refused(
    clone: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    (clone / PROD_VALUES).write_text("image: {tag: hand-edited}\n")

    outcome = await gitops(clone).run(job, reporter)

    assert not outcome.success and "uncommitted changes" in outcome.message
    assert (clone / PROD_VALUES).read_text() == "image: {tag: hand-edited}\n"


async def test_other_branch_checked_out_is_refused(
    clone: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    git(clone, "switch", "--quiet", "-c", "feature")

    outcome = await gitops(clone).run(job, reporter)

    assert not outcome.success
    assert "has feature checked out, not branch main" in outcome.message


async def test_value_in_the_way_of_the_key_fails_clearly(
    clone: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    outcome = await gitops(clone, key="replicaCount.tag").run(job, reporter)

    assert not outcome.success
    assert "replicaCount holds a int, not a mapping" in outcome.message
    assert git(clone, "status", "--porcelain") == ""


async def test_concurrent_runs_on_one_repository_take_turns(
    clone: Path, remote: Path, reporter: RecordingReporter
) -> None:
    jobs = [DeployJob(f"dep-{n}", f"svc-{n}", "prod", f"1.0.{n}") for n in range(3)]
    driver = gitops(clone)

    outcomes = await asyncio.gather(*(driver.run(job, RecordingReporter()) for job in jobs))

    assert all(outcome.success for outcome in outcomes), outcomes
    subjects = git(remote, "log", "--format=%s", "main").splitlines()
    assert sorted(subjects[:3]) == [f"deploy svc-{n} 1.0.{n} to prod" for n in range(3)]


def test_unknown_placeholder_in_values_path_is_refused_at_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder \{team\}"):
        GitopsConfig(repository=tmp_path, values_path="{team}/values.yaml")
