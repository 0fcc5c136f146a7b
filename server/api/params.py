"""Path parameter types shared by the routes."""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter

__all__ = ["RowId"]

# SQLite and PostgreSQL keys are signed 64-bit: a larger number is a 400, not an overflow.
RowId = Annotated[int, PathParameter(ge=1, le=2**63 - 1, description="A record id")]
