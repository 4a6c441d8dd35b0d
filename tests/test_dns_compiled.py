"""DNS, compiled: ``_dns.c`` must read every message exactly as the Python reference in dns.py
does, on well-formed responses, on hostile bytes and on real captures."""

from __future__ import annotations

import struct

from tracecheck.dissect import dns


def _message(name_wire: bytes) -> bytes:
    return struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0) + name_wire + struct.pack("!HH", 1, 1)


def test_a_name_of_one_non_ascii_label_is_escaped_not_empty():
    # The ASCII decode of a lone label used to fail into "", which passed for a plain name.
    assert dns._name_text([b"caf\xc3\xa9"]) == "caf\\195\\169"
    assert dns._name_text([b"\xff", b"example"]) == "\\255.example"
    assert dns.parse_dns(_message(b"\x05caf\xc3\xa9\x00")).questions[0].name == "caf\\195\\169"
