"""The Appaloft connector: an Appaloft (1.10.5) through the `EngineClient` interface."""

from ._client import AppaloftClient, api_url

__all__ = ["AppaloftClient", "api_url"]
