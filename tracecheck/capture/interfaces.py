"""``--list-interfaces``: the interfaces a capture can be taken on, with their state and addresses."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

ARPHRD_NAMES = {1: "ethernet", 772: "loopback", 65534: "tunnel (raw IP)", 803: "802.11 monitor", 776: "ipv6-in-ipv4"}


@dataclass(frozen=True)
class NetworkInterface:
    name: str
    kind: str
    state: str
    addresses: tuple[str, ...]


def list_interfaces() -> list[NetworkInterface]:
    addresses = _addresses()
    found = []
    for _index, name in sorted(socket.if_nameindex()):
        base = Path("/sys/class/net", name)
        try:
            kind = ARPHRD_NAMES.get(int((base / "type").read_text().strip()), "other")
            state = (base / "operstate").read_text().strip()
        except (OSError, ValueError):
            kind, state = "", ""
        found.append(NetworkInterface(name, kind, state, tuple(addresses.get(name, ()))))
    if Path("/proc/net/dev").exists():
        # Linux's pseudo-interface: every interface at once, in Linux cooked framing.
        found.append(NetworkInterface("any", "all interfaces (Linux cooked)", "", ()))
    return found


def _addresses() -> dict[str, list[str]]:
    """Addresses by interface from ``ip -j addr`` where iproute2 is installed; none otherwise."""
    ip = shutil.which("ip")
    if ip is None:
        return {}
    try:
        done = subprocess.run([ip, "-j", "addr"], capture_output=True, timeout=5, check=True)
        return {entry["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info", []) if "local" in a]
                for entry in json.loads(done.stdout)}
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return {}
