"""dumpcap (Wireshark's capture program): pcap to stdout (``-P -w -``); its counters at exit.

dumpcap is the one that usually captures without root: Debian's wireshark-common makes it
executable by the ``wireshark`` group, with the capabilities it needs.  It reports drops only
when it stops, so the live line shows them at the end."""

from __future__ import annotations

import re

from tracecheck.capture.interface import Drops
from tracecheck.capture.program import ProgramBackend

# Packets received/dropped on interface 'eth0': 6/0 (pcap:0/dumpcap:0/flushed:0/ps_ifdrop:0) (100.0%)
_FINAL = re.compile(r"received/dropped on interface .*?: (\d+)/(\d+)(?: \(.*?ps_ifdrop:(\d+))?")


class Dumpcap(ProgramBackend):
    name = "dumpcap"
    program = "dumpcap"
    read_timeout_s = 0.25  # dumpcap's CAP_READ_TIMEOUT (250 ms)

    def command(self) -> list[str]:
        argv = [self.path, "-i", self.interface, "-w", "-", "-P", "-q", "-s", str(self.snaplen)]
        return argv + (["-f", self.capture_filter] if self.capture_filter else [])

    def counters_from(self, line: str, current: Drops) -> Drops:
        match = _FINAL.search(line)
        if not match:
            return current
        received, dropped, interface = match.groups()
        return Drops(received=int(received), dropped_by_os=int(dropped),
                     dropped_by_interface=int(interface) if interface is not None else None)


BACKEND = Dumpcap
