"""shipdeck in CI pipelines: reporting a deployment, and requesting one and waiting for it."""

from .follow import DeploymentFollower
from .pipeline import PipelineRun, detect
from .report import CiError, Exit, post_report

__all__ = ["CiError", "DeploymentFollower", "Exit", "PipelineRun", "detect", "post_report"]
