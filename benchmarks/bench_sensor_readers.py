"""Rows per second of the Zeek and eve.json readers (``tracecheck.sensors``) on generated logs.

    python benchmarks/bench_sensor_readers.py [--rows 2000000] [--dir /tmp/sensor-bench]

Writes conn.log as Zeek TSV and JSON lines, plain and gzip, and an eve.json of flow events
(once; reused when present), then times reading each through ``chunks()``: the figure is the
reader's alone (generation is not timed)."""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import time

from tracecheck.sensors.eve import EVE
from tracecheck.sensors.zeek import ZEEK

HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#open\t2026-12-01-10-00-00\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes"
    "\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes"
    "\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool"
    "\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n"
)


def _records(rows: int, destinations: int = 100_000):
    rng = random.Random(17)
    for index in range(rows):
        dest = rng.randrange(destinations)
        yield (1_764_583_200 + index * 0.001, f"C{index:017x}", f"10.{index % 250}.{index % 7}.{index % 200 + 1}",
               rng.randrange(1024, 65535), f"{11 + dest // 65536}.{dest // 256 % 256}.{dest % 256}.7",
               rng.choice((443, 80, 53, 5061)), rng.choice(("tcp", "udp")), rng.choice(("ssl", "-", "dns", "http")),
               rng.random() * 30, rng.randrange(1, 500), rng.randrange(40, 600_000), rng.randrange(1, 400),
               rng.randrange(40, 500_000))


def write_logs(directory: str, rows: int) -> dict[str, str]:
    os.makedirs(directory, exist_ok=True)
    paths = {name: os.path.join(directory, name) for name in
             ("tsv/conn.log", "tsv.gz/conn.log.gz", "json/conn.log", "json.gz/conn.log.gz", "eve/eve.json")}
    if all(os.path.exists(path) for path in paths.values()):
        return paths
    for path in paths.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(paths["tsv/conn.log"], "w") as tsv, open(paths["json/conn.log"], "w") as js, \
            open(paths["eve/eve.json"], "w") as eve:
        tsv.write(HEADER)
        for ts, uid, oh, op, rh, rp, proto, service, dur, opk, ob, rpk, rb in _records(rows):
            tsv.write(f"{ts:.6f}\t{uid}\t{oh}\t{op}\t{rh}\t{rp}\t{proto}\t{service}\t{dur:.6f}\t{ob - 40}\t{rb - 40}"
                      f"\tSF\t-\t-\t0\tShADadFf\t{opk}\t{ob}\t{rpk}\t{rb}\t(empty)\n")
            service_json = f',"service":"{service}"' if service != "-" else ""
            js.write(f'{{"ts":{ts:.6f},"uid":"{uid}","id.orig_h":"{oh}","id.orig_p":{op},"id.resp_h":"{rh}",'
                     f'"id.resp_p":{rp},"proto":"{proto}"{service_json},"duration":{dur:.6f},"orig_bytes":{ob - 40},'
                     f'"resp_bytes":{rb - 40},"conn_state":"SF","missed_bytes":0,"history":"ShADadFf",'
                     f'"orig_pkts":{opk},"orig_ip_bytes":{ob},"resp_pkts":{rpk},"resp_ip_bytes":{rb}}}\n')
            start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
            eve.write(f'{{"timestamp":"{start}.000000+0000","flow_id":{int(ts * 1000)},"event_type":"flow",'
                      f'"src_ip":"{oh}","src_port":{op},"dest_ip":"{rh}","dest_port":{rp},"proto":"{proto.upper()}",'
                      f'"app_proto":"{"tls" if service == "ssl" else "failed"}","flow":{{"pkts_toserver":{opk},'
                      f'"pkts_toclient":{rpk},"bytes_toserver":{ob},"bytes_toclient":{rb},'
                      f'"start":"{start}.000000+0000","end":"{start}.500000+0000","age":0,"state":"closed",'
                      f'"reason":"timeout","alerted":false}}}}\n')
    for plain, packed in (("tsv/conn.log", "tsv.gz/conn.log.gz"), ("json/conn.log", "json.gz/conn.log.gz")):
        with open(paths[plain], "rb") as source, gzip.open(paths[packed], "wb", compresslevel=1) as target:
            shutil.copyfileobj(source, target, 1 << 20)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--dir", default="/tmp/sensor-bench")
    args = parser.parse_args()
    paths = write_logs(args.dir, args.rows)
    for name, path in paths.items():
        reader = EVE if name.startswith("eve") else ZEEK
        (log,) = reader.find([path])
        start = time.perf_counter()
        rows = sum(len(chunk.flows) for chunk in reader.chunks(log))
        seconds = time.perf_counter() - start
        print(f"{name:22} {rows:>10,} rows {seconds:7.2f} s {rows / seconds:>12,.0f} rows/s")


if __name__ == "__main__":
    main()
