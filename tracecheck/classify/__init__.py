"""Classify: destinations to services (vendor, category, the region a hostname implies)."""

from tracecheck.classify.catalog import Catalog, load_catalog
from tracecheck.classify.classifier import classify, classify_media, default_catalog

__all__ = ["Catalog", "classify", "classify_media", "default_catalog", "load_catalog"]
