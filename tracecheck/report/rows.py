"""Report models made and read at list speed: the loops that run once per destination.

``trusted`` makes a model instance from tracecheck's own values without validating them;
``destination_rows`` and ``light_destination`` read destinations back as plain rows for the
writers; ``plain`` makes any value JSON's (floats rounded, text encodable).  Kept apart from the
pydantic classes of ``model`` so that Cython can compile them (``tracecheck.compiled``): a
compiled class body breaks pydantic, a plain function does not.
"""

from __future__ import annotations

import ipaddress
import math
import socket
from collections.abc import Callable
from typing import Any

from tracecheck.vocabulary import Verdict

FLOAT_DIGITS = 6
"""Floats are rounded to microseconds: capture timestamps carry no more, and rounding keeps the
bytes identical across platforms whose float printing might differ in the last digit."""

_OMIT_WHEN_UNSET = {"generated", "fails", "site", "vantage_point"}
_OMIT_WHEN_EMPTY = {"via"}


def trusted(cls: type, fields: dict[str, Any]) -> Any:
    """An instance of ``cls`` made of ``fields`` -- every field, in the model's order, each of the
    declared type -- without validation: what ``model_construct`` does, without its loop over the
    fields' aliases and defaults, which costs more than judging a hundred thousand destinations.
    Only for values tracecheck made itself, never for text read back from a file."""
    if fields.keys() != cls.__pydantic_fields__.keys():  # the order only saves memory: not checked
        raise TypeError(f"{cls.__name__} needs exactly its fields; got {list(fields)}")
    made = cls.__new__(cls)
    # Filled key by key, in the fields' order, the instance's own __dict__ stays a key-sharing
    # dict (PEP 412): 300 bytes for a destination, where a dict of its own takes 800.
    values = made.__dict__
    for name, value in fields.items():
        values[name] = value
    every = _EVERY_FIELD.get(cls)
    if every is None:  # every field is given: one set per model, not one made per instance
        every = _EVERY_FIELD[cls] = _FIELDS_SETS.setdefault((cls, frozenset(fields)), set(fields))
    object.__setattr__(made, "__pydantic_fields_set__", every)
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made


def shared_fields_set(cls: type, given: set[str]) -> set[str]:
    """pydantic keeps, per instance, the set of fields its caller gave: 2 KB for a destination,
    half of what it costs.  Instances given the same fields share one set (``model._Model``)."""
    return _FIELDS_SETS.setdefault((cls, frozenset(given)), given)


_FIELDS_SETS: dict[tuple[type, frozenset[str]], set[str]] = {}
_EVERY_FIELD: dict[type, set[str]] = {}


def shared_list(texts: tuple[str, ...], made: Callable[[set[str] | tuple[str, ...]], list[str]]) -> list[str]:
    """``made(set(texts))`` (``made(texts)`` for ``list``), one list for every destination with
    the same short tuple of words (jurisdictions, flags, no relays): a hundred thousand
    destinations name a few dozen.  Safe because a report is frozen: nothing appends to its lists."""
    found = _SHARED_LISTS.get((made, texts))
    if found is None:
        found = _SHARED_LISTS[(made, texts)] = made(texts) if made is list else made(set(texts))
    return found



_SHARED_LISTS: dict[tuple[Callable, tuple[str, ...]], list[str]] = {}


def ip_sort_key(ip: str) -> tuple:
    """IPv4 before IPv6, numerically; anything unparsable last, by text."""
    # The common cases, an address as the platform writes it (so one ipaddress reads alike), without
    # ipaddress's cost: a dotted quad, or IPv6 (a tenth of the time of ipaddress's parse).
    for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        try:
            packed = socket.inet_pton(family, ip)
            if socket.inet_ntop(family, packed) == ip:
                return (version, int.from_bytes(packed, "big"), "")
        except (OSError, ValueError, TypeError):
            pass
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return (99, 0, ip)
    return (address.version, int(address), "")


VERDICT_SEVERITY = {Verdict.VIOLATION: 0, Verdict.INDETERMINATE: 1, Verdict.COMPLIANT: 2, Verdict.NOT_ASSESSED: 3}
"""Most severe first: a reviewer reads violations before anything else; what the policy did not
judge comes last."""


def severity_key(destination) -> tuple:
    """report.json's order of destinations: worst verdict first, then by address."""
    return (VERDICT_SEVERITY[destination.verdict], *ip_sort_key(destination.ip))  # a Verdict, or its value: equal keys


