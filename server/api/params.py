"""Parameter types and text patterns shared by the routes."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from litestar.params import PathParameter

__all__ = ["EMAIL", "HHMM", "JOIN_ID", "PATTERN_REASONS", "PLAIN_TEXT", "RowId", "visible_name"]

# SQLite and PostgreSQL keys are signed 64-bit: a larger number is a 400, not an overflow.
RowId = Annotated[int, PathParameter(ge=1, le=2**63 - 1, description="A record id")]

# What people type may hold tabs and line breaks but no other control character: PostgreSQL
# refuses NUL in text, and the rest only ever comes from a broken or hostile client. The bidi
# overrides, embeddings and isolates are refused too: a name with U+202E shows reversed in the
# console's lists ("Ana" then a device label that reads as something else). Right-to-left names
# need none of them; the marks (U+200E, U+200F) stay allowed.
PLAIN_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]*$"
# "$" alone also matches before a final line break ("12:00\n"): "(?!\n)" ends them at the end.
EMAIL = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$(?!\n)"
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$(?!\n)"
# A phone's join id (a UUID).
JOIN_ID = r"^[A-Za-z0-9-]+$(?!\n)"
# msgspec names a pattern a value failed; the error response says what the pattern means.
PATTERN_REASONS = {
    PLAIN_TEXT: "must not contain control characters",
    EMAIL: "must be an email address",
    HHMM: "must be a 24-hour time, HH:MM",
    JOIN_ID: "must be letters, digits and dashes only",
}


# Characters that draw nothing: format characters (zero-width space and joiners, bidi marks, soft
# hyphen, byte-order mark), combining marks with nothing to sit on, separators, and the "filler"
# letters (Hangul fillers, blank Braille) that pass for a letter yet show as empty space. A name
# made only of these is a blank line in the patient list that nobody can read or search for.
_UNSEEN_CATEGORIES = frozenset({"Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp"})
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def visible_name(text: str) -> str:
    """``text`` with each run of white space made one space, or "" when none of it would show."""
    cleaned = " ".join(text.split())
    if all(unicodedata.category(c) in _UNSEEN_CATEGORIES or c in _FILLERS for c in cleaned):
        return ""
    return cleaned
