"""The servers a `RemoteClient` may use, and the one it uses now.

Several `shipdeck serve` on one database serve the same engine: any of them answers any
request, and their event numbers are the same, so the feed resumes on another one with the
`Last-Event-ID` it had. The client uses one server at a time. Whatever first finds it not
answering (a request, the feed, a log stream) moves every part of the client on to the next
one, round robin; a follower that fails on every server in turn backs off between rounds.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Replica

FAILOVER_STATUSES = frozenset({502, 503, 504})
"""Answers that mean the server (or the proxy before it) cannot serve now: try another one.
Any other answer, a `4xx` above all, is the engine's and would be the same everywhere."""


class Replicas:
    """Base URLs of the servers of one engine, and which one is in use."""

    def __init__(self, urls: Sequence[str]) -> None:
        """Start on the first of `urls`.

        Raises:
            ValueError: `urls` is empty.
        """
        self.urls = tuple(url.rstrip("/") for url in urls)
        if not self.urls:
            raise ValueError("give at least one server URL")
        self.index = 0
        """The position of the server in use."""

    @property
    def count(self) -> int:
        return len(self.urls)

    @property
    def current(self) -> str:
        """The base URL of the server in use."""
        return self.urls[self.index]

    def replica(self, index: int | None = None) -> Replica:
        """The server at `index` (default: the one in use), for a connection status."""
        index = self.index if index is None else index
        return Replica(self.urls[index], index + 1, self.count)

    def failed(self, index: int) -> None:
        """The server at `index` did not answer: use the next one, unless another part of
        the client already moved on (two failures of one server move on once)."""
        if index == self.index:
            self.index = (index + 1) % self.count

    def backoff_step(self, attempt: int, *, moved: bool = True) -> int | None:
        """How long to wait after failed attempt number `attempt` (from 1, counted since the
        follower was last healthy): `None` to try the next server at once, else the backoff
        step to wait for. A follower that `moved` on waits once a full round of servers
        failed; one that stays (the server answered, but not as hoped) waits every time.
        With one server, every attempt is a full round."""
        if moved and attempt % self.count:
            return None
        return -(-attempt // self.count)
