"""The clinical content: loaded once from ``plans/``, validated, immutable."""

from __future__ import annotations

from server.catalog.loader import CatalogError, ContentProblem, load_catalog
from server.catalog.model import LANGUAGES, Catalog, Exercise, Muscle, Text

__all__ = ["LANGUAGES", "Catalog", "CatalogError", "ContentProblem", "Exercise", "Muscle", "Text", "load_catalog"]
