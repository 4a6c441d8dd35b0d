#!/usr/bin/env python3
"""Zeek's own logs of real traces, judged by ``analyze --zeek``, against ``analyze`` of the traces.

    python benchmarks/zeek_log_agreement.py --zeek ZEEK [--only SUBSTRING] [--json FILE] [-v]

ZEEK is a zeek/zeek source checkout or a bare git directory of one (``git clone --bare``; read
with ``git show``, nothing is written into it).  Only ``testing/btest`` is read: the ``Traces``
and, for each btest script that reads exactly one trace (``-r $TRACES/...``), its
``Baseline/<script>/`` logs that Zeek wrote for that trace: conn.log, with tunnel, ssl, dns,
http, quic and sip logs when the baseline has them.  Nothing is fetched.

Both sides run the same ``tracecheck analyze`` (in this process, one at a time) with the same
empty ``--db`` (embedded GeoIP and hostnames: offline), the ``gdpr-eu`` policy and
``SOURCE_DATE_EPOCH``: once on the trace, once ``--zeek`` on the baseline logs.  Compared from
the two report.json files (``--layout json``: the logs rewritten as Zeek's JSON lines, as
``LogAscii::use_json=T`` writes them, so that both of its formats are read): the destination addresses, the names of each destination both have
(name and source), and the verdict of each destination both have.

btest masks every timestamp in a baseline (``XXXXXXXXXX.XXXXXX``).  A log's ts is restored from
the trace: a conn.log row takes the start of the trace's flow on the same 5-tuple (the n-th row
on a 5-tuple the n-th flow), the other logs' rows the ts of their conn row (same uid); a row
with no such flow keeps ts unset (``-``), and is counted.  That is the only change made to the
logs.

Each difference is put in one category (printed with the case, ``-v`` for every item):
  - ``log cannot know``: a name the capture path takes from bytes Zeek does not log (a DNS
    answer of a response Zeek did not write, a server's own claim such as a STUN realm, a
    name only in a later packet of a flow);
  - ``no such log in baseline``: the btest script kept only some logs (no dns.log, no ssl.log);
  - ``zeek skipped``: Zeek wrote no conn row for traffic the trace has (a script that filters,
    a tunnel it does not open), or no name row (a connection it saw start mid-stream is not
    analysed);
  - ``direction``: Zeek made the other side of a flow its originator (its rule without a SYN
    looks at ports; the capture path's takes the first packet's sender, CONTRACT.md), and the
    log's ``history`` did not let the reader put it back (``sensors/zeek.capture_orientation``);
  - ``capture path``: a destination or name only the logs have: the capture path missed it;
  - ``follows a name difference``: a verdict that differs because the names above differ;
  - ``log refused``: ``analyze --zeek`` refused the log with exit 2 and said why (a conn.log
    whose address fields the script renamed);
  - ``other``: to be read (``-v``) before being blamed on either side.

Exit status: 0 done, 2 nothing to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

LOGS = ("conn", "tunnel", "ssl", "dns", "http", "quic", "sip")
TUNNEL_PROTOS = {b"Tunnel::GRE": ("47",), b"Tunnel::IP": ("4", "41")}
"""tunnel.log's IP-level tunnels and the capture path's proto for their outer flow (IP in IP:
4 or 41 by the inner version, which tunnel.log does not say)."""
TRACE_READ = re.compile(r"-r\s+\$\{?TRACES\}?/([^\s\"';)]+)")
SCOPE_SEP = {b"id_orig_h": b"id.orig_h", b"id_orig_p": b"id.orig_p", b"id_resp_h": b"id.resp_h", b"id_resp_p": b"id.resp_p"}
MASKED = re.compile(rb"^XXXXXXXXXX\.XXXXXX$")
SCRIPT_SUFFIXES = (".zeek", ".test", ".sh", ".bro", ".spicy", ".py")


class Tree:
    """``testing/btest`` of a zeek checkout or of a bare git directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git = not (root / "testing" / "btest").is_dir()
        if self.git:
            out = subprocess.run(["git", "--git-dir", str(root), "ls-tree", "-r", "--name-only", "HEAD",
                                  "testing/btest"], capture_output=True, check=True, text=True).stdout
            self.files = out.splitlines()
        else:
            base = root / "testing" / "btest"
            self.files = sorted(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())
        self.known = set(self.files)

    def read(self, path: str) -> bytes:
        if self.git:
            return subprocess.run(["git", "--git-dir", str(self.root), "show", f"HEAD:{path}"],
                                  capture_output=True, check=True).stdout
        return (self.root / path).read_bytes()


