#!/usr/bin/env python3
"""Time `tracecheck flows` against tshark's conversation tables on the same capture.

    python benchmarks/bench_flows.py                  # 1M-packet corpus (generated if missing)
    python benchmarks/bench_flows.py FILE             # any capture
    python benchmarks/bench_flows.py --memory         # peak RSS of tracecheck on 1M and 5M packets

Both tools run in the same invocation, alternately, best of --repeat wall times each:
    tracecheck --quiet flows FILE -o /dev/null --format csv
    tshark -q -n -r FILE -z conv,tcp -z conv,udp
The result is quoted as a ratio (tracecheck packets/s / tshark packets/s), which survives a
slower or busier machine far better than seconds do. Flow and packet counts of both tools
(and of the generator's sidecar JSON, when there is one) are compared too.

Exit status: 0 every bar met and the counts agree; 1 a bar missed or the counts disagree;
2 the benchmark could not run (tshark missing, tracecheck failing, bad arguments).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEED_BAR = 5.0  # tracecheck must be at least this many times faster than tshark
MEMORY_BAR = 1.25  # peak RSS at 5M packets may be at most this multiple of the 1M figure


@dataclass
class Run:
    """One tool's timings on one capture."""
    tool: str
    command: list[str]
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    """User + system time of the run, its child processes included: steadier than wall time
    on a shared machine, and it shows what a second process costs."""
    peak_rss_mb: float = 0.0

    @property
    def best(self) -> float:
        return min(self.seconds)


class BenchError(Exception):
    """The benchmark cannot run; the message says what to do."""


# ------------------------------------------------------------------------------ running
def tracecheck_command() -> list[str]:
    exe = shutil.which("tracecheck")
    if exe:
        return [exe]
    return [sys.executable, "-m", "tracecheck"]  # as the console script runs it (cli.run)


def timed(command: list[str], capture: bool = False) -> tuple[float, float, str, float]:
    """Run command; return wall seconds, peak RSS in MB (of this child alone), stdout and CPU
    seconds (user + system, the child's own children included)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out if capture else subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
            raise BenchError(f"{Path(command[0]).name} exited {proc.returncode}: {' '.join(command)}\n  "
                             + "\n  ".join(tail))
        out.seek(0)
        return (seconds, child_peak_mb(usage), out.read().decode(errors="replace") if capture else "",
                usage.ru_utime + usage.ru_stime)


def child_peak_mb(usage) -> float:
    """A child's peak RSS (MB) from the ``wait4`` rusage; a warning when it is not above this
    process's own peak, since the child's exec records its parent's high-water mark as well."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if usage.ru_maxrss <= own:
        print(f"warning: a child's peak RSS ({usage.ru_maxrss / 1024:,.0f} MB) is not above this benchmark's own "
              f"({own / 1024:,.0f} MB): it may be this process's, not the child's", file=sys.stderr)
    return usage.ru_maxrss / 1024


