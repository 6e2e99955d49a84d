"""The HTTP surface (FastAPI): the deployment-dashboard contract over the engine."""

from .app import create_app

__all__ = ["create_app"]
