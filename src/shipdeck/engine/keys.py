"""API keys: shown once, stored as a hash, compared in constant time."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..domain import Role, to_micros
from ..domain.authz import UNSCOPED, Scopes

if TYPE_CHECKING:
    from .store import KeyRecord, Store

T = TypeVar("T")

KEY_PREFIX = "sdk"
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()
KEY_CACHE_S = 0.5
"""How long a verified key is trusted without asking the store (revocation takes effect
within this time)."""


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


def local_user() -> str:
    """Who acts without a key: the OS user (an embedded engine's principal, an import's)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "local"


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


class _Runner(Protocol):
    def __call__(self, fn: Callable[..., T], /, *args: object) -> Awaitable[T]: ...


class Keys:
    """Creating keys and authenticating tokens against the store (with a short cache)."""

    def __init__(
        self, store: Store, read: _Runner, write: _Runner, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self._read = read
        self._write = write
        self.clock = clock
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._verifying: dict[str, asyncio.Future[Principal | None]] = {}
        """Store reads under way, by token hash: the requests that arrive meanwhile with
        the same token wait for that one read. When the cache lapses under load, every
        request in flight missed it at once (32 reads of one key in a few milliseconds)."""
        self._generation = 0
        """Bumped by `forget`: a read begun before it is answered but not cached."""

    async def create(
        self,
        name: str,
        role: Role,
        *,
        services: Sequence[str] | None = None,
        environments: Sequence[str] | None = None,
    ) -> tuple[Principal, str]:
        """Create a key for a principal, optionally scoped; the token is returned once and
        never stored."""
        issued = issue_key()
        await self._write(
            self.store.create_key,
            name,
            role,
            issued.key_id,
            hash_secret(issued.secret),
            to_micros(self.clock()),
            services,
            environments,
        )
        scopes = Scopes.of(services, environments)
        return Principal(name, role, issued.key_id, scopes), issued.token

    def forget(self) -> None:
        """Drop every cached verification (a key changed, perhaps on another replica)."""
        self._cache.clear()
        self._verifying.clear()  # the requests that come next read the store anew
        self._generation += 1

    async def authenticate(self, token: str | None) -> Principal | None:
        """The principal a token belongs to, or `None` if it is missing, unknown or revoked."""
        if not token:
            return None
        cache_key = hash_secret(token)  # the cache never holds a key in clear
        cached = self._cache.get(cache_key)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_S:
            return cached[1]
        verifying = self._verifying.get(cache_key)
        if verifying is None:
            verifying = asyncio.ensure_future(self._verify(token, cache_key))
            self._verifying[cache_key] = verifying
            verifying.add_done_callback(lambda done: self._verified(cache_key, done))
        # Shielded: a request that goes away must not cancel the others' answer.
        return await asyncio.shield(verifying)

    def _verified(self, cache_key: str, done: asyncio.Future[Principal | None]) -> None:
        if self._verifying.get(cache_key) is done:  # not one begun after a `forget`
            del self._verifying[cache_key]

    async def _verify(self, token: str, cache_key: str) -> Principal | None:
        """Check a token against the store; cache the principal it belongs to."""
        generation = self._generation
        now = time.monotonic()
        parts = split_token(token)
        if parts is None:
            secret_matches(token, None)  # same work as a real comparison
            return None
        key_id, secret = parts
        record: KeyRecord | None = await self._read(self.store.find_key, key_id)
        stored = None if record is None or record.revoked_at is not None else record.secret_hash
        if record is None or not secret_matches(secret, stored):
            return None
        scopes = Scopes.of(record.services, record.environments)
        principal = Principal(record.principal, record.role, record.key_id, scopes)
        if generation == self._generation:
            if len(self._cache) > 1024:
                self._cache.clear()
            self._cache[cache_key] = (now, principal)
        return principal
