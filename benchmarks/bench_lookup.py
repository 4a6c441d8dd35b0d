"""How many addresses per second ``Resolver.resolve`` places, against every source at once.

    python benchmarks/bench_lookup.py [--addresses 200000] [--repeat 3]

Exits 1 if the best run places fewer than 200,000 addresses a second.  Each run's rate is shown
(a noisy machine spreads them), and the best by CPU time as well as by the wall clock.

Sources: the real provider files in ../shared/data/cloud and the MaxMind test databases in
../shared/data/geoip (or $TRACECHECK_SHARED_DATA), else synthetic files of the same schemas and
sizes; plus the embedded geoip2fast default.  Addresses are distinct (look-ups run once per
unique address): half inside published prefixes, the rest random public IPv4 and IPv6.
The baseline is geoip2fast's own one-address-at-a-time look-up, which consults one source only.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tracecheck.geo.lookup import Resolver
from tracecheck.geo.ranges import AddressKeys


def shared_data() -> Path | None:
    configured = os.environ.get("TRACECHECK_SHARED_DATA")
    data = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"
    return data if (data / "cloud").is_dir() else None


def real_files(data: Path) -> list[tuple[Path, str]]:
    cloud, geoip = data / "cloud", data / "geoip"
    wanted = [("aws-ip-ranges.json", "aws"), ("azure-ServiceTags_Public.json", "azure"), ("gcp-cloud.json", "gcp"),
              ("oracle-public_ip_ranges.json", "oracle"), ("cloudflare-ips-v4.txt", "cloudflare"),
              ("cloudflare-ips-v6.txt", "cloudflare"), ("fastly-public-ip-list.json", "fastly"),
              ("digitalocean-geo.csv", "geofeed")]
    files = [(cloud / name, kind) for name, kind in wanted if (cloud / name).is_file()]
    files += [(geoip / name, "mmdb") for name in ("GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb") if (geoip / name).is_file()]
    return files


def _random_prefixes(rng: random.Random, count: int, v6_share: float, block: int) -> list[str]:
    """Random prefixes inside one provider's own block (first octet ``block``..``block+7``;
    IPv6 ``2xxx`` with ``block`` in the second nibble), so providers never overlap, as in reality."""
    out = []
    for _ in range(count):
        if rng.random() < v6_share:
            value = (0x2 << 124) | (block % 16) << 120 | rng.getrandbits(120)
            out.append(str(ipaddress.ip_network((value, rng.randint(32, 64)), strict=False)))
        else:
            value = (block + rng.randrange(8)) << 24 | rng.getrandbits(24)
            out.append(str(ipaddress.ip_network((value, rng.randint(14, 28)), strict=False)))
    return out


def synthetic_files(folder: Path, rng: random.Random) -> list[tuple[Path, str]]:
    """Files in the official schemas with as many prefixes as the real ones (AWS 17k, Azure 96k ...)."""
    aws_regions = ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1", "GLOBAL"]
    aws = {"syncToken": "1", "createDate": "2026-08-22-21-17-05", "prefixes": [], "ipv6_prefixes": []}
    for network in _random_prefixes(rng, 16826, 0.37, block=8):
        key, bucket = ("ipv6_prefix", "ipv6_prefixes") if ":" in network else ("ip_prefix", "prefixes")
        region = rng.choice(aws_regions)
        aws[bucket].append({key: network, "region": region, "service": "EC2", "network_border_group": region})
    azure_tags = [{"name": f"AzureCloud.{region}", "id": f"AzureCloud.{region}",
                   "properties": {"region": region, "systemService": "", "addressPrefixes": []}}
                  for region in ("westeurope", "northeurope", "eastus", "uksouth", "japaneast")]
    for network in _random_prefixes(rng, 95823, 0.25, block=40):
        rng.choice(azure_tags)["properties"]["addressPrefixes"].append(network)
    gcp = {"syncToken": "1", "creationTime": "2025-07-24T19:16:28.780563",
           "prefixes": [{("ipv6Prefix" if ":" in n else "ipv4Prefix"): n, "service": "Google Cloud", "scope": "europe-west1"}
                        for n in _random_prefixes(rng, 782, 0.2, block=80)]}
    oracle = {"last_updated_timestamp": "2025-07-21T07:13:25", "regions": [
        {"region": "eu-frankfurt-1", "cidrs": [{"cidr": n, "tags": ["OCI"]} for n in _random_prefixes(rng, 896, 0.0, block=100)]}]}
    docs = {"ip-ranges.json": ("aws", aws), "ServiceTags_Public_20251109.json": ("azure", {"changeNumber": 1, "values": azure_tags}),
            "cloud.json": ("gcp", gcp), "public_ip_ranges.json": ("oracle", oracle)}
    files = []
    for name, (kind, doc) in docs.items():
        (folder / name).write_text(json.dumps(doc))
        files.append((folder / name, kind))
    (folder / "ips-v4").write_text("\n".join(_random_prefixes(rng, 15, 0.0, block=120)))
    (folder / "example-geofeed.csv").write_text(
        "\n".join(f"{n},US,US-CA,Santa Clara," for n in _random_prefixes(rng, 1182, 0.1, block=140)))
    return files + [(folder / "ips-v4", "cloudflare"), (folder / "example-geofeed.csv", "geofeed")]


def addresses_for(files: list[tuple[Path, str]], resolver: Resolver, count: int, rng: random.Random) -> list[str]:
    """Distinct addresses: half inside published prefixes, half random public space."""
    prefixes = [record.network for source in resolver.range_sources for record in source.parsed.prefixes]
    chosen: set[str] = set()
    while len(chosen) < count // 2:
        network = ipaddress.ip_network(rng.choice(prefixes), strict=False)
        chosen.add(str(network.network_address + rng.randrange(min(network.num_addresses, 2**63))))
    while len(chosen) < count:
        if rng.random() < 0.2:
            chosen.add(str(ipaddress.IPv6Address((0x2 << 124) | rng.getrandbits(124))))
        else:
            chosen.add(str(ipaddress.IPv4Address(rng.randint(1 << 24, 223 << 24))))
    addresses = sorted(chosen)
    rng.shuffle(addresses)
    return addresses


def timed_once(function) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call: CPU well below wall means other processes had the CPUs."""
    start, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - start, time.process_time() - cpu


