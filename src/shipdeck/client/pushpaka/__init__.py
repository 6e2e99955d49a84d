"""The Pushpaka connector: a Pushpaka through the `EngineClient` interface."""

from ._client import PushpakaClient
from ._wire import api_url

__all__ = ["PushpakaClient", "api_url"]
