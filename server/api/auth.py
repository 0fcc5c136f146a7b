"""Therapist sign-in, sign-out and password change."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, TooManyRequestsException
from litestar.params import JSONBody
from msgspec import Meta, Struct

from server.api.deps import ClockDep, DatabaseDep, SettingsDep
from server.api.errors import InputError
from server.api.params import EMAIL
from server.auth.identity import (
    SESSION_COOKIE,
    TherapistUser,
    client_address,
    csrf_for,
    same_site_guard,
    therapist_guard,
)
from server.auth.secrets import MIN_PASSWORD_LENGTH, hash_password, hash_token, new_token, verify_password
from server.db import therapists
from server.db.connection import Database
from server.db.therapists import Therapist

__all__ = ["AuthController", "LoginIn", "PasswordChangedOut", "PasswordIn", "SessionOut"]

SESSION_HOURS = 12
ATTEMPT_WINDOW = dt.timedelta(minutes=15)
# Tries from a browser the account has not signed in from before are limited per account and
# address, per address, and per account from all addresses together: the last bounds guessing spread
# over many addresses, and anyone who knows the email can use it up. A browser that signed in to the
# account before holds a device cookie: its tries count only against that cookie's own limit, so the
# therapist's own browser still gets in (OWASP's "device cookies" against lockout).
MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS = 5
MAX_FAILURES_PER_ACCOUNT = 50
MAX_FAILURES_PER_ADDRESS = 20
MAX_FAILURES_PER_DEVICE = 5
DEVICE_COOKIE = "unknot_device"
DEVICE_DAYS = 180


class LoginIn(Struct, frozen=True, forbid_unknown_fields=True):
    """Email and password."""

    email: Annotated[str, Meta(min_length=3, max_length=254, pattern=EMAIL)]
    password: Annotated[str, Meta(min_length=1, max_length=1024)]


class PasswordIn(Struct, frozen=True, forbid_unknown_fields=True):
    """The current password, and the new one."""

    current_password: Annotated[str, Meta(min_length=1, max_length=1024)]
    new_password: Annotated[
        str,
        Meta(min_length=MIN_PASSWORD_LENGTH, max_length=1024, description=f"at least {MIN_PASSWORD_LENGTH} characters"),
    ]


class PasswordChangedOut(Struct, frozen=True):
    """How many other sessions of the account were signed out; this one stays signed in, under a
    new cookie, with the CSRF token to send from now on."""

    other_sessions_ended: int
    csrf_token: str


class SessionOut(Struct, frozen=True):
    """The signed-in therapist, the token to send as X-CSRF-Token on every change, the minutes
    unused after which the session ends, and when it ends however much it is used (12 hours after
    sign-in): the console hides its page at either end."""

    therapist: Therapist
    csrf_token: str
    idle_minutes: int
    expires_at: str


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


def _device_cookie(settings: SettingsDep, value: str) -> Cookie:
    # Only sign-in and password change read it: no other request carries it.
    return Cookie(
        key=DEVICE_COOKIE,
        value=value,
        max_age=DEVICE_DAYS * 86400,
        path="/api/v1/auth",
        httponly=True,
        samesite="strict",
        secure=settings.env == "production",
    )


class _Attempt(Struct, frozen=True):
    """One try at an account's password and the keys it is counted under, each with its limit (none:
    counted, not checked). ``device`` is the hash of the browser's device cookie when it is one of
    this account's."""

    limits: dict[str, int | None]
    forgiven: list[str]
    address_key: str
    at: dt.datetime
    device: str | None


async def _count_attempt(db: Database, request: Request, email: str, now: dt.datetime) -> _Attempt:
    """Count one try at the account's password; refuses past the limits."""
    address = client_address(request)
    account = email.lower()
    address_key = f"login-ip:{address}"
    presented = request.cookies.get(DEVICE_COOKIE)
    device = hash_token(presented) if presented else None
    if device is not None and await therapists.device_is_live(db, device, account, now):
        device_key = f"login-device:{device}"
        # Still counted for the address, so that the address's untrusted tries stay bounded; but not
        # checked: whoever shares the address (a clinic's guest Wi-Fi) cannot lock this browser out.
        limits: dict[str, int | None] = {device_key: MAX_FAILURES_PER_DEVICE, address_key: None}
        attempt = _Attempt(limits, [device_key], address_key, now, device)
    else:
        pair_key, account_key = f"login:{account}|{address}", f"login:{account}"
        limits = {
            pair_key: MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS,
            account_key: MAX_FAILURES_PER_ACCOUNT,
            address_key: MAX_FAILURES_PER_ADDRESS,
        }
        attempt = _Attempt(limits, [pair_key, account_key], address_key, now, None)
    counts = await therapists.count_attempt(db, list(limits), now, ATTEMPT_WINDOW)
    if any(limit is not None and counts[key] > limit for key, limit in limits.items()):
        # A refused try is not counted: tries kept up past the limit never make the wait longer.
        await therapists.forget_attempt(db, list(limits), now)
        raise TooManyRequestsException(
            "too many sign-in attempts; wait 15 minutes", headers={"Retry-After": str(ATTEMPT_WINDOW.seconds)}
        )
    return attempt


