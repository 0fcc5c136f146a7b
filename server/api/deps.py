"""Annotated names for the app-wide dependencies handlers ask for."""

from __future__ import annotations

from typing import Annotated

from litestar.di import Dependency
from litestar.params import SkipValidation
from msgspec import Struct

from server.catalog.model import Catalog
from server.clock import Clock
from server.db.connection import Database
from server.settings import Settings

__all__ = ["CatalogDep", "ClockDep", "DatabaseDep", "Services", "ServicesDep", "SettingsDep"]

# SkipValidation: these are our own objects, made once at start-up; validating the whole
# catalog on every request would cost more than the request itself.
CatalogDep = Annotated[SkipValidation[Catalog], Dependency(kind="named")]
ClockDep = Annotated[SkipValidation[Clock], Dependency(kind="named")]
DatabaseDep = Annotated[SkipValidation[Database], Dependency(kind="named")]
SettingsDep = Annotated[SkipValidation[Settings], Dependency(kind="named")]


class Services(Struct, frozen=True):
    """Everything above in one dependency, for the patient's hot paths.

    Litestar resolves two or more dependencies of a handler concurrently in a task group,
    which costs more than the rest of a small request; one dependency is resolved directly.
    """

    db: Database
    catalog: Catalog
    clock: Clock
    settings: Settings


ServicesDep = Annotated[SkipValidation[Services], Dependency(kind="named")]
