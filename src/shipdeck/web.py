"""The web server of `shipdeck web`: `textual-serve`, with shipdeck's guard and banner."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

from .engine.keys import local_user

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether `host` is a name or address of this machine's loopback interface."""
    bare = host.strip("[]")
    if bare in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def origin_allowed(origin: str, host_header: str, port: int, loopback: bool) -> bool:
    """Whether a WebSocket from a page of `origin` may drive a session: a page this server
    served (on loopback: any loopback name of this port, asked for by a loopback name —
    which also defeats DNS rebinding; otherwise: the host the browser asked for)."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or parts.hostname is None:
        return False
    origin_port = parts.port or (443 if parts.scheme == "https" else 80)
    if loopback:
        asked = urlsplit(f"http://{host_header}").hostname
        return origin_port == port and is_loopback(parts.hostname) and is_loopback(asked or "")
    return parts.netloc == host_header


class DashboardServer(Server):
    """`textual-serve`'s server: each browser tab runs `command` behind a WebSocket."""

    def __init__(self, command: str, *, host: str, port: int, target: str) -> None:
        shown = f"[{host}]" if ":" in host else host
        super().__init__(
            command, host=host, port=port, title="shipdeck", public_url=f"http://{shown}:{port}"
        )
        self.target = target
        self.loopback = is_loopback(host)

    def banner(self, *, remote: bool) -> str:
        """What the server says when it starts: where, and who acts."""
        who = f"whoever opens it acts as {local_user()} on {self.target}"
        if remote:
            return (
                f"shipdeck web: serving the dashboard on {self.public_url} to the network "
                f"(--allow-remote): {who}. Ctrl+C stops it."
            )
        return (
            f"shipdeck web: serving the dashboard on {self.public_url} — this machine only "
            f"(loopback); {who}. Ctrl+C stops it."
        )

    async def on_startup(self, app: web.Application) -> None:
        """Nothing more to print (the banner said it)."""

    async def handle_websocket(self, request: web.Request) -> Any:
        """Refuse a WebSocket opened by a page this server did not serve."""
        origin = request.headers.get("Origin")
        if origin is not None and not origin_allowed(
            origin, request.host, self.port, self.loopback
        ):
            raise web.HTTPForbidden(text="this dashboard only answers its own pages")
        return await super().handle_websocket(request)


__all__ = ["DashboardServer", "is_loopback", "origin_allowed"]
