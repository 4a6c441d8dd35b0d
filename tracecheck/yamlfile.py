"""YAML files people edit by hand, with errors that point at the line to fix.

The policy and the service catalog are written by people, so a mistake must come back as
``policy.yaml:12: exceptions[0].expires: not a date``, not as a pydantic dump.  PyYAML's
composed node tree keeps every node's ``start_mark``; we walk it beside the constructed data and
record, for every path (``("exceptions", 0, "expires")``), the line it starts on.  A validation
error's ``loc`` is such a path, so its line is one dictionary look-up away.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tracecheck.errors import UserError
from tracecheck.usercache import load_parsed, parser_kind, store_parsed

Path_ = tuple[Any, ...]


class _Unbuildable(yaml.YAMLError):
    """A scalar its tag cannot make: ``2026-13-45`` looks like a date (PyYAML resolves it as one)
    but is none, ``!!int ten``.  PyYAML's constructors raise a bare ValueError (or KeyError, ...)
    without a line; we keep the node, whose path and line ``parse_yaml`` then finds."""

    def __init__(self, node: yaml.Node, cause: Exception):
        super().__init__(str(cause))
        self.node = node
        self.cause = cause


# libyaml's parser when PyYAML was built with it (the wheels are): the same nodes, marks and
# errors as the pure-Python one, ten times faster on the catalogs read at every run.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(SAFE_LOADER):
    """SafeLoader with YAML 1.2 booleans: only true/false.  YAML 1.1 also reads yes/no/on/off, so
    ``countries: [NO]`` would authorize ``False`` instead of Norway.  A value that cannot be built
    is an ``_Unbuildable`` naming its node."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, LookupError, TypeError, AttributeError, OverflowError) as err:
            raise _Unbuildable(node, err) from None


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its data, where each part of it was written, and its raw bytes."""

    data: Any
    lines: dict[Path_, int]
    """1-based line of every mapping value and sequence item, by path from the root."""
    label: str
    """The file name as errors should show it."""
    raw: bytes

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest ancestor we know (a missing field's parent)."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def read_yaml(path: str | Path, label: str | None = None) -> YamlDocument:
    """Read ``path``; an unreadable file or bad YAML is a UserError naming the file and line."""
    label = label or str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise UserError(f"{label}: cannot read: {err.strerror or err}") from None
    return parse_yaml(raw, label)


def read_yaml_cached(path: str | Path, label: str | None = None) -> YamlDocument:
    """``read_yaml`` for files read at every run (the shipped catalogs): data once parsed from the
    same bytes comes from the user's cache (``tracecheck.usercache``), without ``lines``.  A
    caller that finds a problem in such a document (``lines`` empty) reads it again with
    ``read_yaml`` to name the line."""
    label = label or str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise UserError(f"{label}: cannot read: {err.strerror or err}") from None
    kind = parser_kind("yaml", __file__, yaml.__version__, SAFE_LOADER.__name__)
    data = load_parsed(raw, kind)
    if data is not None:
        return YamlDocument(data=data, lines={}, label=label, raw=raw)
    doc = parse_yaml(raw, label)
    store_parsed(raw, kind, doc.data)
    return doc


def parse_yaml(raw: bytes | str, label: str) -> YamlDocument:
    """Parse one YAML document, keeping line numbers; duplicate keys are errors (a silent
    override in a policy is how an authorization gets lost)."""
    raw_bytes = raw.encode() if isinstance(raw, str) else raw
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{label}: not UTF-8 text") from None
    try:
        return _parse(text, raw_bytes, label)
    except RecursionError:  # PyYAML composes and builds nested collections recursively
        raise UserError(f"{label}: nested too deeply to read; a policy or catalog needs a few levels, "
                        "not hundreds") from None


def _parse(text: str, raw_bytes: bytes, label: str) -> YamlDocument:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _Unbuildable as err:
        raise UserError(_unbuildable_message(err, node, label)) from None
    except yaml.MarkedYAMLError as err:
        if "nesting depth" in str(err.problem):  # libyaml's own bound on what recursion would hit
            raise RecursionError from None
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        raise UserError(f"{label}:{line}: YAML syntax: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{label}: YAML syntax: {err}") from None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _record_lines(node, (), lines, label)
    return YamlDocument(data=data, lines=lines, label=label, raw=raw_bytes)


def _unbuildable_message(err: _Unbuildable, root: yaml.Node, label: str) -> str:
    """``FILE:LINE: where: 'VALUE' is not ...``: the scalar's own line, and its path if it is a value."""
    bad = err.node
    path = _path_to(root, bad)
    where = f"{format_loc(path)}: " if path else ""
    value = repr(bad.value) if isinstance(bad, yaml.ScalarNode) else "this value"
    if bad.tag == _TIMESTAMP:
        if not isinstance(bad, yaml.ScalarNode) or not _Loader.timestamp_regexp.match(bad.value):
            problem = f"{value} is not a date"  # an explicit !!timestamp on other text
        elif "offset" in str(err.cause):
            problem = f"{value} is not a date that exists (its UTC offset is a day or more)"
        else:
            problem = f"{value} is not a date that exists ({err.cause})"
        problem += "; write a date like 2026-12-31 or 2026-12-31T09:00:00Z, or put text in quotes"
    else:
        problem = f"{value} is not a valid {bad.tag.rpartition(':')[2]}"
    return f"{label}:{bad.start_mark.line + 1}: {where}{problem}"


