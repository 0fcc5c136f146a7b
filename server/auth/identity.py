"""Who is asking: a therapist (session cookie) or a patient's device (bearer token).

The middleware only identifies; the guards decide. Every route under /api/ states
its audience with a guard, or says it is public.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import urllib.parse
from collections.abc import Awaitable

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from msgspec import Struct

from server.api.errors import DeviceRefused
from server.auth.secrets import hash_token
from server.clock import Clock, iso, parse_iso
from server.db import patients, therapists
from server.db.connection import Database, DatabaseBusy
from server.db.patients import PatientIdentity
from server.db.therapists import Therapist
from server.settings import Settings

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "WITH_PLAN_DAYS",
    "AuthMiddleware",
    "TherapistUser",
    "client_address",
    "csrf_for",
    "patient_guard",
    "refuse_cross_site",
    "same_site_guard",
    "therapist_guard",
]

SESSION_COOKIE = "unknot_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Proxies this process has warned about (see _untrusted_proxy): once each.
_WARNED_PROXIES: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
log = logging.getLogger("unknot")
# The opt key of a patient route that reads the active plan's day: the identity brings it along
# where that saves a round trip (PostgreSQL; see patients.identity_for_token).
WITH_PLAN_DAYS = "with_plan_days"
# Writing last_seen on every request would turn reads into writes; once in a while is enough. A
# device then expires (UNKNOT_DEVICE_IDLE_DAYS) up to this long after its last use.
_TOUCH_EVERY = dt.timedelta(minutes=10)
# A console session's last use, which an idle session ends by, is read from the database on every
# request (several app processes share the sessions), but written at most once a minute: a write on
# every request would turn each of the console's reads into a write and queue them behind SQLite's
# one writer. The idle limit is then kept to the minute, a session ending up to a minute early.
_SESSION_TOUCH_EVERY = dt.timedelta(minutes=1)


class TherapistUser(Struct, frozen=True):
    """A signed-in therapist, with the session's CSRF token and when it ends however much it is
    used (ISO)."""

    therapist: Therapist
    session_hash: str
    csrf: str
    session_expires_at: str


def csrf_for(session_token: str) -> str:
    """The CSRF token of a session: derived from the cookie, so nothing extra is stored."""
    return hashlib.sha256(b"unknot-csrf:" + session_token.encode()).hexdigest()[:32]


def _untrusted_proxy(connection: ASGIConnection, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Tell the operator once per process and address when a reverse proxy on this machine or the
    local network is not trusted: every client behind it is then one address to the limits, and a
    stranger's 30 wrong codes keep every patient from joining. A proxy's own address is loopback or
    private; an X-Forwarded-For from a public address is anyone's and tells nothing."""
    settings: Settings = connection.app.state.settings
    if settings.trusted_proxies or address in _WARNED_PROXIES or not (address.is_loopback or address.is_private):
        return
    if "x-forwarded-for" not in connection.headers:
        return
    _WARNED_PROXIES.add(address)
    log.warning(
        "a request came through a reverse proxy at %s (it sent X-Forwarded-For), but UNKNOT_TRUSTED_PROXIES "
        "is not set: the sign-in and invite-code limits count every client behind it as one; set "
        "UNKNOT_TRUSTED_PROXIES=%s",
        address,
        address,
    )


def client_address(connection: ASGIConnection) -> str:
    """Who is asking, for the per-address guessing limits. An IPv6 client is its /64: one home,
    phone or server has the whole network to itself, 2^64 addresses to take turns with."""
    host = connection.client.host if connection.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    _untrusted_proxy(connection, address)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return host


async def _best_effort(db: Database, write: Awaitable[None]) -> None:
    """A note of use (a device seen, a session used): a busy database or a full disk leaves it to a
    later request, and this one is answered; on a full disk reads still work, and a failed note
    must not turn every read into a 503."""
    try:
        await write
    except Exception as exc:
        if not (isinstance(exc, DatabaseBusy) or db.disk_full(exc)):
            raise


