"""The web server of `shipdeck web`: `textual-serve`, with shipdeck's guards and banner.

Whoever drives a session acts as this machine's user, with their key and role, so a session
is given only to a page of this server opened with the server's secret:

- a random token, made at start and printed in the banner's URL (`/?token=…`, as Jupyter
  does), is required on the page and on its WebSocket, compared in constant time: another
  user of the same machine can reach the loopback port but cannot read the token;
- the WebSocket must come from a page (an `Origin`, which scripts outside a browser need not
  send but browsers always do) of the host the request was sent to, which defeats other
  sites open in the same browser and, on loopback, DNS rebinding.

The page's URLs (static files, WebSocket) are built from the request's `Host`, never from
the address the server is bound to, so the dashboard works wherever the browser reached it:
`--host 0.0.0.0 --allow-remote` from another machine, or through `ssh -L 9000:localhost:8000`.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

from .engine.keys import local_user

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
TOKEN_PARAM = "token"  # noqa: S105  # the query parameter's name, not a secret
WITHOUT_ITS_KEY = (
    "this dashboard needs its token: open the address `shipdeck web` printed when it "
    "started (…/?token=…)"
)
FOREIGN_PAGE = "this dashboard only answers its own pages"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    """Whether `host` is a name or address of this machine's loopback interface."""
    bare = host.strip("[]")
    if bare in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def _host_and_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    """`host:port` (as in a `Host` header or an origin) split, the scheme's port by default;
    `None` when it is not one."""
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:  # a port that is no number, a broken IPv6 literal
        return None
    if not parts.hostname or parts.username is not None or parts.path:
        return None
    return parts.hostname, port or _DEFAULT_PORTS.get(scheme, 80)


def origin_allowed(origin: str, host_header: str, loopback: bool) -> bool:
    """Whether a WebSocket from a page of `origin` may drive a session: a page of the host
    the request was sent to (`Host`), whatever port the browser reached the server on (a
    tunnel's, a proxy's). On a loopback server both must be loopback names (any of them:
    `localhost` and `127.0.0.1` are the same page), which also defeats DNS rebinding."""
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORTS:
        return False
    page = _host_and_port(parts.netloc, parts.scheme)
    asked = _host_and_port(host_header, parts.scheme)
    if page is None or asked is None or page[1] != asked[1]:
        return False
    if loopback:
        return is_loopback(page[0]) and is_loopback(asked[0])
    return page[0].lower() == asked[0].lower()


class DashboardServer(Server):
    """`textual-serve`'s server: each browser tab runs `command` behind a WebSocket."""

    def __init__(
        self, command: str, *, host: str, port: int, target: str, token: str | None = None
    ) -> None:
        """Serve `command` on `host`:`port`; `target` is what the sessions show (for the
        banner); `token` the page's secret (default: a new random one)."""
        shown = f"[{host}]" if ":" in host else host
        super().__init__(
            command, host=host, port=port, title="shipdeck", public_url=f"http://{shown}:{port}"
        )
        self.target = target
        self.loopback = is_loopback(host)
        self.token = token or secrets.token_urlsafe(24)
        """What the page and its WebSocket must carry."""

    @property
    def open_url(self) -> str:
        """The address to open, token included (a name of this machine when it listens on
        every interface: `0.0.0.0` is nowhere to go)."""
        base = self.public_url
        if self.host in ("0.0.0.0", "::", ""):  # noqa: S104  # telling, not binding
            base = f"http://{socket.gethostname()}:{self.port}"
        return f"{base}/?{TOKEN_PARAM}={self.token}"

    def banner(self, *, remote: bool) -> str:
        """What the server says when it starts: where, and who acts."""
        who = f"whoever opens it acts as {local_user()} on {self.target}"
        if remote:
            return (
                f"shipdeck web: serving the dashboard on {self.open_url} to the network "
                f"(--allow-remote): {who}. Ctrl+C stops it."
            )
        return (
            f"shipdeck web: serving the dashboard on {self.open_url} — this machine only "
            f"(loopback); {who}. Ctrl+C stops it."
        )

    async def on_startup(self, app: web.Application) -> None:
        """Nothing more to print (the banner said it)."""

    async def _make_app(self) -> web.Application:
        # textual-serve's page script opens `<its WebSocket URL>?width=…&height=…`, so a
        # token in that URL's query would be cut off: the page's WebSocket carries it in
        # its path instead. (`/ws`, textual-serve's own route, stays, and is refused.)
        app = await super()._make_app()
        app.router.add_get("/ws/{token}", self.handle_websocket, name="session")
        return app

    def _has_token(self, given: str | None) -> bool:
        if given is None:
            return False
        return secrets.compare_digest(given.encode(), self.token.encode())

    def _check_host(self, request: web.Request) -> str:
        """The request's `Host`, if it is one this server answers (on loopback: a loopback
        name, against DNS rebinding); else a `403`."""
        asked = _host_and_port(request.host, request.scheme)
        if asked is None or (self.loopback and not is_loopback(asked[0])):
            raise web.HTTPForbidden(text=FOREIGN_PAGE)
        return request.host

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """textual-serve's page, for a request with the token; its URLs on the host the
        browser asked for."""
        host = self._check_host(request)
        if not self._has_token(request.query.get(TOKEN_PARAM)):
            raise web.HTTPForbidden(text=WITHOUT_ITS_KEY)
        secure = request.scheme == "https"
        socket_url = f"{'wss' if secure else 'ws'}://{host}/ws/{quote(self.token, safe='')}"
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": socket_url,
            "config": {"static": {"url": f"{request.scheme}://{host}/static/"}},
            "application": {"name": self.title},
        }

    async def handle_websocket(self, request: web.Request) -> Any:
        """Refuse a WebSocket that does not come from a page of this server with its token."""
        origin = request.headers.get("Origin")
        if origin is None or not origin_allowed(origin, request.host, self.loopback):
            raise web.HTTPForbidden(text=FOREIGN_PAGE)
        if not self._has_token(request.match_info.get("token")):
            raise web.HTTPForbidden(text=WITHOUT_ITS_KEY)
        return await super().handle_websocket(request)


__all__ = ["DashboardServer", "is_loopback", "origin_allowed"]
