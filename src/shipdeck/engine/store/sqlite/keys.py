"""API keys and the principals they belong to."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ....domain import Role
from ..records import KeyRecord, StoreError
from .connection import Connections

_SELECT_KEYS = (
    "SELECT k.key_id, k.principal, p.role, k.secret_hash, k.created_at, k.revoked_at,"
    " k.services, k.environments FROM api_keys k JOIN principals p ON p.name = k.principal"
)


def _scope(names: Any) -> tuple[str, ...] | None:
    """A stored scope (a JSON list, `NULL` for all)."""
    return None if names is None else tuple(json.loads(names))


def _key(row: tuple[Any, ...]) -> KeyRecord:
    key_id, principal, role, secret_hash, created_at, revoked_at, services, environments = row
    return KeyRecord(
        str(key_id),
        str(principal),
        Role(role),
        str(secret_hash),
        int(created_at),
        None if revoked_at is None else int(revoked_at),
        _scope(services),
        _scope(environments),
    )


class Keys(Connections):
    """API keys."""

    def create_key(
        self,
        principal: str,
        role: Role,
        key_id: str,
        secret_hash: str,
        created_at: int,
        services: Sequence[str] | None = None,
        environments: Sequence[str] | None = None,
    ) -> None:
        with self._write() as conn:
            found = conn.execute(
                "SELECT role FROM principals WHERE name = ?", (principal,)
            ).fetchone()
            if found is None:
                conn.execute(
                    "INSERT INTO principals (name, role, created_at) VALUES (?, ?, ?)",
                    (principal, role.value, created_at),
                )
            elif (stored_role := found[0]) != role.value:
                raise StoreError(
                    f"principal {principal!r} already exists with role {stored_role};"
                    " keys of one principal share its role"
                )
            conn.execute(
                "INSERT INTO api_keys (key_id, principal, secret_hash, created_at, services,"
                " environments) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key_id,
                    principal,
                    secret_hash,
                    created_at,
                    None if not services else json.dumps(sorted(services)),
                    None if not environments else json.dumps(sorted(environments)),
                ),
            )

    def find_key(self, key_id: str) -> KeyRecord | None:
        row = self._conn.execute(_SELECT_KEYS + " WHERE k.key_id = ?", (key_id,)).fetchone()
        return None if row is None else _key(row)

    def list_keys(self) -> list[KeyRecord]:
        rows = self._conn.execute(_SELECT_KEYS + " ORDER BY k.created_at, k.key_id")
        return [_key(row) for row in rows]

    def revoke_key(self, key_id: str, revoked_at: int) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (revoked_at, key_id),
            )
        return cursor.rowcount > 0
