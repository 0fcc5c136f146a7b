"""A real Web Push service on loopback, for tests and the fan-out benchmark.

It plays the part of FCM or Mozilla's autopush towards our server: every POST to a
subscription's endpoint must carry a valid VAPID ``Authorization: vapid t=<JWT>, k=<key>``
header (ES256 over ``header.payload`` with a raw r||s signature; ``aud`` the service's
origin, ``exp`` in the future and at most 24 h away, ``sub`` a mailto: or https: contact)
and an aes128gcm body, which it decrypts with the subscription's private key and auth
secret exactly as the browser would. What it received (or refused, and why) is kept
for the test to inspect. It can be told to answer 410 or 503 for an endpoint.

The service runs on its own event loop in a thread (``PushService().start()``), so it
answers while the test's loop is blocked in Litestar's test client; or in a child process
(``spawn_process``) so a benchmark gets a core of its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import re
import secrets
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

__all__ = ["PushService", "Received", "Subscription", "b64url", "spawn_process", "unb64url"]

_AUTH = re.compile(r"^vapid\s+(?P<params>.+)$", re.I)
_SUB = re.compile(r"^(mailto:[^@\s]+@[^@\s]+|https://\S+)$")


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """The inverse of :func:`b64url` (padding optional)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscription:
    """What a browser holds after ``pushManager.subscribe()``: its keys and the endpoint."""

    name: str
    token: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: str | None = None

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    def as_json(self) -> dict[str, Any]:
        """``PushSubscription.toJSON()``."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth_secret)},
        }


@dataclass
class Received:
    """One message the service accepted, decrypted."""

    name: str
    endpoint: str
    payload: dict[str, Any]
    ttl: int
    urgency: str | None
    topic: str | None
    claims: dict[str, Any]
    at: float = field(default_factory=time.time)


class PushService:
    """A loopback push service (see the module docstring)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._subs: dict[str, Subscription] = {}
        self._gone: set[str] = set()
        self._script: dict[str, list[int]] = defaultdict(list)
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._rejected: list[tuple[str, str]] = []
        self._attempts: Counter[str] = Counter()
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._count = 0
        self._first_at: float | None = None
        self._last_at: float | None = None
        self.keep_messages = True
        # Seconds to wait before answering each request (a slow push service).
        self.delay = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- running -------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``: the ``aud`` every VAPID token must name."""
        return f"http://{self.host}:{self.port}"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=8192)
        app.router.add_post("/push/{token}", self._push)
        app.router.add_post("/_control/subscriptions", self._control_subscriptions)
        app.router.add_get("/_control/stats", self._control_stats)
        return app

    async def serve(self, port: int = 0) -> None:
        """Start serving on the current loop."""
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def shutdown(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> PushService:
        """Serve from a thread with its own event loop; returns once it accepts connections."""
        ready = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.serve())
            except BaseException as exc:
                failed.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="push-service", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failed:
            raise failed[0]
        return self

    def stop(self) -> None:
        """Stop the thread started by :meth:`start`."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> PushService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the test controls ------------------------------------------------------------

    def subscribe(self, name: str | None = None, application_server_key: str | None = None) -> Subscription:
        """A new subscription, as a browser would make it with ``applicationServerKey``.

        With a key given, messages signed by any other VAPID key are refused with 403, as FCM does.
        """
        token = secrets.token_urlsafe(16)
        sub = Subscription(
            name=name or token,
            token=token,
            endpoint=f"{self.origin}/push/{token}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
            application_server_key=application_server_key,
        )
        with self._lock:
            self._subs[token] = sub
        return sub

    def gone(self, sub: Subscription) -> None:
        """From now on, answer 410 Gone for ``sub`` (the user unsubscribed or uninstalled)."""
        with self._lock:
            self._gone.add(sub.token)

    def answer(self, sub: Subscription, *statuses: int) -> None:
        """Answer the next requests for ``sub`` with ``statuses`` (e.g. 503, 429) before accepting again."""
        with self._lock:
            self._script[sub.token].extend(statuses)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def rejected(self) -> list[tuple[str, str]]:
        """(endpoint token, reason) of every request refused for breaking the protocol."""
        with self._lock:
            return list(self._rejected)

    def attempts(self, sub: Subscription) -> int:
        """Requests made for ``sub``, whatever the answer."""
        with self._lock:
            return self._attempts[sub.token]

    def messages(self, sub: Subscription) -> list[dict[str, Any]]:
        """Decrypted payloads ``sub`` received, in order."""
        return [r.payload for r in self.received if r.endpoint == sub.endpoint]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "count": self._count,
                "first_at": self._first_at,
                "last_at": self._last_at,
                "rejected": len(self._rejected),
                "cpu_seconds": time.process_time(),
                "rejections": self._rejected[:5],
            }

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """Wait (without blocking the caller's loop) until ``count`` messages arrived."""
        deadline = time.monotonic() + within
        # Messages arrive on the service's own thread: poll rather than share an asyncio.Event.
        while len(self.received) < count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return self.received

    # --- the protocol ----------------------------------------------------------------------

    def _public_key(self, k: str) -> ec.EllipticCurvePublicKey:
        key = self._keys.get(k)
        if key is None:
            key = self._keys[k] = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(k))
        return key

    def _check_vapid(self, header: str) -> tuple[dict[str, Any], str]:
        """The verified claims and the key they were signed with.

        Raises:
            ValueError: with the reason the header is not acceptable.
        """
        match = _AUTH.match(header.strip())
        if match is None:
            raise ValueError("Authorization is not 'vapid t=..., k=...'")
        params = dict(p.strip().split("=", 1) for p in match.group("params").split(",") if "=" in p)
        token, k = params.get("t"), params.get("k")
        if not token or not k:
            raise ValueError("Authorization lacks t= or k=")
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("t is not a JWT")
        head = json.loads(unb64url(parts[0]))
        if head.get("alg") != "ES256" or head.get("typ", "JWT") != "JWT":
            raise ValueError(f"JWT header {head!r} is not ES256")
        signature = unb64url(parts[2])
        if len(signature) != 64:
            raise ValueError("signature is not raw r||s (64 bytes)")
        der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            self._public_key(k).verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise ValueError("JWT signature does not verify with k") from None
        claims = json.loads(unb64url(parts[1]))
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud {claims.get('aud')!r} is not {self.origin}")
        exp, now = claims.get("exp"), time.time()
        if not isinstance(exp, int) or exp <= now or exp > now + 24 * 3600:
            raise ValueError(f"exp {exp!r} is not within the next 24 hours")
        if not isinstance(claims.get("sub"), str) or not _SUB.match(claims["sub"]):
            raise ValueError(f"sub {claims.get('sub')!r} is not a mailto: or https: contact")
        return claims, k

    async def _push(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        body = await request.read()
        with self._lock:
            self._attempts[token] += 1
            sub = self._subs.get(token)
            gone = token in self._gone
        if sub is None:
            return web.Response(status=404, text="no such subscription")
        if gone:
            return web.Response(status=410, text="subscription expired or unsubscribed")

        def refuse(status: int, reason: str) -> web.Response:
            with self._lock:
                self._rejected.append((token, reason))
            return web.Response(status=status, text=reason)

        try:
            claims, k = self._check_vapid(request.headers.get("Authorization", ""))
        except ValueError as exc:
            return refuse(401, str(exc))
        if sub.application_server_key is not None and k != sub.application_server_key:
            return refuse(403, "k is not the applicationServerKey this subscription was made with")
        ttl = request.headers.get("TTL", "")
        if not ttl.isdigit():
            return refuse(400, "missing or bad TTL header")
        if request.headers.get("Content-Encoding", "").lower() != "aes128gcm":
            return refuse(415, "Content-Encoding must be aes128gcm")
        if len(body) > 4096:
            return refuse(413, "payload too large")
        try:
            plain = http_ece.decrypt(
                body, private_key=sub.private_key, auth_secret=sub.auth_secret, version="aes128gcm"
            )
            payload = json.loads(plain)
        except Exception as exc:
            return refuse(400, f"cannot decrypt: {type(exc).__name__}")
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            script = self._script.get(token)
            status = script.pop(0) if script else 201
        if status != 201:
            headers = {"Retry-After": "1"} if status in (429, 503) else {}
            return web.Response(status=status, text="try again later", headers=headers)
        arrived = time.time()
        with self._lock:
            self._count += 1
            self._first_at = self._first_at or arrived
            self._last_at = arrived
            if self.keep_messages:
                self._received.append(
                    Received(
                        name=sub.name,
                        endpoint=sub.endpoint,
                        payload=payload,
                        ttl=int(ttl),
                        urgency=request.headers.get("Urgency"),
                        topic=request.headers.get("Topic"),
                        claims=claims,
                        at=arrived,
                    )
                )
        return web.Response(status=201, headers={"Location": f"{self.origin}/message/{secrets.token_hex(8)}"})

    # --- control, for a service in another process -------------------------------------------

    async def _control_subscriptions(self, request: web.Request) -> web.Response:
        n = int(request.query.get("n", "1"))
        key = request.query.get("application_server_key")
        subs = [self.subscribe(application_server_key=key).as_json() for _ in range(n)]
        return web.json_response(subs)

    async def _control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())


def _child(conn: Any, keep_messages: bool) -> None:
    async def main() -> None:
        service = PushService()
        service.keep_messages = keep_messages
        await service.serve()
        conn.send(service.port)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_reader(conn.fileno(), stop.set)
        await stop.wait()
        await service.shutdown()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@contextlib.contextmanager
def spawn_process(keep_messages: bool = False):
    """A push service in a child process; yields its origin. Control it over ``/_control/...``."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_child, args=(child, keep_messages), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("push service process did not start")
        port = parent.recv()
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()