def light_destination(destination) -> dict[str, Any]:
    """What a summarised page reads of a destination it counts but does not list (its place,
    verdict, first name and coordinates for the map and the tables), without the rest."""
    # As ``plain`` would make them, field by field: the text a capture gave (the address, the name)
    # made encodable, the coordinates rounded; the rest is tracecheck's own words.
    # A page of a hundred thousand destinations makes as many of these: ASCII text is encodable
    # as it is, None needs no rounding, and the verdict's value is read without enum's descriptor.
    row = _LightRow().__dict__  # a key-sharing dict (PEP 412), filled in one order: 190 bytes, not 470
    ip = destination.ip
    row["ip"] = ip if ip.isascii() else encodable(ip)
    # Most have no name and few flags: those lists are shared, as the report's own are (``shared_list``;
    # nothing writes to a page's rows), not one more list per row (14 MB of 130k rows).
    names = destination.names
    row["names"] = ([{"name": encodable(names[0].name), "source": encodable(names[0].source)}] if names
                    else shared_list((), list))
    row["provider"], row["service"], row["region"] = destination.provider, destination.service, destination.region
    row["country"], row["verdict"], row["basis"] = destination.country, destination.verdict._value_, destination.basis
    row["flags"] = shared_list(tuple(destination.flags), list)
    latitude, longitude = destination.latitude, destination.longitude
    row["latitude"] = None if latitude is None else plain(latitude)
    row["longitude"] = None if longitude is None else plain(longitude)
    row["anycast"] = destination.anycast
    return row


class _LightRow:
    """Holds nothing: its instances' ``__dict__`` is what ``light_destination`` returns, a dict
    whose keys all the rows share (a page of a hundred thousand destinations holds them all)."""


def destination_rows(destinations: list, floats: tuple[str, ...]) -> list[dict[str, Any]]:
    """What ``plain_destinations`` gives, for orjson to write, made from the instances' own
    values: a destination's fields are already JSON's types, in the model's order (its names'
    and evidence items' too), and nothing of them is copied but the destination's own mapping.
    A third of the time of dumping and reading back.  The text is not checked here: orjson
    refuses a lone surrogate, and the writer then takes ``plain_destinations``.  ``floats``: the
    fields that hold floats (``model.DESTINATION_FLOATS``)."""
    rows = []
    for destination in destinations:
        row = destination.__dict__.copy()
        row["names"] = [name.__dict__ for name in destination.names]
        row["verdict"] = destination.verdict.value
        row["evidence"] = [item.__dict__ for item in destination.evidence]
        rows.append(row)
    return finished(rows, floats)


def finished(dumped: list[dict[str, Any]], floats: tuple[str, ...]) -> list[dict[str, Any]]:
    """Floats (the fields ``floats``) rounded as ``plain`` does, unset extensions dropped."""
    for destination in dumped:
        for key in floats:
            value = destination[key]
            if value.__class__ is float:  # as plain
                if not math.isfinite(value):
                    destination[key] = None
                    continue
                rounded = round(value, FLOAT_DIGITS)
                destination[key] = 0.0 if rounded == 0 else rounded
        drop_unset(destination)
    return dumped


def floats_print_alike(rows: list[dict[str, Any]], floats: tuple[str, ...]) -> bool:
    """Whether orjson writes each float of these destination rows (the fields ``floats``) as repr
    does: it does from 1e-4 up to 1e16 (a destination's times and coordinates), and its other
    numbers are integers and its text is in quotes.  Asked of the values, not by searching the
    written text (``json_report._repr_differs``): a tenth of the time over a large report."""
    for row in rows:
        for key in floats:
            value = row.get(key)
            if value.__class__ is float and value and not _REPR_PLAIN_FROM <= abs(value) < _REPR_PLAIN_BELOW:
                return False
    return True


_REPR_PLAIN_FROM, _REPR_PLAIN_BELOW = 1e-4, 1e16
"""repr writes a float in exponent form below the first and from the second."""


def drop_unset(mapping: dict[str, Any]) -> None:
    for key in _OMIT_WHEN_UNSET:
        if key in mapping and mapping[key] is None:
            del mapping[key]
    for key in _OMIT_WHEN_EMPTY:
        if key in mapping and not mapping[key]:
            del mapping[key]


def plain(value: Any) -> Any:
    """Rounded floats, no NaN, text that encodes as UTF-8; mappings keep their order."""
    if isinstance(value, dict):
        return {encodable(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return None  # JSON has no NaN or infinity; unknown is null
        rounded = round(value, FLOAT_DIGITS)
        return 0.0 if rounded == 0 else rounded  # no "-0.0"
    if isinstance(value, str):
        return encodable(value)
    return value


def encodable(text: str) -> str:
    """``text`` with lone surrogates (undecodable capture bytes) replaced by U+FFFD, so that
    writing UTF-8 never fails on what a capture contained."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
