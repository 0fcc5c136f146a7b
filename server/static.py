"""The patient app's and the console's files, as the browser gets them.

The files in ``pwa/`` are the source: commented, readable, run as they are with no build step.
What is served has the JavaScript and CSS minified (comments and spaces taken out by rjsmin
and rcssmin), made from the file on its first request and again whenever the file changes.
The comments are a third of the app's weight, and a patient's phone may be old, on a weak
signal, and precaching the whole app shell before it works offline.
"""

from __future__ import annotations

import errno
import urllib.parse
from pathlib import Path
from typing import Any

import anyio
import rcssmin
import rjsmin
from litestar import head
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.exceptions import NotFoundException
from litestar.file_system import BaseLocalFileSystem
from litestar.handlers.base import BaseRouteHandler
from litestar.response.file import ASGIFileResponse
from litestar.router import Router
from litestar.static_files import StaticFiles, create_static_files_router
from litestar.types import ASGIApp, Message, PathType, Receive, Scope, Send

from server.api.compression import STATIC_FILES

__all__ = ["MinifiedFiles", "fragment_in_path_redirect", "minified", "not_modified", "pwa_router"]

_MINIFIERS = {".js": rjsmin.jsmin, ".css": rcssmin.cssmin}
# What the file system answers for a path that cannot name a file (see MinifiedFiles.info).
_NO_SUCH_NAME = {errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP}


def minified(path: Path, source: bytes) -> bytes:
    """``source`` (the file at ``path``) as it is served: minified if it is JavaScript or CSS."""
    minify = _MINIFIERS.get(path.suffix)
    return minify(source.decode()).encode() if minify else source


class _Body:
    """What ``open`` gives Litestar's file response for a minified file: bytes read from memory."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    async def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._at + size
        chunk = self._data[self._at : end]
        self._at += len(chunk)
        return chunk

    async def __aenter__(self) -> _Body:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class MinifiedFiles(BaseLocalFileSystem):
    """The local file system, with each JavaScript and CSS file read as its minified form.

    Its size (Content-Length) and so its ETag are the minified form's. One form is kept per
    file, made again when the file's modification time or size changes (a deployment).
    """

    def __init__(self) -> None:
        self._made: dict[str, tuple[tuple[float, int], bytes]] = {}

    async def _minified(self, path: PathType, info: Any) -> bytes:
        stamp = (info["mtime"], info["size"])
        made = self._made.get(str(path))
        if made is None or made[0] != stamp:
            made = (stamp, minified(Path(path), await anyio.Path(path).read_bytes()))
            self._made[str(path)] = made
        return made[1]

    async def info(self, path: PathType, **kwargs: Any) -> Any:
        """The file's information, with the size of what is served.

        A path no file can have is a file that is not there (404), not a server error: a NUL byte
        (``/x%00``), a name longer than the file system allows, a file taken for a folder
        (``/index.html/x``), as scanners send by the thousand.
        """
        try:
            info = await super().info(path, **kwargs)
        except ValueError as exc:  # "embedded null byte"
            raise FileNotFoundError(path) from exc
        except OSError as exc:
            if exc.errno not in _NO_SUCH_NAME:
                raise
            raise FileNotFoundError(path) from exc
        if info["type"] == "file" and Path(path).suffix in _MINIFIERS:
            info = {**info, "size": len(await self._minified(path, info))}
        return info

    async def open(self, file: PathType, mode: str, buffering: int = -1) -> Any:
        """The file to read: its minified form, from memory, for JavaScript and CSS."""
        if Path(file).suffix not in _MINIFIERS:
            return await super().open(file, mode, buffering)
        # The form ``info`` just measured, not the file read again: the body must be as long as
        # the Content-Length already sent, even if the file changed in between.
        made = self._made.get(str(file))
        return _Body(made[1] if made else await self._minified(file, await super().info(file)))


# What a 304 carries of the 200 it stands for (RFC 9110 15.4.5): the browser keeps its copy's other headers.
_KEPT_ON_304 = {b"etag", b"cache-control", b"vary", b"last-modified", b"content-location", b"expires"}


def _tags(value: str) -> set[str]:
    """The entity tags an If-None-Match names, compared weakly (a W/ prefix ignored, RFC 9110 13.1.2)."""
    return {tag.strip().removeprefix("W/") for tag in value.split(",") if tag.strip()}


def not_modified(app: ASGIApp) -> ASGIApp:
    """Answer 304, with no body, to a GET or HEAD whose If-None-Match names the file's ETag.

    The app's files are sent with ``Cache-Control: no-cache`` (server/app.py): the browser asks
    each time whether a file changed. Litestar's static files carry an ETag but never answered
    such a question with a 304, so every check downloaded the whole file again: the service
    worker's update check (sw.js and the core.js it imports, on every start of the app), and
    every file of a page no worker serves yet. On a weak signal that is time and data for nothing.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        wanted = Headers.from_scope(scope).get("if-none-match") if scope.get("method") in ("GET", "HEAD") else None
        if not wanted:
            await app(scope, receive, send)
            return
        tags = _tags(wanted)
        answered = False

        async def send_wrapper(message: Message) -> None:
            nonlocal answered
            if answered:
                return  # the body of the 200 the 304 stands for
            if message["type"] == "http.response.start" and message["status"] == 200:
                etag = MutableScopeHeaders(message).get("etag")
                if etag and ("*" in tags or etag.removeprefix("W/") in tags):
                    answered = True
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() in _KEPT_ON_304]
                    await send({"type": "http.response.start", "status": 304, "headers": headers})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
            await send(message)

        await app(scope, receive, send_wrapper)

    return middleware


def fragment_in_path_redirect(app: ASGIApp) -> ASGIApp:
    """Answers a link whose ``#`` a link rewriter (a mail or chat service) turned into ``%23``,
    ``https://clinic/%23join=CODE``, with a redirect to ``/#join=CODE``: the patient's invite link
    works instead of showing a JSON 404. The code never reaches the server's logs (see
    ``loggable_path``)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/#"):
            await app(scope, receive, send)
            return
        # Characters a fragment may hold are kept; anything else (a line break, non-ASCII) is
        # %-encoded again, so the Location header holds only what a header may.
        fragment = urllib.parse.quote(path[2:], safe="!$&'()*+,;=:@/?-._~%")
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [
                    (b"location", f"/#{fragment}".encode("ascii")),
                    (b"cache-control", b"no-store"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    return middleware


def _app_files_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The PWA's folder also holds notes for its developers (README.md); the app never asks for them."""
    if connection.url.path.lower().endswith(".md"):
        raise NotFoundException()


def pwa_router(pwa_dir: str) -> Router:
    """The patient app at ``/`` and the console at ``/console/``, from ``pwa_dir``."""
    file_system = MinifiedFiles()
    router = create_static_files_router(
        path="/",
        directories=[pwa_dir],
        file_system=file_system,
        html_mode=True,
        name="pwa",
        # Static files carry no identity: skip the lookup.
        opt={"exclude_from_auth": True, STATIC_FILES: True},
        guards=[_app_files_only],
        middleware=[not_modified],
    )
    # Litestar's html mode answers GET / but not HEAD / (405), which uptime monitors send.
    index = StaticFiles(is_html_mode=True, directories=[pwa_dir], file_system=file_system)

    @head("/", name="pwa/index-head")
    async def index_head() -> ASGIFileResponse:
        return await index.handle(path="/", is_head_response=True)

    router.register(index_head)
    return router
