"""`shipdeck keys` and `shipdeck audit`: a database administered directly, with no server;
and the `--database` option of every command that opens one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from .domain import Role

if TYPE_CHECKING:
    from .engine.store import Store

ROLE_CHOICE = click.Choice([role.value for role in Role], case_sensitive=False)


database_option = click.option(
    "--database",
    "database",
    metavar="URL",
    default=None,
    help="Database URL: sqlite:///path/to/shipdeck.db, or "
    "postgresql://user:password@host:5432/db for several replicas "
    "(default: shipdeck.db in the user data folder).",
)


def database_or_default(url: str | None) -> str:
    """The `--database` given, or the default database in the user data folder."""
    from .locations import default_database_url

    return url or default_database_url()


@contextlib.contextmanager
def opened_store(database: str | None) -> Iterator[Store]:
    """The store at `--database` (closed afterwards); one it cannot open ends the command."""
    from .engine.store import StoreError, open_store

    try:
        store = open_store(database_or_default(database))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield store
    finally:
        store.close()


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@database_option
@click.option("--name", required=True, help="The principal the key belongs to (e.g. ci).")
@click.option(
    "--role",
    required=True,
    type=ROLE_CHOICE,
    help="The principal's role: viewer < reporter < deployer < approver < admin.",
)
@click.option(
    "--services",
    metavar="A,B",
    default=None,
    help="Limit the key's actions to these services (comma-separated; default: all).",
)
@click.option(
    "--environments",
    metavar="X,Y",
    default=None,
    help="Limit the key's actions to these environments (comma-separated; default: all).",
)
def keys_create(
    database: str | None,
    name: str,
    role: str,
    services: str | None,
    environments: str | None,
) -> None:
    """Create a key. It is printed once, as the last line; only its hash is stored.

    Approvals count once per principal, whichever of its keys is used.
    """
    from .engine import Engine, StoreError

    service_list = _names(services, "--services")
    environment_list = _names(environments, "--environments")

    async def create() -> tuple[str, str]:
        engine = await Engine.open(database_or_default(database))
        try:
            principal, token = await engine.keys.create(
                name, Role(role.lower()), services=service_list, environments=environment_list
            )
        finally:
            await engine.close()
        return principal.key_id or "", token

    try:
        key_id, token = asyncio.run(create())
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    scope = ""
    if service_list:
        scope += f", services {', '.join(service_list)}"
    if environment_list:
        scope += f", environments {', '.join(environment_list)}"
    click.echo(f"Created key {key_id} for {name} ({role.lower()}{scope}). It is shown only now:")
    click.echo(token)


def _names(value: str | None, option: str) -> list[str] | None:
    """A comma-separated list of names (`None` when not given)."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise click.BadParameter(
            "give at least one name, e.g. checkout-api,payments", param_hint=option
        )
    return names


@keys.command("list")
@database_option
def keys_list(database: str | None) -> None:
    """List keys (ids, principals, roles; never secrets)."""
    from datetime import UTC, datetime

    from .domain import format_rfc3339

    with opened_store(database) as store:
        records = store.list_keys()

    def when(micros: int | None) -> str:
        return "-" if micros is None else format_rfc3339(datetime.fromtimestamp(micros / 1e6, UTC))

    click.echo(f"{'KEY':<14}{'PRINCIPAL':<24}{'ROLE':<10}{'CREATED':<30}{'REVOKED':<30}SCOPE")
    for r in records:
        scope = []
        if r.services:
            scope.append("services=" + ",".join(r.services))
        if r.environments:
            scope.append("environments=" + ",".join(r.environments))
        click.echo(
            f"{r.key_id:<14}{r.principal:<24}{r.role.value:<10}{when(r.created_at):<30}"
            f"{when(r.revoked_at):<30}{' '.join(scope) or 'all'}"
        )


@keys.command("revoke")
@database_option
@click.argument("key_id")
def keys_revoke(database: str | None, key_id: str) -> None:
    """Revoke a key by its id (as `keys list` shows it)."""
    from .domain import to_micros, utc_now

    with opened_store(database) as store:
        done = store.revoke_key(key_id, to_micros(utc_now()))
    if not done:
        raise click.ClickException(f"no active key has id {key_id!r} (see shipdeck keys list)")
    click.echo(f"Revoked key {key_id}.")


@click.group()
def audit() -> None:
    """Check the audit log."""


@audit.command("verify")
@database_option
def audit_verify(database: str | None) -> None:
    """Walk the audit log's hash chain; exit 1 and name the first broken entry if any."""
    from .engine.audit import verify_chain

    with opened_store(database) as store:
        verdict = verify_chain(store)
    if not verdict.ok:
        click.echo(f"audit log BROKEN at entry {verdict.broken_at}: {verdict.detail}", err=True)
        raise SystemExit(1)
    click.echo(f"audit log intact: {verdict.entries} entries")


__all__ = ["ROLE_CHOICE", "audit", "database_option", "database_or_default", "keys", "opened_store"]