@dataclass
class Case:
    name: str
    """The btest script, dotted (its Baseline directory's name)."""
    trace: str
    logs: dict[str, str]
    """kind -> path in the tree."""
    filters: bool = False
    """The script filters packets, renames fields or disables analyzers (``FILTERS``)."""


def cases(tree: Tree) -> list[Case]:
    scripts: dict[str, str] = {}
    baselines: dict[str, dict[str, str]] = defaultdict(dict)
    for path in tree.files:
        parts = path.split("/")
        if parts[2] == "Baseline" and len(parts) == 5 and parts[4].endswith(".log") and parts[4][:-4] in LOGS:
            baselines[parts[3]][parts[4][:-4]] = path
        elif parts[2] not in ("Baseline", "Traces") and path.endswith(SCRIPT_SUFFIXES):
            scripts[".".join(parts[2:])[: -len(Path(path).suffix)]] = path
    found = []
    for name, logs in sorted(baselines.items()):
        if "conn" not in logs or name not in scripts:
            continue
        text = tree.read(scripts[name]).decode("utf-8", "replace")
        traces = set(TRACE_READ.findall(text))
        if len(traces) != 1 or "@TEST-START-NEXT" in text:
            continue
        trace = f"testing/btest/Traces/{traces.pop()}"
        # a baseline of zeek-cut's output (a few bare columns, no header) is not a Zeek log
        logs = {kind: path for kind, path in logs.items() if _is_zeek_log(tree.read(path))}
        if trace in tree.known and "conn" in logs:
            found.append(Case(name, trace, logs, filters=bool(FILTERS.search(text))))
        elif trace in tree.known:
            NOT_LOGS.append(name)
    return found


NOT_LOGS: list[str] = []
"""Cases passed over: their conn.log baseline is zeek-cut's output, not a log."""
FILTERS = re.compile(r"\s-f\s|[Ff]ilter|Log::remove_default_filter|"
                     r"skip_further_processing|disable_analyzer|rename|Log::default_field_name_map|scope_sep")
"""A script that filters packets or reshapes the log: Zeek's log then differs by design."""


def _is_zeek_log(data: bytes) -> bool:
    body = data.split(b"\n", 1)[1] if data.startswith(b"### ") else data
    return body.startswith(b"#separator") or body.lstrip().startswith(b"{")


# --------------------------------------------------------------------------- restoring ts


def trace_flows(trace: str) -> dict:
    """(proto, {endpoints}) -> [start ts], sorted, of the trace's flows (the capture path)."""
    from tracecheck.flows.pipeline import build_named_flows

    out = defaultdict(list)
    for flow in build_named_flows([trace], parallel=False).result.flows:
        out["originators"].append(flow.orig_h)
        out[(flow.proto, frozenset([(flow.orig_h, flow.orig_p), (flow.resp_h, flow.resp_p)]))].append(flow.ts)
    for key, times in out.items():
        if key != "originators":
            times.sort()
    return out


