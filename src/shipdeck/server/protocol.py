"""uvicorn's httptools protocol with bounds on what one connection can hold.

httptools keeps every header byte a client sends until the head ends; without a bound a client
could hold megabytes per connection. Past `MAX_HEAD_BYTES` of head the connection gets a
`431` problem and is closed.

In the other direction, the kernel grows a socket's send buffer up to `tcp_wmem`'s maximum
(4 MiB here) for a client that does not read: an event stream whose client stopped reading
kept being written to — costing a wake-up and a write at every tick, like a live one — until
megabytes had piled up, minutes at dashboard rates. `TCP_NOTSENT_LOWAT` bounds the bytes
accepted but not yet sent, so such a stream's writer pauses after `MAX_UNSENT_BYTES` in the
kernel plus `WRITE_BUFFER_HIGH` in the process, and costs nothing more. Bytes in flight are
not limited, so a reading client on a long link keeps its full throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
"""The most bytes a request line plus headers may take."""

MAX_UNSENT_BYTES = 128 * 1024
"""The most bytes the kernel holds for a client before they are sent (Linux)."""

WRITE_BUFFER_HIGH = 16 * 1024
"""Bytes the transport buffers beyond the kernel's before a response's writer pauses."""


def _refusal() -> bytes:
    body = json.dumps(
        {
            "type": "https://deployment-dashboard/errors/header-fields-too-large",
            "title": "Request header fields too large",
            "status": 431,
            "detail": f"the request line and headers are over {MAX_HEAD_BYTES} bytes",
        }
    ).encode()
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/problem+json\r\nconnection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Counts the bytes of each request head; refuses one over the bound before the app runs.

    Two counts, because httptools reports a header only once it is complete: the bytes of
    chunks that leave the head open (a huge single header), and the sizes of the URL and the
    headers reported (many small ones). Either over the bound: `431`, and the connection
    closes without the request reaching the application.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_chunks = 0
        self._head_fields = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        option = getattr(socket, "TCP_NOTSENT_LOWAT", None)
        if sock is not None and option is not None:
            # Not TCP (a Unix socket): its buffer does not grow, so nothing to bound.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, option, MAX_UNSENT_BYTES)
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        super().connection_made(transport)

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_chunks = self._head_fields = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_fields += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_fields += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_fields > MAX_HEAD_BYTES or self._head_chunks > MAX_HEAD_BYTES:
            self._refuse()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        in_head = self._in_head
        super().data_received(data)
        if in_head and self._in_head and not self._refused:  # the whole chunk was head
            self._head_chunks += len(data)
            if self._head_chunks > MAX_HEAD_BYTES:
                self._refuse()

    def _refuse(self) -> None:
        self._refused = True
        if not self.transport.is_closing():
            self.transport.write(_refusal())
            self.transport.close()
