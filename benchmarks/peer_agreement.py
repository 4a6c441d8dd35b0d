#!/usr/bin/env python3
"""How far tracecheck agrees with Zeek and nDPI on their own test captures.

    python benchmarks/peer_agreement.py --zeek ZEEK_CHECKOUT --ndpi NDPI_CHECKOUT [-j 2]

ZEEK_CHECKOUT is a zeek/zeek source tree (only ``testing/btest`` is read: the ``Traces`` and the
``Baseline/*/{conn,dns,ssl}.log`` that btest compares against); NDPI_CHECKOUT is an ntop/nDPI
tree (``tests/cfgs/default/pcap/*`` and ``tests/cfgs/default/result/*.out``). Either may be left
out; whatever is missing is skipped and said. Nothing is fetched: get the trees yourself, e.g.
``git clone --depth 1 https://github.com/zeek/zeek``.

Printed figures (tracecheck's flow table and names, on each trace):
  - Zeek connections found: TCP/UDP rows of conn.log with a tracecheck flow on the same
    5-tuple (either direction) and start time. Baselines mask timestamps (XXXXXXXXXX.XXXXXX);
    then the n-th Zeek row on a 5-tuple is matched by the count of ours on it.
  - equal packet counts: of those found, orig_pkts and resp_pkts both equal.
  - Zeek DNS answers seen: address answers in dns.log that tracecheck's names give the query
    (or a name of its CNAME chain).
  - Zeek TLS server names found: ssl.log server_name given to a flow on the same 5-tuple.
  - nDPI host names found: each ``[Hostname/SNI: x]`` of a non-DNS flow in the .out file is a
    name tracecheck saw on that flow (its server_name or a name observed in it); and how many
    are the flow's server_name itself (the name the flow is judged by).

A Zeek trace is used when a btest script reads it and only it (``-r $TRACES/...``) without a BPF
filter and the script's baseline has a conn.log (or dns.log, ssl.log); of several such
scripts, the first by name gives each log. Scripts that change
Zeek's own settings can still make its logs differ from a default run: read the misses
(``--misses``) before blaming either tool. Exit status: 0 done, 2 nothing to compare.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

TRACE_READ = re.compile(r"-r\s+\$TRACES/(\S+)")
NDPI_FLOW = re.compile(r"\s+\d+\s+(TCP|UDP) \[?([^\]\s]+?)\]?:(\d+) <-> \[?([^\]\s]+?)\]?:(\d+) "
                       r"\[proto: [^/\]]*/?([^\]]*)\].*?\[Hostname/SNI: ([^\]]+)\]")
# nDPI gives DNS-like flows the name asked for, which names no destination.
NDPI_DNS_PORTS = {53, 5353, 5355, 137}


def canonical(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def endpoints(proto: str, a: str, ap, b: str, bp) -> tuple:
    return (proto.lower(), frozenset([(canonical(a), int(ap)), (canonical(b), int(bp))]))


# --------------------------------------------------------------------------- peers' files

def zeek_log(path: Path) -> list[dict]:
    """Rows of a Zeek ASCII (TSV) or JSON-lines log; [] if it is neither."""
    rows, fields, sep = [], None, "\t"
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
        elif line.startswith("#separator"):
            sep = line.split(" ", 1)[1].encode().decode("unicode_escape") if " " in line else "\t"
        elif line.startswith("#fields"):
            fields = line.split(sep)[1:]
        elif line and not line.startswith("#") and fields:
            rows.append(dict(zip(fields, line.split(sep))))
    return rows


def zeek_cases(root: Path) -> dict[Path, dict[str, Path]]:
    """Each trace read by exactly one btest script, with that script's baseline logs."""
    btest = root / "testing" / "btest"
    readers: dict[Path, set] = defaultdict(set)
    for script in btest.rglob("*"):
        if not script.is_file() or "Baseline" in script.parts or "Traces" in script.parts:
            continue
        try:
            text = script.read_text(errors="replace")
        except OSError:
            continue
        execs = [line for line in text.splitlines() if "@TEST-EXEC" in line and "$TRACES/" in line]
        traces = {m for line in execs for m in TRACE_READ.findall(line)}
        if len(traces) != 1 or any(" -f " in line for line in execs) or "@TEST-START-NEXT" in text:
            continue
        name = ".".join(script.relative_to(btest).with_suffix("").parts)
        readers[btest / "Traces" / traces.pop()].add(name)
    cases = {}
    for trace, names in readers.items():
        if not trace.is_file():
            continue
        # Several scripts may read one trace: each log is taken from the first (by name) that has it.
        bases = [btest / "Baseline" / name for name in sorted(names)]
        logs = {}
        for kind in ("conn", "dns", "ssl"):
            logs.update({kind: base / f"{kind}.log" for base in reversed(bases) if (base / f"{kind}.log").is_file()})
        if logs:
            cases[trace] = logs
    return cases


