"""The listener of the PostgreSQL backend: `LISTEN`s for what other replicas commit, and
holds the housekeeping lock while it can (one replica at a time does housekeeping)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from .text import CONNECT_TIMEOUT_S, describe

log = logging.getLogger(__name__)

CHANNELS = ("shipdeck_events", "shipdeck_logs", "shipdeck_keys")
"""`NOTIFY` channels: new events (payload: the new head), new log lines (payload: the
deployment), key changes."""
TOPICS = {"shipdeck_events": "events", "shipdeck_logs": "logs", "shipdeck_keys": "keys"}
HOUSEKEEPING_LOCK = 0x5D1B_DEC0
"""The advisory lock held by the one replica that does housekeeping."""

Watcher = Callable[[str, str], None]
"""Told `(topic, detail)`: `events` (the new head), `logs` (a deployment) or `keys`."""


class Listener(threading.Thread):
    """`LISTEN`s for other replicas' commits and holds the housekeeping lock if it can.

    On its own connection. Each time it is listening (first, and again after losing the
    connection to a restart of PostgreSQL) it tells the watcher about every topic with
    detail `""`: notices sent before its `LISTEN` took effect are not delivered, and the
    watcher's last read may be older than that (an engine reads its head before the
    listener has connected).
    """

    def __init__(
        self,
        conninfo: str,
        url: str,
        callback: Watcher | None,
        own: Callable[[str, str], bool],
    ) -> None:
        super().__init__(name="shipdeck-listener", daemon=True)
        self._conninfo = conninfo
        self._url = url
        self.callback = callback
        self._own = own
        self._stopping = threading.Event()
        self.leading = False
        self._conn: psycopg.Connection[Any] | None = None

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)

    def tell(self, topic: str, detail: str) -> None:
        if self.callback is not None:
            try:
                self.callback(topic, detail)
            except Exception:  # the watcher's problem must not end listening
                log.exception("a store watcher failed")

    def tell_all(self) -> None:
        """Tell the watcher to read every topic (detail `""`): notices may have been missed."""
        for topic in TOPICS.values():
            self.tell(topic, "")

    def run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                ) as conn:
                    for channel in CHANNELS:
                        conn.execute(f"LISTEN {channel}")
                    self.tell_all()  # what was committed before, unheard
                    delay = 0.1
                    self._listen(conn)
            except psycopg.Error as exc:
                if self.leading:
                    log.warning("lost the housekeeping lock: %s", describe(exc, self._url))
                self.leading = False
                self._stopping.wait(delay)
                delay = min(delay * 2, 2.0)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stopping.is_set():
            if not self.leading:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (HOUSEKEEPING_LOCK,))
                self.leading = bool((row.fetchone() or (False,))[0])
            else:
                conn.execute("SELECT 1")  # notices a dead connection within a round
            # Told at once; the watcher coalesces (one read of the event table however
            # many notices arrive before it runs).
            for notice in conn.notifies(timeout=0.5):
                # Not this process's own commits: their callers publish them. (Without
                # this, the notice overtook the commit's answer more often than not, and
                # the engine read back what it was about to publish: a read per commit.)
                if not self._own(notice.channel, notice.payload):
                    self.tell(TOPICS.get(notice.channel, notice.channel), notice.payload)
