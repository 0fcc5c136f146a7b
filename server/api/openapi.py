"""OpenAPI details every route shares, derived from its guards: who may call it, and its errors."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme

from server.api.errors import ErrorBody
from server.auth.identity import CSRF_HEADER, SESSION_COOKIE, patient_guard, therapist_guard

__all__ = [
    "COMPONENTS",
    "CachedJsonRenderPlugin",
    "CachedYamlRenderPlugin",
    "document_routes",
    "openapi_document",
    "with_request_schemas",
]

THERAPIST_READ: list[SecurityRequirement] = [{"therapistSession": []}]
THERAPIST_WRITE: list[SecurityRequirement] = [{"therapistSession": [], "csrfToken": []}]
PATIENT_SECURITY: list[SecurityRequirement] = [{"deviceToken": []}]
COMPONENTS = Components(
    security_schemes={
        "therapistSession": SecurityScheme(
            type="apiKey",
            name=SESSION_COOKIE,
            security_scheme_in="cookie",
            description="Set by POST /api/v1/auth/login (HttpOnly, SameSite=Strict).",
        ),
        "csrfToken": SecurityScheme(
            type="apiKey",
            name=CSRF_HEADER,
            security_scheme_in="header",
            description="The csrf_token from sign-in; required on every POST, PUT, PATCH and DELETE.",
        ),
        "deviceToken": SecurityScheme(
            type="http", scheme="bearer", description="The device token from POST /api/v1/patient/join."
        ),
    }
)

_DESCRIPTIONS = {
    400: "The request is malformed or a field is invalid; `errors` names each field",
    401: (
        "No valid identity: sign in, or join again with a new code (a device token refused has a `code`: "
        "`device_expired` when the phone was not used for too long, else `device_removed`)"
    ),
    403: "Refused: missing CSRF token or a cross-site request (sign-in: the account is closed)",
    404: "Not found (also for another therapist's patient)",
    409: "Conflict with the current state (for example a stale plan version, or a plan a newer treatment replaced)",
    410: "The invite code was used or has expired",
    413: "The request body is too large",
    415: "The body was not sent as application/json",
    422: "Well-formed but not acceptable (unknown muscle, bad time zone, ...); `errors` names the field",
    429: "Too many attempts; see Retry-After",
    503: (
        "The database is busy (another process holds the write lock) or cannot be reached, or the server's "
        "disk is full (`code`: `database_unavailable`, `disk_full`); nothing was changed, retry after Retry-After "
        "(unless `detail` says the connection was lost while saving: then it may have been saved)"
    ),
}


# Routes that can meet a conflicting state: a stale plan version or a replaced plan, an archived patient, an id or
# a subscription another patient holds, no subscription to test.
_CONFLICTS = {
    ("PUT", "plan"),
    ("POST", "plans"),
    ("POST", "invites"),
    ("POST", "sync"),
    ("PUT", "subscriptions"),
    ("POST", "test"),
    ("DELETE", "{patient_id:int}"),  # erasing a patient who is not archived
}


# Routes without an id in the path that still answer 404: the patient's plan before one is assigned,
# a subscription the patient does not have.
_NOT_FOUND = {("GET", "/api/v1/patient/plan"), ("DELETE", "/api/v1/patient/push/subscriptions")}
# Rate-limited routes: guessing (sign-in, password, invite codes) and test reminders (from the patient's
# phone or the console).
_LIMITED = ("/auth/login", "/auth/password", "/patient/join", "/patient/push/test", "/reminders/test")


def with_request_schemas(app: Litestar, document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with each request body type (and the types inside it) described by msgspec's
    own JSON Schema: Litestar's drops ``minimum: 0`` on optional numbers and the limits on strings
    inside lists, and shows a list of literals as taking anything. The server checks all of them;
    a client written from the schema should know them too."""
    bodies = {
        handler.parsed_fn_signature.parameters["data"].annotation
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if "data" in handler.parsed_fn_signature.parameters
    }
    _, components = msgspec.json.schema_components(
        # An optional body is a union (``UnsubscribeIn | None``), which has no name of its own.
        sorted(bodies, key=lambda t: getattr(t, "__name__", repr(t))),
        ref_template="#/components/schemas/{name}",
    )
    document = {**document, "components": {**document["components"]}}
    document["components"]["schemas"] = {**document["components"]["schemas"], **components}
    # Through JSON: a default given as a tuple (Litestar's and msgspec's alike) would otherwise reach
    # the YAML as "!!python/tuple", which YAML readers refuse.
    return msgspec.json.decode(msgspec.json.encode(document))


def openapi_document(app: Litestar) -> dict[str, Any]:
    """The OpenAPI document ``/schema/openapi.json`` serves."""
    return with_request_schemas(app, app.openapi_schema.to_schema())


class _RenderedOnce:
    """Rendered once, request body schemas included: the schema never changes while the app runs,
    and rendering it (about 0.1 s of CPU on the event loop for the YAML) on every request let one
    anonymous client stall every other request."""

    _rendered: bytes | None = None

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            document = with_request_schemas(request.app, openapi_schema)
            self._rendered = super().render(request, document)  # type: ignore[misc]
        return self._rendered


class CachedJsonRenderPlugin(_RenderedOnce, JsonRenderPlugin):
    """``/schema/openapi.json``."""


class CachedYamlRenderPlugin(_RenderedOnce, YamlRenderPlugin):
    """``/schema/openapi.yaml``."""


def _codes(method: str, path: str, guards: set[object], has_body: bool) -> set[int]:
    # 401 everywhere: a wrong device token is refused even on a public route. 503 everywhere: reads
    # may write too (an audit entry, a device's last-seen time).
    codes = {400, 401, 422, 503}
    if (therapist_guard in guards and method not in {"GET", "HEAD"}) or path.endswith("/auth/login"):
        codes.add(403)
    if "{" in path or (method, path) in _NOT_FOUND:
        codes.add(404)
    if has_body:
        codes |= {413, 415}
    if (method, path.rsplit("/", 1)[-1]) in _CONFLICTS:
        codes.add(409)
    if path.endswith(_LIMITED):
        codes.add(429)
    if path.endswith("/patient/join"):
        codes |= {404, 410}
    return codes


def document_routes(app: Litestar) -> None:
    """Give every API route its audience (from its guard) and its error responses, in the one shape errors share."""
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for handler in getattr(route, "route_handlers", []):
            guards = {g for layer in handler.ownership_layers for g in (layer.guards or [])}
            has_body = "data" in handler.parsed_fn_signature.parameters
            method = sorted(handler.http_methods)[0]
            specs = {
                code: ResponseSpec(ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False)
                for code in sorted(_codes(method, route.path, guards, has_body))
            }
            handler.responses = {**specs, **(handler.responses or {})}
            if therapist_guard in guards:
                handler.security = THERAPIST_READ if method in {"GET", "HEAD"} else THERAPIST_WRITE
            elif patient_guard in guards:
                handler.security = PATIENT_SECURITY
