"""Passwords, tokens and invite codes: made here, stored only as hashes."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "INVITE_ALPHABET",
    "INVITE_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "hash_password",
    "hash_token",
    "new_invite_code",
    "new_token",
    "normalize_invite_code",
    "verify_password",
]

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

# Crockford's base32: no I, L, O or U, so a code read aloud or typed from paper is unambiguous.
INVITE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
INVITE_LENGTH = 16  # 80 bits; see README "Security and reliability" for the guessing arithmetic
MIN_PASSWORD_LENGTH = 10


async def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (computed off the event loop)."""
    return await asyncio.to_thread(_hasher.hash, password)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("unknot: no such account")


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; never raises for a wrong password.

    With no hash (unknown account) a dummy is checked, so the answer takes as long
    and response times do not reveal which accounts exist.
    """

    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def new_token() -> str:
    """A long random bearer token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token or code. Plain SHA-256 suffices: the inputs are random, not chosen."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_invite_code() -> str:
    """A single-use invite code, grouped for reading: ``ABCD-EFGH-JKMN-PQRS``."""
    raw = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, INVITE_LENGTH, 4))


# Crockford's read-alikes: a letter O typed for zero, I or L for one.
_READ_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def normalize_invite_code(code: str) -> str:
    """The canonical form of a typed code: upper case, look-alikes mapped, and nothing that cannot
    be part of a code (a code copied from a message may bring a full stop, a dash of another
    kind, a no-break space, a line break or quotes).

    Compatibility forms count as the letters they stand for (the full-width letters and digits
    of some keyboards). Only ASCII letters are upper-cased: ``str.upper`` makes some letters of
    other scripts ASCII ones (a German sharp s into "SS", a Turkish dotless i into "I"), which
    would add to the code.
    """
    upper = "".join(c.upper() if c.isascii() else c for c in unicodedata.normalize("NFKC", code))
    cleaned = "".join(c for c in upper.translate(_READ_ALIKES) if c in INVITE_ALPHABET)
    return "-".join(cleaned[i : i + 4] for i in range(0, len(cleaned), 4))