def ndpi_cases(root: Path) -> dict[Path, Path]:
    tests = root / "tests" / "cfgs" / "default"
    return {tests / "pcap" / out.name[:-4]: out for out in sorted((tests / "result").glob("*.out"))
            if (tests / "pcap" / out.name[:-4]).is_file()}


# --------------------------------------------------------------------------- tracecheck's side

@dataclass
class Seen:
    """What tracecheck made of one trace."""

    flows: dict = field(default_factory=lambda: defaultdict(list))
    """(proto, {endpoints}) -> [(ts, {host: pkts sent}, names, server_name)] sorted by ts."""
    dns: set = field(default_factory=set)
    """(address, name) pairs from DNS answers."""
    error: str = ""


def look(trace: str) -> Seen:
    from tracecheck.flows.pipeline import build_named_flows
    seen = Seen()
    try:
        named = build_named_flows([trace], parallel=False)
        names_of = defaultdict(set)
        for obs in named.names:
            names_of[obs.uid].add(obs.name)
            if obs.source in ("dns", "dns_cname"):
                seen.dns.add((canonical(obs.ip), obs.name))
        for f in named.result.flows:
            sent = {(canonical(f.orig_h), f.orig_p): f.orig_pkts, (canonical(f.resp_h), f.resp_p): f.resp_pkts}
            names = names_of[f.uid] | ({f.server_name} if f.server_name else set())
            seen.flows[endpoints(f.proto, f.orig_h, f.orig_p, f.resp_h, f.resp_p)].append((f.ts, sent, names, f.server_name))
    except Exception as err:  # a trace tracecheck refuses is a trace it misses: counted, not fatal
        seen.error = f"{type(err).__name__}: {err}"[:200]
    for rows in seen.flows.values():
        rows.sort(key=lambda row: row[0])
    return seen


# --------------------------------------------------------------------------- comparing

@dataclass
class Tally:
    total: Counter = field(default_factory=Counter)
    hits: Counter = field(default_factory=Counter)
    misses: dict = field(default_factory=lambda: defaultdict(list))

    def count(self, what: str, hit: bool, detail: str) -> None:
        self.total[what] += 1
        self.hits[what] += hit
        if not hit:
            self.misses[what].append(detail)


def compare_zeek(trace: Path, logs: dict[str, Path], seen: Seen, tally: Tally) -> None:
    tag = trace.name
    if "conn" in logs:
        by_key = defaultdict(list)
        for row in zeek_log(logs["conn"]):
            if row.get("proto") in ("tcp", "udp") and "id.orig_h" in row:
                by_key[endpoints(row["proto"], row["id.orig_h"], row["id.orig_p"], row["id.resp_h"], row["id.resp_p"])].append(row)
        for key, rows in by_key.items():
            ours = list(seen.flows.get(key, []))
            for row in rows:
                match = pick(row, ours)
                where = f"{tag} {row['proto']} {row['id.orig_h']}:{row['id.orig_p']} -> {row['id.resp_h']}:{row['id.resp_p']}"
                tally.count("zeek_conn", match is not None, where + (f" ({seen.error})" if seen.error else ""))
                if match is None or "orig_pkts" not in row:
                    continue
                ours.remove(match)
                orig = (canonical(row["id.orig_h"]), int(row["id.orig_p"]))
                resp = (canonical(row["id.resp_h"]), int(row["id.resp_p"]))
                want = (int(row["orig_pkts"]), int(row["resp_pkts"]))
                got = (match[1].get(orig, 0), match[1].get(resp, 0))
                tally.count("zeek_pkts", got == want, f"{where}: zeek {want}, ours {got}")
    if "dns" in logs:
        for row in zeek_log(logs["dns"]):
            answers = [a for a in str(row.get("answers", "-")).split(",") if a not in ("-", "(empty)", "")]
            if isinstance(row.get("answers"), list):
                answers = row["answers"]
            chain = {str(row.get("query", "")).lower().rstrip(".")} | {a.lower().rstrip(".") for a in answers}
            for answer in answers:
                ip = canonical(answer)
                if ip == answer or ":" in answer or answer.count(".") == 3:
                    try:
                        ipaddress.ip_address(ip)
                    except ValueError:
                        continue
                    hit = any((ip, name) in seen.dns for name in chain)
                    tally.count("zeek_dns", hit, f"{tag} {row.get('query')} -> {ip}")
    if "ssl" in logs:
        for row in zeek_log(logs["ssl"]):
            name = str(row.get("server_name", "-")).lower()
            if name in ("-", "(empty)", "") or "id.orig_h" not in row:
                continue
            key = endpoints("tcp", row["id.orig_h"], row["id.orig_p"], row["id.resp_h"], row["id.resp_p"])
            flows = seen.flows.get(key, []) + seen.flows.get(("udp", key[1]), [])
            tally.count("zeek_ssl", any(name in row[2] for row in flows), f"{tag} {name} {sorted(key[1])}")


