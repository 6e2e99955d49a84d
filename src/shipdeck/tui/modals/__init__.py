"""Modals that show what an action will do before it is asked of the engine."""

from ._comment import CommentModal
from ._confirm import ConfirmModal
from ._deploy import DeployModal
from ._promote import PromoteModal
from ._rollback import RollbackModal

__all__ = ["CommentModal", "ConfirmModal", "DeployModal", "PromoteModal", "RollbackModal"]