def warm(path: Path) -> None:
    """Read the file once so that no tool pays for the first cold read."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# ----------------------------------------------------------------------------- counting
def tshark_conversations(text: str) -> dict:
    """Rows and total frames of tshark's TCP and UDP conversation tables.

    tshark 4.x prints an RTP stream set up by SDP as two one-way conversations, so the
    rows are also merged by unordered endpoint pair."""
    rows, frames, pairs = 0, 0, set()
    proto = None
    for line in text.splitlines():
        heading = re.match(r"(TCP|UDP) Conversations", line)
        if heading:
            proto = heading.group(1)
            continue
        if "<->" not in line or proto is None:
            continue
        left, rest = line.split("<->", 1)
        tokens = rest.split()
        right, numbers = tokens[0], []
        for token in tokens[1:]:  # "12 kB" counts as one number; units are not needed here
            if re.fullmatch(r"\d+(\.\d+)?", token):
                numbers.append(token)
        # frames <-, bytes <-, frames ->, bytes ->, frames total, bytes total, start, duration
        rows += 1
        frames += int(numbers[4])
        pairs.add((proto, *sorted((left.strip(), right))))
    return {"flows": rows, "packets": frames, "endpoint_pairs": len(pairs)}


def tracecheck_counts(path: Path) -> dict:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        flows = packets = 0
        for row in reader:
            flows += 1
            packets += int(row["orig_pkts"] or 0) + int(row["resp_pkts"] or 0)
    return {"flows": flows, "packets": packets}


def capture_facts(path: Path) -> dict:
    """Packets and flows as written by make_corpus.py (its sidecar), else packets from capinfos."""
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        facts = json.loads(sidecar.read_text())
        return {"packets": facts["packets"], "flows": facts["flows"], "source": "generator"}
    if shutil.which("capinfos"):
        out = subprocess.run(["capinfos", "-M", "-c", str(path)], capture_output=True, text=True).stdout
        found = re.search(r"Number of packets:\s*(\d+)", out)
        if found:
            return {"packets": int(found.group(1)), "flows": None, "source": "capinfos"}
    return {"packets": None, "flows": None, "source": None}


def corpus(packets: int, seed: int, quiet: bool) -> Path:
    sys.path.insert(0, str(HERE))
    import make_corpus  # noqa: E402 - a sibling script, not a package

    path = make_corpus.default_path(packets, seed)
    if not path.exists():
        if not quiet:
            print(f"generating {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path} ...",
                  file=sys.stderr)
        # In a process of its own: generating holds hundreds of MB, and a child started later
        # from this process would report this process's peak as its own (Linux records the
        # parent's high-water mark at the child's exec, in the ru_maxrss that wait4 returns).
        subprocess.run([sys.executable, str(HERE / "make_corpus.py"), "--packets", str(packets), "--seed", str(seed),
                        "-o", str(path), "--quiet"], check=True)
    return path


# Each optional C extension, by what it does (without a compiler at install time tracecheck
# runs the same in Python and NumPy, slower).
COMPILED_PARTS = (("record walk", "tracecheck.ingest.walk"), ("decoder fast path", "tracecheck.ingest.fastpath"),
                  ("packet choice", "tracecheck.dissect.choice"), ("ClientHello", "tracecheck.dissect.tls"),
                  ("DNS", "tracecheck.dissect.dns"), ("QUIC Initial", "tracecheck.dissect.quic"),
                  ("flow builder", "tracecheck.flows.builder"))


def compiled_parts() -> str:
    """Which parts of this tracecheck run compiled."""
    modules = ", ".join(module for _, module in COMPILED_PARTS)
    probe = subprocess.run([sys.executable, "-c", f"import importlib; print(*(importlib.import_module(m).COMPILED "
                            f"for m in {modules.split(', ')!r}))"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "compiled parts: unknown (tracecheck not importable by this Python)"
    built = [word == "True" for word in probe.stdout.split()]
    parts = "compiled " + "; ".join(f"{name}: {'yes' if on else 'NO'}" for (name, _), on in zip(COMPILED_PARTS, built))
    cython = subprocess.run([sys.executable, "-c", "import tracecheck.compiled as c; "
                             "print(len(c.running_compiled()), len(c.MODULES))"], capture_output=True, text=True)
    if cython.returncode == 0:  # tracecheck.compiled came with issue 14's last speed-ups
        running, listed = cython.stdout.split()
        parts += f"; Cython-compiled modules: {running} of {listed}"
    return parts


# ------------------------------------------------------------------------------ reports
def mb(n: float) -> str:
    return f"{n:,.0f} MB"


def speed(path: Path, repeat: int) -> tuple[dict, bool]:
    facts = capture_facts(path)
    # Issue 2's bar is the bare flow table (--no-names); issue 3's is the table with names
    # (dissectors on) at no less than 70% of that speed.
    tc = Run("tracecheck flows", tracecheck_command()
             + ["--quiet", "flows", "--no-names", str(path), "-o", os.devnull, "--format", "csv"])
    tn = Run("  ... with names", tracecheck_command()
             + ["--quiet", "flows", str(path), "-o", os.devnull, "--format", "csv"])
    ts = Run("tshark conv", ["tshark", "-q", "-n", "-r", str(path), "-z", "conv,tcp", "-z", "conv,udp"])
    warm(path)
    conv_text = ""
    for _ in range(repeat):  # alternate, so that a burst of load hits every tool alike
        for run in (tc, tn, ts):
            seconds, rss, out, cpu = timed(run.command, capture=run is ts)
            run.seconds.append(seconds)
            run.cpu_seconds.append(cpu)
            run.peak_rss_mb = max(run.peak_rss_mb, rss)
            conv_text = out or conv_text
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "flows.csv"
        timed(tc.command[:-4] + ["-o", str(table), "--format", "csv"])
        counts_tc = tracecheck_counts(table)
    counts_ts = tshark_conversations(conv_text)
    packets = facts["packets"] or counts_ts["packets"]
    ratio = ts.best / tc.best
    # Each names run follows a bare one: on a machine whose speed drifts, the median of these
    # pairs says more than the two best runs, which may have met different moments.
    paired = statistics.median(bare / named for bare, named in zip(tc.seconds, tn.seconds))
    result = {"capture": str(path), "bytes": path.stat().st_size, "packets": packets, "facts": facts,
              "tracecheck": asdict(tc) | {"packets_per_s": packets / tc.best},
              "tracecheck_names": asdict(tn) | {"packets_per_s": packets / tn.best},
              "tshark": asdict(ts) | {"packets_per_s": packets / ts.best},
              "ratio": ratio, "names_speed_share": tc.best / tn.best,
              "names_speed_share_paired_median": paired, "counts": {"tracecheck": counts_tc, "tshark": counts_ts}}

    print(f"capture  {path}")
    print(f"         {packets:,} packets, {path.stat().st_size / 1e6:,.0f} MB"
          + (f", {facts['flows']:,} flows ({facts['source']})" if facts.get("flows") else ""))
    print()
    print(f"built    {compiled_parts()}")
    print()
    print(f"{'':18}{'best of ' + str(repeat):>12}{'packets/s':>14}{'peak RSS':>12}{'CPU (best)':>12}")
    for run in (tc, tn, ts):
        print(f"{run.tool:18}{run.best:>10.2f} s{packets / run.best:>14,.0f}{mb(run.peak_rss_mb):>12}"
              f"{min(run.cpu_seconds):>10.2f} s")
    print(f"{'names keep':18}{tc.best / tn.best:>10.0%}     of the bare flow table's speed (bar >= 70%)")
    print(f"{'':18}{paired:>10.0%}     the median of the {len(tn.seconds)} runs each paired with the bare run before it")
    met = ratio >= SPEED_BAR
    print(f"{'speed ratio':18}{ratio:>10.2f} x   (tracecheck / tshark; bar >= {SPEED_BAR:g}x: "
          f"{'met' if met else 'MISSED'})")
    print()
    print(f"{'counts':18}{'flows':>12}{'packets':>14}")
    if facts.get("flows"):
        print(f"{'generator':18}{facts['flows']:>12,}{facts['packets']:>14,}")
    print(f"{'tracecheck':18}{counts_tc['flows']:>12,}{counts_tc['packets']:>14,}")
    print(f"{'tshark conv':18}{counts_ts['flows']:>12,}{counts_ts['packets']:>14,}"
          f"   ({counts_ts['endpoint_pairs']:,} endpoint pairs)")
    expected_flows = facts.get("flows") or counts_ts["endpoint_pairs"]
    agree = counts_tc["packets"] == counts_ts["packets"] and counts_tc["flows"] == expected_flows
    print(f"{'agreement':18}{'yes' if agree else 'NO':>12}"
          + ("" if agree else f"   (tracecheck flows should be {expected_flows:,}, "
                              f"packets {counts_ts['packets']:,})"))
    result["counts_agree"] = agree
    return result, met and agree


def memory(seed: int, quiet: bool, sizes=(1_000_000, 5_000_000)) -> tuple[dict, bool]:
    rows = []
    for packets in sizes:
        path = corpus(packets, seed, quiet)
        warm(path)
        command = tracecheck_command() + ["--quiet", "flows", str(path), "-o", os.devnull, "--format", "csv"]
        seconds, rss, _, _cpu = timed(command)
        rows.append({"capture": str(path), "packets": packets, "seconds": seconds,
                     "packets_per_s": packets / seconds, "peak_rss_mb": rss})
    growth = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    flat = growth <= MEMORY_BAR
    print(f"{'tracecheck flows on':26}{'packets':>12}{'wall':>10}{'packets/s':>14}{'peak RSS':>12}")
    for row in rows:
        print(f"{Path(row['capture']).name:26}{row['packets']:>12,}{row['seconds']:>8.2f} s"
              f"{row['packets_per_s']:>14,.0f}{mb(row['peak_rss_mb']):>12}")
    print(f"{'memory growth':26}{growth:>12.2f} x   ({sizes[-1] // sizes[0]}x the packets, same flows; "
          f"bar <= {MEMORY_BAR:g}x: {'met' if flat else 'MISSED'})")
    return {"runs": rows, "growth": growth}, flat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("capture", nargs="?", type=Path, help="capture to time (default: the generated corpus)")
    ap.add_argument("--packets", type=int, default=1_000_000, help="corpus size when no capture is given")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool, best one counts (default 3)")
    ap.add_argument("--memory", action="store_true",
                    help="instead: peak RSS of tracecheck on the 1M and the 5M corpus (same flows)")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    if not args.memory and not shutil.which("tshark"):
        print("bench_flows: tshark not found; install it (Debian/Ubuntu: apt-get install -y tshark) "
              "and run again", file=sys.stderr)
        return 2
    try:
        if args.memory:
            result, ok = memory(args.seed, quiet=False)
        else:
            path = args.capture or corpus(args.packets, args.seed, quiet=False)
            if not path.is_file():
                raise BenchError(f"no such capture: {path}")
            result, ok = speed(path, max(1, args.repeat))
    except BenchError as exc:
        print(f"bench_flows: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