def _path_to(node: yaml.Node, target: yaml.Node, path: Path_ = ()) -> Path_ | None:
    """The path of ``target`` under ``node``, as ``lines`` keys it; None for a key or not found."""
    if node is target:
        return path
    if isinstance(node, yaml.MappingNode):
        children = [(key.value, value) for key, value in node.value if isinstance(key, yaml.ScalarNode)]
    elif isinstance(node, yaml.SequenceNode):
        children = list(enumerate(node.value))
    else:
        children = []
    for part, child in children:
        found = _path_to(child, target, path + (part,))
        if found is not None:
            return found
    return None


def _record_lines(node: yaml.Node, path: Path_, lines: dict[Path_, int], label: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue  # merge keys and complex keys: lines fall back to the parent
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise UserError(f"{label}:{line}: duplicate key '{key}' (first on line {seen[key]})")
            seen[key] = line
            lines[path + (key,)] = line
            _record_lines(value_node, path + (key,), lines, label)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _record_lines(item, path + (index,), lines, label)


def validate(model: type[BaseModel], doc: YamlDocument, context: dict | None = None) -> Any:
    """Validate ``doc.data`` against ``model``; the first problem becomes one UserError line."""
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as err:
        raise UserError(describe_validation_error(err, doc, model)) from None


def describe_validation_error(err: ValidationError, doc: YamlDocument, model: type[BaseModel]) -> str:
    """``FILE:LINE: where: what`` for the first error, with a count of the others."""
    problems = err.errors(include_url=False)
    # A misspelt key ("authorised") also makes a required field missing; name the typo first.
    problems.sort(key=lambda problem: problem["type"] != "extra_forbidden")
    first = problems[0]
    loc = _yaml_loc(first["loc"], doc)
    where = format_loc(loc)
    message = _explain(first, loc, model)
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    return f"{doc.label}:{doc.line_of(loc)}: {where + ': ' if where else ''}{message}{more}"


def _yaml_loc(loc: tuple, doc: YamlDocument) -> Path_:
    """Drop the parts of a pydantic ``loc`` that name union branches rather than YAML keys."""
    kept: list[Any] = []
    for index, part in enumerate(loc):
        node = _node_at(doc.data, kept)
        is_last = index == len(loc) - 1
        if isinstance(part, int) and isinstance(node, list):
            kept.append(part)
        elif isinstance(node, dict) and (part in node or (is_last and isinstance(part, str))):
            kept.append(part)  # a real key, or the name of a missing field
    return tuple(kept)


def _node_at(data: Any, path: list) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def format_loc(loc: Path_) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _explain(problem: dict, loc: Path_, model: type[BaseModel]) -> str:
    kind = problem["type"]
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1) if known else []
        hint = f"; did you mean '{guess[0]}'?" if guess else (f"; expected one of: {', '.join(known)}" if known else "")
        return f"unknown field '{loc[-1]}'{hint}"
    if kind == "missing":
        return "required field is missing"
    message = problem["msg"]
    if kind.startswith(("date_", "datetime_")):
        return f"{message}; write a date like 2026-12-31" + (" or 2026-12-31T09:00:00Z" if kind.startswith("datetime") else "")
    # Our own validators raise ValueError; pydantic prefixes those with "Value error, ".
    return message.removeprefix("Value error, ")


def _fields_at(model: type[BaseModel], loc: Path_) -> list[str]:
    """The field names of the model found by following ``loc`` from ``model`` (for hints)."""
    current: Any = model
    for part in loc:
        current = _model_in(current)
        if current is None:
            return []
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return []  # a dict key: stay on the dict's value type
        current = field.annotation
    current = _model_in(current)
    return sorted(current.model_fields) if current is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside ``annotation`` (``list[X]``, ``X | None``, ``dict[str, X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset, dict, typing.Union, types.UnionType):
        for arg in reversed(typing.get_args(annotation)):
            found = _model_in(arg)
            if found is not None:
                return found
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    return None
