"""Ethernet II and 802.1Q/802.1ad VLAN tags; the EtherType table every link layer shares."""

from __future__ import annotations

import numpy as np

from tracecheck.ingest.cursor import Cursor, Layer, u16

HEADER = 14
VLAN_TAG = 4
# EtherTypes followed by a tag and then a whole inner Ethernet frame, by the tag's length: Cisco
# FabricPath (forwarding tag, TTL) and 802.1ah provider backbone bridging (the I-TAG).  Zeek
# decodes both; a switch's SPAN port shows them.
INNER_FRAME_AFTER = {0x8903: 2, 0x88E7: 4}
VN_TAG = 0x8926
"""Cisco VN-Tag: 4 bytes of tag, then the next EtherType."""
VN_TAG_LEN = 4

ETHERTYPES = {
    0x0800: Layer.IPV4,
    0x86DD: Layer.IPV6,
    0x8100: Layer.VLAN,   # 802.1Q
    0x88A8: Layer.VLAN,   # 802.1ad (QinQ outer tag)
    0x9100: Layer.VLAN,   # pre-standard QinQ
    0x9200: Layer.VLAN,
    0x8847: Layer.MPLS,
    0x8848: Layer.MPLS,
    0x8864: Layer.PPPOE,  # PPPoE session stage
    0x6558: Layer.ETHERNET,  # transparent Ethernet bridging (GRE, GENEVE)
    0x880B: Layer.PPP,    # PPP in GRE (PPTP)
    0x88BE: Layer.ERSPAN2,
    0x22EB: Layer.ERSPAN3,
}

# Frames that are not IP, named so the accounting reads well.
NON_IP = {0x0806: "arp", 0x8035: "rarp", 0x88CC: "lldp", 0x8863: "pppoe_discovery", 0x888E: "eapol",
          0x88F7: "ptp", 0x8137: "ipx", 0x9000: "loopback", 0x8809: "slow_protocols", 0x88E5: "macsec",
          0x893A: "ieee1905", 0x0842: "wake_on_lan", 0x8899: "realtek", 0x88E1: "homeplug"}

_LOOKUP = np.zeros(1 << 16, dtype=np.int16)
for _etype, _layer in ETHERTYPES.items():
    _LOOKUP[_etype] = _layer


def dispatch(c: Cursor, rows: np.ndarray, ethertype: np.ndarray, pos: np.ndarray) -> None:
    """Send each row on by its EtherType (or retire it as a non-IP frame)."""
    for etype, tag in INNER_FRAME_AFTER.items():
        inner = ethertype == etype
        if inner.any():
            c.move(rows[inner], Layer.ETHERNET, pos[inner] + tag)
            rows, ethertype, pos = rows[~inner], ethertype[~inner], pos[~inner]
    vn_tag = ethertype == VN_TAG
    if vn_tag.any():
        tagged, at = rows[vn_tag], pos[vn_tag]
        rows, ethertype, pos = rows[~vn_tag], ethertype[~vn_tag], pos[~vn_tag]
        whole = at + VN_TAG_LEN + 2 <= c.end[tagged]
        c.skip(tagged[~whole], "truncated_frame")
        dispatch(c, tagged[whole], u16(c, at[whole] + VN_TAG_LEN), at[whole] + VN_TAG_LEN + 2)
    layer = _LOOKUP[ethertype]
    known = layer > 0
    if known.all():
        c.move(rows, layer, pos)
        return
    c.move(rows[known], layer[known], pos[known])
    other = ~known
    if other.any():
        for etype in np.unique(ethertype[other]):
            mine = rows[other & (ethertype == etype)]
            if etype < 0x0600:  # an 802.3 length field: LLC/SNAP frames (STP, CDP, NetBIOS ...)
                c.skip(mine, "non_ip:llc")
            else:
                c.skip(mine, f"non_ip:{NON_IP.get(int(etype), f'ethertype_0x{int(etype):04x}')}")


def decode(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    ok = pos + HEADER <= c.end[rows]
    if not ok.all():
        c.skip(rows[~ok], "truncated_frame")
        rows, pos = rows[ok], pos[ok]
    dispatch(c, rows, u16(c, pos + 12), pos + HEADER)


def decode_vlan(c: Cursor, rows: np.ndarray) -> None:
    pos = c.pos[rows]
    ok = pos + VLAN_TAG <= c.end[rows]
    c.skip(rows[~ok], "truncated_frame")
    rows, pos = rows[ok], pos[ok]
    first = c.vlan[rows] < 0  # keep the outermost tag, the one a switch port is configured with
    c.vlan[rows[first]] = u16(c, pos[first]) & 0x0FFF
    dispatch(c, rows, u16(c, pos + 2), pos + VLAN_TAG)
