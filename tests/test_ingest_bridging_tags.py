"""Ethernet tags from data-center switching, decoded as Zeek does: Cisco FabricPath (EtherType
0x8903, a 2-byte forwarding tag, then the whole inner Ethernet frame), 802.1ah provider backbone
bridging (0x88E7, a 4-byte I-TAG, then the inner frame) and Cisco VN-Tag (0x8926, 4 bytes, then
the next EtherType).  A SPAN port on a FabricPath switch shows each packet twice, plain and
encapsulated, and Zeek's conn.log counts both.  (tshark 4.0 reads each as cfp / ieee8021ah /
vntag with the inner UDP or TCP.)"""

from __future__ import annotations

from capture_builders import T0, check_accounting, ether, flows_of, tcp, udp, write_pcap

MACS = bytes.fromhex("020000000099") + bytes.fromhex("020000000098")


def fabricpath(frame: bytes, ftag: int = 0x0140) -> bytes:
    return MACS + b"\x89\x03" + ftag.to_bytes(2, "big") + frame


def backbone(frame: bytes, isid: int = 0x000100) -> bytes:
    return MACS + b"\x81\x00\x00\x0a" + b"\x88\xe7" + isid.to_bytes(4, "big") + frame  # in a B-VLAN tag


def vn_tagged(packet: bytes) -> bytes:
    return MACS + b"\x89\x26" + bytes.fromhex("80010002") + b"\x81\x00\x00\x14" + b"\x08\x00" + packet


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


def test_backbone_bridging_and_vn_tag(tmp_path):
    frames = [(T0, backbone(ether(tcp(dport=80, flags="S")))), (T0 + 1, vn_tagged(udp(dport=4000))),
              (T0 + 2, MACS + b"\x89\x26\x80\x01")]  # a VN-Tag cut short
    result = flows_of(write_pcap(tmp_path / "tags.pcap", frames))
    check_accounting(result)
    assert sorted((f.proto, f.resp_p, f.vlan) for f in result.flows) == [("tcp", 80, 10), ("udp", 4000, 20)]
    assert result.accounting.skipped == {"truncated_frame": 1}
