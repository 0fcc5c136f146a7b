"""``create_app(settings)``: wiring only, nothing happens at import time."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from granian.utils.proxies import wrap_asgi_with_proxy_headers
from litestar import Litestar, Response, get
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import Message, Middleware, Scope
from msgspec import Struct

from server import push
from server.api.adherence import AdherenceController
from server.api.auth import AuthController
from server.api.catalog import CatalogController
from server.api.compression import GZIP_LEVEL, MIN_BYTES, SELF_COMPRESSED, LazyCompressionMiddleware
from server.api.deps import DatabaseDep, Services
from server.api.errors import exception_handlers, loggable_path
from server.api.hosts import KnownHosts
from server.api.openapi import COMPONENTS, CachedJsonRenderPlugin, CachedYamlRenderPlugin, document_routes
from server.api.patient import JoinController, PatientController
from server.api.patients import PatientsController
from server.api.plans import PlansController, ProgramsController
from server.api.records import RecordsController
from server.api.reminders import PatientRemindersController, PushKeyController, TherapistRemindersController
from server.api.request import JSONRequest
from server.auth.identity import AuthMiddleware
from server.catalog import Catalog, load_catalog
from server.clock import Clock
from server.db import open_database
from server.db.connection import LOW_SPACE_BYTES, Database, DatabaseUnavailable
from server.db.content import ContentMissingError, content_in_use, missing_content
from server.db.migrate import migrate
from server.settings import Settings
from server.static import fragment_in_path_redirect, pwa_router

__all__ = ["create_app"]

VERSION = "0.1.0"

log = logging.getLogger("unknot")


class Health(Struct, frozen=True, omit_defaults=True):
    """Service health: ``status`` is ``ok``; or, with 503 and a ``reason``, ``disk_full`` (since when)
    or ``database_unavailable`` (the server's log says why; no schema version then)."""

    status: str
    version: str
    schema_version: int | None = None
    reason: str | None = None


@get(
    "/api/v1/health",
    tags=["public"],
    summary="Health check",
    opt={"public": True},
    responses={
        503: ResponseSpec(
            Health,
            description="The disk that holds the database is full: writes are refused (status `disk_full`, "
            "`reason` says since when) until space is freed (SQLite: 1 MiB free again) or a write succeeds; "
            "or the database cannot be reached (status `database_unavailable`)",
            generate_examples=False,
        )
    },
)
async def health(db: DatabaseDep) -> Response[Health]:
    try:
        row = await db.fetch_one("SELECT max(version) AS v FROM schema_version")
    except DatabaseUnavailable as exc:
        # The reason names the database server: for the log, not for whoever asks.
        log.error("health: cannot reach the database: %s", exc)
        reason = "the database cannot be reached; the server's log says why"
        return Response(Health("database_unavailable", VERSION, None, reason), status_code=HTTP_503_SERVICE_UNAVAILABLE)
    version = row["v"] if row else 0
    # Reads still work, so the app looks fine; but nothing a phone or a therapist sends can be kept.
    if (since := db.full_since()) is not None:
        reason = (
            f"the disk that holds the database is full: writes are refused since "
            f"{since.isoformat(timespec='seconds')}; free space on it"
        )
    elif (free := db.space_left()) is not None and free < LOW_SPACE_BYTES:
        # Before any write is refused, and in a process that has not tried one (each has its own note).
        reason = f"the disk that holds the database is full ({free // 1024} KiB free); free space on it"
    else:
        return Response(Health("ok", VERSION, version))
    return Response(Health("disk_full", VERSION, version, reason), status_code=HTTP_503_SERVICE_UNAVAILABLE)


class Ping(Struct, frozen=True):
    """Liveness without touching the database."""

    ok: bool


@get("/api/v1/ping", tags=["public"], summary="Liveness (no database)", opt={"public": True})
async def ping() -> Ping:
    return Ping(True)


def _security_headers(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; manifest-src 'self'; worker-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
        # No other site's page may load an answer into itself (an <img> or <script> of an API URL,
        # read through a side channel such as Spectre); the app's own pages, worker, icons and
        # manifest are all same-origin.
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]
    if settings.env == "production":
        headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        existing = {name.lower() for name, _ in message.get("headers", [])}
        extra = [(n, v) for n, v in headers if n not in existing]
        if scope["path"].startswith("/api/"):
            # Personal data must not linger in shared caches or the browser's disk cache.
            if b"cache-control" not in existing:
                extra.append((b"cache-control", b"no-store"))
        elif b"cache-control" not in existing:
            # The patient app's and the console's files (the worker included): the browser asks each
            # time whether they changed (ETag), so a page or worker never runs files of an older
            # version. Without it a browser keeps a file it thinks fresh for a tenth of the time since
            # it last changed (heuristic freshness): days, after an upgrade, of a console mixing old
            # modules with new ones and asking the new API in the old way.
            extra.append((b"cache-control", b"no-cache"))
        message["headers"] = [*message.get("headers", []), *extra]

    return before_send


def _access_log() -> Callable[[Message, Scope], Awaitable[None]]:
    """One line per request as its answer starts: method, path and status.

    A hook on what is sent, not a middleware: an answer made from an exception raised in a
    middleware (a removed device's token) is sent outside every middleware. Nothing else is
    logged: bodies, query strings, headers and cookies may hold health data or secrets
    (tests/test_secrets_in_logs.py searches the log for them).
    """
    logger = logging.getLogger("unknot.access")

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            logger.info("%s %s %s", scope["method"], loggable_path(scope), message["status"])

    return before_send


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Litestar:
    """Build the Unknot app for ``settings`` (read from the environment when omitted)."""
    # Python 3.11 maps .js to application/javascript; the web platform's name is text/javascript.
    mimetypes.add_type("text/javascript", ".js")
    mimetypes.add_type("text/javascript", ".mjs")
    mimetypes.add_type("application/manifest+json", ".webmanifest")
    settings = settings or Settings.from_env()
    clock = clock or Clock()
    catalog = load_catalog(Path(settings.plans_dir))
    db = open_database(settings)
    level = settings.log_level.upper()
    hosts = settings.host_headers
    middleware: list[Middleware] = [fragment_in_path_redirect, DefineMiddleware(AuthMiddleware)]
    if hosts != ["*"]:
        # First: a request for another site's name is refused before anything looks at who sent it.
        middleware.insert(0, DefineMiddleware(KnownHosts, config=AllowedHostsConfig(allowed_hosts=hosts)))
    if settings.trusted_proxies:
        # Behind a proxy every request comes from the proxy. The header is believed only from a
        # trusted one (anyone can send it), and the client is the last address no trusted proxy added.
        middleware.insert(0, partial(wrap_asgi_with_proxy_headers, trusted_hosts=settings.trusted_proxies))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.connect()
        try:
            await migrate(db)
            # A content update must not take away what stored plans use: refuse to serve instead of
            # failing on the patients who have it (`unknot serve` says so before any worker starts).
            if problem := missing_content(catalog, await content_in_use(db)):
                raise ContentMissingError(f"{settings.plans_dir}: {problem}")
            async with push.running(settings, db, catalog, clock) as scheduler:
                app.state.push = scheduler
                yield
        finally:
            await db.close()

    def provide(value: object) -> Provide:
        return Provide(lambda: value, sync_to_thread=False, use_cache=True)

    app = Litestar(
        request_class=JSONRequest,
        route_handlers=[
            health,
            ping,
            CatalogController,
            AuthController,
            PatientsController,
            ProgramsController,
            PlansController,
            AdherenceController,
            JoinController,
            PatientController,
            PushKeyController,
            PatientRemindersController,
            TherapistRemindersController,
            RecordsController,
            pwa_router(settings.pwa_dir),
        ],
        dependencies={
            "catalog": provide(catalog),
            "db": provide(db),
            "settings": provide(settings),
            "clock": provide(clock),
            "services": provide(Services(db, catalog, clock, settings)),
        },
        middleware=middleware,
        logging_config=LoggingConfig(
            loggers={"unknot": {"level": level, "handlers": ["queue_listener"], "propagate": False}},
            # Unhandled errors are logged once, without request data, by the 500 handler.
            log_exceptions="never",
        ),
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        before_send=[_security_headers(settings), *([_access_log()] if settings.access_log else [])],
        request_max_body_size=settings.max_body_bytes,
        # The patient's phone may be on a weak signal: the app shell and JSON compress 3-5x.
        compression_config=CompressionConfig(
            backend="gzip",
            minimum_size=MIN_BYTES,
            gzip_compress_level=GZIP_LEVEL,
            exclude_opt_key=SELF_COMPRESSED,
            middleware_class=LazyCompressionMiddleware,
        ),
        state=State({"settings": settings, "catalog": catalog, "db": db, "clock": clock}),
        openapi_config=OpenAPIConfig(
            title="Unknot",
            version=VERSION,
            description="Home programs for patients after dry needling.",
            path="/schema",
            render_plugins=[CachedJsonRenderPlugin(), CachedYamlRenderPlugin()],
            components=COMPONENTS,
        ),
        signature_types=[Catalog, Clock, Database, Services, Settings],
    )
    document_routes(app)
    return app
