"""Wi-Fi captures in monitor mode (802.11, LINKTYPE 105; with radiotap, 127), as Zeek reads them:
unprotected data frames (plain, QoS, four-address, HT control) give their IP packets; beacons,
protected frames, null data and A-MSDU aggregates are counted as skipped.  (Frames written with
scapy's Dot11 layers; tshark 4.0 reads the same IP/UDP in each.)"""

from __future__ import annotations

from capture_builders import T0, check_accounting, flows_of, udp, write_pcap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.dot11 import Dot11, Dot11Beacon, Dot11QoS, RadioTap
from scapy.layers.l2 import LLC, SNAP

WLAN, RADIOTAP = 105, 127
AP, STA = "02:00:00:00:00:01", "02:00:00:00:00:02"


def data(packet: bytes, subtype: int = 0, fc: int = 0x01, qos: bytes = b"", fourth: bool = False) -> bytes:
    header = Dot11(type=2, subtype=subtype, FCfield=fc, addr1=AP, addr2=STA, addr3=AP, addr4=STA if fourth else None)
    frame = bytes(header)[:30 if fourth else 24] + qos
    return frame + bytes(LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0800)) + packet


def test_data_frames_of_every_shape(tmp_path):
    frames = [
        data(udp(sport=1000)),                                   # to the AP
        data(udp(sport=1001), subtype=8, qos=b"\x00\x00"),        # QoS data
        data(udp(sport=1002), fc=0x03, fourth=True),             # a four-address (mesh/WDS) frame
        data(udp(sport=1003), subtype=8, fc=0x81, qos=b"\x00\x00" + bytes(4)),  # QoS + HT control
        data(udp(sport=1004), fc=0x41),                          # protected: unreadable
        data(udp(sport=1005), subtype=8, qos=b"\x80\x00"),        # an A-MSDU aggregate
        bytes(Dot11(type=2, subtype=4, addr1=AP, addr2=STA, addr3=AP)),  # null data
        bytes(Dot11(type=0, subtype=8, addr1="ff:ff:ff:ff:ff:ff", addr2=AP, addr3=AP) / Dot11Beacon()),
        data(udp(sport=1006))[:26],                              # cut inside the SNAP header
    ]
    result = flows_of(write_pcap(tmp_path / "wlan.pcap", [(T0 + i, f) for i, f in enumerate(frames)], linktype=WLAN))
    check_accounting(result)
    assert sorted(f.orig_p for f in result.flows) == [1000, 1001, 1002, 1003]
    assert result.accounting.skipped == {"non_ip:wlan_protected_or_empty": 2, "non_ip:wlan_amsdu": 1,
                                         "non_ip:wlan_management_or_control": 1, "truncated_frame": 1}


def test_radiotap_header_is_stepped_over(tmp_path):
    frames = [bytes(RadioTap(present="Flags+Rate+Channel", Flags=0, Rate=2, ChannelFrequency=2437)) + data(udp(sport=2000)),
              b"\x00\x00\x40\x00"]  # a radiotap header longer than the frame
    result = flows_of(write_pcap(tmp_path / "radiotap.pcap", [(T0 + i, f) for i, f in enumerate(frames)], linktype=RADIOTAP))
    check_accounting(result)
    assert [f.orig_p for f in result.flows] == [2000]
    assert result.accounting.skipped == {"truncated_frame": 1}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(st.binary(max_size=80), min_size=1, max_size=8), linktype=st.sampled_from([WLAN, RADIOTAP]),
       seed=st.binary(min_size=2, max_size=2))
def test_any_bytes_are_counted_never_raised_on(tmp_path, frames, linktype, seed):
    frames = [seed + f if i % 2 else data(udp())[: len(f) + 20] + f for i, f in enumerate(frames)]
    result = flows_of(write_pcap(tmp_path / "fuzz.pcap", [(T0 + i, f) for i, f in enumerate(frames)], linktype=linktype))
    check_accounting(result)
