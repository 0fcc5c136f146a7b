"""One Web Push message to one subscription, through pywebpush, and what came of it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from msgspec import Struct
from pywebpush import WebPushException, webpush_async

from server.push.addresses import public_ip
from server.push.keys import VapidKeys

__all__ = ["NotPublic", "Outcome", "Sender", "Target"]

log = logging.getLogger("unknot.push")

# How long a Retry-After from a push service may hold a message back at most.
_MAX_RETRY_AFTER = 900
_TOKEN_LIFETIME = 12 * 3600
_TOKEN_REFRESH = 3600


class Target(Struct, frozen=True):
    """Where a message goes: a browser's push subscription."""

    endpoint: str
    p256dh: str
    auth: str


class Outcome(Struct, frozen=True):
    """The result of one attempt.

    ``kind``: ``sent``; ``gone`` (404/410: the subscription no longer exists, delete it);
    ``retry`` (429, 5xx, timeout or network error: try again later); ``failed`` (any other
    answer: retrying will not help); ``skipped`` (not sent: the patient was archived meanwhile).
    """

    kind: Literal["sent", "gone", "retry", "failed", "skipped"]
    status: int | None = None
    error: str = ""
    retry_after: int | None = None


def _retry_after(value: str | None) -> int | None:
    if not value:
        return None
    if value.strip().isdigit():
        return min(int(value.strip()), _MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    return max(0, min(int(seconds), _MAX_RETRY_AFTER))


def _classify(status: int, reason: str, retry_after: str | None) -> Outcome:
    if status <= 202:
        return Outcome("sent", status)
    if status in (404, 410):
        return Outcome("gone", status, f"{status} {reason}".strip())
    if status == 429 or status >= 500:
        return Outcome("retry", status, f"{status} {reason}".strip(), _retry_after(retry_after))
    return Outcome("failed", status, f"{status} {reason}".strip())


class NotPublic(OSError):
    """A push endpoint's host is, or resolves only to, an address that is not public."""


class _PublicOnly(AbstractResolver):
    """aiohttp's resolver, keeping public addresses only: an endpoint a patient's browser registered
    must not reach the clinic's own network (a name of the attacker's that resolves to 10.0.0.5, to
    127.0.0.1 or to the cloud's 169.254.169.254). Checked at connect time, so a name that resolved
    elsewhere when it was registered gains nothing."""

    def __init__(self) -> None:
        self._resolver = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = [r for r in await self._resolver.resolve(host, port, family) if public_ip(r["host"])]
        if not found:
            raise NotPublic(f"{host} is not a public address")
        return found

    async def close(self) -> None:
        await self._resolver.close()


class _NoRedirects:
    """The session as pywebpush uses it (``post`` only), never following a redirect: a push service
    does not redirect, and a redirect could lead anywhere, an address aiohttp does not resolve included."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._session.post(url, allow_redirects=False, **kwargs)


class Sender:
    """Sends through one shared aiohttp session (connection reuse), bounded in concurrency.

    Create and close it on the event loop that uses it. With ``public_only`` (outside development)
    it connects to public addresses only.
    """

    def __init__(
        self, keys: VapidKeys, contact: str, *, ttl: int, timeout: float, concurrency: int, public_only: bool = True
    ) -> None:
        self.keys = keys
        self.contact = contact
        self.ttl = ttl
        self.timeout = timeout
        self.concurrency = concurrency
        self.public_only = public_only
        self._session: aiohttp.ClientSession | None = None
        self._limit: asyncio.Semaphore | None = None
        # Signed VAPID headers by audience (push service origin), with their expiry.
        self._tokens: dict[str, tuple[str, int]] = {}

    def _open(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._session is None or self._session.closed or self._limit is None:
            resolver = _PublicOnly() if self.public_only else None
            connector = aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300, resolver=resolver)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
            self._limit = asyncio.Semaphore(self.concurrency)
        return self._session, self._limit

    def _authorization(self, endpoint: str) -> str:
        """The VAPID ``Authorization`` header for the push service behind ``endpoint``.

        Signing (ES256 through py_vapid, with a fresh claims dict each time) costs about as
        much as encrypting a message, so a token is signed once per push service and reused
        for every message to it until an hour before it expires (RFC 8292 allows ``exp`` up
        to 24 hours; this uses 12, like pywebpush).
        """
        url = urlsplit(endpoint)
        aud = f"{url.scheme}://{url.netloc}"
        now = int(time.time())
        cached = self._tokens.get(aud)
        if cached is not None and cached[1] - now > _TOKEN_REFRESH:
            return cached[0]
        exp = now + _TOKEN_LIFETIME
        header = self.keys.vapid.sign({"sub": self.contact, "aud": aud, "exp": exp})["Authorization"]
        self._tokens[aud] = (header, exp)
        return header

    @contextlib.asynccontextmanager
    async def one_off(self) -> AsyncIterator[Sender]:
        """A sender with its own connections on the current loop, closed afterwards (for a request
        handler's test reminder); it shares the signed VAPID tokens."""
        other = Sender(
            self.keys,
            self.contact,
            ttl=self.ttl,
            timeout=self.timeout,
            concurrency=self.concurrency,
            public_only=self.public_only,
        )
        other._tokens = self._tokens
        try:
            yield other
        finally:
            await other.close()

    async def close(self) -> None:
        """Close the connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def send(self, target: Target, data: bytes, *, topic: str | None = None, ttl: int | None = None) -> Outcome:
        """Encrypt ``data`` for ``target`` and post it to its push service."""
        host = urlsplit(target.endpoint).hostname or ""
        if self.public_only and public_ip(host) is False:
            # aiohttp connects to an address as it is, without asking the resolver.
            return Outcome("failed", None, f"{host} is not a public address")
        session, limit = self._open()
        headers = {"Urgency": "normal"}
        if topic:
            # A newer message with the same topic replaces an undelivered older one.
            headers["Topic"] = topic
        async with limit:
            try:
                headers["Authorization"] = self._authorization(target.endpoint)
                response = await webpush_async(
                    {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}},
                    data=data,  # type: ignore[arg-type]  # bytes are sent as they are
                    timeout=self.timeout,
                    ttl=self.ttl if ttl is None else ttl,
                    headers=headers,
                    aiohttp_session=_NoRedirects(session),  # type: ignore[arg-type]  # post() is all it uses
                )
            except WebPushException as exc:
                response = exc.response
                if response is None:
                    return Outcome("failed", None, str(exc.message)[:200])
                status = getattr(response, "status", None) or getattr(response, "status_code", 0)
                return _classify(int(status), str(getattr(response, "reason", "") or ""), exc.retry_after)
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, NotPublic):  # it will not become public by trying again
                    return Outcome("failed", None, str(exc.os_error))
                return Outcome("retry", None, f"{type(exc).__name__}: {exc}"[:200])
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return Outcome("retry", None, f"{type(exc).__name__}: {exc}"[:200] or type(exc).__name__)
            except Exception as exc:
                # A malformed subscription (keys that are not a P-256 point...) can never work.
                log.warning("push to a subscription failed: %s", type(exc).__name__)
                return Outcome("failed", None, f"{type(exc).__name__}: {exc}"[:200])
        if isinstance(response, str):  # only with curl=True, which is never used
            return Outcome("failed", None, "unexpected response")
        return _classify(response.status, response.reason or "", response.headers.get("Retry-After"))
