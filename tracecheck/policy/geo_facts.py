"""The facts policy needs from geo's curated catalogs, behind one seam.

``tracecheck.geo.catalog`` (regions.yaml, jurisdictions.yaml) belongs to the geo stage.  Policy asks
it four questions: which legal areas a country is in, which countries a named group holds, whether
a group exists, and where a region is.  Asking through this module keeps the policy working (with
less to say) when the catalog cannot be loaded, and lets tests swap in small fakes
(``monkeypatch.setattr(geo_facts, "catalog_module", lambda: fake)``).
"""

from __future__ import annotations

import sys
from functools import cache
from typing import Any


def catalog_module() -> Any | None:
    """``tracecheck.geo.catalog``, or None when it is not there (yet)."""
    loaded = sys.modules.get("tracecheck.geo.catalog")  # asked per destination: no import statement
    if loaded is not None:
        return loaded
    try:
        from tracecheck.geo import catalog
    except ImportError:
        return None
    return catalog


def _jurisdictions() -> Any | None:
    module = catalog_module()
    if module is None or not hasattr(module, "load_jurisdictions"):
        return None
    return _load_jurisdictions_once(module)


@cache
def _load_jurisdictions_once(module: Any) -> Any:
    return module.load_jurisdictions()


def jurisdictions_for(country: str | None, subdivision: str = "") -> tuple[str, ...]:
    """Legal areas ``country`` (and ``subdivision``) belong to; () when unknown."""
    table = _jurisdictions()
    if table is None or not country:
        return ()
    # Asked once per destination, of a few hundred places at most: remembered per loaded table.
    key = (id(table), country, subdivision or "")
    found = _AREAS.get(key)
    if found is not None and found[0] is table:
        return found[1]
    try:
        areas = tuple(table.jurisdictions_for(country, subdivision or ""))
    except (KeyError, ValueError):
        areas = ()
    if len(_AREAS) >= _AREAS_KEPT:
        _AREAS.clear()
    _AREAS[key] = (table, areas)
    return areas


_AREAS: dict[tuple, tuple[Any, tuple[str, ...]]] = {}
_AREAS_KEPT = 4096


def group_members(group: str) -> frozenset[str] | None:
    """Countries and subdivisions in ``group``; None when the group is unknown or no catalog."""
    table = _jurisdictions()
    if table is None:
        return None
    try:
        members = table.members(group)
    except (KeyError, ValueError):
        return None
    return frozenset(members) if members else None


def catalog_available() -> bool:
    return _jurisdictions() is not None


def find_region(code: str, provider: str | None = None) -> Any | None:
    """The region record for ``code`` (provider, code, country, subdivision, city, latitude,
    longitude), or None."""
    module = catalog_module()
    if module is None or not code or not hasattr(module, "find_region"):
        return None
    try:
        return module.find_region(code, provider or None)
    except (KeyError, ValueError, LookupError):
        return None


def regions() -> list[Any]:
    """Every region in the catalog, when the catalog can list them (for city look-ups)."""
    module = catalog_module()
    if module is None:
        return []
    for name in ("all_regions", "regions", "iter_regions"):
        lister = getattr(module, name, None)
        if callable(lister):
            try:
                return list(lister())
            except TypeError:
                continue
    loader = getattr(module, "load_regions", None)
    if callable(loader):
        loaded = loader()
        items = getattr(loaded, "regions", loaded)
        return list(items.values() if isinstance(items, dict) else items)
    return []
