"""Text of the PostgreSQL backend: its URLs, its errors as sentences, the shared queries'
placeholders, and log text it can store."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from ..records import StoreError
from ..urls import redacted

CONNECT_TIMEOUT_S = 5
"""Seconds to wait for a connection (pool, listener, first check of the schema)."""


def conninfo(url: str) -> str:
    """The URL psycopg connects with (`postgres://` is an alias)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise StoreError(f"malformed database URL {redacted(url)!r}: {exc}") from exc
    if not parts.hostname and "host=" not in parts.query:
        raise StoreError(
            f"malformed database URL {redacted(url)!r}: "
            "use postgresql://user:password@host:5432/database"
        )
    if not parts.path.strip("/"):
        raise StoreError(
            f"the database URL {redacted(url)!r} names no database: add /NAME after the host"
        )
    return "postgresql://" + url.split("://", 1)[1]


def describe(exc: BaseException, url: str) -> str:
    """A one-line reason from a psycopg error, with what to do."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.removeprefix("connection failed: ")
    where = redacted(url)
    if "password authentication failed" in text or "no password supplied" in text:
        return f"PostgreSQL refused the credentials of {where}: {text}; check user and password"
    if "does not exist" in text and "database" in text:
        return f"{text} on {where}: create it first (createdb NAME, or CREATE DATABASE)"
    return f"cannot reach PostgreSQL at {where}: {text}; is the server running and reachable?"


_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def escape_nul(text: str) -> str:
    """Text PostgreSQL can store (it refuses NUL): `\\` doubled, NUL as `\\0`.

    Log lines are kept verbatim (sanitising is the display's job), NUL included.
    """
    if "\\" not in text and "\x00" not in text:
        return text
    return text.replace("\\", "\\\\").replace("\x00", "\\0")


def unescape_nul(stored: str) -> str:
    """The text `escape_nul` was given."""
    if "\\" not in stored:
        return stored
    return _ESCAPED.sub(lambda m: "\x00" if m.group(1) == "0" else m.group(1), stored)


@functools.lru_cache(maxsize=512)
def pg_sql(sql: str) -> str:
    """The shared queries' `?` placeholders as psycopg's `%s` (no literal `?` or `%` in
    them: values always travel as parameters)."""
    return sql.replace("?", "%s")
