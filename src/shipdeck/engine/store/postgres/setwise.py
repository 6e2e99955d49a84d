"""Many rows written by one statement: each column travels as one array, `unnest` makes
them rows again.

`executemany` costs PostgreSQL one Bind/Execute a row, each with its executor start-up;
on the append path (a group-commit batch, inside the `event_head` lock) those add up to
more than the writes themselves. One statement a table a batch costs that once.

The arrays travel in binary (`%b`): psycopg escapes each element of a text-format array
with a regular expression, which for a batch of row documents costs more than the insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..codec import columns


def insert_rows(
    table: str,
    names: Sequence[str],
    types: Sequence[str],
    tail: str = "",
    *,
    ordered: bool = False,
    given: dict[str, str] | None = None,
) -> str:
    """`INSERT INTO table (names) SELECT … FROM unnest(%b::type[], …) tail`.

    Args:
        table: the table.
        names: its columns the arrays fill, in the order of `types` and of the arrays.
        types: each column's SQL type (the arrays are cast to arrays of it).
        tail: what follows the rows (`ON CONFLICT …`, `RETURNING …`).
        ordered: insert in the arrays' order, so a serial column numbers the rows as
            they were given (`WITH ORDINALITY … ORDER BY`).
        given: columns set to one SQL expression for every row (`%s` included), placed
            before the arrays' placeholders.
    """
    if len(names) != len(types):
        raise ValueError(f"{table}: {len(names)} columns but {len(types)} types")
    given = given or {}
    arrays = ", ".join(f"%b::{kind}[]" for kind in types)
    alias = columns(tuple(f"u_{name}" for name in names))
    picked = ", ".join((*given.values(), *(f"u_{name}" for name in names)))
    target = (*given, *names)
    order = " ORDER BY u_ordinality" if ordered else ""
    ordinality = " WITH ORDINALITY" if ordered else ""
    ordinal = ", u_ordinality" if ordered else ""
    return (
        f"INSERT INTO {table} ({columns(target)}) SELECT {picked}"
        f" FROM unnest({arrays}){ordinality} AS u({alias}{ordinal}){order}"
        + (f" {tail}" if tail else "")
    )


def arrays_of(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """`rows` as one list a column (`width` columns: the lists of no rows are empty)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]
