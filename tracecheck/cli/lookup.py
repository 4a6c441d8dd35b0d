"""`tracecheck lookup TARGET...`: where an address or a name is, with every source's answer."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import sys
from typing import Any, List

import typer

from tracecheck.cli.app import app, settings
from tracecheck.errors import UserError
from tracecheck.vocabulary import Evidence, Place


def _is_address(target: str) -> bool:
    try:
        ipaddress.ip_address(target.partition("%")[0])
        return True
    except ValueError:
        return False


_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def _is_host_name(target: str) -> bool:
    """Letters, digits and '-' in labels of 1-63 (and '_', which real DNS names carry), at most 253
    in all, international names through IDNA; never an all-digit last label (RFC 3696), so
    999.1.1.1 is a mistyped address, not a name."""
    try:
        name = target.removesuffix(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    labels = name.split(".")
    return len(name) <= 253 and all(map(_LABEL.match, labels)) and not labels[-1].isdigit()


def _checked(targets: list[str]) -> list[str]:
    """The targets, or a UserError naming the first that is neither an address nor a host name."""
    for target in targets:
        if not (_is_address(target) or _is_host_name(target)):
            raise UserError(f"{target} is not an IP address or a host name; give an address "
                            "(203.0.113.7, 2001:db8::7) or a name (api.example.com)")
    return targets


def _resolve_name(name: str) -> tuple[list[str], str]:
    """The name's addresses from the system resolver (network use the user asked for)."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError) as err:
        return [], str(err)
    return list(dict.fromkeys(info[4][0] for info in infos)), ""


def _as_json(target: str, place: Place) -> dict[str, Any]:
    return {
        "target": target, "ip": place.ip or None, "provider": place.provider, "service": place.service,
        "region": place.region, "country": place.country, "subdivision": place.subdivision, "city": place.city,
        "jurisdictions": list(place.jurisdictions), "anycast": place.anycast, "local": place.local,
        "evidence": [{"source": e.source, "claim": e.claim, "detail": e.detail} for e in place.evidence],
    }


@app.command()
def lookup(
    targets: List[str] = typer.Argument(..., help="IP addresses or host names."),
    as_json: bool = typer.Option(False, "--json", help="A JSON list, one object per target (and address)."),
    resolve: bool = typer.Option(False, "--resolve", help="Resolve host names with DNS (uses the network)."),
    rdap: bool = typer.Option(False, "--rdap", help="Also ask RDAP registries (uses the network; cached)."),
) -> None:
    """Resolve addresses (and host names) to provider, region, country and jurisdictions."""
    from tracecheck.geo.lookup import Resolver

    targets = _checked([target.strip() for target in targets if target.strip()])
    if not targets:
        raise UserError("lookup needs at least one IP address or host name")
    resolver = Resolver.from_settings(settings.db, rdap=rdap)

    plan: list[tuple[str, str | None, str]] = []  # (target, address or None, why there is none)
    names: dict[str, list[str]] = {}
    for target in targets:
        if _is_address(target):
            plan.append((target, target, ""))
        elif not resolve:
            plan.append((target, None, ""))
        else:
            addresses, error = _resolve_name(target.rstrip("."))
            for address in addresses:
                names.setdefault(address, []).append(target.lower().rstrip("."))
                plan.append((target, address, ""))
            if not addresses:
                plan.append((target, None, error))
    places = resolver.resolve([address for _, address, _ in plan if address], names)

    rows = []
    for target, address, error in plan:
        if address is not None:
            rows.append(_as_json(target, places[address]))
            continue
        place = resolver.place_for_names([target])
        if error:
            place = Place(**{**place.__dict__, "evidence": place.evidence + (Evidence("dns", "no address", error),)})
        rows.append(_as_json(target, place))
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        _print_table(rows)


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=True)
    for column in ("target", "ip", "provider", "region", "country", "jurisdictions", "evidence"):
        table.add_column(column, overflow="fold")
    for row in rows:
        where = row["country"] or ("anycast" if row["anycast"] else "local" if row["local"] else "?")
        if row["city"]:
            where += f" ({row['city']})"
        provider = row["provider"] + (f" / {row['service']}" if row["service"] else "")
        evidence = "\n".join(f"{e['source']}: {e['claim']}" for e in row["evidence"]) or "no source knows it"
        # Text, never str: targets, names and claims are not rich markup ("[/]" would crash it).
        cells = (row["target"], row["ip"] or "-", provider or "-", row["region"] or "-", where,
                 ", ".join(row["jurisdictions"]) or "-", evidence)
        table.add_row(*(Text(str(cell)) for cell in cells))
    Console(width=None if sys.stdout.isatty() else 132).print(table)  # piped: do not fold at 80 columns
    if not settings.quiet:
        Console(stderr=True).print("details of each claim (file dates, hashes, prefixes): add --json")
