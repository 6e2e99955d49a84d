"""API keys and the principals they belong to."""

from __future__ import annotations

from collections.abc import Sequence

from ....domain import Role
from ..codec import SELECT_KEYS, key_from_row, scope_value
from ..records import KeyRecord, StoreError
from .connection import Connections


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
                    scope_value(services),
                    scope_value(environments),
                ),
            )

    def find_key(self, key_id: str) -> KeyRecord | None:
        row = self._conn.execute(SELECT_KEYS + " WHERE k.key_id = ?", (key_id,)).fetchone()
        return None if row is None else key_from_row(row)

    def list_keys(self) -> list[KeyRecord]:
        rows = self._conn.execute(SELECT_KEYS + " ORDER BY k.created_at, k.key_id")
        return [key_from_row(row) for row in rows]

    def revoke_key(self, key_id: str, revoked_at: int) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (revoked_at, key_id),
            )
        return cursor.rowcount > 0
