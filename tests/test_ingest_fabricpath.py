"""Cisco FabricPath frames (EtherType 0x8903: a 2-byte forwarding tag, then the whole inner
Ethernet frame) are decoded, as Zeek does: a SPAN port on a FabricPath switch shows each packet
twice, plain and encapsulated, and Zeek's conn.log counts both."""

from __future__ import annotations

from capture_builders import T0, check_accounting, ether, flows_of, tcp, udp, write_pcap


def fabricpath(frame: bytes, ftag: int = 0x0140) -> bytes:
    return bytes.fromhex("020000000099") + bytes.fromhex("020000000098") + b"\x89\x03" + ftag.to_bytes(2, "big") + frame


def test_fabricpath_frames_count_like_plain_ones(tmp_path):
    packets = [udp(dport=48879, payload=b"hello"), tcp(dport=48879, flags="S")]
    frames = []
    for i, packet in enumerate(packets):
        frames.append((T0 + 2 * i, ether(packet)))
        frames.append((T0 + 2 * i + 1, fabricpath(ether(packet))))
    frames.append((T0 + 9, fabricpath(b"\x00" * 10)))  # cut short inside the inner header
    result = flows_of(write_pcap(tmp_path / "fp.pcap", frames))
    check_accounting(result)
    assert sorted((f.proto, f.orig_pkts) for f in result.flows) == [("tcp", 2), ("udp", 2)]
    assert result.accounting.skipped == {"truncated_frame": 1}
