"""API keys: shown once, stored as a hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from ..domain import Role
from ..domain.authz import UNSCOPED, Scopes

KEY_PREFIX = "sdk"
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a named identity with a role."""

    name: str
    role: Role
    key_id: str | None = None
    """The key it authenticated with (`None` for the embedded engine's local user)."""
    scopes: Scopes = UNSCOPED
    """The services and environments its key may act on."""


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly created key: the only moment the secret exists outside its holder."""

    key_id: str
    secret: str

    @property
    def token(self) -> str:
        """What the holder sends as `X-Api-Key`."""
        return f"{KEY_PREFIX}_{self.key_id}_{self.secret}"


def issue_key() -> IssuedKey:
    """A new random key: a public id and a 256-bit secret."""
    return IssuedKey(secrets.token_hex(6), secrets.token_urlsafe(32))


def hash_secret(secret: str) -> str:
    """The stored form of a secret.

    Secrets are 256 random bits, so a plain SHA-256 is enough: there is nothing to guess,
    and a slow password hash would cost every ingest request its latency.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """`(key_id, secret)` of a well-formed token, else `None`."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str | None) -> bool:
    """Constant-time comparison, also when there is no stored key to compare with."""
    candidate = hash_secret(secret)
    return hmac.compare_digest(candidate, stored_hash or _DUMMY_HASH) and stored_hash is not None