class AuthMiddleware(AbstractAuthenticationMiddleware):
    """Sets ``request.user`` to a :class:`TherapistUser`, a :class:`PatientIdentity` or ``None``."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        state = connection.app.state
        db: Database = state.db
        clock: Clock = state.clock
        settings: Settings = state.settings
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        # Only a Bearer token is the app's own. Another scheme is someone else's: a clinic that keeps
        # its server behind a proxy's password (HTTP Basic) has the browser send it on every request,
        # and refusing it would refuse the whole console. The session cookie then decides, and a
        # patient route without a device token is refused by its guard.
        if scheme.lower() == "bearer":
            if not token.strip():
                raise NotAuthorizedException("Authorization must be 'Bearer <device token>'")
            now = clock.now()
            with_days = connection.route_handler.opt.get(WITH_PLAN_DAYS, False)
            token_hash = hash_token(token.strip())
            identity = await patients.identity_for_token(db, token_hash, plan_days_at=now if with_days else None)
            if identity is None:
                # Only a refused token costs this second read: the phone then tells its patient why.
                if await patients.expired_token(db, token_hash):
                    raise DeviceRefused(
                        "this device was not used for a long time and is no longer connected; "
                        "join again with a new code",
                        "device_expired",
                    )
                raise DeviceRefused(
                    "this device is not joined or was removed; join again with a new code", "device_removed"
                )
            idle_since = now - dt.timedelta(days=settings.device_idle_days)
            # Compared here, on the row just read (as stored text, as the sweep compares it): a device
            # in use costs no other statement. One unused too long is expired now (the scheduler's
            # sweep may not have come to it yet) and refused as a removed one is, but with its own
            # code: the phone asks for a new code, saying why.
            if identity.last_seen_at < iso(idle_since):
                await _best_effort(db, patients.expire_device(db, identity.device_id, now, idle_since))
                raise DeviceRefused(
                    f"this device was not used for {settings.device_idle_days} days and is no longer connected; "
                    "join again with a new code",
                    "device_expired",
                )
            if now - parse_iso(identity.last_seen_at) > _TOUCH_EVERY:
                await _best_effort(db, patients.touch_device(db, identity.device_id, now))
            return AuthenticationResult(user=identity, auth=None)
        session = connection.cookies.get(SESSION_COOKIE)
        if session:
            token_hash = hash_token(session)
            now = clock.now()
            found = await therapists.therapist_for_session(
                db, token_hash, now, dt.timedelta(minutes=settings.session_idle_minutes)
            )
            if found is not None:
                if now - found.last_used > _SESSION_TOUCH_EVERY:
                    await _best_effort(db, therapists.touch_session(db, token_hash, now))
                user = TherapistUser(found.therapist, token_hash, csrf_for(session), found.expires_at)
                return AuthenticationResult(user, auth=None)
        return AuthenticationResult(user=None, auth=None)


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of an origin or URL, the port filled in when it is the scheme's own."""
    try:
        parts = urllib.parse.urlsplit(url.strip().lower())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return ("", "", None)
    return (parts.scheme, parts.hostname or "", port)


def _same_origin(connection: ASGIConnection) -> bool:
    if connection.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        return False
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    host = connection.headers.get("host", "")
    if origin.split("://", 1)[-1] == host:
        return True
    # The clinic's public address is this app's origin too: a reverse proxy on another port than
    # 443 may pass on its host name without the port (nginx's `Host $host`), while the browser's
    # Origin has it, and every sign-in and change was refused as cross-site.
    settings: Settings = connection.app.state.settings
    return _origin(origin) == _origin(settings.public_url) != ("", "", None)


def refuse_cross_site(connection: ASGIConnection) -> None:
    """Refuse a request another site's page made the browser send. Signing in checks it too: a
    page could otherwise sign the browser in to an account of the attacker's, where the therapist
    then types patients' data."""
    if not _same_origin(connection):
        raise PermissionDeniedException("cross-site request refused")


async def same_site_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Refuse a cross-site request before its body is read (signing in)."""
    refuse_cross_site(connection)


async def therapist_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Only a signed-in therapist; state-changing requests must also pass the CSRF checks."""
    user = connection.scope.get("user")
    if not isinstance(user, TherapistUser):
        raise NotAuthorizedException("sign in as a therapist")
    if connection.scope.get("method", "GET") not in _SAFE_METHODS:
        refuse_cross_site(connection)
        # Compared in constant time: how long a wrong guess takes must not tell how much of it was right.
        if not hmac.compare_digest(connection.headers.get(CSRF_HEADER, "").encode(), user.csrf.encode()):
            raise PermissionDeniedException(f"missing or wrong {CSRF_HEADER} header")


async def patient_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Only a joined patient device."""
    if not isinstance(connection.scope.get("user"), PatientIdentity):
        raise NotAuthorizedException("this needs the device token from joining")