def spread(count: int, runs: list[tuple[float, float]]) -> str:
    """Per-second rates of ``runs``: best, median, worst, each run, and the best by CPU time."""
    rates = [count / wall for wall, _ in runs]
    each = " ".join(f"{rate / 1000:.0f}k" for rate in rates)
    return (f"{max(rates):>12,.0f} /s best of {len(runs)} fresh batches; median {statistics.median(rates):,.0f}, "
            f"worst {min(rates):,.0f} (runs: {each}; best by CPU time {count / min(cpu for _, cpu in runs):,.0f})")


def timed(function, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20260822)
    options = parser.parse_args()
    rng = random.Random(options.seed)

    load_before = os.getloadavg()[0]
    data = shared_data()
    with tempfile.TemporaryDirectory() as scratch:
        files = real_files(data) if data else synthetic_files(Path(scratch), rng)
        start = time.perf_counter()
        resolver = Resolver.from_files(files)
        build = time.perf_counter() - start
    # A fresh set of addresses for every run: answers cached by an earlier run would flatter it.
    batches = [addresses_for(files, resolver, options.addresses, rng) for _ in range(2 * options.repeat + 1)]
    addresses = batches[0]

    plain = [timed_once(lambda batch=batch: resolver.resolve(batch)) for batch in batches[1:options.repeat + 1]]
    named = [timed_once(lambda batch=batch: resolver.resolve(batch, {a: ["api.mypurecloud.ie"] for a in batch[::20]}))
             for batch in batches[options.repeat + 1:]]
    keys = timed(lambda: AddressKeys.parse(addresses), options.repeat)

    from geoip2fast import GeoIP2Fast

    reference = GeoIP2Fast(geoip2fast_data_file=str(resolver.embedded.path))
    sample = addresses[:50_000]
    baseline = timed(lambda: [reference.lookup(address) for address in sample], 1)[0]

    sources = resolver.sources()
    places = resolver.resolve(addresses)
    rate = len(addresses) / min(wall for wall, _ in plain)
    baseline_rate = len(sample) / baseline
    print(f"data: {'shared/data (real files)' if data else 'synthetic files of the real sizes'}; "
          f"{len(sources)} sources, {sum(s.prefixes for s in sources):,} prefixes; built in {build:.2f} s")
    for info in sources:
        print(f"  {info.name:28} {info.kind:10} {info.prefixes:>9,} prefixes  {info.date[:10]}")
    placed = sum(1 for p in places.values() if p.country or p.anycast or p.local)
    print(f"addresses: {len(addresses):,} distinct ({sum(':' in a for a in addresses):,} IPv6); placed {placed:,}; "
          f"in a provider file {sum(1 for p in places.values() if p.region or p.anycast):,}")
    print(f"resolve:           {spread(len(addresses), plain)}")
    print(f"resolve, 5% named: {spread(len(addresses), named)}")
    print(f"parse only:        {len(addresses) / min(keys):>12,.0f} /s best of {options.repeat}")
    print(f"baseline geoip2fast.lookup, one source, one at a time: {baseline_rate:,.0f}/s -> "
          f"resolve is {rate / baseline_rate:.1f}x that while asking {len(sources)} sources")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"Python {platform.python_version()}, numpy {np.__version__}")
    sys.exit(0 if rate >= 200_000 else 1)


if __name__ == "__main__":
    main()
