"""Annotated names for the app-wide dependencies handlers ask for."""

from __future__ import annotations

from typing import Annotated

from litestar.di import Dependency

from server.catalog.model import Catalog
from server.clock import Clock
from server.db.connection import Database
from server.settings import Settings

__all__ = ["CatalogDep", "ClockDep", "DatabaseDep", "SettingsDep"]

CatalogDep = Annotated[Catalog, Dependency(kind="named")]
ClockDep = Annotated[Clock, Dependency(kind="named")]
DatabaseDep = Annotated[Database, Dependency(kind="named")]
SettingsDep = Annotated[Settings, Dependency(kind="named")]
