#!/usr/bin/env python3
"""Time and memory of `tracecheck analyze` on small captures with many destinations (issue 14).

    python benchmarks/bench_many_destinations.py                 # 13k, 65k and 130k destinations
    python benchmarks/bench_many_destinations.py --sizes 130000 --formats pdf

Each capture (benchmarks/make_many_destinations.py: one small UDP datagram to each of N distinct
public addresses; 130k of them make a ~9.6 MB file) is judged by
    tracecheck --quiet analyze FILE --out TMP [--format ...]
and, in the same run, tshark lists the same destinations:
    tshark -q -n -r FILE -z endpoints,ip
Both alternate, best of --repeat.  Quoted: wall and CPU seconds, peak RSS (wait4), the sizes of
the report files, the ratio to tshark, and the cost per destination -- the slope of time and of
peak RSS between the smallest and the largest capture, which is what grows with destinations
(the rest is start-up: imports, the embedded GeoIP, the catalogs).

The issue's bar, for the largest capture: under 10 s and under 500 MB.  Exit status: 0 met,
1 missed, 2 the benchmark could not run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench_flows import BenchError, child_peak_mb, timed, warm

HERE = Path(__file__).resolve().parent
SECONDS_BAR = 10.0
RSS_BAR_MB = 500.0


@dataclass
class Point:
    """One capture's figures."""
    destinations: int
    file_mb: float
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    tshark_seconds: list[float] = field(default_factory=list)
    tshark_rss_mb: float = 0.0
    report_mb: dict[str, float] = field(default_factory=dict)


def corpus(destinations: int) -> Path:
    path = HERE / "corpus" / f"many-{destinations}.pcap"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "make_many_destinations.py"), "--destinations", str(destinations),
                        "-o", str(path)], check=True)
    return path


def measure(destinations: int, repeat: int, formats: str, with_tshark: bool) -> Point:
    path = corpus(destinations)
    warm(path)
    point = Point(destinations, path.stat().st_size / 1e6)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "report"
        # This interpreter's tracecheck (a `tracecheck` on PATH may be another installation's), run
        # as its console script runs it (cli.run): ``cli.main`` alone would add the interpreter's
        # teardown, 1.5 s of freeing 130k destinations' objects one by one, which no user waits for.
        command = [sys.executable, "-m", "tracecheck", "--quiet", "analyze", str(path), "--out", str(out), "--force",
                   *(["--format", formats] if formats else [])]
        for _ in range(repeat):
            seconds, rss, cpu = timed_analyze(command)
            point.seconds.append(seconds)
            point.cpu_seconds.append(cpu)
            point.peak_rss_mb = max(point.peak_rss_mb, rss)
            if with_tshark:
                seconds, rss, _, _ = timed(["tshark", "-q", "-n", "-r", str(path), "-z", "endpoints,ip"])
                point.tshark_seconds.append(seconds)
                point.tshark_rss_mb = max(point.tshark_rss_mb, rss)
        point.report_mb = {f.name: round(f.stat().st_size / 1e6, 2) for f in sorted(out.iterdir()) if f.is_file()}
    return point


def timed_analyze(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds of one analyze run, which exits 1 when it
    finds violations (these addresses are all over the world): only 2 or a signal is a failure."""
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1) or not (Path(command[command.index("--out") + 1]) / "report.json").exists():
        raise BenchError(f"tracecheck exited {code}: {' '.join(command)}\n  {proc.stderr.read().decode()[-800:]}")
    return seconds, child_peak_mb(usage), usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="13000,65000,130000", help="destinations per capture, comma-separated")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each tool per capture (best is quoted)")
    parser.add_argument("--formats", default="", help="--format for analyze (pdf, md, ...); default: none extra")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(n) for n in args.sizes.split(",") if n.strip()})
    except ValueError:
        parser.error("--sizes takes whole numbers, comma-separated")
    with_tshark = shutil.which("tshark") is not None
    if not with_tshark:
        print("tshark not found (apt-get install -y tshark): timing tracecheck alone", file=sys.stderr)
    try:
        points = [measure(n, max(args.repeat, 1), args.formats, with_tshark) for n in sizes]
    except (BenchError, subprocess.CalledProcessError) as err:
        print(f"bench_many_destinations: {err}", file=sys.stderr)
        return 2

    print(f"{'destinations':>12} {'file':>8} {'best wall':>10} {'cpu':>8} {'peak RSS':>9} {'tshark':>8} {'ratio':>7}  reports")
    for p in points:
        tshark = min(p.tshark_seconds) if p.tshark_seconds else None
        ratio = f"{tshark / min(p.seconds):.2f}x" if tshark else "-"
        reports = ", ".join(f"{name} {mb:g} MB" for name, mb in p.report_mb.items() if mb >= 0.01)
        print(f"{p.destinations:>12,} {p.file_mb:>6.1f}MB {min(p.seconds):>9.2f}s {min(p.cpu_seconds):>7.2f}s "
              f"{p.peak_rss_mb:>7.0f}MB {(f'{tshark:.2f}s' if tshark else '-'):>8} {ratio:>7}  {reports}")
    first, last = points[0], points[-1]
    if last.destinations > first.destinations:
        span = last.destinations - first.destinations
        per_wall = (min(last.seconds) - min(first.seconds)) / span * 1e6
        per_cpu = (min(last.cpu_seconds) - min(first.cpu_seconds)) / span * 1e6
        per_rss = (last.peak_rss_mb - first.peak_rss_mb) / span * 1e6 / 1024
        print(f"per destination: {per_wall:.0f} us wall, {per_cpu:.0f} us CPU, {per_rss:.1f} KB peak RSS "
              f"(slope from {first.destinations:,} to {last.destinations:,})")
    met = min(last.seconds) < SECONDS_BAR and last.peak_rss_mb < RSS_BAR_MB
    print(f"bar at {last.destinations:,} destinations: under {SECONDS_BAR:g} s and {RSS_BAR_MB:g} MB: "
          f"{'met' if met else 'missed'} ({min(last.seconds):.1f} s, {last.peak_rss_mb:.0f} MB)")
    if args.json:
        args.json.write_text(json.dumps([asdict(p) for p in points], indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
