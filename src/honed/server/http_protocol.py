"""uvicorn's httptools protocol with a cap on a request's head (request line and headers).

httptools buffers a header of any size: an 8 MB header on an unauthenticated request was
read in full. The head's bytes are counted as they arrive, before the parser buffers them;
past MAX_HEAD_BYTES the connection gets a 431 in SigOpt's error shape and is closed.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024


class LimitedHeadProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_done = False
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        # One read can hold a head and a large body (a 2,500-observation batch arrives in one
        # 256 KiB read on loopback): the parser gets at most the head's remaining allowance
        # until it says the head is complete, and only the head's bytes count against it.
        while data and not self._head_done:
            allowed = MAX_HEAD_BYTES - self._head_bytes
            if allowed <= 0:
                self._refuse()
                return
            chunk, data = data[:allowed], data[allowed:]
            self._head_bytes += len(chunk)
            super().data_received(chunk)
            if self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next request on this connection starts a new head.
        self._head_done = False
        self._head_bytes = 0

    def _refuse(self) -> None:
        message = f"Request line and headers larger than {MAX_HEAD_BYTES} bytes"
        body = json.dumps({"message": message, "status": 431}).encode()
        head = (
            "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()
