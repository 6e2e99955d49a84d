"""Database URLs: which backend a URL names, and how to show one without its password."""

from __future__ import annotations

import re

SUPPORTED_URLS = "sqlite:///path/to/file.db or postgresql://user:password@host:5432/database"


def is_postgres_url(url: str) -> bool:
    """Whether `url` names a PostgreSQL database (`postgresql://` or `postgres://`)."""
    return url.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
