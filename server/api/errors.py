"""One error shape for every 4xx and 5xx: what was wrong, and which field."""

from __future__ import annotations

import logging
import re
import sqlite3
from typing import Annotated, Literal

import asyncpg
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import Scope
from msgspec import UNSET, Meta, Struct, UnsetType

from server.api.params import PATTERN_REASONS
from server.db.connection import Database, DatabaseBusy, DatabaseUnavailable, DiskFullOnRead, LostWhileCommitting
from server.programs import ProgramError
from server.programs.model import DAY_ZERO

__all__ = [
    "RECORD_REFUSALS",
    "DeviceRefused",
    "ErrorBody",
    "FieldError",
    "InputError",
    "Refusal",
    "exception_handlers",
    "loggable_path",
]

log = logging.getLogger("unknot")

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MISSING = re.compile(r"Missing required \w+ parameter '(?P<name>[^']+)'")
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]+)`")
_PATTERN_REASONS = {f"Expected `str` matching regex {p!r}": reason for p, reason in PATTERN_REASONS.items()}
# A plan item's day, and msgspec's words for a bound it is outside of ("Expected `int` <= 365").
_PLAN_DAY = re.compile(r"(?:^|\.)items\[\d+\]\.(?:from|to)_day$")
_INT_BOUND = re.compile(r"Expected `int` (?P<op>[<>]=) (?P<bound>-?\d+)")
# A field inside one record of a sync batch: "completions[3].done_at", "checkins[0].red_flags[1]".
_RECORD = re.compile(r"^(?:completions|checkins)\[\d+\]")

# Why the server refuses a record of a sync batch, for the device to tell its patient in the
# patient's language (the English ``message`` beside it is for the clinic and for older apps):
#   in_the_future     a date or time after the server's tomorrow (the phone's clock was ahead)
#   too_long_ago      a date or time more than 800 days back
#   no_time_zone      a time sent without its offset from UTC
#   unknown_exercise  an exercise this clinic's content does not have
#   unknown_red_flag  a warning sign this clinic's content does not have
#   repeated_id       the same id twice in one batch
#   id_in_use         the id of another patient's record (409)
#   invalid           a record not in the shape the API takes (a wrong type, a value out of bounds,
#                     an unknown field)
# Stable: a new reason gets a new code, and a device that does not know a code shows the message.
Refusal = Literal[
    "in_the_future",
    "too_long_ago",
    "no_time_zone",
    "unknown_exercise",
    "unknown_red_flag",
    "repeated_id",
    "id_in_use",
    "invalid",
]
# Route option: a 400 or 422 from decoding this route's body that names a record of a sync batch
# has the code "invalid".
RECORD_REFUSALS = "record_refusals"


class FieldError(Struct, frozen=True):
    """One invalid field: its path in the request and the reason. ``code``, only on a record of a
    sync batch (``completions[i]...``, ``checkins[i]...``): why the record is refused, in a word
    that stays the same (the message may change); a device shows its patient its own words for it."""

    field: str
    message: str
    code: (
        Annotated[
            Refusal,
            Meta(
                description="Only on a record of a sync batch: why it is refused, a word that stays the same "
                "(POST /api/v1/patient/sync lists them); a client that does not know it shows the message"
            ),
        ]
        | UnsetType
    ) = UNSET


# Why a 503 came from the server's side, not the request's, in a word that stays the same (as
# health's ``status`` says it): disk_full (the disk that holds the database is full) and
# database_unavailable (the database cannot be reached, or its connection was lost mid-request).
Unavailable = Literal["disk_full", "database_unavailable"]
# Why a device token is refused (401), for the phone to tell its patient in their words:
# device_expired (not used for UNKNOT_DEVICE_IDLE_DAYS) or device_removed (by the clinic, on
# archiving, or a token that never joined).
DeviceRefusal = Literal["device_removed", "device_expired"]


class ErrorBody(Struct, frozen=True):
    """The body of every error response."""

    status: int
    detail: str
    errors: list[FieldError] = []
    code: (
        Annotated[
            Literal[Unavailable, DeviceRefusal],
            Meta(
                description="On a 503 the operator must fix: `disk_full` or `database_unavailable` (as "
                "`GET /api/v1/health` says); nothing was changed, and the request may be sent again later, "
                "unless `detail` says the connection was lost while saving (then check first). On a 401 to a "
                "device token: `device_expired` (the phone was not used for too long) or `device_removed`; "
                "either way the phone joins again with a new code"
            ),
        ]
        | UnsetType
    ) = UNSET


class InputError(Exception):
    """Input that passed parsing but is still wrong (unknown id, bad time zone, ...)."""

    def __init__(
        self,
        field: str,
        message: str,
        status: int = HTTP_422_UNPROCESSABLE_ENTITY,
        code: Refusal | UnsetType = UNSET,
    ) -> None:
        self.field = field
        self.message = message
        self.status = status
        self.code = code
        super().__init__(f"{field}: {message}")


class DeviceRefused(NotAuthorizedException):
    """A 401 to a device token, with the code saying why (the phone words it for its patient)."""

    def __init__(self, detail: str, code: DeviceRefusal) -> None:
        super().__init__(detail)
        self.code = code


def _respond(
    status: int,
    detail: str,
    errors: list[FieldError] | None = None,
    code: Unavailable | DeviceRefusal | UnsetType = UNSET,
) -> Response[ErrorBody]:
    return Response(ErrorBody(status, detail, errors or [], code), status_code=status, media_type=MediaType.JSON)


def _aliases(request: Request) -> dict[str, str]:
    """Python parameter names to the names the client sent (``first`` -> ``from``)."""
    found = {}
    try:
        parameters = request.route_handler.parsed_fn_signature.parameters
    except AttributeError:
        return found
    for name, definition in parameters.items():
        alias = getattr(definition.kwarg_definition, "name", None)
        if alias and alias != name:
            found[name] = alias
    return found


def _names_records(request: Request) -> bool:
    try:
        return bool(request.route_handler.opt.get(RECORD_REFUSALS))
    except AttributeError:
        return False


def _body_optional(request: Request) -> bool:
    try:
        data = request.route_handler.parsed_fn_signature.parameters.get("data")
    except AttributeError:
        return False
    return data is not None and data.has_default


def _validation(request: Request, exc: ValidationException) -> Response[ErrorBody]:
    aliases = _aliases(request)
    records = _names_records(request)
    body_optional = _body_optional(request)
    missing = _MISSING.search(str(exc.detail))
    if missing and not exc.extra:
        return _respond(exc.status_code, exc.detail, [FieldError(missing.group("name"), "is required")])
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        match = _AT.match(str(item.get("message", "")))
        message = match.group("message") if match else str(item.get("message"))
        message = _PATTERN_REASONS.get(message, message)
        key = str(item.get("key") or "")
        if key == "data" and message == "'data'":
            if body_optional:
                # Litestar reports an absent body it was told may be absent, beside any other error.
                continue
            # No body at all: Litestar leaves the handler's data out and reports the missing key.
            message = "is empty; send the request's JSON"
        path = ((match.group("path") if match else None) or ("" if key in ("", "data") else key)).lstrip(".")
        unknown = _NAMED_FIELD.search(message)
        if unknown:
            # msgspec reports where the object is; the field to name is the key inside it.
            path = f"{path}.{unknown.group('name')}" if path else unknown.group("name")
        head, dot, rest = path.partition(".")
        path = aliases.get(head, head) + dot + rest
        if _PLAN_DAY.search(path) and (bound := _INT_BOUND.fullmatch(message)):
            # The API counts from 0, the console and the app from 1: say which count the bound is in.
            which = "at most" if bound.group("op") == "<=" else "at least"
            message = f"must be {which} {bound.group('bound')} ({DAY_ZERO})"
        code: Refusal | UnsetType = "invalid" if records and _RECORD.match(path) else UNSET
        errors.append(FieldError(path or "body", message, code))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "invalid request"
    return _respond(exc.status_code, detail, errors)


def _input(_: Request, exc: InputError) -> Response[ErrorBody]:
    return _respond(exc.status, f"{exc.field}: {exc.message}", [FieldError(exc.field, exc.message, exc.code)])


def _program(_: Request, exc: ProgramError) -> Response[ErrorBody]:
    return _respond(HTTP_422_UNPROCESSABLE_ENTITY, f"{exc.field}: {exc.reason}", [FieldError(exc.field, exc.reason)])


def _http(_: Request, exc: HTTPException) -> Response[ErrorBody]:
    # A plain 400 is the request body failing to parse (malformed JSON): name the body.
    errors = [FieldError("body", exc.detail)] if exc.status_code == 400 else []
    code = exc.code if isinstance(exc, DeviceRefused) else UNSET
    response = _respond(exc.status_code, exc.detail, errors, code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _busy(_: Request, exc: DatabaseBusy) -> Response[ErrorBody]:
    # Overload, not a fault: the PWA's outbox sends again after Retry-After; the console says so and
    # leaves sending again to the therapist (it never re-sends a save by itself).
    response = _respond(HTTP_503_SERVICE_UNAVAILABLE, "the database is busy; nothing was changed, try again shortly")
    response.headers["Retry-After"] = "2"
    return response


def _too_deep(request: Request, exc: RecursionError) -> Response[ErrorBody]:
    # msgspec gives up on a body nested thousands of levels deep ([[[[...]]]]): the client's fault.
    if "deserializing" in str(exc):
        reason = "is nested too deeply"
        return _respond(HTTP_400_BAD_REQUEST, f"body: {reason}", [FieldError("body", reason)])
    return _crash(request, exc)


def loggable_path(scope: Scope) -> str:
    """The request's path for a log line, with control characters escaped: the path is decoded
    from %XX, and an encoded line break would otherwise start a forged line in the log."""
    path = scope["path"]
    if path.startswith("/#"):
        # A link whose "#" a link rewriter encoded (/%23join=CODE): its fragment, a patient's invite
        # code, arrives in the path (and is redirected back to a fragment, server/static.py).
        path = "/#..."
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), path)


def _crash(request: Request, exc: Exception) -> Response[ErrorBody]:
    # Log the type and route only: bodies and headers may carry health data and tokens.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, loggable_path(request.scope), exc_info=exc)
    return _respond(HTTP_500_INTERNAL_SERVER_ERROR, "internal error; nothing was changed")


def _database_error(request: Request, exc: Exception) -> Response[ErrorBody]:
    db: Database = request.app.state.db
    if not db.disk_full(exc):
        return _crash(request, exc)
    # The operator's to fix, not a bug: one line saying what to do, no traceback. The PWA's outbox
    # keeps what it could not send and tries again.
    log.error(
        "cannot %s %s %s: the disk that holds the database is full; free space on it (nothing was changed)",
        "read" if isinstance(exc, DiskFullOnRead) else "save",
        request.method,
        loggable_path(request.scope),
    )
    response = _respond(
        HTTP_503_SERVICE_UNAVAILABLE,
        "the server's disk is full; nothing was changed, try again later",
        code="disk_full",
    )
    response.headers["Retry-After"] = "60"
    return response


def _unreachable(request: Request, exc: DatabaseUnavailable) -> Response[ErrorBody]:
    # PostgreSQL down or refusing connections: the operator's to fix, not a bug. One line naming the
    # server (never its password) instead of a traceback for every request; the body says nothing of it.
    path = loggable_path(request.scope)
    if isinstance(exc, LostWhileCommitting):
        # Saying "nothing was changed" could have the change made twice by whoever sends it again.
        log.error("%s %s may or may not have been saved: %s", request.method, path, exc)
        detail = (
            "the connection to the database was lost while saving: it may or may not have been saved; "
            "check before sending it again"
        )
    else:
        log.error("cannot reach the database for %s %s: %s (nothing was changed)", request.method, path, exc)
        detail = "the database cannot be reached; nothing was changed, try again later"
    response = _respond(HTTP_503_SERVICE_UNAVAILABLE, detail, code="database_unavailable")
    response.headers["Retry-After"] = "10"
    return response


exception_handlers = {
    ValidationException: _validation,
    InputError: _input,
    ProgramError: _program,
    HTTPException: _http,
    DatabaseBusy: _busy,
    DatabaseUnavailable: _unreachable,
    sqlite3.OperationalError: _database_error,
    asyncpg.DiskFullError: _database_error,
    RecursionError: _too_deep,
    Exception: _crash,
}
