"""Request bodies read with a byte cap while they stream in: nothing past the cap is read or kept."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLargeError(ValueError):
    """The body is larger than its setting allows (the message names the setting)."""

    def __init__(self, setting: str, limit: int) -> None:
        super().__init__(f"The body is larger than {setting}={limit:,} bytes; send less or split it")


async def read_capped(request: Request, limit: int, setting: str) -> bytes:
    """The whole body, or ``BodyTooLargeError`` as soon as its declared or received size passes ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(setting, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(setting, limit)
        chunks.append(chunk)
    return b"".join(chunks)
