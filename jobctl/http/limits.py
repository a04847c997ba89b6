"""Request body limits (size and read time), as plain ASGI so they see every body: declared or chunked."""

from __future__ import annotations

import json
from typing import Any

import anyio

Scope = dict[str, Any]


def error_body(code: str, message: str, hint: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "hint": hint}}).encode()


class BodyLimits:
    """Refuse a request whose body is over `max_bytes` (413) or takes longer than `read_timeout`
    seconds to arrive (408), before any endpoint sees it.

    A Content-Length over the limit is refused without reading. Otherwise the body is read and
    counted as it streams in (a chunked body declares no length), then replayed to the app: the
    limit is small (JOBCTL_HTTP_MAX_BODY, 64 KiB by default), so holding it costs little. The read
    timeout covers the whole body, not each piece: a body shorter than its Content-Length, or one
    trickled a byte at a time, would otherwise hold the connection (and its memory) open forever.
    """

    def __init__(self, app: Any, max_bytes: int, read_timeout: float):
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await self._refuse(
                    send,
                    400,
                    "bad_request",
                    "invalid Content-Length header",
                    "send the body's length in bytes, or no Content-Length with a chunked body",
                )
                return
            if too_big:
                await self._too_large(send)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        with anyio.move_on_after(self.read_timeout) as reading:  # only the reading: answers go out whole
            while more and size <= self.max_bytes:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client went away; nobody to answer
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = message.get("more_body", False)
        if size > self.max_bytes:
            await self._too_large(send)
            return
        if reading.cancelled_caught:
            await self._refuse(
                send,
                408,
                "request_timeout",
                f"the request body did not arrive within {self.read_timeout:g}s",
                "send the whole body (as many bytes as Content-Length says) at once, or raise "
                "JOBCTL_HTTP_READ_TIMEOUT on the server",
            )
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        await self._refuse(
            send,
            413,
            "too_large",
            f"request body is over {self.max_bytes:,} bytes",
            "send less (fewer ids per request), or raise JOBCTL_HTTP_MAX_BODY on the server",
        )

    @staticmethod
    async def _refuse(send: Any, status: int, code: str, message: str, hint: str) -> None:
        payload = error_body(code, message, hint)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
