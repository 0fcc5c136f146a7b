"""Therapist sign-in and sign-out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import JSONBody
from msgspec import Meta, Struct

from server.api.deps import ClockDep, DatabaseDep, SettingsDep
from server.auth.identity import SESSION_COOKIE, TherapistUser, csrf_for, therapist_guard
from server.auth.secrets import hash_token, new_token, verify_password
from server.db import therapists
from server.db.therapists import Therapist

__all__ = ["AuthController", "LoginIn", "SessionOut"]

SESSION_HOURS = 12
ATTEMPT_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20


class LoginIn(Struct, frozen=True, forbid_unknown_fields=True):
    """Email and password."""

    email: Annotated[str, Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
    password: Annotated[str, Meta(min_length=1, max_length=1024)]


class SessionOut(Struct, frozen=True):
    """The signed-in therapist and the token to send as X-CSRF-Token on every change."""

    therapist: Therapist
    csrf_token: str


def _cookie(settings: SettingsDep, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.env == "production",
    )


class AuthController(Controller):
    """Therapist sessions."""

    path = "/api/v1/auth"
    tags = ["therapist: session"]

    @post("/login", summary="Sign in (sets the session cookie)", status_code=200, opt={"public": True})
    async def login(
        self, request: Request, data: JSONBody[LoginIn], db: DatabaseDep, clock: ClockDep, settings: SettingsDep
    ) -> Response[SessionOut]:
        now = clock.now()
        address = request.client.host if request.client else "unknown"
        account_key, address_key = f"login:{data.email.lower()}", f"login-ip:{address}"
        counts = await therapists.count_attempt(db, [account_key, address_key], now, ATTEMPT_WINDOW)
        if counts[account_key] > MAX_FAILURES_PER_ACCOUNT or counts[address_key] > MAX_FAILURES_PER_ADDRESS:
            raise TooManyRequestsException(
                "too many sign-in attempts; wait 15 minutes", headers={"Retry-After": str(ATTEMPT_WINDOW.seconds)}
            )
        found = await therapists.therapist_by_email(db, data.email)
        ok = await verify_password(found[1] if found else None, data.password)
        if not found or not ok:
            raise NotAuthorizedException("wrong email or password")
        await therapists.clear_attempts(db, account_key)
        token = new_token()
        await therapists.create_session(db, hash_token(token), found[0].id, now, SESSION_HOURS)
        return Response(SessionOut(found[0], csrf_for(token)), cookies=[_cookie(settings, token, SESSION_HOURS * 3600)])

    @post("/logout", summary="Sign out", status_code=204, guards=[therapist_guard])
    async def logout(
        self, request: Request[TherapistUser, None, object], db: DatabaseDep, settings: SettingsDep
    ) -> Response[None]:
        await therapists.delete_session(db, request.user.session_hash)
        return Response(None, status_code=204, cookies=[_cookie(settings, "", 0)])

    @get("/me", summary="The signed-in therapist", guards=[therapist_guard])
    async def me(self, request: Request[TherapistUser, None, object]) -> SessionOut:
        return SessionOut(request.user.therapist, request.user.csrf)
