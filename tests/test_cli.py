"""The `shipdeck` command: version, help, keys."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from shipdeck import __version__
from shipdeck.cli import main


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_help_explains_serve() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--database", "--config"):
        assert option in result.output


def test_keys_create_prints_the_key_last_and_stores_only_a_hash(
    db_url: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["keys", "create", "--database", db_url, "--name", "ci", "--role", "reporter"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"sdk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    dump = "\n".join(sqlite3.connect(tmp_path / "shipdeck.db").iterdump())
    assert token.split("_", 2)[2] not in dump

    listed = CliRunner().invoke(main, ["keys", "list", "--database", db_url])
    assert "ci" in listed.output and "reporter" in listed.output
    assert token.split("_", 2)[2] not in listed.output


def test_keys_revoke(db_url: str) -> None:
    runner = CliRunner()
    token = (
        runner.invoke(
            main, ["keys", "create", "--database", db_url, "--name", "ci", "--role", "admin"]
        )
        .output.strip()
        .splitlines()[-1]
    )
    key_id = token.split("_")[1]
    assert runner.invoke(main, ["keys", "revoke", "--database", db_url, key_id]).exit_code == 0
    again = runner.invoke(main, ["keys", "revoke", "--database", db_url, key_id])
    assert again.exit_code != 0 and "no active key" in again.output


def test_bad_role_and_bad_database_say_what_is_wrong(db_url: str) -> None:
    runner = CliRunner()
    bad_role = runner.invoke(
        main, ["keys", "create", "--database", db_url, "--name", "x", "--role", "god"]
    )
    assert bad_role.exit_code == 2 and "reporter" in bad_role.output
    bad_db = runner.invoke(
        main, ["keys", "create", "--database", "mysql://x", "--name", "x", "--role", "admin"]
    )
    assert bad_db.exit_code == 1 and "sqlite:///" in bad_db.output
    assert "Traceback" not in bad_db.output
