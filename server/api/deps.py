"""Annotated names for the app-wide dependencies handlers ask for."""

from __future__ import annotations

from typing import Annotated

from litestar.di import Dependency
from litestar.params import SkipValidation

from server.catalog.model import Catalog
from server.clock import Clock
from server.db.connection import Database
from server.settings import Settings

__all__ = ["CatalogDep", "ClockDep", "DatabaseDep", "SettingsDep"]

# SkipValidation: these are our own objects, made once at start-up; validating the whole
# catalog on every request would cost more than the request itself.
CatalogDep = Annotated[SkipValidation[Catalog], Dependency(kind="named")]
ClockDep = Annotated[SkipValidation[Clock], Dependency(kind="named")]
DatabaseDep = Annotated[SkipValidation[Database], Dependency(kind="named")]
SettingsDep = Annotated[SkipValidation[Settings], Dependency(kind="named")]
