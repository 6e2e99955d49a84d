"""uvicorn's httptools protocol with a bound on the request head.

httptools keeps every header byte a client sends until the head ends; without a bound a client
could hold megabytes per connection. Past `MAX_HEAD_BYTES` of head the connection gets a
`431` problem and is closed.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
"""The most bytes a request line plus headers may take."""


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
