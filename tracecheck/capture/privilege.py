"""Who may capture, and what to tell a user who may not.

Capturing needs CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode).  It comes from running as
root, from file capabilities on the capture program (``setcap``; Debian's wireshark-common gives
dumpcap them, executable by the ``wireshark`` group), or from nothing at all -- and then the
message says exactly which of the three to do.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAPTURE_GROUP = "wireshark"


def effective_capabilities() -> int:
    """This process's effective capability bits (Linux); root's full set elsewhere when euid is 0."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return ~0 if hasattr(os, "geteuid") and os.geteuid() == 0 else 0


def process_can_capture() -> bool:
    """This process (so the scapy fallback, or any program it runs) may open a raw socket."""
    return bool(effective_capabilities() >> CAP_NET_RAW & 1)


def program_can_capture(path: str) -> bool:
    """``path`` may be run by us and will have the capability: we have it, or the file carries it."""
    if not os.access(path, os.X_OK):
        return False
    if process_can_capture():
        return True
    try:
        return bool(os.getxattr(path, "security.capability"))
    except (OSError, AttributeError):
        return False


def advice(interface: str) -> str:
    """One line: the three ways to get the privilege, with the exact commands for this machine."""
    tcpdump = shutil.which("tcpdump") or "/usr/bin/tcpdump"
    dumpcap = shutil.which("dumpcap") or "/usr/bin/dumpcap"
    command = " ".join(["tracecheck", *sys.argv[1:]]) if sys.argv[1:] else "tracecheck capture ..."
    ways = []
    if shutil.which("dumpcap"):
        ways.append(f"join the capture group: `sudo usermod -aG {CAPTURE_GROUP} $USER` (Debian/Ubuntu: "
                    f"`sudo dpkg-reconfigure wireshark-common` and answer yes first), then log in again")
    else:
        ways.append("install dumpcap and join its capture group (`sudo apt-get install wireshark-common`, "
                    f"`sudo usermod -aG {CAPTURE_GROUP} $USER`, log in again)")
    ways.append(f"let tcpdump capture without root: `sudo setcap cap_net_raw,cap_net_admin=eip {tcpdump}`"
                if shutil.which("tcpdump") else
                f"let dumpcap capture without root: `sudo setcap cap_net_raw,cap_net_admin=eip {dumpcap}`")
    ways.append(f"or run as root: `sudo {command}`")
    return (f"no privilege to capture on {interface} (capturing needs CAP_NET_RAW): "
            + "; ".join(f"({n}) {way}" for n, way in enumerate(ways, 1)))


def looks_like_privilege_error(text: str) -> bool:
    lowered = text.lower()
    return any(sign in lowered for sign in ("operation not permitted", "permission denied",
                                            "you don't have permission", "eperm", "not permitted"))