async def _succeeded(db: Database, attempt: _Attempt) -> None:
    """The right password: the failures of this browser (or, without a device cookie, of the account)
    are forgiven, and this try does not count against the address (a clinic's therapists may all
    sign in from one)."""
    await therapists.clear_attempts(db, attempt.forgiven)
    await therapists.forget_attempt(db, [attempt.address_key], attempt.at)


class AuthController(Controller):
    """Therapist sessions."""

    path = "/api/v1/auth"
    tags = ["therapist: session"]

    @post(
        "/login",
        summary="Sign in (sets the session cookie)",
        status_code=200,
        opt={"public": True},
        guards=[same_site_guard],
    )
    async def login(
        self, request: Request, data: JSONBody[LoginIn], db: DatabaseDep, clock: ClockDep, settings: SettingsDep
    ) -> Response[SessionOut]:
        now = clock.now()
        attempt = await _count_attempt(db, request, data.email, now)
        found = await therapists.therapist_by_email(db, data.email)
        ok = await verify_password(found[1] if found else None, data.password)
        if not found or not ok:
            raise NotAuthorizedException("wrong email or password")
        # Said only to someone who knows the password: it tells nothing to a guesser.
        if await therapists.is_closed(db, found[0].id):
            raise PermissionDeniedException("this account is closed; ask the clinic's administrator")
        await _succeeded(db, attempt)
        token, device = new_token(), new_token()
        idle = dt.timedelta(minutes=settings.session_idle_minutes)
        expires = await therapists.create_session(db, hash_token(token), found[0].id, now, SESSION_HOURS, idle=idle)
        # A new device cookie on every sign-in: one copied from this browser stops working once it
        # signs in again.
        await therapists.remember_device(db, hash_token(device), found[0].id, now, DEVICE_DAYS, attempt.device)
        return Response(
            SessionOut(found[0], csrf_for(token), settings.session_idle_minutes, expires),
            cookies=[_cookie(settings, token, SESSION_HOURS * 3600), _device_cookie(settings, device)],
        )

    @post("/logout", summary="Sign out", status_code=204, guards=[therapist_guard])
    async def logout(
        self, request: Request[TherapistUser, None, object], db: DatabaseDep, settings: SettingsDep
    ) -> Response[None]:
        await therapists.delete_session(db, request.user.session_hash)
        return Response(None, status_code=204, cookies=[_cookie(settings, "", 0)])

    @get(
        "/me",
        summary="The signed-in therapist; a use of the session like any call (the console's keep-alive)",
        guards=[therapist_guard],
    )
    async def me(self, request: Request[TherapistUser, None, object], settings: SettingsDep) -> SessionOut:
        user = request.user
        return SessionOut(user.therapist, user.csrf, settings.session_idle_minutes, user.session_expires_at)

    @post(
        "/password",
        summary="Change the password; the account's other sessions are signed out",
        status_code=200,
        guards=[therapist_guard],
    )
    async def change_password(
        self,
        request: Request[TherapistUser, None, object],
        data: JSONBody[PasswordIn],
        db: DatabaseDep,
        clock: ClockDep,
        settings: SettingsDep,
    ) -> Response[PasswordChangedOut]:
        user = request.user
        if data.new_password == data.current_password:
            raise InputError("new_password", "is the same as the current password")
        # A wrong current password counts as a failed sign-in: a borrowed session must not be a way
        # to guess the password without the sign-in limit.
        now = clock.now()
        attempt = await _count_attempt(db, request, user.therapist.email, now)
        found = await therapists.therapist_by_email(db, user.therapist.email)
        if found is None or not await verify_password(found[1], data.current_password):
            raise InputError("current_password", "is not the account's current password")
        await _succeeded(db, attempt)
        # This browser stays signed in under a new session token: a copy of its cookie taken before
        # (the reason for a new password, often) stops working with the old password.
        token = new_token()
        ended = await therapists.replace_password(
            db,
            user.therapist.id,
            await hash_password(data.new_password),
            user.session_hash,
            attempt.device,
            renew_session=hash_token(token),
            now=now,
            idle=dt.timedelta(minutes=settings.session_idle_minutes),
        )
        return Response(
            PasswordChangedOut(ended, csrf_for(token)), cookies=[_cookie(settings, token, SESSION_HOURS * 3600)]
        )
