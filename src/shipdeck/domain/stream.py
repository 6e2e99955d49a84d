"""What the Server-Sent Events streams carry beyond the rows themselves."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from .models import DateTimeText
from .status import Status


class StatusChange(BaseModel):
    """The data of one `event: status` frame of a deployment's status stream."""

    status: Status
    phase: str | None
    """The executor's phase, when it reports one."""
    message: str | None
    version: str | None
    happened_at: Annotated[str, DateTimeText]
    id: str
    """The row that brought the change."""


class ResyncNotice(BaseModel):
    """The data of an `event: resync` frame: what was missed cannot be replayed."""

    seq: int
    """The position the stream goes on from."""
    reason: str
    """What the client should do (`refetch state`)."""


__all__ = ["ResyncNotice", "StatusChange"]
