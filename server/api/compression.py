"""Response compression: the app's gzip settings and middleware, and today's routine compressed once.

Phones always ask for gzip. Today's routine is about 8 KB of JSON that stays the same until
something is logged, and compressing it on every request cost about as much as answering it
(measured: today's routine fell to 0.45 of the bare endpoint's rate once wrk asked for gzip as
a browser does). So that route compresses its own answer, once per distinct body.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from typing import Literal

from litestar import MediaType, Request, Response
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.enums import CompressionEncoding
from litestar.middleware.compression import CompressionMiddleware
from litestar.types import Message, Scope, Send

__all__ = [
    "GZIP_LEVEL",
    "MIN_BYTES",
    "SELF_COMPRESSED",
    "SMALL_FILES",
    "LazyCompressionMiddleware",
    "json_answer",
    "takes_gzip",
]

# Level 6 (zlib's own default) compresses nearly as well as 9 for a fraction of the CPU.
GZIP_LEVEL = 6
# Smaller answers gain too little to be worth the work.
MIN_BYTES = 1024
# The opt key by which a route tells the middleware it compresses its own answers.
SELF_COMPRESSED = "self_compressed"
# The opt key of routes whose answers are files the phone keeps (the app shell): compressed from
# SMALL_FILE_BYTES on, once each, since they are the same for every phone and every byte of the
# shell is downloaded before the app works offline (a third of a small file, against MIN_BYTES's
# CPU saving for answers made per request).
SMALL_FILES = "compress_small_files"
SMALL_FILE_BYTES = 256


@lru_cache(maxsize=64)
def takes_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header names gzip without refusing it (``gzip;q=0``, RFC 9110)."""
    # Litestar's middleware only looks for "gzip" in the text; a client saying q=0 must get none.
    for coding in accept_encoding.lower().split(","):
        name, *params = (part.strip() for part in coding.split(";"))
        if name in ("gzip", "x-gzip"):
            for param in params:
                key, _, value = param.partition("=")
                if key.strip() == "q":
                    try:
                        return float(value) > 0
                    except ValueError:
                        return False  # a weight that is not one: not an acceptance either
            return True
    return False


@lru_cache(maxsize=512)
def _gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


def json_answer(request: Request, body: bytes) -> Response[bytes]:
    """Encoded JSON, gzip-compressed when the client takes it (the same body is compressed once)."""
    # The same test as the middleware's, so every route answers the same client alike.
    if len(body) >= MIN_BYTES and takes_gzip(request.headers.get("accept-encoding", "")):
        return Response(
            _gzipped(body),
            media_type=MediaType.JSON,
            headers={"content-encoding": "gzip", "vary": "Accept-Encoding"},
        )
    return Response(body, media_type=MediaType.JSON, headers={"vary": "Accept-Encoding"})


class LazyCompressionMiddleware(CompressionMiddleware):
    """Litestar's compression middleware, with its compressor made only for an answer it compresses.

    Litestar makes a ``GzipFile`` (zlib's state, about 40 us) for every request whose client takes
    gzip, which every browser does, even when the answer is too small to compress: that cost the
    bare endpoint a quarter of its rate. A whole answer under ``MIN_BYTES`` now passes untouched;
    anything else goes through Litestar's own wrapper as before.
    """

    def create_compression_send_wrapper(
        self,
        send: Send,
        compression_encoding: Literal[CompressionEncoding.BROTLI, CompressionEncoding.GZIP] | str,
        scope: Scope,
    ) -> Send:
        if not takes_gzip(Headers.from_scope(scope).get("accept-encoding", "")):
            return send  # named, but refused (gzip;q=0)
        compressed = super().create_compression_send_wrapper  # called only for an answer worth it
        handler = scope.get("route_handler")
        small_files = handler is not None and handler.opt.get(SMALL_FILES, False)
        start: Message | None = None
        compressing: Send | None = None  # where messages go once the answer's fate is known

        async def send_wrapper(message: Message) -> None:
            nonlocal start, compressing
            if compressing is not None:
                await compressing(message)
            elif message["type"] == "http.response.start":
                start = message
            elif (
                start is not None
                and message["type"] == "http.response.body"
                and not message.get("more_body")
                and len(message["body"]) < self.config.minimum_size
            ):
                compressing = send  # anything after a whole answer passes as it is
                if small_files and len(message["body"]) >= SMALL_FILE_BYTES:
                    body = _gzipped(message["body"])
                    headers = MutableScopeHeaders(start)
                    headers["Content-Encoding"] = "gzip"
                    headers["Content-Length"] = str(len(body))
                    headers.extend_header_value("vary", "Accept-Encoding")
                    message = {**message, "body": body}
                await send(start)
                await send(message)
            else:
                compressing = compressed(send, compression_encoding, scope)
                if start is not None:
                    await compressing(start)
                await compressing(message)

        return send_wrapper
