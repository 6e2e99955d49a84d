"""The domain: models, status vocabulary and pure reductions. No I/O."""

from .environments import CONVENTIONAL_ORDER, order_environments
from .matrix import SlotEntry, SlotState, SlotView, fold_slot, reduce_slot, view_slot
from .models import (
    DeploymentEvent,
    DeploymentEventIngest,
    DeploymentEventPage,
    FetcherState,
    FetcherStateUpsert,
    Matrix,
    MatrixRow,
    MatrixSlot,
    Problem,
    ProblemError,
)
from .roles import Role
from .status import EFFECTIVE, NON_EFFECTIVE, TERMINAL, Status
from .timestamps import format_rfc3339, parse_rfc3339, to_micros, utc_now

__all__ = [
    "CONVENTIONAL_ORDER",
    "EFFECTIVE",
    "NON_EFFECTIVE",
    "TERMINAL",
    "DeploymentEvent",
    "DeploymentEventIngest",
    "DeploymentEventPage",
    "FetcherState",
    "FetcherStateUpsert",
    "Matrix",
    "MatrixRow",
    "MatrixSlot",
    "Problem",
    "ProblemError",
    "Role",
    "SlotEntry",
    "SlotState",
    "SlotView",
    "Status",
    "fold_slot",
    "format_rfc3339",
    "order_environments",
    "parse_rfc3339",
    "reduce_slot",
    "to_micros",
    "utc_now",
    "view_slot",
]
