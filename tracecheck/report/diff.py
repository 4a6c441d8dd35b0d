"""What changed between two assessments: two report.json dicts in, one ``Diff`` out (no I/O).

Destinations are matched by address first; one left over on each side that shares a name (SNI,
DNS...) is the same destination that moved address, not one that vanished and one that appeared.
A name a server only claims for itself (a STUN REALM, a greeting) is shared by every relay or
server of its operator, so it never makes two addresses one destination.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
import json

from tracecheck.errors import UserError
from tracecheck.vocabulary import CLASSIFY_ONLY_SOURCES

SUPPORTED_SCHEMAS = ("1",)
MAX_REPORT_BYTES = 1 << 30  # a report of a million destinations is far below this
# The fields of a destination whose change is worth saying, in the order they are said.
COMPARED = ("provider", "region", "country", "jurisdictions", "vendor", "category", "service", "verdict")


@dataclass(frozen=True)
class Change:
    field: str
    old: object
    new: object


@dataclass(frozen=True)
class DestinationDiff:
    """One destination: ``appeared``, ``vanished``, ``moved`` (new address, same name) or ``changed``."""
    status: str
    ip: str
    old_ip: str | None
    name: str
    verdict: str
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class Diff:
    destinations: tuple[DestinationDiff, ...]
    sources: tuple[Change, ...]        # field = source name; old/new = {date, version, sha256} or None
    policy: tuple[Change, ...]
    new_violations: tuple[str, ...]    # addresses in violation in NEW that were not in OLD

    @property
    def exit_code(self) -> int:
        return 1 if self.new_violations else 0

    def to_json(self) -> dict:
        return asdict(self) | {"schema_version": "1", "exit_code": self.exit_code}


def load_report(path: Path) -> dict:
    """A report directory or its report.json, checked just enough to compare; UserError otherwise."""
    file = path / "report.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"{path}: no report.json there (give a directory written by `tracecheck analyze --out` or its report.json)")
    if file.stat().st_size > MAX_REPORT_BYTES:
        raise UserError(f"{file}: larger than {MAX_REPORT_BYTES >> 20} MiB; not a report.json this tool wrote")
    try:
        data = json.loads(file.read_bytes())
    except (OSError, ValueError) as err:
        raise UserError(f"{file}: not a report.json ({' '.join(str(err).split())})") from None
    if not isinstance(data, dict) or "destinations" not in data or "schema_version" not in data:
        raise UserError(f"{file}: not a tracecheck report.json (no schema_version or destinations)")
    if data["schema_version"] not in SUPPORTED_SCHEMAS:
        raise UserError(f"{file}: report schema_version {str(data['schema_version'])[:20]!r} is not supported "
                        f"(this tracecheck reads {', '.join(SUPPORTED_SCHEMAS)})")
    if not isinstance(data["destinations"], list) or not all(isinstance(d, dict) and isinstance(d.get("ip"), str)
                                                             for d in data["destinations"]):
        raise UserError(f"{file}: not a tracecheck report.json (destinations malformed)")
    return data


def diff_reports(old: dict, new: dict) -> Diff:
    olds = {d["ip"]: d for d in old.get("destinations", [])}
    news = {d["ip"]: d for d in new.get("destinations", [])}
    rows: list[DestinationDiff] = []
    for ip in sorted(olds.keys() & news.keys()):
        changes = _changes(olds[ip], news[ip])
        if changes:
            rows.append(DestinationDiff("changed", ip, None, _name(news[ip]), _verdict(news[ip]), changes))
    gone = {ip: olds[ip] for ip in sorted(olds.keys() - news.keys())}
    came = {ip: news[ip] for ip in sorted(news.keys() - olds.keys())}
    for ip, dest in list(came.items()):
        names = _names(dest)
        match = next((o for o, od in gone.items() if names & _names(od)), None)
        if match is None:
            continue
        was = gone.pop(match)
        del came[ip]
        rows.append(DestinationDiff("moved", ip, match, _name(dest), _verdict(dest),
                                    (Change("ip", match, ip), *_changes(was, dest))))
    rows += [DestinationDiff("appeared", ip, None, _name(d), _verdict(d)) for ip, d in came.items()]
    rows += [DestinationDiff("vanished", ip, None, _name(d), _verdict(d)) for ip, d in gone.items()]
    rows.sort(key=lambda r: (r.status, r.ip))

    was_violation = {ip for ip, d in olds.items() if _verdict(d) == "violation"}
    new_violations = []
    for row in rows:
        if row.verdict != "violation" or row.status == "vanished":
            continue
        before = row.old_ip if row.status == "moved" else row.ip
        if before not in was_violation:
            new_violations.append(row.ip)
    return Diff(tuple(rows), _source_changes(old, new), _policy_changes(old, new), tuple(sorted(new_violations)))


def _changes(old: dict, new: dict) -> tuple[Change, ...]:
    return tuple(Change(f, _value(old.get(f)), _value(new.get(f))) for f in COMPARED
                 if _value(old.get(f)) != _value(new.get(f)))


def _value(value: object) -> object:
    return sorted(map(str, value)) if isinstance(value, list) else value


def _names(dest: dict) -> set[str]:
    """The names that identify the destination (not those its operator's other servers share)."""
    return {str(n.get("name")).lower() for n in dest.get("names") or []
            if isinstance(n, dict) and n.get("name") and n.get("source") not in CLASSIFY_ONLY_SOURCES}


def _name(dest: dict) -> str:
    names = [n.get("name") for n in dest.get("names") or [] if isinstance(n, dict) and n.get("name")]
    return str(names[0]) if names else ""


def _verdict(dest: dict) -> str:
    return str(dest.get("verdict", ""))


def _source_changes(old: dict, new: dict) -> tuple[Change, ...]:
    def by_name(report: dict) -> dict:
        return {str(s.get("name")): {k: s.get(k) for k in ("kind", "version", "date", "sha256")}
                for s in report.get("sources") or [] if isinstance(s, dict)}
    olds, news = by_name(old), by_name(new)
    return tuple(Change(name, olds.get(name), news.get(name)) for name in sorted(olds.keys() | news.keys())
                 if olds.get(name) != news.get(name))


def _policy_changes(old: dict, new: dict) -> tuple[Change, ...]:
    op, np_ = old.get("policy") or {}, new.get("policy") or {}
    changes = [Change(f, _value(op.get(f)), _value(np_.get(f)))
               for f in ("name", "path", "sha256", "authorized", "indeterminate")
               if _value(op.get(f)) != _value(np_.get(f))]
    # Rules by their entry (categories.transcription, vendors.Genesys), exceptions by their id.
    for label, key, section, fields in (
            ("rule", "entry", "rules", ("action", "authorized", "indeterminate")),
            ("exception", "id", "exceptions", ("selector", "places", "expires", "active", "matched"))):
        def by_key(policy: dict) -> dict:
            return {str(item.get(key)): {f: _value(item.get(f)) for f in fields}
                    for item in policy.get(section) or [] if isinstance(item, dict)}
        olds, news = by_key(op), by_key(np_)
        changes += [Change(f"{label} {k}", olds.get(k), news.get(k)) for k in sorted(olds.keys() | news.keys())
                    if olds.get(k) != news.get(k)]
    return tuple(changes)
