"""`shipdeck report`, `deploy`, `promote`, `rollback`: shipdeck in CI and CD pipelines.

The server is `--url` (or `$SHIPDECK_URL`), the key `$SHIPDECK_TOKEN` (never an option: it
would show in process lists and CI logs). On GitHub Actions and GitLab CI the run's URL,
number, commit, ref and actor come from the job's environment.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from .domain import Status

TOKEN_ENV = "SHIPDECK_TOKEN"  # noqa: S105  # the name of a variable, not a secret
STATUSES = click.Choice([status.value for status in Status])
EXIT_CODES = """\b
Exit status:
  0  accepted (with --wait: the deployment succeeded)
  1  with --wait: the deployment ended failure, cancelled or rejected
  2  wrong options
  3  refused (invalid input, unknown service or environment, nothing to do)
  4  no key, an unknown or revoked key, or a role too low
  5  the server did not answer (retried with backoff until --timeout)
  6  with --wait: the deployment did not finish within --timeout"""

url_option = click.option(
    "--url",
    envvar="SHIPDECK_URL",
    required=True,
    metavar="URL",
    help="The shipdeck server (default: $SHIPDECK_URL). The key is read from $SHIPDECK_TOKEN.",
)


def _fail(command: str, message: str, code: int) -> NoReturn:
    """One line on stderr, then exit with `code`. The message quotes servers and options:
    sanitised, so no escape sequence or line break of theirs reaches the terminal."""
    from .tui.sanitize import sanitize

    click.echo(f"shipdeck {command}: {sanitize(message)}", err=True)
    sys.exit(code)


@click.command("report", epilog=EXIT_CODES)
@url_option
@click.option("--status", required=True, type=STATUSES, help="The deployment's new status.")
@click.option("--service", help="Default: the repository (project) name in CI.")
@click.option("--environment", help="Default: $CI_ENVIRONMENT_NAME on GitLab CI.")
@click.option("--version", "version_", metavar="VERSION", help="The version deployed.")
@click.option(
    "--deployment-id",
    help="Default in CI: one per run (attempt), job, service and environment, so every "
    "step of a job reports the same deployment.",
)
@click.option("--message", help="A sentence about this transition (e.g. why it failed).")
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="Seconds for the whole report, retries included.",
)
def report(**options: Any) -> None:
    """Report one deployment status to a shipdeck server: one row of its log.

    In a GitHub Actions or GitLab CI job a step is one line, e.g.

    \b
      shipdeck report --status in-progress --service api --environment prod --version 1.4.3
      ./deploy.sh
      shipdeck report --status success --service api --environment prod --version 1.4.3

    The run URL, run number, sha, ref and actor are filled in from the job's environment.
    """
    from .ci.report import CiError
    from .ci.reporting import build_report, send_report

    try:
        body, reporter = build_report(os.environ, options)
        line = send_report(options["url"], os.environ.get(TOKEN_ENV), body, reporter, options)
    except CiError as exc:
        _fail("report", str(exc), exc.code)
    _say(line)


def _wait_options(func: Callable[..., None]) -> Callable[..., None]:
    func = click.option(
        "--timeout",
        default=1800.0,
        show_default=True,
        type=click.FloatRange(1, 86400),
        help="Seconds to wait for the end with --wait (an approval included).",
    )(func)
    func = click.option(
        "--wait",
        is_flag=True,
        help="Follow the deployment (phases and log lines) and exit 0 only on success.",
    )(func)
    return url_option(func)


@click.command("deploy", epilog=EXIT_CODES)
@_wait_options
@click.option("--service", required=True)
@click.option("--environment", required=True)
@click.option("--version", "version_", metavar="VERSION", required=True)
def deploy(url: str, wait: bool, timeout: float, **slot: str) -> None:
    """Ask the server to deploy VERSION of SERVICE to ENVIRONMENT (a deployer key)."""
    _act(
        "deploy",
        url,
        wait,
        timeout,
        lambda c: c.deploy(slot["service"], slot["environment"], slot["version_"]),
    )


@click.command("promote", epilog=EXIT_CODES)
@_wait_options
@click.option("--service", required=True)
@click.option("--from", "source", required=True, metavar="ENV", help="Promote its version…")
@click.option("--to", "target", metavar="ENV", help="… to this (default: the next one).")
def promote(url: str, wait: bool, timeout: float, service: str, source: str, target: str) -> None:
    """Promote SERVICE's current version in --from to the next environment (or --to).

    Into an environment that asks for approvals the promotion waits: with --wait the
    command says who must approve, and waits (up to --timeout).
    """
    _act("promote", url, wait, timeout, lambda c: c.promote(service, source, target))


@click.command("rollback", epilog=EXIT_CODES)
@_wait_options
@click.option("--deployment-id", help="The deployment to roll back…")
@click.option("--service", help="… or the current one of --service in --environment.")
@click.option("--environment")
@click.option("--version", "version_", metavar="VERSION", help="Default: the last good one.")
def rollback(url: str, wait: bool, timeout: float, **target: str | None) -> None:
    """Roll back a deployment to the slot's previous successful version (or --version)."""
    from .ci.report import CiError
    from .ci.reporting import rollback_request

    try:
        request = rollback_request(target)
    except CiError as exc:
        _fail("rollback", str(exc), exc.code)
    _act("rollback", url, wait, timeout, request)


def _act(command: str, url: str, wait: bool, timeout: float, request: Any) -> None:
    from .ci.act import act
    from .ci.report import CiError

    try:
        code = asyncio.run(
            act(url, os.environ.get(TOKEN_ENV), request, wait=wait, timeout=timeout, say=_say)
        )
    except CiError as exc:
        _fail(command, str(exc), exc.code)
    sys.exit(int(code))


def _say(line: str) -> None:
    """Print one line of a command's progress; sanitised once more as it leaves (the parts
    from the server already are), so it stays one line with no control character."""
    from .tui.sanitize import sanitize

    click.echo(sanitize(line))


COMMANDS = (report, deploy, promote, rollback)

__all__ = ["COMMANDS", "deploy", "promote", "report", "rollback"]