def pick(row: dict, ours: list):
    """The flow of ours that is Zeek's row: the one starting at its time, or (timestamps
    masked) the earliest not yet taken."""
    if not ours:
        return None
    try:
        ts = float(row["ts"])
    except (KeyError, ValueError):
        return ours[0]
    close = [flow for flow in ours if abs(flow[0] - ts) < 1e-3]
    return close[0] if close else None


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def loose_match(seen: Seen, proto: str, a: str, ap: int, b: str, bp: int) -> list:
    """nDPI prints some IPv6 addresses wrongly (``2600:1901::7a0b::``): match such a flow on its
    ports and its other, well-printed address."""
    good = {(canonical(h), p) for h, p in ((a, ap), (b, bp)) if is_address(h)}
    return [row for (kind, ends), rows in seen.flows.items() if kind == proto.lower() and good <= ends
            and {p for _, p in ends} == {ap, bp} for row in rows]


def compare_ndpi(trace: Path, out: Path, seen: Seen, tally: Tally) -> None:
    for line in out.read_text(errors="replace").splitlines():
        m = NDPI_FLOW.match(line)
        if not m:
            continue
        proto, a, ap, b, bp, app, name = m.groups()
        if {int(ap), int(bp)} & NDPI_DNS_PORTS:
            continue
        name = name.strip().lower()
        flows = seen.flows.get(endpoints(proto, a, ap, b, bp), [])
        if not flows and not (is_address(a) and is_address(b)):
            flows = loose_match(seen, proto, a, int(ap), b, int(bp))
        where = f"{trace.name} {proto} {a}:{ap} <-> {b}:{bp} [{app}] {name}" + ("" if flows else " (no flow)")
        tally.count("ndpi_names", any(name in row[2] for row in flows), where)
        tally.count("ndpi_server_names", any(name == row[3] for row in flows), where)


# --------------------------------------------------------------------------- main

LABELS = {
    "zeek_conn": "Zeek TCP/UDP connections found",
    "zeek_pkts": "  ... with equal packet counts",
    "zeek_dns": "Zeek DNS answers seen",
    "zeek_ssl": "Zeek TLS server names found",
    "ndpi_names": "nDPI host names found",
    "ndpi_server_names": "  ... as the flow's server_name",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zeek", type=Path, help="a zeek/zeek source tree")
    ap.add_argument("--ndpi", type=Path, help="an ntop/nDPI source tree")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="traces read in parallel")
    ap.add_argument("--only", default="", help="only traces whose path contains this text")
    ap.add_argument("--misses", action="store_true", help="list every miss")
    ap.add_argument("--json", type=Path, help="also write the figures (and misses) here")
    args = ap.parse_args(argv)

    zeek = zeek_cases(args.zeek) if args.zeek and (args.zeek / "testing" / "btest").is_dir() else {}
    ndpi = ndpi_cases(args.ndpi) if args.ndpi and (args.ndpi / "tests" / "cfgs").is_dir() else {}
    if args.zeek and not zeek:
        print(f"no Zeek btest traces with baselines under {args.zeek}: skipped", file=sys.stderr)
    if args.ndpi and not ndpi:
        print(f"no nDPI test captures with results under {args.ndpi}: skipped", file=sys.stderr)
    zeek = {t: v for t, v in zeek.items() if args.only in str(t)}
    ndpi = {t: v for t, v in ndpi.items() if args.only in str(t)}
    traces = sorted(set(zeek) | set(ndpi))
    if not traces:
        print("nothing to compare: give --zeek and/or --ndpi source trees", file=sys.stderr)
        return 2

    tally, errors = Tally(), []
    with ProcessPoolExecutor(max_workers=args.jobs) if args.jobs > 1 else nullcontext() as pool:
        results = pool.map(look, [str(t) for t in traces], chunksize=4) if pool else map(look, map(str, traces))
        for trace, seen in zip(traces, results):
            if seen.error:
                errors.append(f"{trace}: {seen.error}")
            if trace in zeek:
                compare_zeek(trace, zeek[trace], seen, tally)
            if trace in ndpi:
                compare_ndpi(trace, ndpi[trace], seen, tally)

    print(f"traces: {len(zeek)} Zeek, {len(ndpi)} nDPI; tracecheck refused {len(errors)}")
    for what, label in LABELS.items():
        if tally.total[what]:
            print(f"{label:36} {100 * tally.hits[what] / tally.total[what]:6.2f}%  "
                  f"({tally.hits[what]} of {tally.total[what]})")
    if args.misses:
        for what in LABELS:
            for miss in tally.misses[what]:
                print(f"miss {what}: {miss}")
        for error in errors:
            print(f"refused: {error}")
    if args.json:
        args.json.write_text(json.dumps({
            "figures": {w: {"hits": tally.hits[w], "total": tally.total[w]} for w in LABELS},
            "misses": tally.misses, "refused": errors}, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
