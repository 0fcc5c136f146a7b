"""Response compression: the app's gzip settings and middleware, and today's routine compressed once.

Phones always ask for gzip. Today's routine is about 8 KB of JSON that stays the same until
something is logged, and compressing it on every request cost about as much as answering it
(measured: today's routine fell to 0.45 of the bare endpoint's rate once wrk asked for gzip as
a browser does). So that route compresses its own answer, once per distinct body.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
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
    "STATIC_FILES",
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
# The opt key of routes whose answers are files the phone keeps (the app shell). Every byte of the
# shell is downloaded before the app works offline, and the files are the same for every phone:
# each is compressed whole, at zlib's best level, once (not chunk by chunk as it is read), and
# from STATIC_FILE_BYTES on (a third off a small file; MIN_BYTES spares CPU on answers made per
# request). A file larger than STATIC_FILE_BUFFER streams as any answer does.
STATIC_FILES = "static_files"
STATIC_FILE_BYTES = 256
STATIC_FILE_BUFFER = 256 * 1024


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


@lru_cache(maxsize=64)
def _gzipped_file(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=9, mtime=0)


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


def _gzip_etag(send: Send) -> Send:
    """``send``, with a gzipped file's ETag told apart from the plain file's (``"tag"`` -> ``"tag-gz"``).

    Both are answers to the same URL (``Vary: Accept-Encoding``). With one ETag for both, a cache
    holding the gzipped copy may answer a client that asked for the plain one "304, keep yours"
    (or the reverse), and that client goes on with bytes it cannot read.
    """

    async def send_wrapper(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders(message)
            etag = headers.get("etag")
            if etag and etag.endswith('"') and headers.get("content-encoding") == "gzip":
                headers["etag"] = etag[:-1] + '-gz"'
        await send(message)

    return send_wrapper


class LazyCompressionMiddleware(CompressionMiddleware):
    """Litestar's compression middleware, with its compressor made only for an answer it compresses.

    Litestar makes a ``GzipFile`` (zlib's state, about 40 us) for every request whose client takes
    gzip, which every browser does, even when the answer is too small to compress: that cost the
    bare endpoint a quarter of its rate. A whole answer under ``MIN_BYTES`` now passes untouched;
    anything else goes through Litestar's own wrapper as before, except static files (STATIC_FILES).
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
        if handler is not None and handler.opt.get(STATIC_FILES, False):
            send = _gzip_etag(send)
            return self._file_send_wrapper(send, lambda: compressed(send, compression_encoding, scope))
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
                await send(start)
                await send(message)
            else:
                compressing = compressed(send, compression_encoding, scope)
                if start is not None:
                    await compressing(start)
                await compressing(message)

        return send_wrapper

    @staticmethod
    def _file_send_wrapper(send: Send, streaming: Callable[[], Send]) -> Send:
        """A static file's answer, held until whole and sent gzipped in one piece (see STATIC_FILES);
        ``streaming()`` (Litestar's wrapper) takes one too large to hold."""
        start: Message | None = None
        parts: list[bytes] = []
        onward: Send | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal start, onward
            if onward is not None:
                await onward(message)
            elif message["type"] == "http.response.start":
                start = message
            elif start is None or message["type"] != "http.response.body":
                onward = streaming()
                await onward(message)
            else:
                parts.append(message["body"])
                held = sum(map(len, parts))
                if message.get("more_body") and held < STATIC_FILE_BUFFER:
                    return
                body = b"".join(parts)
                if message.get("more_body"):
                    onward = streaming()
                    await onward(start)
                    await onward({**message, "body": body})
                    return
                onward = send
                if held >= STATIC_FILE_BYTES:
                    body = _gzipped_file(body)
                    headers = MutableScopeHeaders(start)
                    headers["Content-Encoding"] = "gzip"
                    headers["Content-Length"] = str(len(body))
                    headers.extend_header_value("vary", "Accept-Encoding")
                await send(start)
                await send({**message, "body": body})

        return send_wrapper
