"""Read a request body without ever holding more than the configured limit.

A declared ``Content-Length`` over the limit is refused before a byte is read;
a body without one (chunked) is counted while it streams and refused the
moment it passes the limit. A sender that hangs up mid-body is a refusal
like any other, not a server error.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from listeners.rejections import MalformedError, TooLargeError


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise MalformedError("header 'content-length' is not a number")
        if int(declared) > limit:
            raise TooLargeError(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLargeError(f"body is over the {limit}-byte limit")
            chunks.append(chunk)
    except ClientDisconnect:
        raise MalformedError("the sender disconnected before the body was complete") from None
    return b"".join(chunks)
