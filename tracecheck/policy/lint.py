"""What a policy says that would silently miss: warnings, not errors, each ``FILE:LINE: ...``.

A policy is valid YAML with valid fields and can still decide nothing: an exception for
``vendor: AWS Transcribe`` (a service, not a vendor) never matches, and the violation it was
written for stays a violation -- or, worse, a vendor rule that never matches leaves a stricter
category rule to nobody.  Each selector (exception, ignore entry, vendor rule) is checked
against the service catalog the run uses, with the closest names the catalog knows.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tracecheck.classify.catalog import Catalog
from tracecheck.policy.model import Policy, Selector, service_names
from tracecheck.vocabulary import Category

EXPIRY_WARNING_DAYS = 30

CALL_CATEGORIES = frozenset({Category.MEDIA, Category.TELEPHONY_CARRIER})
"""Categories a destination gets from a call it carries, whatever the catalog says of it."""


@dataclass(frozen=True)
class _Known:
    """The catalog's services, as a policy may name them."""

    services: frozenset[tuple[str, str, Category]]
    """(vendor, service name, category) of every pattern."""

    @classmethod
    def of(cls, catalog: Catalog) -> _Known:
        return cls(frozenset((p.vendor, p.name, p.category) for p in catalog.patterns))

    @property
    def vendors(self) -> list[str]:
        return sorted({vendor for vendor, _, _ in self.services})

    def full_name(self, vendor: str, name: str) -> str:
        return name if name.casefold().startswith(vendor.casefold()) else f"{vendor} {name}"

    @property
    def full_names(self) -> list[str]:
        return sorted({self.full_name(vendor, name) for vendor, name, _ in self.services})

    def matches(self, selector: Selector) -> bool:
        if selector.category in CALL_CATEGORIES:  # a call's peers: only the vendor must exist
            return not selector.vendor or selector.vendor.casefold() in {v.casefold() for v in self.vendors}
        return any((not selector.vendor or selector.vendor.casefold() == vendor.casefold())
                   and (not selector.service or selector.service.casefold() in service_names(vendor, name))
                   and (not selector.category or selector.category is category)
                   for vendor, name, category in self.services)

    def hint(self, selector: Selector) -> str:
        """Why nothing matches, and the closest names the catalog knows."""
        vendors = {v.casefold(): v for v in self.vendors}
        if selector.vendor and selector.vendor.casefold() not in vendors:
            as_service = _closest(selector.vendor, self.full_names, cutoff=0.9)
            if as_service:
                vendor = next(v for v, n, _ in self.services if self.full_name(v, n) == as_service)
                return (f"'{selector.vendor}' is a service, not a vendor: did you mean `vendor: {vendor}`, "
                        f"`service: {as_service}`?")
            close = _closest(selector.vendor, self.vendors)
            return f"no vendor '{selector.vendor}' in the catalog" + (f": did you mean `vendor: {close}`?" if close else "")
        if selector.service and not any(selector.service.casefold() in service_names(v, n) for v, n, _ in self.services):
            close = _closest(selector.service, self.full_names)
            return f"no service '{selector.service}' in the catalog" + (f": did you mean `service: {close}`?" if close else "")
        asked = " and ".join(f"{key} {getattr(selector, key).value if key == 'category' else getattr(selector, key)}"
                             for key in ("vendor", "service", "category") if getattr(selector, key))
        offered = sorted({c.value for v, n, c in self.services
                          if (not selector.vendor or v.casefold() == selector.vendor.casefold())
                          and (not selector.service or selector.service.casefold() in service_names(v, n))})
        return f"no service in the catalog is {asked}" + (f" (it has: {', '.join(offered)})" if offered else "")

    def rule_key_known(self, key: str) -> bool:
        """A ``vendors:`` key as ``_rule_for`` reads it: a vendor, a service, or vendor and service."""
        folded = key.casefold()
        return any(folded == vendor.casefold() or folded in service_names(vendor, name)
                   for vendor, name, _ in self.services)


def _closest(wanted: str, choices: list[str], cutoff: float = 0.6) -> str:
    folded = {choice.casefold(): choice for choice in choices}
    found = difflib.get_close_matches(wanted.casefold(), list(folded), n=1, cutoff=cutoff)
    return folded[found[0]] if found else ""


def policy_warnings(policy: Policy, today: date, catalog: Catalog | None = None) -> list[str]:
    """Things worth fixing that do not make the policy invalid, each ``FILE:LINE: ...``:
    exceptions expired or about to, and -- with the run's ``catalog`` -- every exception, ignore
    entry and vendor rule that no service in it can match."""
    warnings = []

    def at(*path: Any) -> str:
        line = policy.line_of(*path)
        return f"{policy.path}:{line}" if line else policy.path

    for index, exception in enumerate(policy.exceptions):
        if not exception.active_on(today):
            warnings.append(f"{at('exceptions', index, 'expires')}: exception {exception.id} expired on "
                            f"{exception.expires.isoformat()}; it no longer applies")
        elif exception.expires - today <= timedelta(days=EXPIRY_WARNING_DAYS):
            warnings.append(f"{at('exceptions', index, 'expires')}: exception {exception.id} expires on "
                            f"{exception.expires.isoformat()}")
    if catalog is None:
        return warnings
    known = _Known.of(catalog)
    selectors = [(("exceptions", index), f"exception {exception.id}", exception)
                 for index, exception in enumerate(policy.exceptions)]
    selectors += [(("ignore", index), f"ignore[{index}]", rule) for index, rule in enumerate(policy.ignore)]
    for path, label, selector in selectors:
        if (selector.vendor or selector.service or selector.category) and not known.matches(selector):
            warnings.append(f"{at(*path)}: {label} matches nothing in the service catalog: {known.hint(selector)}")
    for key in policy.vendors:
        if not known.rule_key_known(key):
            close = _closest(key, known.vendors + known.full_names)
            hint = f"; did you mean `{close}`?" if close else ""
            warnings.append(f"{at('vendors', key)}: vendors.{key} matches nothing in the service catalog{hint} "
                            f"(a --catalog file may name it)")
    return warnings
