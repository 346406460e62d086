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
        if not self._head_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse()
                return
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