def _canonical(host: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def restore_ts(logs: dict[str, bytes], flows: dict) -> tuple[dict[str, bytes], Counter]:
    """The logs with their masked ts put back from the trace's flows (see the module's doc)."""
    tally: Counter = Counter()
    by_uid: dict[bytes, bytes] = {}
    used: Counter = Counter()
    out = {}
    for kind in sorted(logs, key=lambda k: k != "conn"):
        lines = logs[kind].split(b"\n")
        fields: list[bytes] = []
        for i, line in enumerate(lines):
            if line.startswith(b"#fields"):
                fields = line.split(b"\t")[1:]
                continue
            if not line or line.startswith(b"#") or b"ts" not in fields:
                continue
            values = line.split(b"\t")
            if len(values) != len(fields):
                continue
            row = {SCOPE_SEP.get(name, name): value for name, value in zip(fields, values)}
            if not MASKED.match(row[b"ts"]):
                continue
            when = None
            if kind == "tunnel" and row.get(b"uid", b"") not in by_uid:
                # GRE / IP in IP: no conn row; the outer flow is the capture's (proto, addresses, ports 0)
                for proto in TUNNEL_PROTOS.get(row.get(b"tunnel_type", b""), ()):
                    key = (proto, frozenset([(_canonical(row[b"id.orig_h"].decode()), 0),
                                             (_canonical(row[b"id.resp_h"].decode()), 0)]))
                    if flows.get(key):
                        when = f"{flows[key][0]:.6f}".encode()
                        break
            elif kind == "conn":
                try:
                    key = (row[b"proto"].decode(), frozenset([
                        (_canonical(row[b"id.orig_h"].decode()), int(row[b"id.orig_p"])),
                        (_canonical(row[b"id.resp_h"].decode()), int(row[b"id.resp_p"]))]))
                except (KeyError, ValueError):
                    key = None
                times = flows.get(key, [])
                if used[key] < len(times):
                    when = f"{times[used[key]]:.6f}".encode()
                    used[key] += 1
                if b"uid" in row and when is not None:
                    by_uid[row[b"uid"]] = when
            else:
                when = by_uid.get(row.get(b"uid", b""))
            tally[f"{kind} ts restored" if when is not None else f"{kind} ts left unset"] += 1
            values[fields.index(b"ts")] = when if when is not None else b"-"
            lines[i] = b"\t".join(values)
        out[kind] = b"\n".join(lines)
    return out, tally


# --------------------------------------------------------------------------- running analyze


def tracecheck(*args: str) -> tuple[int, str]:
    from tracecheck.cli import main

    err = io.StringIO()
    argv = sys.argv
    sys.argv = ["tracecheck", "--quiet", *args]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except Exception as exc:  # noqa: BLE001 - a crash is a finding, not the end of the run
        code, err = 99, io.StringIO(f"{type(exc).__name__}: {exc}")
    finally:
        sys.argv = argv
    return code, err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else ""


@dataclass
class Result:
    case: Case
    code_pcap: int = 0
    code_logs: int = 0
    error: str = ""
    ts: Counter = field(default_factory=Counter)
    dests_pcap: set = field(default_factory=set)
    dests_logs: set = field(default_factory=set)
    names_pcap: dict = field(default_factory=dict)
    names_logs: dict = field(default_factory=dict)
    verdicts_pcap: dict = field(default_factory=dict)
    verdicts_logs: dict = field(default_factory=dict)
    orig_pcap: set = field(default_factory=set)
    """Addresses the capture path made the originator of some flow."""
    differences: list = field(default_factory=list)
    """(category, what)."""


def report_of(directory: Path) -> dict | None:
    path = directory / "report.json"
    return json.loads(path.read_text()) if path.is_file() else None


def as_json_lines(tsv: bytes) -> bytes:
    """A TSV log as Zeek writes it with ``LogAscii::use_json=T``: one object per record, flat
    dotted keys, counts and ports as numbers, times as epoch seconds, sets and vectors as arrays,
    unset fields left out (but a ts the trace could not restore, written null)."""
    header = {"separator": "\t", "set_separator": ",", "empty_field": "(empty)", "unset_field": "-"}
    fields: list[str] = []
    types: list[str] = []
    out = []
    for line in tsv.decode("utf-8", "surrogateescape").split("\n"):
        if line.startswith("#separator"):
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition("\t")
            if key == "fields":
                fields = value.split("\t")
            elif key == "types":
                types = value.split("\t")
            elif key in header:
                header[key] = value
            continue
        if not line or not fields:
            continue
        record = {}
        for name, kind, text in zip(fields, types or ["string"] * len(fields), line.split("\t")):
            if text == header["unset_field"]:
                if name == "ts":  # a masked ts not restored: null, as Zeek never leaves ts out
                    record[name] = None
                continue
            if kind.startswith(("set[", "vector[")):
                items = [] if text == header["empty_field"] else text.split(header["set_separator"])
                inner = kind[kind.index("[") + 1 : -1]
                record[name] = [_json_value(inner, item) for item in items]
            else:
                record[name] = "" if text == header["empty_field"] else _json_value(kind, text)
        out.append(json.dumps(record, ensure_ascii=False))
    return ("\n".join(out) + "\n").encode("utf-8", "surrogateescape") if out else b""


def _json_value(kind: str, text: str):
    try:
        if kind in ("count", "int", "port"):
            return int(text)
        if kind in ("time", "interval", "double"):
            return float(text)
    except ValueError:
        return text
    if kind == "bool":
        return text == "T"
    return text


def run_case(tree: Tree, case: Case, work: Path, db: Path, policy: Path, layout: str = "tsv") -> Result:
    result = Result(case)
    trace = work / Path(case.trace).name
    trace.write_bytes(tree.read(case.trace))
    logs_dir = work / "logs"
    logs_dir.mkdir()
    raw = {kind: tree.read(path) for kind, path in case.logs.items()}
    try:
        flows = trace_flows(str(trace))
        result.orig_pcap = set(flows.pop("originators", []))
        fixed, result.ts = restore_ts(raw, flows)
    except Exception as exc:  # noqa: BLE001 - the capture path refusing a trace is a finding
        fixed, result.error = raw, f"trace: {type(exc).__name__}: {exc}"[:160]
    for kind, data in fixed.items():
        # btest's header line (before #separator) is not Zeek's: left out, as Zeek writes no such line
        if data.startswith(b"### "):
            data = data.split(b"\n", 1)[1]
        (logs_dir / f"{kind}.log").write_bytes(as_json_lines(data) if layout == "json" else data)
    common = ("--db", str(db))
    result.code_pcap, err_pcap = tracecheck(*common, "analyze", str(trace), "--policy", str(policy),
                                            "--out", str(work / "pcap"))
    result.code_logs, err_logs = tracecheck(*common, "analyze", "--zeek", str(logs_dir), "--policy", str(policy),
                                            "--out", str(work / "zeek"))
    pcap, logs = report_of(work / "pcap"), report_of(work / "zeek")
    if pcap is None or logs is None:
        result.error = result.error or f"pcap: {err_pcap!r} zeek: {err_logs!r}"
    if pcap is not None and logs is None and result.code_logs == 2:
        result.error = ""
        result.differences.append(("log refused", f"exit 2: {err_logs}"))
        return result
    for report, dests, names, verdicts in ((pcap, result.dests_pcap, result.names_pcap, result.verdicts_pcap),
                                           (logs, result.dests_logs, result.names_logs, result.verdicts_logs)):
        for dest in (report or {}).get("destinations", []):
            dests.add(dest["ip"])
            names[dest["ip"]] = {(n["name"], n["source"]) for n in dest["names"]}
            verdicts[dest["ip"]] = dest["verdict"]
    classify(result, raw)
    return result


def _rows(raw: bytes) -> list[dict]:
    rows, fields = [], []
    for line in raw.decode("utf-8", "replace").split("\n"):
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#") and fields:
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


NAME_LOG = {"dns": "dns", "dns_cname": "dns", "sni": "ssl", "quic_sni": "quic", "http_host": "http", "sip": "sip"}
NAME_FIELDS = {"dns": ("query", "answers"), "ssl": ("server_name",), "quic": ("server_name",), "http": ("host",),
               "sip": ("uri", "request_to")}


def classify(result: Result, raw: dict[str, bytes]) -> None:
    """Each difference of the two reports in a category (the module's doc)."""
    conn = _rows(raw["conn"]) + [row for row in _rows(raw.get("tunnel", b""))
                                 if row.get("tunnel_type") in ("Tunnel::GRE", "Tunnel::IP")]
    responders = {_canonical(row.get("id.resp_h", "")) for row in conn}
    originators = {_canonical(row.get("id.orig_h", "")) for row in conn}
    add = result.differences.append
    why_filtered = " (the script filters packets or reshapes the log)" if result.case.filters else ""
    for ip in sorted(result.dests_pcap - result.dests_logs):
        if ip in originators and ip not in responders:
            add(("direction", f"{ip}: Zeek made it the originator of its flows"))
        elif ip not in responders:
            add(("zeek skipped", f"{ip}: no conn.log row has this address{why_filtered}"))
        else:
            add(("other", f"{ip}: destination only in the capture's report"))
    for ip in sorted(result.dests_logs - result.dests_pcap):
        if ip in result.orig_pcap:
            add(("direction", f"{ip}: Zeek made it the responder; the capture path the originator"))
        else:
            add(("capture path", f"{ip}: destination only in the logs' report"))
    for ip in sorted(result.dests_pcap & result.dests_logs):
        ours, theirs = result.names_pcap.get(ip, set()), result.names_logs.get(ip, set())
        for name, source in sorted(ours - theirs):
            log = NAME_LOG.get(source)
            rows = _rows(raw.get(log, b"")) if log else []
            text = " ".join(row.get(f, "") for row in rows for f in NAME_FIELDS.get(log, ())).lower()
            if log is None:
                add(("log cannot know", f"{ip}: {name} ({source}) is the server's own claim, no Zeek log has it"))
            elif log not in raw:
                add(("no such log in baseline", f"{ip}: {name} ({source}): the baseline has no {log}.log"))
            elif name not in text:
                add(("zeek skipped", f"{ip}: {name} ({source}): no {log}.log row has it (Zeek did not "
                                     f"analyse that flow or message){why_filtered}"))
            elif log == "dns" and not any(ip in row.get("answers", "") for row in rows):
                add(("log cannot know", f"{ip}: {name} ({source}): dns.log lists no answer with this address "
                                        f"(an additional-section record: dns.log keeps answers only)"))
            else:
                add(("other", f"{ip}: {name} ({source}) only from the capture"))
        for name, source in sorted(theirs - ours):
            add(("capture path", f"{ip}: {name} ({source}) only from the logs"))
        if result.verdicts_pcap.get(ip) != result.verdicts_logs.get(ip):
            category = "follows a name difference" if ours != theirs else "other"
            add((category, f"{ip}: verdict {result.verdicts_pcap.get(ip)} (capture) vs "
                           f"{result.verdicts_logs.get(ip)} (logs)"))


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zeek", required=True, type=Path, help="zeek checkout or bare git directory")
    parser.add_argument("--only", default="", help="only cases whose name contains this")
    parser.add_argument("--json", type=Path, help="write every case's figures and differences here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every difference")
    parser.add_argument("--layout", choices=("tsv", "json"), default="tsv",
                        help="give analyze --zeek the logs as written (tsv) or as Zeek's JSON lines (json)")
    args = parser.parse_args(argv)
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1795000000")
    tree = Tree(args.zeek)
    todo = [case for case in cases(tree) if args.only in case.name]
    if not todo:
        print(f"{args.zeek}: no btest script with a trace and a conn.log baseline", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="zeek-agreement-") as tmp:
        db, policy = Path(tmp) / "db", Path(tmp) / "policy.yaml"
        tracecheck("--db", str(db), "policy", "init", "--template", "gdpr-eu", "-o", str(policy))
        for index, case in enumerate(todo):
            work = Path(tmp) / f"case-{index}"
            work.mkdir()
            results.append(run_case(tree, case, work, db, policy, args.layout))
            print(f"\r{index + 1}/{len(todo)} {case.name[:60]:60}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print_table(results, args.verbose)
    print(f"passed over: {len(NOT_LOGS)} scripts whose conn.log baseline is zeek-cut output, not a log")
    if args.json:
        args.json.write_text(json.dumps([{
            "case": r.case.name, "trace": r.case.trace, "logs": sorted(r.case.logs), "error": r.error,
            "exit": [r.code_pcap, r.code_logs], "ts": dict(r.ts),
            "destinations": [len(r.dests_pcap), len(r.dests_logs), len(r.dests_pcap & r.dests_logs)],
            "differences": r.differences} for r in results], indent=1))
    return 0


def print_table(results: list[Result], verbose: bool) -> None:
    totals: Counter = Counter()
    categories: Counter = Counter()
    print(f"{'case':58} {'logs':22} {'dst pcap/zeek/both':>18} {'names =':>8} {'verdict =':>9} exit")
    for r in results:
        both = r.dests_pcap & r.dests_logs
        names_same = sum(r.names_pcap.get(ip) == r.names_logs.get(ip) for ip in both)
        verdicts_same = sum(r.verdicts_pcap.get(ip) == r.verdicts_logs.get(ip) for ip in both)
        totals.update({"cases": 1, "dest pcap": len(r.dests_pcap), "dest logs": len(r.dests_logs),
                       "dest both": len(both), "dest union": len(r.dests_pcap | r.dests_logs),
                       "names same": names_same, "verdicts same": verdicts_same,
                       "cases identical": not r.differences and not r.error, "errors": bool(r.error),
                       "same exit": r.code_pcap == r.code_logs})
        totals.update(r.ts)
        categories.update(category for category, _ in r.differences)
        logs = ",".join(k for k in LOGS if k in r.case.logs)
        print(f"{r.case.name[:58]:58} {logs:22} {len(r.dests_pcap):>6}/{len(r.dests_logs)}/{len(both):<5} "
              f"{names_same:>4}/{len(both):<3} {verdicts_same:>4}/{len(both):<4} {r.code_pcap},{r.code_logs}"
              + (f"  ERROR {r.error}" if r.error else ""))
        if verbose:
            for category, what in r.differences:
                print(f"    [{category}] {what}")
    union = totals["dest union"] or 1
    both = totals["dest both"] or 1
    print()
    print(f"cases {totals['cases']}, identical {totals['cases identical']}, errors {totals['errors']}, "
          f"same exit code {totals['same exit']}")
    print(f"destinations: capture {totals['dest pcap']}, logs {totals['dest logs']}, both {totals['dest both']} "
          f"= {totals['dest both'] / union:.2%} of the union")
    print(f"names identical on {totals['names same']}/{totals['dest both']} = {totals['names same'] / both:.2%} "
          f"of the shared destinations; verdicts equal on {totals['verdicts same']}/{totals['dest both']} = "
          f"{totals['verdicts same'] / both:.2%}")
    print("ts restored: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items()) if " ts " in k))
    print("differences by category: " + ", ".join(f"{k} {v}" for k, v in categories.most_common()))


if __name__ == "__main__":
    sys.exit(main())
